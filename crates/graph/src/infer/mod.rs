//! Shape and dtype inference over the graph, following ONNX semantics.
//!
//! [`infer_facts`] walks the nodes in topological order and sets the [`Fact`] of every
//! node output from the facts of its inputs. Symbolic dimensions are carried through
//! (a MatMul of `[batch,seq,384]` by `[384,384]` gives `[batch,seq,384]`). When a shape
//! cannot be known statically the output keeps `shape: None`: inference never guesses.
//!
//! Validation happens here too: a Conv whose weight does not fit its input, a MatMul
//! with mismatched inner dimensions and the like fail with [`GraphError::Node`] naming
//! the node, the op and what was expected.
//!
//! Besides facts, inference tracks the *contents* of small integer tensors that describe
//! shapes ([`values::ShapeValue`]): initializers, and the outputs of `Shape` and of the
//! ops that slice and glue shapes together (Gather, Concat, Unsqueeze, ...). That is what
//! lets `Reshape(x, Concat(Shape(x)[0], [-1]))`, as exporters write it, get a shape.

mod broadcast;
mod ctx;
mod elementwise;
mod linalg;
mod movement;
mod nn;
mod quant;
mod reduce;
mod shape;
mod values;

use std::collections::HashMap;

use crate::{Fact, Graph, GraphError, NodeId, Op, Result, ValueId};

pub use values::{ShapeValue, SymInt};

use ctx::NodeCtx;

/// Sorts `graph` topologically, then infers the fact of every node output.
///
/// An inferred dtype or shape replaces what the value held; where inference cannot tell,
/// the value keeps its previous fact (for instance a shape declared in an ONNX file's
/// `value_info`).
pub fn infer_facts(graph: &mut Graph) -> Result<()> {
    graph.sort()?;
    let mut inferencer = Inferencer::default();
    for node in 0..graph.nodes.len() {
        inferencer.infer_node(graph, node)?;
    }
    Ok(())
}

/// Incremental inference: facts for one node at a time, remembering the shape values
/// seen so far. Nodes must be visited after the producers of their inputs.
#[derive(Debug, Default)]
pub struct Inferencer {
    shape_values: HashMap<ValueId, ShapeValue>,
}

impl Inferencer {
    /// Infers and stores the output facts of node `node`.
    pub fn infer_node(&mut self, graph: &mut Graph, node: NodeId) -> Result<()> {
        let (facts, value) = {
            let Some(n) = graph.nodes.get(node) else {
                return Err(GraphError::Invalid(format!("node index {node} is out of range")));
            };
            let ctx = NodeCtx::new(graph, n, &self.shape_values);
            // Facts beyond the node's outputs (absent optional outputs) are dropped by the zip below.
            (infer_op(&ctx)?, values::propagate(&ctx))
        };
        let node = &graph.nodes[node];
        let outputs = node.outputs.clone();
        if let Some(value) = value {
            self.shape_values.insert(outputs[0], value);
        }
        for (id, fact) in outputs.into_iter().zip(facts) {
            let current = &mut graph.value_mut(id).fact;
            if fact.dtype.is_some() {
                current.dtype = fact.dtype;
            }
            if fact.shape.is_some() {
                current.shape = fact.shape;
            }
        }
        Ok(())
    }

    /// The known contents of `value`, when it holds a shape-like integer tensor.
    pub fn shape_value(&self, value: ValueId) -> Option<&ShapeValue> {
        self.shape_values.get(&value)
    }
}

/// Output facts of one node, in output order. May be shorter than the node's outputs
/// when trailing optional outputs carry nothing to infer.
fn infer_op(ctx: &NodeCtx) -> Result<Vec<Fact>> {
    if ctx.node.outputs.is_empty() {
        return Err(ctx.error("the node has no outputs"));
    }
    match &ctx.node.op {
        Op::Conv(_)
        | Op::BatchNorm(_)
        | Op::MaxPool(_)
        | Op::AveragePool(_)
        | Op::GlobalAveragePool
        | Op::GlobalMaxPool
        | Op::Softmax { .. }
        | Op::LogSoftmax { .. }
        | Op::LayerNorm(_)
        | Op::Dropout { .. } => nn::infer(ctx),
        Op::Gemm(_) | Op::MatMul => linalg::infer(ctx),
        Op::Unary(_) | Op::Binary(_) | Op::Clip | Op::Where => elementwise::infer(ctx),
        Op::Reshape { .. }
        | Op::Flatten { .. }
        | Op::Transpose { .. }
        | Op::Squeeze { .. }
        | Op::Unsqueeze { .. }
        | Op::Concat { .. }
        | Op::Split(_)
        | Op::Slice(_)
        | Op::Gather { .. }
        | Op::Shape { .. }
        | Op::Cast(_)
        | Op::Expand
        | Op::ConstantOfShape(_)
        | Op::Range
        | Op::Identity => shape::infer(ctx),
        Op::Reduce(_) | Op::ArgMax { .. } => reduce::infer(ctx),
        Op::QuantizeLinear(_)
        | Op::DequantizeLinear(_)
        | Op::DynamicQuantizeLinear
        | Op::QLinearConv(_)
        | Op::QLinearMatMul
        | Op::ConvInteger(_)
        | Op::MatMulInteger => quant::infer(ctx),
    }
}

/// Resolves a possibly negative `axis` against `rank` (ONNX: `-rank <= axis < rank`).
pub(crate) fn normalize_axis(ctx: &NodeCtx, axis: i64, rank: usize) -> Result<usize, GraphError> {
    let r = rank as i64;
    if axis < -r || axis >= r {
        return Err(ctx.error(format!("axis {axis} is out of range for rank {rank}")));
    }
    Ok(if axis < 0 { axis + r } else { axis } as usize)
}

#[cfg(test)]
mod tests;
