//! The exact (erf) GELU as ONNX exporters write it before opset 20, fused into one step:
//!
//! ```text
//! x ─┬ Mul(x, h) ──────────────────────────── a ─┐
//!    └ Div(x, s) ─ Erf ─ Add(·, o) ─────────── d ─┴ Mul ─ y      (h = 0.5, s = √2, o = 1)
//! ```
//!
//! The fused step computes the same f32 operations on each element, with the graph's own
//! constants, so its result is bit for bit the unfused chain's; it only saves the four
//! intermediate tensors and their passes over memory. The intermediates must have one
//! reader each and not be graph outputs; `x` may have other readers.

use std::collections::HashMap;

use lowbit_graph::ops::{BinaryOp, UnaryOp};
use lowbit_graph::{Graph, Node, NodeId, Op, ValueId};
use lowbit_tensor::Tensor;
use rayon::prelude::*;

use super::{vmath, Cx, EvalError, EvalResult};

/// Values per parallel task.
const CHUNK: usize = 1 << 14;

/// The chain's scalar constants.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Gelu {
    /// `h` in `Mul(x, h)`.
    pub scale: f32,
    /// `s` in `Div(x, s)`.
    pub divisor: f32,
    /// `o` in `Add(Erf(·), o)`.
    pub offset: f32,
}

/// A recognised chain: it runs at the position of its earliest node, `anchor`.
pub(crate) struct GeluChain {
    pub anchor: NodeId,
    /// The chain's other nodes, fused away.
    pub absorbed: Vec<NodeId>,
    pub x: ValueId,
    pub y: ValueId,
    /// The Erf node's name, for errors.
    pub name: String,
    pub gelu: Gelu,
}

/// Every GELU chain of the sorted graph; `consumers[v]` lists the readers of value `v`.
pub(crate) fn find_chains(graph: &Graph, consumers: &[Vec<NodeId>]) -> Vec<GeluChain> {
    let mut producer: HashMap<ValueId, NodeId> = HashMap::new();
    for (n, node) in graph.nodes.iter().enumerate() {
        for &out in &node.outputs {
            producer.insert(out, n);
        }
    }
    (0..graph.nodes.len())
        .filter(|&n| graph.nodes[n].op == Op::Unary(UnaryOp::Erf))
        .filter_map(|erf| match_chain(graph, consumers, &producer, erf))
        .collect()
}

fn match_chain(
    graph: &Graph,
    consumers: &[Vec<NodeId>],
    producer: &HashMap<ValueId, NodeId>,
    erf: NodeId,
) -> Option<GeluChain> {
    // The single reader of an intermediate `v`.
    let only = |v: ValueId| match consumers[v.0].as_slice() {
        [c] if !graph.is_output(v) => Some(*c),
        _ => None,
    };
    let scalar = |v: ValueId| {
        let t = graph.initializer(v)?;
        let values = t.as_slice::<f32>().ok()?;
        (values.len() == 1 && t.rank() <= 1).then(|| values[0])
    };
    let erf_node = &graph.nodes[erf];
    let (b, c) = (erf_node.input(0)?, *erf_node.outputs.first()?);
    if only(b) != Some(erf) {
        return None;
    }
    let div = *producer.get(&b)?;
    let div_node = &graph.nodes[div];
    let (x, divisor) = binary_operands(div_node, BinaryOp::Div)?;
    let divisor = scalar(divisor)?;

    let add = only(c)?;
    let (offset, d) = other_operand(&graph.nodes[add], BinaryOp::Add, c)?;
    let offset = scalar(offset)?;
    let outer = only(d)?;
    let (a, y) = other_operand(&graph.nodes[outer], BinaryOp::Mul, d)?;
    let scale_mul = *producer.get(&a)?;
    if only(a) != Some(outer) {
        return None;
    }
    let (p, q) = binary_operands(&graph.nodes[scale_mul], BinaryOp::Mul)?;
    let scale = match (p == x, q == x) {
        (true, false) => scalar(q)?,
        (false, true) => scalar(p)?,
        _ => return None,
    };
    let mut nodes = [div, erf, add, scale_mul, outer];
    nodes.sort_unstable();
    Some(GeluChain {
        anchor: nodes[0],
        absorbed: nodes[1..].to_vec(),
        x,
        y,
        name: erf_node.name.clone(),
        gelu: Gelu {
            scale,
            divisor,
            offset,
        },
    })
}

/// The two inputs of an `op` node with one output.
fn binary_operands(node: &Node, op: BinaryOp) -> Option<(ValueId, ValueId)> {
    (node.op == Op::Binary(op) && node.inputs.len() == 2 && node.outputs.len() == 1)
        .then(|| Some((node.input(0)?, node.input(1)?)))
        .flatten()
}

/// For an `op` node reading `value` once, its other input and its output.
fn other_operand(node: &Node, op: BinaryOp, value: ValueId) -> Option<(ValueId, ValueId)> {
    let (a, b) = binary_operands(node, op)?;
    let other = match (a == value, b == value) {
        (true, false) => b,
        (false, true) => a,
        _ => return None,
    };
    Some((other, node.outputs[0]))
}

/// `y = (x · scale) · (erf(x / divisor) + offset)`, element by element.
pub(crate) fn gelu(x: &Tensor, gelu: &Gelu, cx: &mut Cx) -> EvalResult<Tensor> {
    let values = x
        .as_slice::<f32>()
        .map_err(|_| EvalError(format!("GELU input must be f32, got {}", x.dtype())))?;
    let mut out = cx.buffers.take_f32(values.len());
    // Large tensors go in parallel chunks, as the unfused elementwise ops do.
    out.par_chunks_mut(CHUNK)
        .zip(values.par_chunks(CHUNK))
        .for_each(|(dst, src)| vmath::gelu(src, dst, gelu));
    Ok(Tensor::new(x.shape(), out)?)
}
