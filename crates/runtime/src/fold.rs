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
    let mut folded = Vec::new();
    let mut buffers = BufferPool::default();
    for n in 0..graph.nodes.len() {
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
