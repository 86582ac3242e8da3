//! QLinearMatMul with a computed right-hand side (an attention product of a QOperator
//! transformer) on the INT8 GEMM, packing B on every call.
//!
//! A constant B is matched at plan time into a fused integer step (`int8`); this path
//! serves the products whose two operands are both activations, which otherwise ran on
//! the i32 reference loops. It takes per-tensor parameters, u8 A, u8 or i8 B (a u8 B in
//! its i8 view, `i8_view`, with its zero point moved alike), and batch dimensions that
//! match or a 2-D B; anything else falls back to the reference evaluator, whose results these
//! equal bit for bit (the GEMM's sums are exact and the requantization rule is the same).

use lowbit_kernels::int8::ops::{
    i8_view, LinearWeights, OutputType, QLinear, QLinearParams, QOpError, SIGN_FLIP_SHIFT,
};
use lowbit_kernels::int8::requant::PerChannel;
use lowbit_kernels::int8::{selected_tier, WeightLayout};
use lowbit_tensor::{DType, Tensor};

use super::args::Inputs;
use super::quant;
use super::{EvalError, EvalResult};

/// a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp.
pub(crate) fn qlinear_matmul(inputs: &Inputs) -> EvalResult<Tensor> {
    match on_gemm(inputs)? {
        Some(y) => Ok(y),
        None => quant::qlinear_matmul(inputs),
    }
}

/// One scalar parameter of input `index`, or `None` when absent or not a single value.
fn scalar<T: lowbit_tensor::Element>(inputs: &Inputs, index: usize) -> Option<T> {
    let t = inputs.opt(index)?;
    t.as_slice::<T>().ok().filter(|v| v.len() == 1).map(|v| v[0])
}

fn on_gemm(inputs: &Inputs) -> EvalResult<Option<Tensor>> {
    let (a, b) = (inputs.get(0)?, inputs.get(3)?);
    let (sa, sb) = (a.shape(), b.shape());
    if a.dtype() != DType::U8 || sa.len() < 2 || sb.len() < 2 {
        return Ok(None);
    }
    let (batch_a, batch_b) = (&sa[..sa.len() - 2], &sb[..sb.len() - 2]);
    let (m, k, n) = (sa[sa.len() - 2], sa[sa.len() - 1], sb[sb.len() - 1]);
    if sb[sb.len() - 2] != k || !(batch_b.is_empty() || batch_a == batch_b) || m * k * n == 0 {
        return Ok(None);
    }
    let (Some(a_scale), Some(b_scale), Some(y_scale)) = (
        scalar::<f32>(inputs, 1),
        scalar::<f32>(inputs, 4),
        scalar::<f32>(inputs, 6),
    ) else {
        return Ok(None);
    };
    let a_zero_point = match inputs.opt(2) {
        None => 0,
        Some(_) => match scalar::<u8>(inputs, 2) {
            Some(z) => z,
            None => return Ok(None),
        },
    };
    let (b_values, b_zero_point): (Vec<i8>, i32) = match b.dtype() {
        DType::U8 => {
            let Some(z) = inputs.opt(5).map_or(Some(0), |_| scalar::<u8>(inputs, 5)) else {
                return Ok(None);
            };
            (i8_view(b.as_slice::<u8>()?), i32::from(z) - SIGN_FLIP_SHIFT)
        }
        DType::I8 => {
            let Some(z) = inputs.opt(5).map_or(Some(0), |_| scalar::<i8>(inputs, 5)) else {
                return Ok(None);
            };
            (b.as_slice::<i8>()?.to_vec(), i32::from(z))
        }
        _ => return Ok(None),
    };
    let (output_type, output_zero_point) = match inputs.opt(7).map(Tensor::dtype) {
        None => (OutputType::U8, 0),
        Some(DType::U8) => match scalar::<u8>(inputs, 7) {
            Some(z) => (OutputType::U8, i32::from(z)),
            None => return Ok(None),
        },
        Some(DType::I8) => match scalar::<i8>(inputs, 7) {
            Some(z) => (OutputType::I8, i32::from(z)),
            None => return Ok(None),
        },
        Some(_) => return Ok(None),
    };
    // The reference evaluator's multiplier, computed the same way.
    let multiplier = a_scale * b_scale / y_scale;
    if !(multiplier.is_finite() && multiplier > 0.0) {
        return Ok(None);
    }
    let product = |values: &[i8]| {
        QLinear::new(
            selected_tier(),
            &QLinearParams {
                weights: LinearWeights {
                    k,
                    n,
                    layout: WeightLayout::KByN,
                    values,
                    zero_points: PerChannel::Same(b_zero_point),
                },
                input_zero_point: a_zero_point,
                bias: None,
                multiplier: PerChannel::Same(multiplier),
                output_zero_point,
                output_range: output_type.range(),
                output_type,
            },
        )
    };
    let a_values = a.as_slice::<u8>()?;
    // One B for every batch item (A's rows are contiguous: one product), or one per item.
    let rows = if batch_b.is_empty() { a_values.len() / k } else { m };
    let dims = (rows, k, n);
    let kernel_error = |e: QOpError| EvalError(e.to_string());
    let mut shape = sa.to_vec();
    *shape.last_mut().expect("rank checked above") = n;
    Ok(Some(match output_type {
        OutputType::U8 => {
            let run = |q: &QLinear, rows, x: &[u8], y: &mut [u8]| q.run(rows, x, y);
            Tensor::new(
                shape,
                products(a_values, &b_values, dims, &product, run).map_err(kernel_error)?,
            )?
        }
        OutputType::I8 => {
            let run = |q: &QLinear, rows, x: &[u8], y: &mut [i8]| q.run_i8(rows, x, y);
            Tensor::new(
                shape,
                products(a_values, &b_values, dims, &product, run).map_err(kernel_error)?,
            )?
        }
    }))
}

/// Every `rows × k` block of A times its `k × n` block of B, into an output of `T`
/// (`run` is `QLinear::run` or `run_i8`); `product` packs one B.
fn products<T: Copy + Default>(
    a: &[u8],
    b: &[i8],
    (rows, k, n): (usize, usize, usize),
    product: &dyn Fn(&[i8]) -> Result<QLinear, QOpError>,
    run: impl Fn(&QLinear, usize, &[u8], &mut [T]) -> Result<(), QOpError>,
) -> Result<Vec<T>, QOpError> {
    let mut out = vec![T::default(); a.len() / k * n];
    for ((x, w), y) in a
        .chunks_exact(rows * k)
        .zip(b.chunks_exact(k * n))
        .zip(out.chunks_exact_mut(rows * n))
    {
        run(&product(w)?, rows, x, y)?;
    }
    Ok(out)
}
