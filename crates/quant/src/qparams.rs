//! From an observed real range to a scale and zero point.
//!
//! This is the arithmetic of PyTorch's `UniformQuantizationObserverBase._calculate_qparams`
//! (with `calculate_qmin_qmax` for the integer range), done in `f32` like PyTorch's
//! float tensors so that results agree bit for bit on the same min/max:
//! - the range is widened to contain zero, so that 0.0 is exactly representable
//!   (padding and ReLU outputs must quantize without error);
//! - symmetric: `scale = max(-min, max) / ((qmax - qmin) / 2)`, zero point 0 for i8 and
//!   128 for u8;
//! - affine: `scale = (max - min) / (qmax - qmin)`,
//!   `zero_point = clamp(qmin - round_half_even(min / scale), qmin, qmax)`;
//! - the scale is never below `f32::EPSILON`, so a constant input still gives a valid map.

use lowbit_tensor::{DType, QuantParams};

use crate::{QuantError, Result};

/// How the real range maps onto the integer range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuantMode {
    /// Any zero point; uses the whole integer range for `[min, max]`.
    Affine,
    /// Zero point at the middle of the integer range; the range is `[-a, a]`.
    Symmetric,
}

/// The integer target of quantization: dtype, mode and whether the range is reduced to 7 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QuantScheme {
    dtype: DType,
    mode: QuantMode,
    reduce_range: bool,
}

impl QuantScheme {
    /// Validates the combination. `reduce_range` halves the integer range as PyTorch does
    /// (u8 `0..=127`, i8 `-64..=63`) so that x86 `vpmaddubsw` pair sums cannot saturate.
    /// Symmetric u8 with a reduced range is rejected, as in PyTorch: its fixed zero point
    /// 128 would lie outside `0..=127`.
    pub fn new(dtype: DType, mode: QuantMode, reduce_range: bool) -> Result<Self> {
        if !matches!(dtype, DType::U8 | DType::I8) {
            return Err(QuantError::Scheme(format!(
                "{dtype} is not an 8-bit integer type"
            )));
        }
        if dtype == DType::U8 && mode == QuantMode::Symmetric && reduce_range {
            return Err(QuantError::Scheme(
                "symmetric u8 cannot use reduce_range: zero point 128 is outside 0..=127".into(),
            ));
        }
        Ok(QuantScheme {
            dtype,
            mode,
            reduce_range,
        })
    }

    /// u8 affine over the full range: the usual activation scheme.
    pub fn u8_affine() -> Self {
        QuantScheme {
            dtype: DType::U8,
            mode: QuantMode::Affine,
            reduce_range: false,
        }
    }

    /// i8 symmetric over the full range: the usual weight scheme.
    pub fn i8_symmetric() -> Self {
        QuantScheme {
            dtype: DType::I8,
            mode: QuantMode::Symmetric,
            reduce_range: false,
        }
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn mode(&self) -> QuantMode {
        self.mode
    }

    pub fn reduce_range(&self) -> bool {
        self.reduce_range
    }

    /// The integer range `(qmin, qmax)` values are clamped to.
    pub fn qrange(&self) -> (i32, i32) {
        match (self.dtype, self.reduce_range) {
            (DType::I8, false) => (-128, 127),
            (DType::I8, true) => (-64, 63),
            (_, false) => (0, 255),
            (_, true) => (0, 127),
        }
    }

    /// Scale and zero point for values in `[min, max]`, as plain numbers.
    ///
    /// `min <= max` is expected; both are widened to contain zero first.
    pub fn scale_zero_point(&self, min: f32, max: f32) -> (f32, i32) {
        let (qmin, qmax) = self.qrange();
        let min_neg = min.min(0.0);
        let max_pos = max.max(0.0);
        match self.mode {
            QuantMode::Symmetric => {
                let amax = (-min_neg).max(max_pos);
                let scale = (amax / ((qmax - qmin) as f32 / 2.0)).max(f32::EPSILON);
                let zero_point = if self.dtype == DType::U8 { 128 } else { 0 };
                (scale, zero_point)
            }
            QuantMode::Affine => {
                let scale = ((max_pos - min_neg) / (qmax - qmin) as f32).max(f32::EPSILON);
                let zero_point = qmin - (min_neg / scale).round_ties_even() as i32;
                (scale, zero_point.clamp(qmin, qmax))
            }
        }
    }

    /// Per-tensor parameters for values in `[min, max]`.
    pub fn params_for_range(&self, min: f32, max: f32) -> Result<QuantParams> {
        let (scale, zero_point) = self.scale_zero_point(min, max);
        Ok(QuantParams::per_tensor(self.dtype, scale, zero_point)?)
    }

    /// Per-channel parameters along `axis`, one `[mins[c], maxs[c]]` range per channel.
    pub fn params_for_channels(&self, mins: &[f32], maxs: &[f32], axis: usize) -> Result<QuantParams> {
        let (scales, zero_points) = mins
            .iter()
            .zip(maxs)
            .map(|(&lo, &hi)| self.scale_zero_point(lo, hi))
            .unzip();
        Ok(QuantParams::per_channel(self.dtype, scales, zero_points, axis)?)
    }
}

/// Quantize-dequantize of one value with per-tensor parameters: the round trip whose
/// error the calibration searches minimise.
pub fn fake_quantize(x: f32, scale: f32, zero_point: i32, qrange: (i32, i32)) -> f32 {
    let q = ((x / scale).round_ties_even() as i32 + zero_point).clamp(qrange.0, qrange.1);
    (q - zero_point) as f32 * scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reduce_range_halves_the_integer_range() {
        let u8r = QuantScheme::new(DType::U8, QuantMode::Affine, true).unwrap();
        let i8r = QuantScheme::new(DType::I8, QuantMode::Symmetric, true).unwrap();
        assert_eq!(u8r.qrange(), (0, 127));
        assert_eq!(i8r.qrange(), (-64, 63));
        assert_eq!(QuantScheme::u8_affine().qrange(), (0, 255));
        assert_eq!(QuantScheme::i8_symmetric().qrange(), (-128, 127));
    }

    #[test]
    fn rejects_unrepresentable_schemes() {
        assert!(QuantScheme::new(DType::U8, QuantMode::Symmetric, true).is_err());
        assert!(QuantScheme::new(DType::I32, QuantMode::Affine, false).is_err());
        assert!(QuantScheme::new(DType::U8, QuantMode::Symmetric, false).is_ok());
    }

    #[test]
    fn constant_input_keeps_a_valid_scale() {
        let (scale, zp) = QuantScheme::u8_affine().scale_zero_point(0.0, 0.0);
        assert_eq!((scale, zp), (f32::EPSILON, 0));
        let (scale, zp) = QuantScheme::i8_symmetric().scale_zero_point(0.0, 0.0);
        assert_eq!((scale, zp), (f32::EPSILON, 0));
    }

    #[test]
    fn fake_quantize_clamps_and_rounds_half_to_even() {
        // scale 1, zp 0, range -2..=2: 2.5 rounds to 2, 7 clamps to 2, -0.5 rounds to 0.
        assert_eq!(fake_quantize(2.5, 1.0, 0, (-2, 2)), 2.0);
        assert_eq!(fake_quantize(7.0, 1.0, 0, (-2, 2)), 2.0);
        assert_eq!(fake_quantize(-0.5, 1.0, 0, (-2, 2)), 0.0);
        assert_eq!(fake_quantize(0.26, 0.1, 3, (0, 255)), 0.3);
    }
}
