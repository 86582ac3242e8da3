//! Quantized graphs on the integer kernels, with values kept in u8 between ops.
//!
//! When a plan is optimised, quantized patterns are recognised and each becomes ONE
//! integer step that reads u8 tensors and writes a u8 (or i8) tensor:
//!
//! ```text
//! DQ(x_q) → Conv(·, DQ(W_i8), bias?) [→ Relu | Clip] → Q   ⇒ QConv2d (fused clamp)
//! DQ(x_q) → Gemm | MatMul(·, DQ(B_i8), C?) [→ act] → Q      ⇒ QLinear
//! DQ(a_q), DQ(b_q) → Add [→ act] → Q                        ⇒ qadd
//! DQ(x_q) → GlobalAveragePool | AveragePool | MaxPool → Q  ⇒ the pooling kernels
//! DQ(x_q)... → Concat [→ act] → Q                           ⇒ qconcat
//! DQ(x_q) → Reshape | Flatten → Q (same parameters)         ⇒ the reshape of the bytes
//! QLinearConv, QLinearMatMul with constant weights          ⇒ QConv2d, QLinear
//! DQ(x_q) → 1×1 Conv(·, DQ(W)) whose float output f32 ops read ⇒ the integer product,
//!                                                              dequantized (f32 out)
//! ```
//!
//! A pattern fuses only when its scales, zero points and weights are constants, the
//! activations are per-tensor u8 or i8, the weights i8 or u8 (conv: per-channel on
//! axis 0 or per-tensor), and every float intermediate after the DequantizeLinear has
//! one reader and is not a graph output. i8 activations and u8 weights enter the
//! kernels in the other type's view (top bit flipped, zero point moved by 128). An activation's DequantizeLinear may feed several
//! patterns; it stays in the plan only while something else reads its float value.
//!
//! Matching ([`find`]) runs before constant folding, which would otherwise turn the
//! weights' DequantizeLinear into f32 constants; [`schedule`] then places each integer
//! step at its QuantizeLinear in the compiled plan. Nodes of a quantized region that
//! still run in f32 are listed by [`fallbacks`].
//!
//! Layout: u8 activations that only pass between integer convs and adds stay NHWC
//! (see [`layouts`]); the integer steps convert to and from NCHW at every other edge.
//!
//! Numerics: conv and linear accumulate exactly in i32 and requantize once
//! (`x_scale · w_scale[c] / y_scale`, round half to even), so they can differ by one step
//! from the f32 reference, which rounds the float sum; QLinearConv/QLinearMatMul match
//! their reference evaluators exactly; max pooling, reshapes and equal-parameter concats
//! are exact; qadd follows the f32 dequantize-add-quantize definition.

mod build;
mod kernel;
mod layouts;
mod matching;
mod params;

use std::collections::HashMap;

use lowbit_graph::{Graph, Op, ValueId};

pub(crate) use kernel::Int8Kernel;
pub(crate) use layouts::assign as assign_layouts;
pub(crate) use matching::{find, Matches};

use crate::compile::{Kernel, Step};

/// The integer steps of `matches`, keyed by the index (in the compiled, folded `graph`)
/// of the node they replace: each group's QuantizeLinear. Marks every other absorbed
/// node in `fused_away`.
pub(crate) fn schedule(graph: &Graph, matches: Matches, fused_away: &mut [bool]) -> HashMap<usize, Step> {
    let mut groups: HashMap<ValueId, matching::Group> =
        matches.groups.into_iter().map(|g| (g.output, g)).collect();
    let mut steps = HashMap::new();
    for (n, node) in graph.nodes.iter().enumerate() {
        let Some(&first) = node.outputs.first() else {
            continue;
        };
        if let Some(group) = groups.remove(&first) {
            steps.insert(
                n,
                Step {
                    name: group.name,
                    op: group.op,
                    inputs: group.inputs,
                    outputs: vec![group.output],
                    kernel: Kernel::Int8(Box::new(group.kernel)),
                },
            );
        } else if matches.absorbed.contains(&first) {
            fused_away[n] = true;
        }
    }
    steps
}

/// The steps of a quantized region that run in f32 (or on the reference integer
/// evaluators), as `(node name, op)`: QOperator nodes not compiled to an integer kernel,
/// and float ops that read a DequantizeLinear'd activation or feed a QuantizeLinear.
pub(crate) fn fallbacks(steps: &[Step]) -> Vec<(String, String)> {
    let mut producer: HashMap<ValueId, &Step> = HashMap::new();
    let mut quantized: Vec<ValueId> = Vec::new();
    for step in steps {
        for &o in &step.outputs {
            producer.insert(o, step);
        }
        if matches!(step.op, Op::QuantizeLinear(_)) {
            quantized.extend(step.inputs.first().copied().flatten());
        }
    }
    let is_generic_dq = |v: &ValueId| {
        producer
            .get(v)
            .is_some_and(|p| matches!((&p.op, &p.kernel), (Op::DequantizeLinear(_), Kernel::Generic)))
    };
    steps
        .iter()
        .filter(|step| match (&step.op, &step.kernel) {
            (_, Kernel::Int8(_) | Kernel::DynamicMatMul(_)) => false,
            (Op::QuantizeLinear(_) | Op::DequantizeLinear(_) | Op::DynamicQuantizeLinear, _) => false,
            (Op::QLinearConv(_) | Op::QLinearMatMul | Op::ConvInteger(_) | Op::MatMulInteger, _) => true,
            _ => {
                step.inputs.iter().flatten().any(is_generic_dq)
                    || step.outputs.iter().any(|o| quantized.contains(o))
            }
        })
        .map(|step| (step.name.clone(), step.op.name().to_string()))
        .collect()
}

/// `(step name, kernel)` of every integer step, in execution order.
pub(crate) fn integer_steps(steps: &[Step]) -> Vec<(String, String)> {
    steps
        .iter()
        .filter_map(|step| match &step.kernel {
            Kernel::Int8(k) => Some((step.name.clone(), k.describe())),
            _ => None,
        })
        .collect()
}
