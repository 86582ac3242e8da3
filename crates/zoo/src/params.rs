//! Counting parameters the way PyTorch's `module.parameters()` does.

use lowbit_graph::{Graph, Op};

/// Number of scalars in learnable parameters: the weights and biases of Conv, Gemm,
/// MatMul, BatchNorm and LayerNorm that are initializers. BatchNorm running statistics
/// and other constants (Clip bounds, shapes) are buffers, not parameters, and are left out.
pub fn learnable_parameter_count(graph: &Graph) -> usize {
    let mut seen = std::collections::BTreeSet::new();
    for node in &graph.nodes {
        let slots: &[usize] = match node.op {
            Op::Conv(_) | Op::Gemm(_) | Op::BatchNorm(_) | Op::LayerNorm(_) => &[1, 2],
            Op::MatMul => &[1],
            _ => &[],
        };
        seen.extend(slots.iter().filter_map(|&i| node.input(i)));
    }
    seen.iter()
        .filter_map(|id| graph.initializer(*id))
        .map(|t| t.len())
        .sum()
}
