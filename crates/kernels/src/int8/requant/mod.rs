//! Requantization: i32 accumulators (+ i32 bias) → u8 or i8 outputs.
//!
//! # The rule
//! For an accumulator `acc` of channel `c`:
//! ```text
//! x = f32(acc + bias[c])              // i32 add wraps; int→f32 rounds to nearest even
//! x = x · multiplier[c]               // one f32 multiply, multiplier = s_a·s_w[c]/s_y
//! x = min(max(x, lo − zp), hi − zp)   // fused clamp, bounds exact small integers in f32
//! y = round_half_to_even(x) + zp      // as ONNX QuantizeLinear rounds
//! ```
//! where `[lo, hi]` is the output range: the output type's range intersected with the
//! activation's (ReLU = `[zp, max]`, ReLU6 = `[zp, zp + round(6/s_y)]`, see
//! [`activation_range`]). Clamping before rounding equals clamping after, because rounding
//! is monotonic and the bounds are integers; doing it first keeps the f32→i32 conversion
//! in range for any accumulator.
//!
//! Folding `s_a·s_w/s_y` into one multiplier rounds differently from ONNX's
//! dequantize-then-`QuantizeLinear` by at most one unit in rare halfway cases.
//!
//! # Bit-exactness across tiers
//! Each step is a single correctly rounded IEEE operation (conversion, multiply, min/max,
//! round to nearest even), done in the same order everywhere with no FMA contraction, so
//! the SIMD versions equal [`scalar`] bit for bit. Preconditions, checked by
//! [`RequantParams::validate`]: multipliers finite and > 0, `zp ∈ [lo, hi]` and
//! `[lo, hi]` inside the output type's range.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod columns;
pub mod scalar;

use super::error::{Int8Error, Result};
use super::isa::Tier;
pub(crate) use columns::ColumnTable;

/// A per-channel quantity given once for all channels or once per channel.
#[derive(Debug, Clone, Copy)]
pub enum PerChannel<'a, T> {
    Same(T),
    Each(&'a [T]),
}

impl<T: Copy> PerChannel<'_, T> {
    /// The value for channel `c`.
    pub fn get(&self, c: usize) -> T {
        match self {
            PerChannel::Same(v) => *v,
            PerChannel::Each(v) => v[c],
        }
    }

    fn len_ok(&self, channels: usize) -> bool {
        match self {
            PerChannel::Same(_) => true,
            PerChannel::Each(v) => v.len() == channels,
        }
    }
}

/// Which axis of the row-major `rows × cols` accumulator matrix indexes channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelAxis {
    /// Channel = column (GEMM output with output channels along N).
    Columns,
    /// Channel = row (an NCHW plane per row).
    Rows,
}

/// Parameters of one requantization.
#[derive(Debug, Clone, Copy)]
pub struct RequantParams<'a> {
    /// `s_a · s_w[c] / s_y`.
    pub multiplier: PerChannel<'a, f32>,
    pub bias: PerChannel<'a, i32>,
    pub zero_point: i32,
    /// Inclusive output range `[lo, hi]` after the zero point is added.
    pub range: (i32, i32),
}

impl RequantParams<'_> {
    /// Checks the preconditions of the rule for `channels` channels and output type range
    /// `[type_lo, type_hi]`.
    pub fn validate(&self, channels: usize, (type_lo, type_hi): (i32, i32)) -> Result<()> {
        let (lo, hi) = self.range;
        if !(self.multiplier.len_ok(channels) && self.bias.len_ok(channels)) {
            return Err(Int8Error::Requant(format!(
                "multiplier and bias need 1 or {channels} values"
            )));
        }
        let bad_multiplier = match self.multiplier {
            PerChannel::Same(v) => !(v.is_finite() && v > 0.0),
            PerChannel::Each(v) => v.iter().any(|v| !(v.is_finite() && *v > 0.0)),
        };
        if bad_multiplier {
            return Err(Int8Error::Requant(
                "multipliers must be finite and positive".into(),
            ));
        }
        if !(type_lo <= lo && lo <= hi && hi <= type_hi) {
            return Err(Int8Error::Requant(format!(
                "range [{lo}, {hi}] is not inside [{type_lo}, {type_hi}]"
            )));
        }
        if !(lo..=hi).contains(&self.zero_point) {
            return Err(Int8Error::Requant(format!(
                "zero point {} is outside the range [{lo}, {hi}]",
                self.zero_point
            )));
        }
        Ok(())
    }
}

/// The quantized output range of an activation clamp `[min, max]` (real values; use
/// `f32::NEG_INFINITY`/`INFINITY` for an open side) intersected with the type range.
/// ReLU is `(0, ∞)`, ReLU6 `(0, 6)`.
pub fn activation_range(
    type_range: (i32, i32),
    scale: f32,
    zero_point: i32,
    min: f32,
    max: f32,
) -> (i32, i32) {
    let quantize = |v: f32| (v / scale).round_ties_even().clamp(-1e9, 1e9) as i64 + i64::from(zero_point);
    let (tlo, thi) = (i64::from(type_range.0), i64::from(type_range.1));
    let lo = if min.is_finite() {
        quantize(min).clamp(tlo, thi)
    } else {
        tlo
    };
    let hi = if max.is_finite() {
        quantize(max).clamp(tlo, thi)
    } else {
        thi
    };
    (lo as i32, hi.max(lo) as i32)
}

/// Requantizes a row-major `rows × cols` accumulator matrix to u8.
pub fn requantize_u8(
    tier: Tier,
    (rows, cols): (usize, usize),
    acc: &[i32],
    axis: ChannelAxis,
    params: &RequantParams<'_>,
    out: &mut [u8],
) -> Result<()> {
    check(tier, (rows, cols), acc, axis, params, out.len(), (0, 255))?;
    run(tier, cols, acc, axis, params, out);
    Ok(())
}

/// Requantizes a row-major `rows × cols` accumulator matrix to i8.
pub fn requantize_i8(
    tier: Tier,
    (rows, cols): (usize, usize),
    acc: &[i32],
    axis: ChannelAxis,
    params: &RequantParams<'_>,
    out: &mut [i8],
) -> Result<()> {
    check(tier, (rows, cols), acc, axis, params, out.len(), (-128, 127))?;
    // SAFETY: i8 and u8 have the same size and alignment and every bit pattern is valid
    // for both; the kernels write the two's-complement low byte of in-range i32 values.
    let bytes = unsafe { std::slice::from_raw_parts_mut(out.as_mut_ptr().cast::<u8>(), out.len()) };
    run(tier, cols, acc, axis, params, bytes);
    Ok(())
}

fn check(
    tier: Tier,
    (rows, cols): (usize, usize),
    acc: &[i32],
    axis: ChannelAxis,
    params: &RequantParams<'_>,
    out_len: usize,
    type_range: (i32, i32),
) -> Result<()> {
    if !tier.is_available() {
        return Err(Int8Error::TierUnavailable { tier });
    }
    let len = rows * cols;
    if acc.len() != len {
        return Err(Int8Error::LengthMismatch {
            what: "accumulators",
            expected: len,
            actual: acc.len(),
        });
    }
    if out_len != len {
        return Err(Int8Error::LengthMismatch {
            what: "requantized output",
            expected: len,
            actual: out_len,
        });
    }
    let channels = match axis {
        ChannelAxis::Columns => cols,
        ChannelAxis::Rows => rows,
    };
    params.validate(channels, type_range)
}

/// One row of the rule with channel values resolved for that row.
pub(crate) struct RowParams<'a> {
    pub multiplier: PerChannel<'a, f32>,
    pub bias: PerChannel<'a, i32>,
    pub zero_point: i32,
    /// `lo − zp` and `hi − zp` as f32.
    pub lo: f32,
    pub hi: f32,
}

/// Requantizes bytes of either output type with parameters an op validated when it was
/// built ([`RequantParams::validate`] walks every channel, which per call would cost as
/// much as a small block's arithmetic): only the tier and the sizes are checked here.
pub(crate) fn requantize_validated(
    tier: Tier,
    (rows, cols): (usize, usize),
    acc: &[i32],
    axis: ChannelAxis,
    params: &RequantParams<'_>,
    out: &mut [u8],
) -> Result<()> {
    if !tier.is_available() {
        return Err(Int8Error::TierUnavailable { tier });
    }
    let channels = match axis {
        ChannelAxis::Columns => cols,
        ChannelAxis::Rows => rows,
    };
    let sizes_ok = acc.len() == rows * cols
        && out.len() == rows * cols
        && params.multiplier.len_ok(channels)
        && params.bias.len_ok(channels);
    if !sizes_ok {
        return Err(Int8Error::LengthMismatch {
            what: "requantized block",
            expected: rows * cols,
            actual: acc.len().min(out.len()),
        });
    }
    run(tier, cols, acc, axis, params, out);
    Ok(())
}

fn run(tier: Tier, cols: usize, acc: &[i32], axis: ChannelAxis, params: &RequantParams<'_>, out: &mut [u8]) {
    if cols == 0 {
        return;
    }
    let zp = params.zero_point;
    let (lo, hi) = ((params.range.0 - zp) as f32, (params.range.1 - zp) as f32);
    #[cfg(target_arch = "x86_64")]
    if let (Tier::Amx | Tier::Avx512Vnni, ChannelAxis::Columns, PerChannel::Each(m), PerChannel::Each(b)) =
        (tier, axis, params.multiplier, params.bias)
    {
        let row = RowParams {
            multiplier: params.multiplier,
            bias: params.bias,
            zero_point: zp,
            lo,
            hi,
        };
        // SAFETY: `check` verified the tier (which implies AVX-512F) and that the
        // per-column parameters have `cols` values and `acc`, `out` `rows · cols`.
        unsafe { avx512::avx512_requant_columns(acc, (m, b), &row, out) };
        return;
    }
    for (r, (acc_row, out_row)) in acc.chunks_exact(cols).zip(out.chunks_exact_mut(cols)).enumerate() {
        let (multiplier, bias) = match axis {
            ChannelAxis::Columns => (params.multiplier, params.bias),
            ChannelAxis::Rows => (
                PerChannel::Same(params.multiplier.get(r)),
                PerChannel::Same(params.bias.get(r)),
            ),
        };
        let row = RowParams {
            multiplier,
            bias,
            zero_point: zp,
            lo,
            hi,
        };
        run_row(tier, acc_row, &row, out_row);
    }
}

fn run_row(tier: Tier, acc: &[i32], row: &RowParams<'_>, out: &mut [u8]) {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `check` verified the tier is available; the AMX tier implies AVX-512
        // (see `isa.rs`) and the VNNI tiers imply AVX2.
        unsafe {
            match tier {
                Tier::Amx | Tier::Avx512Vnni => return avx512::avx512_requant_s32(acc, row, out),
                Tier::AvxVnni | Tier::Avx2 => return avx2::avx2_requant_s32(acc, row, out),
                Tier::Scalar => {}
            }
        }
    }
    let _ = tier;
    scalar::scalar_requant_s32(acc, row, out, 0);
}
