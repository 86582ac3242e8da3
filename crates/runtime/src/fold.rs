//! Constant folding: nodes whose inputs are all constants are evaluated once, at plan
//! time, and their outputs become initializers.

use std::sync::Arc;

use lowbit_graph::{Fact, Graph, Op};
use lowbit_tensor::Tensor;

use crate::buffers::BufferPool;
use crate::eval::{self, Cx, Inputs};
use crate::RuntimeError;

/// Folds every foldable node of the sorted graph and returns how many were folded.
///
/// A node folds when each present input is an initializer (constants produced by
/// earlier folds count). `Shape` also folds when its input is a graph input whose shape
/// is fully known: run inputs are checked against those shapes, so the fold is exact.
pub(crate) fn fold_constants(graph: &mut Graph) -> Result<usize, RuntimeError> {
    fold_where(graph, |_| true)
}

/// Folds the constant nodes of the sorted graph whose every output is read only as the
/// scale or zero point of QuantizeLinear/DequantizeLinear nodes, such as a bias scale
/// written as `Mul(x_scale, w_scale)`. Integer pattern matching needs those parameters
/// as constants and runs before [`fold_constants`], which would also dequantize the
/// weights.
pub(crate) fn fold_quantization_parameters(graph: &mut Graph) -> Result<usize, RuntimeError> {
    let selected = quantization_parameter_nodes(graph);
    if !selected.contains(&true) {
        return Ok(0);
    }
    fold_where(graph, |n| selected[n])
}

/// For each node: whether all its inputs are constants and its outputs are read, and
/// read only as input 1 or 2 (scale, zero point) of QuantizeLinear/DequantizeLinear.
fn quantization_parameter_nodes(graph: &Graph) -> Vec<bool> {
    // Per value: read at all, and read as anything but a Q/DQ parameter.
    let mut read = vec![false; graph.value_count()];
    let mut other_use = vec![false; graph.value_count()];
    for node in &graph.nodes {
        let is_qdq = matches!(node.op, Op::QuantizeLinear(_) | Op::DequantizeLinear(_));
        for (i, input) in node.inputs.iter().enumerate() {
            if let Some(v) = input {
                read[v.0] = true;
                other_use[v.0] |= !is_qdq || i == 0;
            }
        }
    }
    for &o in &graph.outputs {
        other_use[o.0] = true;
    }
    graph
        .nodes
        .iter()
        .map(|node| {
            let constant_inputs = node
                .inputs
                .iter()
                .flatten()
                .all(|&v| graph.initializer(v).is_some());
            constant_inputs && node.outputs.iter().all(|o| read[o.0] && !other_use[o.0])
        })
        .collect()
}

/// Folds the foldable nodes of the sorted graph that `select` accepts.
fn fold_where(graph: &mut Graph, select: impl Fn(usize) -> bool) -> Result<usize, RuntimeError> {
    let mut folded = Vec::new();
    let mut buffers = BufferPool::default();
    for n in 0..graph.nodes.len() {
        if !select(n) {
            continue;
        }
        let node = &graph.nodes[n];
        let outputs = if let Some(shape) = static_input_shape(graph, n) {
            vec![shape]
        } else {
            let args: Option<Vec<Option<&Tensor>>> = node
                .inputs
                .iter()
                .map(|input| match input {
                    None => Some(None),
                    Some(id) => graph.initializer(*id).map(|t| Some(t.as_ref())),
                })
                .collect();
            let Some(args) = args.filter(|a| a.iter().any(Option::is_some)) else {
                continue;
            };
            let mut cx = Cx {
                buffers: &mut buffers,
            };
            eval::eval(&node.op, &Inputs::new(&args), node.outputs.len(), &mut cx)
                .map_err(|e| RuntimeError::node(&node.name, node.op.name(), e.0))?
        };
        let ids = graph.nodes[n].outputs.clone();
        for (id, tensor) in ids.into_iter().zip(outputs) {
            graph.value_mut(id).fact = Fact::known(tensor.dtype(), tensor.shape());
            graph.initializers.insert(id, Arc::new(tensor));
        }
        folded.push(n);
    }
    graph.remove_nodes(&folded);
    graph.prune();
    Ok(folded.len())
}

/// The output of a `Shape` node whose input is a graph input with a fully known shape.
fn static_input_shape(graph: &Graph, n: usize) -> Option<Tensor> {
    let node = &graph.nodes[n];
    let Op::Shape { .. } = node.op else { return None };
    let input = node.input(0)?;
    if !graph.inputs.contains(&input) {
        return None;
    }
    let dims = graph.value(input).fact.concrete_shape()?;
    // Evaluate Shape on a stand-in of the right shape; its values are never read.
    let stand_in = Tensor::zeros(lowbit_tensor::DType::Bool, dims);
    let mut buffers = BufferPool::default();
    let mut cx = Cx {
        buffers: &mut buffers,
    };
    eval::eval(&node.op, &Inputs::new(&[Some(&stand_in)]), 1, &mut cx)
        .ok()?
        .pop()
}
