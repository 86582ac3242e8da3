//! What [`quantize_dynamic`](super::quantize_dynamic) quantizes, and how.

/// Granularity of the i8 weight scales.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WeightGranularity {
    /// One scale per output column of the K×N weight matrix.
    #[default]
    PerChannel,
    /// One scale for the whole matrix.
    PerTensor,
}

impl WeightGranularity {
    pub fn name(self) -> &'static str {
        match self {
            WeightGranularity::PerChannel => "per_channel",
            WeightGranularity::PerTensor => "per_tensor",
        }
    }
}

/// Granularity of the on-the-fly u8 activation ranges.
///
/// Per-row is the default: a transformer's tokens differ in range by an order of
/// magnitude (separator tokens carry outliers), so one range per tensor wastes most of
/// the 8 bits on the other tokens, and a sentence's result would depend on the others in
/// its batch. On all-MiniLM-L6-v2, per-tensor ranges reach cosine 0.990 to FP32 and
/// per-row 0.998 (docs/QUALITY.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ActivationGranularity {
    /// One range per input tensor, as ONNX `DynamicQuantizeLinear` computes it.
    PerTensor,
    /// One range per row (token) of the flattened `[M, K]` input, written as standard
    /// ops that compute it (ReduceMin/ReduceMax over the last axis, see `per_row.rs`).
    #[default]
    PerRow,
}

impl ActivationGranularity {
    pub fn name(self) -> &'static str {
        match self {
            ActivationGranularity::PerTensor => "per_tensor",
            ActivationGranularity::PerRow => "per_row",
        }
    }

    /// The inverse of [`ActivationGranularity::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "per_tensor" => Some(ActivationGranularity::PerTensor),
            "per_row" => Some(ActivationGranularity::PerRow),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamicConfig {
    pub weights: WeightGranularity,
    pub activations: ActivationGranularity,
    /// Also store embedding tables (Gather of a constant f32 matrix) as i8, per row.
    pub quantize_embeddings: bool,
    /// Glob patterns (`*` matches any run of characters) over node names; a matching
    /// MatMul/Gemm stays in FP32.
    pub keep_fp32: Vec<String>,
}

impl Default for DynamicConfig {
    fn default() -> Self {
        DynamicConfig {
            weights: WeightGranularity::default(),
            activations: ActivationGranularity::default(),
            quantize_embeddings: true,
            keep_fp32: Vec::new(),
        }
    }
}

impl DynamicConfig {
    /// Whether the node named `name` must stay in FP32.
    pub fn keeps_fp32(&self, name: &str) -> bool {
        self.keep_fp32.iter().any(|p| super::glob_match(p, name))
    }
}
