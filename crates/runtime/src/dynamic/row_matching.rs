//! Recognition of the per-row chain that `lowbit_quant::dynamic` writes in standard ops:
//!
//! ```text
//! lo = Min(ReduceMin(x, [-1], keepdims), 0)   hi = Max(ReduceMax(x, [-1], keepdims), 0)
//! scale = Div(Sub(hi, lo), 255)               divisor = Where(Equal(scale, 0), 1, scale)
//! zp = Clip(Sub(Add(Div(Neg(lo), divisor), M), M), 0, 255)
//! q = Cast<u8>(Clip(Add(Sub(Add(Div(x, divisor), M), M), zp), 0, 255))
//! y = Mul(Cast<f32>(Sub(MatMulInteger(q, W), Mul(Cast<i32>(zp), colsum W))), Mul(scale, w_scale))
//!     [→ Add(·, bias)]
//! ```
//!
//! with `M = 1.5·2²³` (round half to even). That is exactly the per-row rule of
//! [`DynamicMatMul`](super::DynamicMatMul), so the chain fuses into it. Every constant is
//! checked (including that `colsum W` are W's column sums), and every intermediate must
//! be read only inside the chain and not be a graph output; the anchor is the ReduceMin,
//! which must come first in the (sorted) graph so that nothing of the chain has run yet.

use std::collections::HashSet;

use lowbit_graph::ops::{BinaryOp, ReduceKind, UnaryOp};
use lowbit_graph::{Graph, Node, NodeId, Op, ValueId};
use lowbit_tensor::{DType, Tensor};

use super::matching::Parts;

/// `1.5 · 2²³`, the rounding constant of the chain.
const ROUNDING_MAGIC: f32 = 12_582_912.0;

/// An expected input of a chain node.
#[derive(Clone, Copy)]
enum Arg {
    Value(ValueId),
    /// A constant f32 scalar (rank 0 or one element) with exactly these bits.
    Scalar(f32),
}

/// The chain's nodes found so far, walking forward from the anchor.
struct Walk<'g> {
    graph: &'g Graph,
    consumers: &'g [Vec<NodeId>],
    nodes: Vec<NodeId>,
}

impl<'g> Walk<'g> {
    /// The output of the one consumer of `v` that is an `op` node with exactly `args`.
    fn next(&mut self, v: ValueId, op: &Op, args: &[Arg]) -> Option<ValueId> {
        let mut found = self.consumers[v.0]
            .iter()
            .filter(|&&c| node_is(self.graph, &self.graph.nodes[c], op, args));
        let (Some(&c), None) = (found.next(), found.next()) else {
            return None;
        };
        self.nodes.push(c);
        match self.graph.nodes[c].outputs.as_slice() {
            [out] => Some(*out),
            _ => None,
        }
    }

    fn constant(&self, v: Option<ValueId>) -> Option<&'g Tensor> {
        self.graph.initializer(v?).map(|t| &**t)
    }
}

fn node_is(graph: &Graph, node: &Node, op: &Op, args: &[Arg]) -> bool {
    node.op == *op
        && node.inputs.len() == args.len()
        && node
            .inputs
            .iter()
            .zip(args)
            .all(|(input, arg)| match (input, arg) {
                (Some(v), Arg::Value(expected)) => v == expected,
                (Some(v), Arg::Scalar(expected)) => graph.initializer(*v).is_some_and(|t| {
                    t.len() == 1
                        && t.as_slice::<f32>()
                            .is_ok_and(|s| s[0].to_bits() == expected.to_bits())
                }),
                (None, _) => false,
            })
}

fn is_row_reduce(node: &Node, kind: ReduceKind) -> bool {
    matches!(&node.op, Op::Reduce(r) if r.kind == kind && r.keepdims
        && r.axes.as_deref() == Some(&[-1][..]))
        && node.inputs.len() == 1
}

/// The per-row chain anchored at `anchor` (a ReduceMin), if it is all there.
pub(super) fn find_row_parts<'g>(
    graph: &'g Graph,
    consumers: &'g [Vec<NodeId>],
    anchor: NodeId,
) -> Option<Parts<'g>> {
    use Arg::{Scalar, Value};
    let reduce_min = &graph.nodes[anchor];
    if !is_row_reduce(reduce_min, ReduceKind::Min) {
        return None;
    }
    let x = reduce_min.input(0)?;
    let [row_min] = reduce_min.outputs.as_slice() else {
        return None;
    };
    let mut w = Walk {
        graph,
        consumers,
        nodes: vec![anchor],
    };
    let bin = Op::Binary;
    let lo = w.next(*row_min, &bin(BinaryOp::Min), &[Value(*row_min), Scalar(0.0)])?;
    let neg_lo = w.next(lo, &Op::Unary(UnaryOp::Neg), &[Value(lo)])?;
    // `hi` comes from a ReduceMax → Max pair of `x` that feeds the Sub.
    let range_node = *consumers[lo.0]
        .iter()
        .find(|&&c| graph.nodes[c].op == bin(BinaryOp::Sub) && graph.nodes[c].input(1) == Some(lo))?;
    let hi = graph.nodes[range_node].input(0)?;
    let reduce_max = *consumers[x.0].iter().find(|&&c| {
        is_row_reduce(&graph.nodes[c], ReduceKind::Max) && {
            let out = graph.nodes[c].outputs.first().copied();
            out.is_some_and(|r| {
                consumers[r.0].iter().any(|&m| {
                    node_is(
                        graph,
                        &graph.nodes[m],
                        &bin(BinaryOp::Max),
                        &[Value(r), Scalar(0.0)],
                    ) && graph.nodes[m].outputs == [hi]
                })
            })
        }
    })?;
    w.nodes.push(reduce_max);
    let row_max = *graph.nodes[reduce_max].outputs.first()?;
    w.next(row_max, &bin(BinaryOp::Max), &[Value(row_max), Scalar(0.0)])?;
    let range = w.next(lo, &bin(BinaryOp::Sub), &[Value(hi), Value(lo)])?;
    let scale = w.next(range, &bin(BinaryOp::Div), &[Value(range), Scalar(255.0)])?;
    let is_zero = w.next(scale, &bin(BinaryOp::Equal), &[Value(scale), Scalar(0.0)])?;
    let divisor = w.next(is_zero, &Op::Where, &[Value(is_zero), Scalar(1.0), Value(scale)])?;
    let round = |w: &mut Walk<'g>, v: ValueId| {
        let shifted = w.next(v, &bin(BinaryOp::Add), &[Value(v), Scalar(ROUNDING_MAGIC)])?;
        w.next(
            shifted,
            &bin(BinaryOp::Sub),
            &[Value(shifted), Scalar(ROUNDING_MAGIC)],
        )
    };
    let clip = [Scalar(0.0), Scalar(255.0)];
    let zp_ratio = w.next(neg_lo, &bin(BinaryOp::Div), &[Value(neg_lo), Value(divisor)])?;
    let zp_rounded = round(&mut w, zp_ratio)?;
    let zp = w.next(zp_rounded, &Op::Clip, &[Value(zp_rounded), clip[0], clip[1]])?;
    let ratio = w.next(divisor, &bin(BinaryOp::Div), &[Value(x), Value(divisor)])?;
    let rounded = round(&mut w, ratio)?;
    let shifted = w.next(rounded, &bin(BinaryOp::Add), &[Value(rounded), Value(zp)])?;
    let clipped = w.next(shifted, &Op::Clip, &[Value(shifted), clip[0], clip[1]])?;
    let cast = |to| Op::Cast(lowbit_graph::ops::Cast { to });
    let x_q = w.next(clipped, &cast(DType::U8), &[Value(clipped)])?;

    let matmul = *consumers[x_q.0].first()?;
    let weights = w.constant(graph.nodes[matmul].input(1))?;
    let weights_ok = weights.dtype() == DType::I8 && weights.rank() == 2;
    let acc = w.next(
        x_q,
        &Op::MatMulInteger,
        &[Value(x_q), Value(graph.nodes[matmul].input(1)?)],
    )?;
    let zp_i32 = w.next(zp, &cast(DType::I32), &[Value(zp)])?;
    let correction_node = *consumers[zp_i32.0].first()?;
    let sums = w.constant(graph.nodes[correction_node].input(1))?;
    let correction = w.next(
        zp_i32,
        &bin(BinaryOp::Mul),
        &[Value(zp_i32), Value(graph.nodes[correction_node].input(1)?)],
    )?;
    let centered = w.next(correction, &bin(BinaryOp::Sub), &[Value(acc), Value(correction)])?;
    let acc_f32 = w.next(centered, &cast(DType::F32), &[Value(centered)])?;
    let scale_node = *consumers[scale.0]
        .iter()
        .find(|&&c| graph.nodes[c].op == bin(BinaryOp::Mul) && graph.nodes[c].input(0) == Some(scale))?;
    let w_scale_value = graph.nodes[scale_node].input(1)?;
    let w_scales = w.constant(Some(w_scale_value))?;
    let out_scale = w.next(scale, &bin(BinaryOp::Mul), &[Value(scale), Value(w_scale_value)])?;
    let mut output = w.next(acc_f32, &bin(BinaryOp::Mul), &[Value(acc_f32), Value(out_scale)])?;
    let mut bias = None;
    if let [add] = consumers[output.0].as_slice() {
        let b = graph.nodes[*add].input(1);
        let constant = w.constant(b).filter(|t| t.dtype() == DType::F32 && t.rank() == 1);
        if let (Some(t), Some(b)) = (constant, b) {
            if !graph.is_output(output) {
                output = w.next(output, &bin(BinaryOp::Add), &[Value(output), Value(b)])?;
                bias = Some(t);
            }
        }
    }
    if !weights_ok || !sums_match(weights, sums) || !closed(graph, consumers, &w.nodes, output) {
        return None;
    }
    // The step replaces the chain at the anchor's place: nothing of it may run before.
    if w.nodes.iter().any(|&n| n < anchor) {
        return None;
    }
    let absorbed = w.nodes.iter().copied().filter(|&n| n != anchor).collect();
    Some(Parts {
        x,
        output,
        matmul,
        absorbed,
        w: weights,
        w_zero_points: None,
        w_scales,
        bias,
    })
}

/// Whether `sums` is the i32 `[N]` vector of the column sums of the i8 `[K, N]` `w`.
fn sums_match(w: &Tensor, sums: &Tensor) -> bool {
    let n = w.shape()[1];
    let (Ok(values), Ok(sums)) = (w.as_slice::<i8>(), sums.as_slice::<i32>()) else {
        return false;
    };
    let mut expected = vec![0i32; n];
    for row in values.chunks_exact(n.max(1)) {
        for (s, &v) in expected.iter_mut().zip(row) {
            *s += i32::from(v);
        }
    }
    sums.len() == n && sums == expected.as_slice()
}

/// Whether every value the chain computes, except `output`, is read only by chain nodes
/// and is not a graph output.
fn closed(graph: &Graph, consumers: &[Vec<NodeId>], nodes: &[NodeId], output: ValueId) -> bool {
    let members: HashSet<NodeId> = nodes.iter().copied().collect();
    members.len() == nodes.len()
        && nodes.iter().flat_map(|&n| &graph.nodes[n].outputs).all(|&v| {
            v == output || (!graph.is_output(v) && consumers[v.0].iter().all(|c| members.contains(c)))
        })
}
