//! Fusion for quantization: which ops share one output quantization point.
//!
//! PyTorch fuses `Conv+BN+ReLU` into one module before preparing; here the graph keeps
//! its nodes (the runtime fuses kernels itself), BatchNorm is folded into the Conv and
//! inference-time Identity/Dropout nodes are removed by the graph passes, and the fusion
//! is a grouping: the anchor's output is not quantized when its only reader is the
//! group's activation.

use lowbit_graph::ops::{BinaryOp, UnaryOp};
use lowbit_graph::passes::{FoldBatchNormIntoConv, Pass, RemoveIdentity};
use lowbit_graph::{Graph, NodeId, Op};

use super::error::Result;

/// An op and the activation fused after it; the group's output is the activation's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FusedGroup {
    pub anchor: NodeId,
    pub activation: Option<NodeId>,
}

impl FusedGroup {
    /// The node whose output is the group's quantization point.
    pub fn last(&self) -> NodeId {
        self.activation.unwrap_or(self.anchor)
    }
}

/// Removes Identity and inference-time Dropout, folds BatchNorm into Conv, sorts the
/// graph, and groups every Conv, Gemm, MatMul or Add with a Relu or Clip (ReLU6) that is
/// the only reader of its output. Node ids in the groups refer to `graph` as left by this
/// call. FP32 results are unchanged up to the rounding of the folded weights.
pub fn fuse(graph: &mut Graph) -> Result<Vec<FusedGroup>> {
    RemoveIdentity.apply(graph)?;
    FoldBatchNormIntoConv.apply(graph)?;
    graph.sort()?;
    let mut readers = vec![0usize; graph.value_count()];
    for node in &graph.nodes {
        for input in node.inputs.iter().flatten() {
            readers[input.0] += 1;
        }
    }
    let mut groups = Vec::new();
    for (n, node) in graph.nodes.iter().enumerate() {
        if !is_anchor(&node.op) || node.outputs.len() != 1 {
            continue;
        }
        let out = node.outputs[0];
        let activation = if readers[out.0] == 1 && !graph.is_output(out) {
            graph
                .consumers(out)
                .into_iter()
                .find(|&c| is_activation(graph, c) && graph.nodes[c].input(0) == Some(out))
        } else {
            None
        };
        groups.push(FusedGroup {
            anchor: n,
            activation,
        });
    }
    Ok(groups)
}

fn is_anchor(op: &Op) -> bool {
    matches!(
        op,
        Op::Conv(_) | Op::Gemm(_) | Op::MatMul | Op::Binary(BinaryOp::Add)
    )
}

/// Relu, or a Clip whose bounds are constants (or absent).
fn is_activation(graph: &Graph, node: NodeId) -> bool {
    let node = &graph.nodes[node];
    match node.op {
        Op::Unary(UnaryOp::Relu) => true,
        Op::Clip => node.inputs[1..]
            .iter()
            .flatten()
            .all(|b| graph.initializer(*b).is_some()),
        _ => false,
    }
}
