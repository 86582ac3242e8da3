//! Empirical bias correction (Nagel et al. 2019, "Data-Free Quantization", §4.2): the
//! expected output error a quantized weight causes, `E[(W − Ŵ) x]` per output channel,
//! measured on calibration data and folded into the bias.
//!
//! The measurement runs inside the calibration pass: each corrected node gets a shadow
//! copy that reads the same FP32 input with quantize-dequantized weights. The mean of an
//! output channel is linear, so only per-channel sums are kept, never tensors.

use std::collections::HashMap;
use std::sync::Arc;

use lowbit_graph::{Fact, Graph, Node, ValueId};
use lowbit_tensor::Tensor;

use super::error::Result;
use super::weights::WeightedNode;

/// Per-channel sums of one node's FP32 and shadow outputs.
#[derive(Debug, Clone)]
struct Sums {
    fp32: Vec<f64>,
    shadow: Vec<f64>,
    /// Values summed into each channel.
    count: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct BiasCorrection {
    /// Index into the prepared `weighted` list, for nodes that can take a bias.
    nodes: Vec<usize>,
    sums: Vec<Sums>,
}

/// Which sum an observed value feeds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tap {
    slot: usize,
    shadow: bool,
    last_axis: bool,
}

impl BiasCorrection {
    pub fn new(weighted: &[WeightedNode]) -> BiasCorrection {
        let nodes: Vec<usize> = (0..weighted.len()).filter(|&i| weighted[i].takes_bias).collect();
        let sums = nodes
            .iter()
            .map(|&i| Sums {
                fp32: vec![0.0; weighted[i].channels],
                shadow: vec![0.0; weighted[i].channels],
                count: 0,
            })
            .collect();
        BiasCorrection { nodes, sums }
    }

    /// `graph` with a shadow node after each corrected node, and the taps to observe.
    pub fn shadow_graph(
        &self,
        graph: &Graph,
        weighted: &[WeightedNode],
    ) -> Result<(Graph, HashMap<ValueId, Tap>)> {
        let mut shadowed = graph.clone();
        let mut taps = HashMap::new();
        let mut shadows: HashMap<usize, Node> = HashMap::new();
        for (slot, &i) in self.nodes.iter().enumerate() {
            let w = &weighted[i];
            let node = &graph.nodes[w.node];
            let shape = graph
                .initializer(w.weight)
                .map(|t| t.shape().to_vec())
                .unwrap_or_default();
            let fake = w.dequantized(&shape)?;
            let fake_id = shadowed.add_value_unique(
                &format!("{}_fake_quantized", graph.value(w.weight).name),
                Fact::known(fake.dtype(), fake.shape()),
            );
            shadowed.initializers.insert(fake_id, Arc::new(fake));
            let out = node.outputs[0];
            let shadow_out =
                shadowed.add_value_unique(&format!("{}_shadow", graph.value(out).name), Fact::unknown());
            let mut shadow = node.clone();
            shadow.name = format!("{}_shadow", node.name);
            shadow.inputs[1] = Some(fake_id);
            shadow.outputs = vec![shadow_out];
            shadows.insert(w.node, shadow);
            let last_axis = w.output_axis_is_last;
            taps.insert(
                out,
                Tap {
                    slot,
                    shadow: false,
                    last_axis,
                },
            );
            taps.insert(
                shadow_out,
                Tap {
                    slot,
                    shadow: true,
                    last_axis,
                },
            );
        }
        // Each shadow runs right after its original so both outputs die early.
        let nodes = std::mem::take(&mut shadowed.nodes);
        for (n, node) in nodes.into_iter().enumerate() {
            shadowed.nodes.push(node);
            if let Some(shadow) = shadows.remove(&n) {
                shadowed.nodes.push(shadow);
            }
        }
        Ok((shadowed, taps))
    }

    /// Adds an observed output to its channel sums.
    pub fn observe(&mut self, tap: Tap, tensor: &Tensor) -> Result<()> {
        let values = tensor.as_slice::<f32>()?;
        let sums = &mut self.sums[tap.slot];
        let channels = sums.fp32.len();
        let shape = tensor.shape();
        let inner: usize = if tap.last_axis {
            1
        } else {
            shape.get(2..).map_or(1, |s| s.iter().product())
        };
        let target = if tap.shadow {
            &mut sums.shadow
        } else {
            &mut sums.fp32
        };
        for (run, chunk) in values.chunks(inner.max(1)).enumerate() {
            target[run % channels] += chunk.iter().map(|&v| v as f64).sum::<f64>();
        }
        if !tap.shadow {
            sums.count += (values.len() / channels.max(1)) as u64;
        }
        Ok(())
    }

    /// The per-channel correction to add to each corrected node's bias, keyed by the
    /// index into the prepared `weighted` list.
    pub fn corrections(&self) -> HashMap<usize, Vec<f32>> {
        self.nodes
            .iter()
            .zip(&self.sums)
            .filter(|(_, s)| s.count > 0)
            .map(|(&i, s)| {
                let mean = s
                    .fp32
                    .iter()
                    .zip(&s.shadow)
                    .map(|(a, b)| ((a - b) / s.count as f64) as f32)
                    .collect();
                (i, mean)
            })
            .collect()
    }
}
