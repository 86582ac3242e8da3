//! Elementwise `QLinearAdd` / `QLinearMul` on same-shape u8 tensors.
//!
//! The rule, in f32 like ONNX's reference (dequantize, operate, `QuantizeLinear`):
//! ```text
//! fa = f32(a − za) · sa;  fb = f32(b − zb) · sb
//! s  = fa + fb  (qadd)   or   fa · fb  (qmul)
//! y  = round_half_even(clamp(s / sy, lo − zy, hi − zy)) + zy
//! ```
//! `[lo, hi]` is the fused clamp range (the u8 range, or a ReLU range). Clamping before
//! rounding equals saturating after it because the bounds are integers. Every step is one
//! correctly rounded IEEE operation in the same order (true division, no FMA), so the
//! vector paths equal [`qbinary_one`] bit for bit. onnxruntime's contrib `QLinearAdd` /
//! `QLinearMul` kernels fold the scales into ratios first and so differ from this
//! definition by one unit on some halfway cases.

use super::super::isa::Tier;
use super::error::{check_len, Result};
use super::params::{validate_range, OutputType, QParams};
use super::vector::Vector;

/// Which arithmetic an elementwise op applies to the dequantized inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Binary {
    Add,
    Mul,
}

/// Quantization of both inputs and the output, with the output clamp range.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BinaryParams {
    pub a: QParams,
    pub b: QParams,
    pub y: QParams,
    pub range: (i32, i32),
}

/// `out = quantize(dequantize(a) + dequantize(b))` elementwise; see the module docs.
#[allow(clippy::too_many_arguments)]
pub fn qadd(
    tier: Tier,
    a: &[u8],
    a_params: QParams,
    b: &[u8],
    b_params: QParams,
    y_params: QParams,
    range: (i32, i32),
    out: &mut [u8],
) -> Result<()> {
    let p = BinaryParams {
        a: a_params,
        b: b_params,
        y: y_params,
        range,
    };
    binary(tier, Binary::Add, "QLinearAdd", a, b, &p, out)
}

/// `out = quantize(dequantize(a) · dequantize(b))` elementwise; see the module docs.
#[allow(clippy::too_many_arguments)]
pub fn qmul(
    tier: Tier,
    a: &[u8],
    a_params: QParams,
    b: &[u8],
    b_params: QParams,
    y_params: QParams,
    range: (i32, i32),
    out: &mut [u8],
) -> Result<()> {
    let p = BinaryParams {
        a: a_params,
        b: b_params,
        y: y_params,
        range,
    };
    binary(tier, Binary::Mul, "QLinearMul", a, b, &p, out)
}

fn binary(
    tier: Tier,
    op: Binary,
    name: &'static str,
    a: &[u8],
    b: &[u8],
    p: &BinaryParams,
    out: &mut [u8],
) -> Result<()> {
    let vector = Vector::for_tier(tier)?;
    check_len("second operand", a.len(), b.len())?;
    check_len("output", a.len(), out.len())?;
    p.a.validate(name, "first input", (0, 255))?;
    p.b.validate(name, "second input", (0, 255))?;
    p.y.validate(name, "output", (0, 255))?;
    validate_range(name, p.range, p.y.zero_point, OutputType::U8)?;
    let done = match vector {
        // SAFETY: `for_tier` checked the CPU has the vector class's features.
        #[cfg(target_arch = "x86_64")]
        Vector::Avx512 => unsafe { super::elementwise_x86::avx512_qbinary_u8(op, a, b, p, out) },
        #[cfg(target_arch = "x86_64")]
        Vector::Avx2 => unsafe { super::elementwise_x86::avx2_qbinary_u8(op, a, b, p, out) },
        _ => 0,
    };
    scalar_qbinary_u8(op, &a[done..], &b[done..], p, &mut out[done..]);
    Ok(())
}

/// The scalar reference for one element.
pub(crate) fn qbinary_one(op: Binary, a: u8, b: u8, p: &BinaryParams) -> u8 {
    let fa = (i32::from(a) - p.a.zero_point) as f32 * p.a.scale;
    let fb = (i32::from(b) - p.b.zero_point) as f32 * p.b.scale;
    let s = match op {
        Binary::Add => fa + fb,
        Binary::Mul => fa * fb,
    };
    let zy = p.y.zero_point;
    let q = (s / p.y.scale)
        .max((p.range.0 - zy) as f32)
        .min((p.range.1 - zy) as f32);
    (q.round_ties_even() as i32 + zy) as u8
}

fn scalar_qbinary_u8(op: Binary, a: &[u8], b: &[u8], p: &BinaryParams, out: &mut [u8]) {
    for ((o, a), b) in out.iter_mut().zip(a).zip(b) {
        *o = qbinary_one(op, *a, *b, p);
    }
}
