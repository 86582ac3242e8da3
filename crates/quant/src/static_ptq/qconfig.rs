//! What to quantize and how: PyTorch's `QConfig`, with presets and overrides.

use serde::{Deserialize, Serialize};

use crate::{
    EntropyObserver, HistogramObserver, MinMaxObserver, MovingAverageMinMaxObserver, MseObserver, Observer,
    PercentileObserver, QuantMode, QuantScheme,
};
use lowbit_tensor::DType;

/// The calibration method of an activation quantization point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObserverKind {
    /// Running min and max (`MinMaxObserver`).
    Minmax,
    /// Exponential moving average of min and max (`MovingAverageMinMaxObserver`).
    MovingAverage,
    /// PyTorch's `HistogramObserver` L2 range search.
    Histogram,
    /// TensorRT's KL-divergence threshold.
    Entropy,
    /// The 99.99th percentile of |x|.
    Percentile,
    /// The clipping range with the least quantization MSE.
    Mse,
}

impl ObserverKind {
    pub const ALL: [ObserverKind; 6] = [
        ObserverKind::Minmax,
        ObserverKind::MovingAverage,
        ObserverKind::Histogram,
        ObserverKind::Entropy,
        ObserverKind::Percentile,
        ObserverKind::Mse,
    ];

    /// The recipe spelling of this kind.
    pub fn name(&self) -> &'static str {
        match self {
            ObserverKind::Minmax => "minmax",
            ObserverKind::MovingAverage => "moving_average",
            ObserverKind::Histogram => "histogram",
            ObserverKind::Entropy => "entropy",
            ObserverKind::Percentile => "percentile",
            ObserverKind::Mse => "mse",
        }
    }

    /// A fresh observer with the library's default settings for this kind.
    pub fn build(&self) -> Box<dyn Observer> {
        match self {
            ObserverKind::Minmax => Box::new(MinMaxObserver::new()),
            ObserverKind::MovingAverage => Box::new(MovingAverageMinMaxObserver::default()),
            ObserverKind::Histogram => Box::new(HistogramObserver::default()),
            ObserverKind::Entropy => Box::new(EntropyObserver::default()),
            ObserverKind::Percentile => Box::new(PercentileObserver::default()),
            ObserverKind::Mse => Box::new(MseObserver::default()),
        }
    }
}

/// Activations are u8 affine; `reduce_range` uses 7 bits as PyTorch's x86 backends do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivationQConfig {
    pub observer: ObserverKind,
    pub reduce_range: bool,
    /// Quantize the model's outputs too, as PyTorch's converted models end in a
    /// DeQuantStub (the presets' choice). `false` leaves each output as its op's
    /// dequantized accumulators, with no 8-bit rounding of the logits (ONNX Runtime's
    /// `OpTypesToExcludeOutputQuantization`); the op then runs in FP32 on its
    /// dequantized int8 weights.
    #[serde(default = "yes")]
    pub quantize_outputs: bool,
}

fn yes() -> bool {
    true
}

impl ActivationQConfig {
    pub fn scheme(&self) -> QuantScheme {
        QuantScheme::new(DType::U8, QuantMode::Affine, self.reduce_range).expect("u8 affine is always valid")
    }
}

/// Weights are i8 symmetric min-max, per output channel or per tensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightQConfig {
    pub per_channel: bool,
}

/// A change for one node (by name) or every node of one op type. Exactly one of `node`
/// and `op` is given; later overrides win over earlier ones.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Override {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// An ONNX op type such as `Conv` or `Gemm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<String>,
    /// Keep the node in FP32: no quantization of its inputs, weights or output.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fp32: bool,
    /// The observer of the quantization point the node produces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observer: Option<ObserverKind>,
    /// Per-channel (true) or per-tensor weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_channel: Option<bool>,
}

impl Override {
    fn applies_to(&self, node: &str, op: &str) -> bool {
        self.node.as_deref() == Some(node) || self.op.as_deref() == Some(op)
    }
}

/// The whole configuration. Field order matters for TOML output: plain values first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QConfig {
    /// Fold the mean output error that weight quantization leaves, measured on
    /// calibration data, into each bias.
    pub bias_correction: bool,
    /// Before bias correction, re-round each weight row against the node's FP32 inputs
    /// (error-feedback rounding, GPTQ). Off in every preset: on EfficientNet-Lite0 it
    /// adds ~0.5 dB of logits SQNR for ~10% more calibration time on a 224×224
    /// MobileNetV2 (the input moments come from a bounded subsample gathered during the
    /// observer pass), but on the Fashion-MNIST demo it lifts x86 PTQ above QAT, against
    /// the documented order per-tensor < x86 ≤ QAT (docs/QUALITY.md). Only used with
    /// `bias_correction`.
    #[serde(default)]
    pub gptq_rounding: bool,
    pub activations: ActivationQConfig,
    pub weights: WeightQConfig,
    #[serde(default, rename = "override", skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<Override>,
}

/// The named starting points, matching PyTorch's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// `torch.ao.quantization.default_qconfig`: MinMax u8 activations with reduced
    /// range, per-tensor symmetric i8 weights.
    PerTensor,
    /// `get_default_qconfig("x86")`: Histogram u8 activations, per-channel symmetric i8
    /// weights; plus bias correction. Unlike PyTorch,
    /// activations use the full 8 bits: `reduce_range` exists to keep `vpmaddubsw` pair
    /// sums from saturating, and lowbit's integer kernels accumulate exactly
    /// (`vpmaddwd`, VNNI), so the 7-bit range would only cost accuracy (4 dB of logits
    /// SQNR on EfficientNet-Lite0). A recipe can still ask for it.
    X86,
}

impl Preset {
    pub fn parse(name: &str) -> Option<Preset> {
        match name {
            "per-tensor" | "per_tensor" => Some(Preset::PerTensor),
            "x86" => Some(Preset::X86),
            _ => None,
        }
    }
}

impl QConfig {
    pub fn preset(preset: Preset) -> QConfig {
        let (observer, per_channel, bias_correction, reduce_range) = match preset {
            Preset::PerTensor => (ObserverKind::Minmax, false, false, true),
            Preset::X86 => (ObserverKind::Histogram, true, true, false),
        };
        QConfig {
            bias_correction,
            gptq_rounding: false,
            activations: ActivationQConfig {
                observer,
                reduce_range,
                quantize_outputs: true,
            },
            weights: WeightQConfig { per_channel },
            overrides: Vec::new(),
        }
    }

    /// Whether `node` (of op type `op`) stays FP32.
    pub fn is_fp32(&self, node: &str, op: &str) -> bool {
        self.last_override(node, op, |o| o.fp32.then_some(true))
            .unwrap_or(false)
    }

    /// The observer of the quantization point `node` produces.
    pub fn observer_for(&self, node: &str, op: &str) -> ObserverKind {
        self.last_override(node, op, |o| o.observer)
            .unwrap_or(self.activations.observer)
    }

    /// Whether `node`'s weights are quantized per output channel.
    pub fn per_channel_for(&self, node: &str, op: &str) -> bool {
        self.last_override(node, op, |o| o.per_channel)
            .unwrap_or(self.weights.per_channel)
    }

    /// The TOML text of this configuration, as stored in the output model.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a QConfig always serialises")
    }

    fn last_override<T>(&self, node: &str, op: &str, pick: impl Fn(&Override) -> Option<T>) -> Option<T> {
        self.overrides
            .iter()
            .rev()
            .filter(|o| o.applies_to(node, op))
            .find_map(pick)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_overrides_win_and_node_or_op_match() {
        let mut q = QConfig::preset(Preset::X86);
        q.overrides = vec![
            Override {
                op: Some("Conv".into()),
                observer: Some(ObserverKind::Minmax),
                ..Default::default()
            },
            Override {
                node: Some("c2".into()),
                observer: Some(ObserverKind::Entropy),
                fp32: true,
                ..Default::default()
            },
        ];
        assert_eq!(q.observer_for("c1", "Conv"), ObserverKind::Minmax);
        assert_eq!(q.observer_for("c2", "Conv"), ObserverKind::Entropy);
        assert_eq!(q.observer_for("g", "Gemm"), ObserverKind::Histogram);
        assert!(q.is_fp32("c2", "Conv") && !q.is_fp32("c1", "Conv"));
        assert!(q.per_channel_for("c1", "Conv"));
    }

    #[test]
    fn presets_follow_pytorch() {
        let p = QConfig::preset(Preset::PerTensor);
        assert_eq!(p.activations.observer, ObserverKind::Minmax);
        assert!(p.activations.reduce_range && !p.weights.per_channel && !p.bias_correction);
        let x = QConfig::preset(Preset::X86);
        assert_eq!(x.activations.observer, ObserverKind::Histogram);
        assert!(x.weights.per_channel && x.bias_correction && !x.activations.reduce_range);
        assert!(!x.gptq_rounding && !p.gptq_rounding);
    }
}
