//! Quantization parameters shared by the integer ops.

use super::super::isa::Tier;
use super::super::requant::{requantize_validated, ChannelAxis, PerChannel, RequantParams};
use super::error::{QOpError, Result};

/// Element type of a quantized output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputType {
    U8,
    I8,
}

impl OutputType {
    /// Inclusive range of the type.
    pub fn range(self) -> (i32, i32) {
        match self {
            OutputType::U8 => (0, 255),
            OutputType::I8 => (-128, 127),
        }
    }
}

/// Per-tensor quantization of a u8 tensor: `real = scale · (q − zero_point)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QParams {
    pub scale: f32,
    pub zero_point: i32,
}

impl QParams {
    pub fn new(scale: f32, zero_point: i32) -> Self {
        QParams { scale, zero_point }
    }

    /// Checks `scale` is finite and positive and the zero point lies in `type_range`.
    pub(crate) fn validate(&self, op: &'static str, what: &str, type_range: (i32, i32)) -> Result<()> {
        let (lo, hi) = type_range;
        if !(self.scale.is_finite() && self.scale > 0.0) {
            return Err(invalid(
                op,
                format!("{what} scale {} must be finite and > 0", self.scale),
            ));
        }
        if !(lo..=hi).contains(&self.zero_point) {
            return Err(invalid(
                op,
                format!("{what} zero point {} is outside {lo}..={hi}", self.zero_point),
            ));
        }
        Ok(())
    }
}

/// Checks an output clamp range lies inside the type and contains the zero point.
pub(crate) fn validate_range(
    op: &'static str,
    range: (i32, i32),
    zero_point: i32,
    dtype: OutputType,
) -> Result<()> {
    let (tlo, thi) = dtype.range();
    let (lo, hi) = range;
    if !(tlo <= lo && lo <= hi && hi <= thi) {
        return Err(invalid(
            op,
            format!("output range [{lo}, {hi}] is not inside [{tlo}, {thi}]"),
        ));
    }
    if !(lo..=hi).contains(&zero_point) {
        return Err(invalid(
            op,
            format!("output zero point {zero_point} is outside the output range [{lo}, {hi}]"),
        ));
    }
    Ok(())
}

pub(crate) fn invalid(op: &'static str, why: String) -> QOpError {
    QOpError::InvalidQuant { op, why }
}

/// An op's output requantization, owned: per-channel multiplier and bias, zero point,
/// clamp range and element type.
#[derive(Debug, Clone)]
pub(crate) struct OutputRequant {
    pub multiplier: Vec<f32>,
    pub bias: Vec<i32>,
    pub zero_point: i32,
    pub range: (i32, i32),
    pub dtype: OutputType,
}

impl OutputRequant {
    /// Requantizes a row-major `rows × cols` accumulator matrix whose channels (rows or
    /// columns, as `axis` says) are this op's channels `first..first + count` into bytes
    /// (two's-complement for i8 outputs).
    pub fn run(
        &self,
        tier: Tier,
        dims: (usize, usize),
        acc: &[i32],
        axis: ChannelAxis,
        first: usize,
        out: &mut [u8],
    ) -> Result<()> {
        let count = match axis {
            ChannelAxis::Columns => dims.1,
            ChannelAxis::Rows => dims.0,
        };
        let params = RequantParams {
            multiplier: PerChannel::Each(&self.multiplier[first..first + count]),
            bias: PerChannel::Each(&self.bias[first..first + count]),
            zero_point: self.zero_point,
            range: self.range,
        };
        // `new` of every op validated the multipliers, range and zero point for its type.
        requantize_validated(tier, dims, acc, axis, &params, out)?;
        Ok(())
    }

    /// Fails unless outputs of `dtype` were asked for.
    pub fn expect_type(&self, op: &'static str, dtype: OutputType) -> Result<()> {
        if self.dtype == dtype {
            Ok(())
        } else {
            Err(invalid(
                op,
                format!("output was planned as {:?} but written as {dtype:?}", self.dtype),
            ))
        }
    }
}

/// Views i8 values as their bytes.
pub(crate) fn as_bytes_mut(v: &mut [i8]) -> &mut [u8] {
    // SAFETY: i8 and u8 have the same size and alignment and every bit pattern is valid.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<u8>(), v.len()) }
}
