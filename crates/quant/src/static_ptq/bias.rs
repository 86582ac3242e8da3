//! Empirical bias correction (Nagel et al. 2019, "Data-Free Quantization", §4.2): the
//! expected output error a quantized weight causes, `E[(W − Ŵ) x]` per output channel,
//! measured on calibration data and folded into the bias.
//!
//! `x` is the input the node gets in the quantized model (activations quantized with
//! the calibrated ranges, upstream weights quantized and corrected), not the FP32
//! input: that is the distribution the corrected bias will meet. The measurement runs
//! the QDQ model once, with a shadow copy of each corrected node that reads the same
//! input with the FP32 weight; the correction is the per-channel mean of
//! `y_shadow − y`. Upstream corrections shift a node's input only slightly, so one
//! pass with the uncorrected model measures what each correction needs.
//!
//! Only per-channel sums of outputs are kept, never tensors.

use std::collections::HashMap;
use std::sync::Arc;

use lowbit_data::{batch, Dataset, Sample};
use lowbit_graph::{Fact, Graph, Op, ValueId};
use lowbit_runtime::{Plan, PlanOptions};
use lowbit_tensor::Tensor;

use super::error::{PtqError, Result};
use super::prepare::Prepared;

/// Samples per run of the shadowed QDQ model when the batch dimension is free. Its
/// unoptimised plan holds float, u8 and dequantized copies of every activation plus
/// the shadow outputs: one sample per run keeps that at its smallest (the kernels still
/// use every thread), and the means do not depend on the batch size.
pub(crate) const BATCH: usize = 1;

/// Which sum an observed output feeds.
#[derive(Debug, Clone, Copy)]
struct Tap {
    slot: usize,
    /// The shadow (FP32 weight) output rather than the quantized node's.
    shadow: bool,
}

/// Per-channel output sums of one corrected node.
#[derive(Debug, Clone)]
struct Sums {
    /// Index into the prepared `weighted` list.
    weighted: usize,
    quantized: Vec<f64>,
    shadow: Vec<f64>,
    /// Values summed into each channel.
    count: u64,
    /// Output channels are the last axis (Gemm/MatMul) rather than axis 1 (Conv).
    last_axis: bool,
}

impl Sums {
    fn add(&mut self, shadow: bool, tensor: &Tensor) -> Result<()> {
        let values = tensor.as_slice::<f32>()?;
        let channels = self.quantized.len().max(1);
        let inner: usize = if self.last_axis {
            1
        } else {
            tensor.shape().get(2..).map_or(1, |s| s.iter().product())
        };
        let target = if shadow {
            &mut self.shadow
        } else {
            &mut self.quantized
        };
        for (run, chunk) in values.chunks(inner.max(1)).enumerate() {
            target[run % channels] += lane_sum(chunk);
        }
        if !shadow {
            self.count += (values.len() / channels) as u64;
        }
        Ok(())
    }

    fn correction(&self) -> Vec<f32> {
        let n = self.count.max(1) as f64;
        self.shadow
            .iter()
            .zip(&self.quantized)
            .map(|(s, q)| ((s - q) / n) as f32)
            .collect()
    }
}

/// Sum of `values` in f64, over eight independent lanes so that it vectorizes.
fn lane_sum(values: &[f32]) -> f64 {
    const LANES: usize = 8;
    let mut lanes = [0.0f64; LANES];
    let chunks = values.chunks_exact(LANES);
    let tail: f64 = chunks.remainder().iter().map(|&v| v as f64).sum();
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane += v as f64;
        }
    }
    lanes.iter().sum::<f64>() + tail
}

/// The per-channel corrections of every node that can take a bias (keyed by its index
/// into the prepared `weighted` list), from the first `count` samples of `dataset`. The
/// observers must be final: the QDQ model is built from their ranges.
pub(crate) fn solve(
    prepared: &Prepared,
    dataset: &dyn Dataset,
    count: usize,
    batch_size: usize,
) -> Result<HashMap<usize, Vec<f32>>> {
    let qdq = prepared.convert_with(&HashMap::new())?.graph;
    let (graph, taps, mut sums) = shadowed(prepared, qdq)?;
    let options = PlanOptions {
        threads: 0,
        optimize: false,
    };
    let plan = Plan::new(graph, &options)?;
    for start in (0..count).step_by(batch_size) {
        let end = (start + batch_size).min(count);
        let samples: Vec<Sample> = (start..end).map(|i| dataset.get(i)).collect::<Result<_, _>>()?;
        let (inputs, _) = batch(&samples)?;
        let mut failure = None;
        let mut observe = |_: &str, id: ValueId, tensor: &Tensor| {
            if let Some(tap) = taps.get(&id) {
                if let Err(e) = sums[tap.slot].add(tap.shadow, tensor) {
                    failure.get_or_insert(e);
                }
            }
        };
        plan.run_observed(&[inputs], &mut observe)?;
        failure.map_or(Ok(()), Err)?;
    }
    Ok(sums.iter().map(|s| (s.weighted, s.correction())).collect())
}

/// `qdq` with a shadow after each node that can take a bias: the same node reading the
/// FP32 weight. Returns the graph, the taps on both outputs and the empty sums.
fn shadowed(prepared: &Prepared, mut qdq: Graph) -> Result<(Graph, HashMap<ValueId, Tap>, Vec<Sums>)> {
    let by_name: HashMap<String, usize> = qdq
        .nodes
        .iter()
        .enumerate()
        .map(|(n, node)| (node.name.clone(), n))
        .collect();
    let mut taps = HashMap::new();
    let mut sums = Vec::new();
    let mut shadows = HashMap::new();
    for (i, w) in prepared.weighted.iter().enumerate().filter(|(_, w)| w.takes_bias) {
        let name = &prepared.graph.nodes[w.node].name;
        let n = *by_name.get(name).ok_or_else(|| {
            PtqError::Calibration(format!("node '{name}' is missing from the quantized model"))
        })?;
        let weight = prepared
            .graph
            .initializer(w.weight)
            .ok_or_else(|| PtqError::Calibration(format!("node '{name}' has no constant weight")))?;
        let weight_id = qdq.add_value_unique(
            &format!("{}_fp32", prepared.graph.value(w.weight).name),
            Fact::known(weight.dtype(), weight.shape()),
        );
        qdq.initializers.insert(weight_id, Arc::clone(weight));
        let mut shadow = qdq.nodes[n].clone();
        let out = shadow.outputs[0];
        let shadow_out = qdq.add_value_unique(&format!("{}_shadow", qdq.value(out).name), Fact::unknown());
        shadow.name = format!("{name}_shadow");
        shadow.inputs[0] = shadow.inputs[0].map(|x| before_quantization(&qdq, x));
        shadow.inputs[1] = Some(weight_id);
        shadow.outputs = vec![shadow_out];
        shadows.insert(n, shadow);
        let slot = sums.len();
        taps.insert(out, Tap { slot, shadow: false });
        taps.insert(shadow_out, Tap { slot, shadow: true });
        sums.push(Sums {
            weighted: i,
            quantized: vec![0.0; w.channels],
            shadow: vec![0.0; w.channels],
            count: 0,
            last_axis: w.output_axis_is_last,
        });
    }
    // Each shadow runs right after its original so that both outputs die early.
    let nodes = std::mem::take(&mut qdq.nodes);
    for (n, node) in nodes.into_iter().enumerate() {
        qdq.nodes.push(node);
        if let Some(shadow) = shadows.remove(&n) {
            qdq.nodes.push(shadow);
        }
    }
    Ok((qdq, taps, sums))
}

/// The value `x` was quantize-dequantized from, or `x` itself when it is not the output
/// of a `QuantizeLinear → DequantizeLinear` pair.
fn before_quantization(graph: &Graph, x: ValueId) -> ValueId {
    let input_of = |v: ValueId, quantize: bool| {
        let node = &graph.nodes[graph.producer(v)?];
        let wanted = if quantize {
            matches!(node.op, Op::QuantizeLinear(_))
        } else {
            matches!(node.op, Op::DequantizeLinear(_))
        };
        wanted.then_some(node.input(0)?)
    };
    input_of(x, false).and_then(|q| input_of(q, true)).unwrap_or(x)
}
