//! Fixed quantization parameters in place of calibration, for ranges learned elsewhere:
//! quantization-aware training observes activation ranges and weight scales while it
//! trains, then converts through the same fusion, QDQ placement and bias quantization as
//! static PTQ ([`Prepared::convert`]).

use lowbit_tensor::{DType, QuantParams};

use super::error::{PtqError, Result};
use super::prepare::Prepared;
use crate::{MinMaxObserver, Observer};

/// A conv/linear node whose weight [`Prepared::convert`] quantizes to i8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightSite {
    /// The node's name, unchanged by BatchNorm folding.
    pub node: String,
    /// The weight axis that indexes output channels.
    pub axis: usize,
    pub channels: usize,
    pub per_channel: bool,
}

impl Prepared {
    /// The nodes whose weights are quantized, in graph order.
    pub fn weight_sites(&self) -> Vec<WeightSite> {
        self.weighted
            .iter()
            .map(|w| WeightSite {
                node: self.graph.nodes[w.node].name.clone(),
                axis: w.weight_axis,
                channels: w.channels,
                per_channel: {
                    let node = &self.graph.nodes[w.node];
                    self.qconfig.per_channel_for(&node.name, node.op.name())
                },
            })
            .collect()
    }

    /// Gives the activation quantization point `value` the range `[min, max]`, as if
    /// calibration had seen exactly that range; its scale and zero point then come from
    /// the qconfig's activation scheme like any calibrated point's.
    pub fn set_activation_range(&mut self, value: &str, min: f32, max: f32) -> Result<()> {
        if !(min.is_finite() && max.is_finite() && min <= max) {
            return Err(PtqError::FixedParams(format!(
                "range [{min}, {max}] of '{value}' is not a finite interval"
            )));
        }
        let index = self
            .layout
            .points
            .iter()
            .position(|p| self.graph.value(p.value).name == value)
            .ok_or_else(|| PtqError::FixedParams(format!("'{value}' is not a quantization point")))?;
        let mut observer = MinMaxObserver::new();
        observer.observe(&[min, max]);
        self.observers[index] = Box::new(observer);
        Ok(())
    }

    /// Quantizes the weight of `node` with symmetric i8 `scales` (one per output channel,
    /// or one for the tensor) instead of its own min-max scales; values beyond the range
    /// saturate, as in a fake-quantizer with frozen parameters.
    pub fn set_weight_scales(&mut self, node: &str, scales: &[f32]) -> Result<()> {
        let fail = |why: String| PtqError::FixedParams(format!("weight scales of '{node}': {why}"));
        let index = self
            .weighted
            .iter()
            .position(|w| self.graph.nodes[w.node].name == node)
            .ok_or_else(|| fail("the node has no quantized weight".into()))?;
        let w = &self.weighted[index];
        if scales.len() != 1 && scales.len() != w.channels {
            return Err(fail(format!(
                "{} scales for {} channels",
                scales.len(),
                w.channels
            )));
        }
        if let Some(s) = scales.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(fail(format!("scale {s} is not positive and finite")));
        }
        let tensor = self
            .graph
            .initializer(w.weight)
            .ok_or_else(|| fail("the weight is not a constant".into()))?;
        let inner: usize = tensor.shape()[w.weight_axis + 1..].iter().product();
        let quantized = tensor
            .as_slice::<f32>()?
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                let c = if scales.len() == 1 {
                    0
                } else {
                    (i / inner.max(1)) % scales.len()
                };
                (x / scales[c]).round_ties_even().clamp(-128.0, 127.0) as i8
            })
            .collect();
        let zeros = vec![0; scales.len()];
        let params = if scales.len() == 1 {
            QuantParams::per_tensor(DType::I8, scales[0], 0)?
        } else {
            QuantParams::per_channel(DType::I8, scales.to_vec(), zeros, w.weight_axis)?
        };
        let w = &mut self.weighted[index];
        w.params = params;
        w.quantized = quantized;
        Ok(())
    }
}
