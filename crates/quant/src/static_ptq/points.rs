//! Where activations are quantized: the inputs of ops with an integer kernel plan and
//! the outputs of their fused groups, unless only nodes kept in FP32 read them.

use std::collections::BTreeMap;

use lowbit_graph::ops::{BinaryOp, UnaryOp};
use lowbit_graph::{Graph, NodeId, Op, ValueId};
use lowbit_tensor::DType;

use super::fuse::FusedGroup;
use super::qconfig::{ObserverKind, QConfig};

/// One activation quantization point: a value and the observer that calibrates it.
#[derive(Debug, Clone)]
pub(crate) struct QuantPoint {
    pub value: ValueId,
    /// The node that computes the value; `None` for a graph input.
    pub producer: Option<String>,
    pub observer: ObserverKind,
    /// The constant bounds of the Clip (ReLU6) producing the value: the range of a
    /// saturating activation is known exactly, and calibration must not trim it.
    pub clip_bounds: Option<(f32, f32)>,
}

/// The quantization plan of a fused graph.
#[derive(Debug, Clone, Default)]
pub(crate) struct Layout {
    /// Ordered by value id, one per value.
    pub points: Vec<QuantPoint>,
    /// Nodes that run with integer inputs (their group's activation included).
    pub quantized: Vec<bool>,
    /// Nodes left in FP32 because no integer kernel plan exists for their op.
    pub warnings: Vec<String>,
}

/// Ops that an integer runtime can execute on quantized inputs.
pub(crate) fn has_integer_plan(op: &Op) -> bool {
    matches!(
        op,
        Op::Conv(_)
            | Op::Gemm(_)
            | Op::MatMul
            | Op::Binary(BinaryOp::Add)
            | Op::MaxPool(_)
            | Op::AveragePool(_)
            | Op::GlobalAveragePool
            | Op::GlobalMaxPool
            | Op::Concat { .. }
            | Op::Reshape { .. }
            | Op::Flatten { .. }
            | Op::Clip
            | Op::Unary(UnaryOp::Relu)
    )
}

/// Input positions that carry activations (the rest are weights, bounds or shapes).
fn data_inputs(op: &Op, count: usize) -> std::ops::Range<usize> {
    match op {
        Op::Gemm(_) | Op::MatMul | Op::Binary(_) => 0..2.min(count),
        Op::Concat { .. } => 0..count,
        _ => 0..1.min(count),
    }
}

pub(crate) fn layout(graph: &Graph, groups: &[FusedGroup], qconfig: &QConfig) -> Layout {
    let name_op = |n: NodeId| (graph.nodes[n].name.as_str(), graph.nodes[n].op.name());
    let mut quantized: Vec<bool> = (0..graph.nodes.len())
        .map(|n| {
            let (name, op) = name_op(n);
            has_integer_plan(&graph.nodes[n].op) && !qconfig.is_fp32(name, op)
        })
        .collect();
    // An FP32 anchor keeps its fused activation in FP32 too: quantizing the activation
    // alone would put a quantization point on the anchor's unbounded pre-activation.
    for g in groups {
        if let Some(a) = g.activation.filter(|_| !quantized[g.anchor]) {
            quantized[a] = false;
        }
    }
    // A group whose activation stays FP32 is no group: the anchor's output is its own.
    let mut fused_activation = vec![false; graph.nodes.len()];
    for g in groups {
        if let Some(a) = g.activation {
            fused_activation[a] = quantized[g.anchor] && quantized[a];
        }
    }
    let mut points: BTreeMap<ValueId, QuantPoint> = BTreeMap::new();
    let mut add = |value: ValueId| {
        points.entry(value).or_insert_with(|| {
            let producer = graph.producer(value);
            let observer = match producer {
                Some(p) => qconfig.observer_for(name_op(p).0, name_op(p).1),
                None => qconfig.activations.observer,
            };
            QuantPoint {
                value,
                producer: producer.map(|p| graph.nodes[p].name.clone()),
                observer,
                clip_bounds: producer.and_then(|p| clip_bounds(graph, p)),
            }
        });
    };
    // An output read only by nodes the recipe keeps in FP32 stays in float: no 8-bit
    // rounding on its way to them. Ops without an integer plan still read a quantized
    // output, as in PyTorch, so that the producer keeps its integer kernel. Model
    // outputs follow `quantize_outputs`.
    let read_quantized = |v: ValueId| {
        (qconfig.activations.quantize_outputs && graph.is_output(v))
            || graph
                .consumers(v)
                .iter()
                .any(|&c| quantized[c] || !has_integer_plan(&graph.nodes[c].op))
    };
    let mut warnings = Vec::new();
    for (n, node) in graph.nodes.iter().enumerate() {
        if !quantized[n] {
            if !has_integer_plan(&node.op) {
                warnings.push(format!(
                    "node '{}' ({}) has no integer kernel plan: it stays FP32",
                    node.name,
                    node.op.name()
                ));
            }
            continue;
        }
        let is_f32 = |v: ValueId| graph.value(v).fact.dtype.is_none_or(|d| d == DType::F32);
        if !fused_activation[n] {
            for i in data_inputs(&node.op, node.inputs.len()) {
                if let Some(v) = node
                    .input(i)
                    .filter(|&v| graph.initializer(v).is_none() && is_f32(v))
                {
                    add(v);
                }
            }
        }
        let fused_anchor = groups
            .iter()
            .any(|g| g.anchor == n && g.activation.is_some_and(|a| fused_activation[a]));
        if !fused_anchor {
            if let Some(&out) = node.outputs.first().filter(|&&o| is_f32(o) && read_quantized(o)) {
                add(out);
            }
        }
    }
    Layout {
        points: points.into_values().collect(),
        quantized,
        warnings,
    }
}

/// `(min, max)` of a Clip whose two bounds are scalar constants.
fn clip_bounds(graph: &Graph, node: NodeId) -> Option<(f32, f32)> {
    let node = &graph.nodes[node];
    if !matches!(node.op, Op::Clip) {
        return None;
    }
    let bound = |i: usize| -> Option<f32> {
        let t = graph.initializer(node.input(i)?)?;
        match t.as_slice::<f32>().ok()? {
            [v] if v.is_finite() => Some(*v),
            _ => None,
        }
    };
    Some((bound(1)?, bound(2)?)).filter(|(lo, hi)| lo < hi)
}
