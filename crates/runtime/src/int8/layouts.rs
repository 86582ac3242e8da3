//! Which u8 activations stay NHWC between integer steps.
//!
//! The GEMM-based conv computes in NHWC (see `lowbit_kernels::int8::ops`), so a value
//! that only flows from one integer conv to others is kept NHWC and nothing is
//! transposed. A value is NHWC when its producer can write it so, every step that reads
//! it can read it so, and it is not a graph output: everything else (the f32 engine, the
//! DequantizeLinear at a model's end, pooling, concat, reshapes) sees NCHW, converted by
//! the integer step at that edge. An NHWC value's tensor has the shape `[N, H, W, C]`;
//! that is also what an observer of an optimised plan sees for it.
//!
//! - A conv reads and writes either layout (converting internally where a side is NCHW).
//! - A qadd is elementwise: its inputs and its output share one layout, so it is NHWC
//!   only when all three can be. NHWC values are all 4-D (conv, quantize and add
//!   outputs), so broadcasting their permuted shapes gives the permuted NCHW result.
//! - A per-tensor QuantizeLinear of a 4-D f32 tensor (a model's entry) writes either.
//! - A global average pool reads either layout; its `[N, C, 1, 1]` output is the same
//!   bytes in both and is declared NCHW.
//!
//! The assignment starts from every candidate NHWC and demotes until nothing changes.

use std::collections::{HashMap, HashSet};

use lowbit_graph::{Graph, ValueId};
use lowbit_kernels::int8::ops::Layout;

use super::kernel::Int8Kernel;
use crate::compile::{Kernel, Step};

/// Sets the layouts of the integer steps in `steps` (which run in this order).
pub(crate) fn assign(graph: &Graph, steps: &mut [Step]) {
    let mut nhwc: HashSet<ValueId> = HashSet::new();
    for step in steps.iter() {
        if let Some(kernel) = int8_kernel(step) {
            if writes_nhwc(graph, step, kernel) {
                nhwc.insert(step.outputs[0]);
            }
        }
    }
    let mut readers: HashMap<ValueId, Vec<(usize, usize)>> = HashMap::new();
    for (s, step) in steps.iter().enumerate() {
        for (i, input) in step.inputs.iter().enumerate() {
            if let Some(v) = input {
                readers.entry(*v).or_default().push((s, i));
            }
        }
    }
    loop {
        let before = nhwc.len();
        let demoted: Vec<ValueId> = nhwc
            .iter()
            .copied()
            .filter(|v| {
                graph.is_output(*v)
                    || readers
                        .get(v)
                        .into_iter()
                        .flatten()
                        .any(|&(s, i)| !reads_nhwc(&steps[s], i, &nhwc))
            })
            .collect();
        for v in demoted {
            nhwc.remove(&v);
        }
        // An add whose output or any input is NCHW makes all of them NCHW.
        for step in steps.iter() {
            if let Some(Int8Kernel::Add { .. }) = int8_kernel(step) {
                let values = || step.inputs.iter().flatten().chain(&step.outputs);
                if values().any(|v| !nhwc.contains(v)) {
                    for v in values() {
                        nhwc.remove(v);
                    }
                }
            }
        }
        if nhwc.len() == before {
            break;
        }
    }
    for step in steps.iter_mut() {
        let layout_of = |v: Option<ValueId>| match v {
            Some(v) if nhwc.contains(&v) => Layout::Nhwc,
            _ => Layout::Nchw,
        };
        let input = layout_of(step.inputs.first().copied().flatten());
        let output = layout_of(step.outputs.first().copied());
        if let Kernel::Int8(kernel) = &mut step.kernel {
            match kernel.as_mut() {
                Int8Kernel::Conv { layouts, .. } => *layouts = (input, output),
                Int8Kernel::GlobalAveragePool { input: layout, .. } => *layout = input,
                Int8Kernel::PointwiseToFloat { input: layout, .. } => *layout = input,
                Int8Kernel::Quantize { output: layout, .. } => *layout = output,
                _ => {}
            }
        }
    }
}

fn int8_kernel(step: &Step) -> Option<&Int8Kernel> {
    match &step.kernel {
        Kernel::Int8(kernel) => Some(kernel),
        _ => None,
    }
}

/// Whether `step` can produce its output in NHWC.
fn writes_nhwc(graph: &Graph, step: &Step, kernel: &Int8Kernel) -> bool {
    let rank = |i: usize| {
        step.inputs
            .get(i)
            .copied()
            .flatten()
            .and_then(|v| graph.value(v).fact.shape.as_ref().map(Vec::len))
    };
    match kernel {
        Int8Kernel::Conv { .. } => true,
        Int8Kernel::Quantize { .. } => rank(0) == Some(4),
        Int8Kernel::Add { .. } => true,
        _ => false,
    }
}

/// Whether input `i` of `step` may be NHWC, given the current NHWC values.
fn reads_nhwc(step: &Step, i: usize, nhwc: &HashSet<ValueId>) -> bool {
    match int8_kernel(step) {
        Some(
            Int8Kernel::Conv { .. }
            | Int8Kernel::GlobalAveragePool { .. }
            | Int8Kernel::PointwiseToFloat { .. },
        ) => i == 0,
        Some(Int8Kernel::Add { .. }) => nhwc.contains(&step.outputs[0]),
        _ => false,
    }
}
