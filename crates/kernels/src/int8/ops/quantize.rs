//! ONNX `QuantizeLinear` (f32 → u8/i8) and `DequantizeLinear` (u8/i8 → f32), per tensor or
//! per channel along an axis.
//!
//! - Quantize: `y = saturate(round_half_even(x / scale) + zp)`, computed as
//!   `round_half_even(clamp(x / scale, lo − zp, hi − zp)) + zp` (equal, as the bounds are
//!   integers); true division as the spec writes it. NaN maps to the type's lowest value
//!   (the clamp's `max` returns the bound, in the scalar and vector paths alike).
//! - Dequantize: `y = f32(x − zp) · scale`: exact subtraction, one rounding.
//!
//! Tensors are viewed as `[outer, channels, inner]`: per-tensor parameters are one
//! channel; per-channel parameters along axis `a` have `channels = shape[a]`.

use super::super::isa::Tier;
use super::error::{check_len, QOpError, Result};
use super::params::{invalid, OutputType};
use super::vector::Vector;

/// Scales and zero points: one pair, or one pair per channel.
#[derive(Debug, Clone, Copy)]
pub struct ChannelQuant<'a> {
    pub scales: &'a [f32],
    pub zero_points: &'a [i32],
}

/// Shape `[outer, channels, inner]` of a tensor seen along its quantization axis.
#[derive(Debug, Clone, Copy)]
pub struct AxisShape {
    pub outer: usize,
    pub channels: usize,
    pub inner: usize,
}

impl AxisShape {
    /// A tensor of `len` values quantized per tensor.
    pub fn per_tensor(len: usize) -> AxisShape {
        AxisShape {
            outer: 1,
            channels: 1,
            inner: len,
        }
    }

    fn len(&self) -> usize {
        self.outer * self.channels * self.inner
    }
}

/// f32 → u8.
pub fn quantize_linear_f32_to_u8(
    tier: Tier,
    x: &[f32],
    shape: AxisShape,
    q: ChannelQuant<'_>,
    out: &mut [u8],
) -> Result<()> {
    quantize(tier, x, shape, q, OutputType::U8, out)
}

/// f32 → i8.
pub fn quantize_linear_f32_to_i8(
    tier: Tier,
    x: &[f32],
    shape: AxisShape,
    q: ChannelQuant<'_>,
    out: &mut [i8],
) -> Result<()> {
    quantize(
        tier,
        x,
        shape,
        q,
        OutputType::I8,
        super::params::as_bytes_mut(out),
    )
}

/// u8 → f32.
pub fn dequantize_u8_to_f32(
    tier: Tier,
    x: &[u8],
    shape: AxisShape,
    q: ChannelQuant<'_>,
    out: &mut [f32],
) -> Result<()> {
    dequantize(tier, x, shape, q, OutputType::U8, out)
}

/// i8 → f32.
pub fn dequantize_i8_to_f32(
    tier: Tier,
    x: &[i8],
    shape: AxisShape,
    q: ChannelQuant<'_>,
    out: &mut [f32],
) -> Result<()> {
    // SAFETY: i8 and u8 have the same size and alignment; `dequantize` reinterprets the
    // bytes as i8 again for this type.
    let bytes = unsafe { std::slice::from_raw_parts(x.as_ptr().cast::<u8>(), x.len()) };
    dequantize(tier, bytes, shape, q, OutputType::I8, out)
}

/// The scalar quantization rule for one value (the reference).
pub(crate) fn quantize_one(x: f32, scale: f32, zero_point: i32, dtype: OutputType) -> i32 {
    let (lo, hi) = dtype.range();
    let q = (x / scale)
        .max((lo - zero_point) as f32)
        .min((hi - zero_point) as f32);
    q.round_ties_even() as i32 + zero_point
}

fn check(
    op: &'static str,
    shape: AxisShape,
    q: ChannelQuant<'_>,
    dtype: OutputType,
    (in_len, out_len): (usize, usize),
) -> Result<()> {
    check_len("quantization scales", shape.channels, q.scales.len())?;
    check_len("quantization zero points", shape.channels, q.zero_points.len())?;
    check_len("input", shape.len(), in_len)?;
    check_len("output", shape.len(), out_len)?;
    let (lo, hi) = dtype.range();
    if let Some(s) = q.scales.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
        return Err(invalid(op, format!("scale {s} must be finite and > 0")));
    }
    if let Some(z) = q.zero_points.iter().find(|z| !(lo..=hi).contains(*z)) {
        return Err(invalid(op, format!("zero point {z} is outside {lo}..={hi}")));
    }
    if shape.inner == 0 && shape.len() > 0 {
        return Err(QOpError::InvalidGeometry {
            op,
            why: "empty inner dimension".into(),
        });
    }
    Ok(())
}

fn quantize(
    tier: Tier,
    x: &[f32],
    shape: AxisShape,
    q: ChannelQuant<'_>,
    dtype: OutputType,
    out: &mut [u8],
) -> Result<()> {
    let vector = Vector::for_tier(tier)?;
    check("QuantizeLinear", shape, q, dtype, (x.len(), out.len()))?;
    if shape.len() == 0 {
        return Ok(());
    }
    let runs = x.chunks_exact(shape.inner).zip(out.chunks_exact_mut(shape.inner));
    for (r, (xs, ys)) in runs.enumerate() {
        let c = r % shape.channels;
        let (scale, zp) = (q.scales[c], q.zero_points[c]);
        let done = match vector {
            // SAFETY: `for_tier` checked the CPU features.
            #[cfg(target_arch = "x86_64")]
            Vector::Avx512 => unsafe { super::quantize_x86::avx512_quantize_f32(xs, scale, zp, dtype, ys) },
            #[cfg(target_arch = "x86_64")]
            Vector::Avx2 => unsafe { super::quantize_x86::avx2_quantize_f32(xs, scale, zp, dtype, ys) },
            _ => 0,
        };
        for (x, y) in xs[done..].iter().zip(&mut ys[done..]) {
            *y = quantize_one(*x, scale, zp, dtype) as u8;
        }
    }
    Ok(())
}

fn dequantize(
    tier: Tier,
    x: &[u8],
    shape: AxisShape,
    q: ChannelQuant<'_>,
    dtype: OutputType,
    out: &mut [f32],
) -> Result<()> {
    let vector = Vector::for_tier(tier)?;
    check("DequantizeLinear", shape, q, dtype, (x.len(), out.len()))?;
    if shape.len() == 0 {
        return Ok(());
    }
    let signed = dtype == OutputType::I8;
    let runs = x.chunks_exact(shape.inner).zip(out.chunks_exact_mut(shape.inner));
    for (r, (xs, ys)) in runs.enumerate() {
        let c = r % shape.channels;
        let (scale, zp) = (q.scales[c], q.zero_points[c]);
        let done = match vector {
            // SAFETY: `for_tier` checked the CPU features.
            #[cfg(target_arch = "x86_64")]
            Vector::Avx512 => unsafe { super::quantize_x86::avx512_dequantize(xs, signed, scale, zp, ys) },
            #[cfg(target_arch = "x86_64")]
            Vector::Avx2 => unsafe { super::quantize_x86::avx2_dequantize(xs, signed, scale, zp, ys) },
            _ => 0,
        };
        for (x, y) in xs[done..].iter().zip(&mut ys[done..]) {
            let v = if signed {
                i32::from(*x as i8)
            } else {
                i32::from(*x)
            };
            *y = (v - zp) as f32 * scale;
        }
    }
    Ok(())
}
