//! Attributes of the ONNX quantization ops.

/// The `axis` of QuantizeLinear/DequantizeLinear: the channel axis for per-channel
/// parameters, ignored when they are per-tensor (ONNX default 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuantAxis {
    pub axis: i64,
}

impl Default for QuantAxis {
    fn default() -> Self {
        QuantAxis { axis: 1 }
    }
}
