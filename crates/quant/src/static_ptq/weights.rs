//! Weights and biases of conv/linear nodes: i8 weights per channel or per tensor, and
//! i32 biases with scale `x_scale * w_scale[c]` (ONNX Runtime's QDQ convention).

use lowbit_graph::{Graph, NodeId, Op, ValueId};
use lowbit_tensor::{QuantParams, Tensor};

use super::error::{PtqError, Result};
use crate::{ChannelObserver, MinMaxObserver, Observer, PerChannelMinMaxObserver, QuantScheme};

/// A Conv, Gemm or MatMul with a constant f32 weight, and its quantized weight.
#[derive(Debug, Clone)]
pub(crate) struct WeightedNode {
    pub node: NodeId,
    pub weight: ValueId,
    /// Axis of the weight tensor that indexes output channels.
    pub weight_axis: usize,
    /// Axis of the node's output that indexes output channels (1 for Conv, last for
    /// Gemm/MatMul).
    pub output_axis_is_last: bool,
    pub channels: usize,
    /// The bias input, when it is a constant of `channels` values.
    pub bias: Option<ValueId>,
    /// Whether a bias can be given to the node (Conv, or Gemm with alpha = beta = 1).
    pub takes_bias: bool,
    pub params: QuantParams,
    pub quantized: Vec<i8>,
}

impl WeightedNode {
    /// Matches `n` and quantizes its weight; `None` when `n` has no constant f32 weight.
    pub fn new(graph: &Graph, n: NodeId, per_channel: bool) -> Option<Result<WeightedNode>> {
        let node = &graph.nodes[n];
        let weight = node.input(1)?;
        let w = graph.initializer(weight)?;
        w.as_slice::<f32>().ok()?;
        let (weight_axis, output_axis_is_last, unit_gemm) = match &node.op {
            Op::Conv(_) if w.rank() == 4 => (0, false, true),
            Op::Gemm(g) if w.rank() == 2 && !g.trans_a => {
                (usize::from(!g.trans_b), true, g.alpha == 1.0 && g.beta == 1.0)
            }
            Op::MatMul if w.rank() == 2 => (1, true, false),
            _ => return None,
        };
        let channels = w.shape()[weight_axis];
        let bias = node.input(2).filter(|&b| {
            unit_gemm
                && graph
                    .initializer(b)
                    .is_some_and(|t| t.len() == channels && t.as_slice::<f32>().is_ok())
        });
        let takes_bias = unit_gemm && (node.input(2).is_none() || bias.is_some());
        Some(
            quantize_weight(w, weight_axis, per_channel, &node.name).map(|(params, quantized)| {
                WeightedNode {
                    node: n,
                    weight,
                    weight_axis,
                    output_axis_is_last,
                    channels,
                    bias,
                    takes_bias,
                    params,
                    quantized,
                }
            }),
        )
    }

    /// The bias scale of output channel `c` for an input scale `x_scale`.
    pub fn bias_scale(&self, x_scale: f32, c: usize) -> f32 {
        x_scale * self.params.scale[if self.params.scale.len() == 1 { 0 } else { c }]
    }
}

/// Channel of flat element `i` when each channel step covers `inner` elements; 0 for
/// per-tensor parameters.
fn channel_of(i: usize, inner: usize, channels: usize) -> usize {
    if channels == 1 {
        0
    } else {
        (i / inner.max(1)) % channels
    }
}

/// Symmetric i8 min-max parameters (PyTorch's weight observers) and the rounded values.
fn quantize_weight(w: &Tensor, axis: usize, per_channel: bool, node: &str) -> Result<(QuantParams, Vec<i8>)> {
    let scheme = QuantScheme::i8_symmetric();
    let params = if per_channel {
        let mut observer = PerChannelMinMaxObserver::new(axis);
        observer.observe_tensor(w).map_err(PtqError::quant(node))?;
        observer.qparams(&scheme)
    } else {
        let mut observer = MinMaxObserver::new();
        observer.observe_tensor(w).map_err(PtqError::quant(node))?;
        observer.qparams(&scheme)
    }
    .map_err(PtqError::quant(node))?;
    let inner: usize = w.shape()[axis + 1..].iter().product();
    let (qmin, qmax) = scheme.qrange();
    let quantized = w
        .as_slice::<f32>()?
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let c = channel_of(i, inner, params.scale.len());
            let q = (x / params.scale[c]).round_ties_even() as i32 + params.zero_point[c];
            q.clamp(qmin, qmax) as i8
        })
        .collect();
    Ok((params, quantized))
}

/// `round(b[c] / scale[c])`, saturated to i32.
pub(crate) fn quantize_bias(bias: &[f32], scale: impl Fn(usize) -> f32) -> Vec<i32> {
    bias.iter()
        .enumerate()
        .map(|(c, &b)| {
            (b as f64 / scale(c) as f64)
                .round()
                .clamp(i32::MIN as f64, i32::MAX as f64) as i32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_channel_weights_use_each_channel_range() {
        // Two output channels along axis 0, ranges 1.0 and 0.01.
        let w = Tensor::new(vec![2, 3], vec![1.0f32, -0.5, 0.25, 0.01, -0.005, 0.0]).unwrap();
        let (params, q) = quantize_weight(&w, 0, true, "n").unwrap();
        assert_eq!(params.scale.len(), 2);
        assert!((params.scale[0] - 1.0 / 127.5).abs() < 1e-9);
        assert!((params.scale[1] - 0.01 / 127.5).abs() < 1e-9);
        assert_eq!(q, vec![127, -64, 32, 127, -64, 0]);
        let (params, q) = quantize_weight(&w, 0, false, "n").unwrap();
        assert_eq!(params.scale.len(), 1);
        assert_eq!(q, vec![127, -64, 32, 1, -1, 0]);
    }

    #[test]
    fn bias_rounds_to_nearest_and_saturates() {
        assert_eq!(quantize_bias(&[1.0, -0.26, 1e30], |_| 0.5), vec![2, -1, i32::MAX]);
    }
}
