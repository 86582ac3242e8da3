//! Quantization parameters: the affine map `real = scale * (q - zero_point)`.

use crate::{DType, Result, TensorError};

/// Scale and zero point of a quantized tensor, per tensor or per channel.
///
/// Convention (see `docs/QUANTIZATION.md`): activations are u8 asymmetric, weights
/// are i8 symmetric (zero point 0) per output channel. Other combinations are legal.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantParams {
    /// The integer type values are stored in (`I8` or `U8`).
    pub dtype: DType,
    /// One scale per tensor, or one per channel along `axis`.
    pub scale: Vec<f32>,
    /// Same length as `scale`.
    pub zero_point: Vec<i32>,
    /// `None` for per-tensor parameters.
    pub axis: Option<usize>,
}

impl QuantParams {
    pub fn per_tensor(dtype: DType, scale: f32, zero_point: i32) -> Result<Self> {
        Self::new(dtype, vec![scale], vec![zero_point], None)
    }

    pub fn per_channel(dtype: DType, scale: Vec<f32>, zero_point: Vec<i32>, axis: usize) -> Result<Self> {
        Self::new(dtype, scale, zero_point, Some(axis))
    }

    fn new(dtype: DType, scale: Vec<f32>, zero_point: Vec<i32>, axis: Option<usize>) -> Result<Self> {
        let (lo, hi) = match dtype {
            DType::I8 => (i8::MIN as i32, i8::MAX as i32),
            DType::U8 => (u8::MIN as i32, u8::MAX as i32),
            other => return Err(TensorError::Quant(format!("{other} is not a quantized type"))),
        };
        if scale.is_empty() || scale.len() != zero_point.len() {
            return Err(TensorError::Quant(format!(
                "{} scales but {} zero points",
                scale.len(),
                zero_point.len()
            )));
        }
        if let Some(s) = scale.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(TensorError::Quant(format!(
                "scale {s} is not a positive finite number"
            )));
        }
        if let Some(z) = zero_point.iter().find(|z| !(lo..=hi).contains(*z)) {
            return Err(TensorError::Quant(format!(
                "zero point {z} is outside the {dtype} range"
            )));
        }
        Ok(QuantParams {
            dtype,
            scale,
            zero_point,
            axis,
        })
    }

    pub fn is_per_channel(&self) -> bool {
        self.axis.is_some()
    }

    /// The representable integer range of `dtype`.
    pub fn range(&self) -> (i32, i32) {
        match self.dtype {
            DType::I8 => (-128, 127),
            _ => (0, 255),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_parameters() {
        assert!(QuantParams::per_tensor(DType::U8, 0.0, 0).is_err());
        assert!(QuantParams::per_tensor(DType::U8, 0.1, 256).is_err());
        assert!(QuantParams::per_tensor(DType::I8, 0.1, -129).is_err());
        assert!(QuantParams::per_tensor(DType::F32, 0.1, 0).is_err());
        assert!(QuantParams::per_channel(DType::I8, vec![0.1, 0.2], vec![0], 0).is_err());
        let q = QuantParams::per_channel(DType::I8, vec![0.1, 0.2], vec![0, 0], 0).unwrap();
        assert!(q.is_per_channel());
        assert_eq!(q.range(), (-128, 127));
    }
}
