//! QLinearMatMul with a computed right-hand side (an attention product of a QOperator
//! transformer) on the INT8 GEMM, packing B on every call.
//!
//! A constant B is matched at plan time into a fused integer step (`int8`); this path
//! serves the products whose two operands are both activations, which otherwise ran on
//! the i32 reference loops. It takes per-tensor parameters, u8 A, u8 or i8 B (u8 B is
//! moved into i8 by flipping its top bit, which subtracts 128 from values and zero point
//! alike, so the centred values are unchanged), and batch dimensions that match or a
//! 2-D B; anything else falls back to the reference evaluator, whose results these
//! equal bit for bit (the GEMM's sums are exact and the requantization rule is the same).

use lowbit_kernels::int8::ops::{LinearWeights, OutputType, QLinear, QLinearParams};
use lowbit_kernels::int8::requant::PerChannel;
use lowbit_kernels::int8::{selected_tier, WeightLayout};
use lowbit_tensor::{DType, Tensor};

use super::args::Inputs;
use super::quant;
use super::EvalResult;

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
            let flipped = b.as_slice::<u8>()?.iter().map(|&v| (v ^ 0x80) as i8).collect();
            (flipped, i32::from(z) - 128)
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
    let mut out = vec![0u8; a_values.len() / k * n];
    let kernel_error = |e: lowbit_kernels::int8::ops::QOpError| super::EvalError(e.to_string());
    let run = |q: &QLinear, rows: usize, x: &[u8], y: &mut [u8]| match output_type {
        OutputType::U8 => q.run(rows, x, y),
        OutputType::I8 => {
            let mut signed = vec![0i8; y.len()];
            q.run_i8(rows, x, &mut signed)?;
            y.iter_mut().zip(&signed).for_each(|(o, s)| *o = *s as u8);
            Ok(())
        }
    };
    if batch_b.is_empty() {
        // One B for every batch item: A's rows are contiguous, so one product.
        let q = product(&b_values).map_err(kernel_error)?;
        run(&q, a_values.len() / k, a_values, &mut out).map_err(kernel_error)?;
    } else {
        for ((x, w), y) in a_values
            .chunks_exact(m * k)
            .zip(b_values.chunks_exact(k * n))
            .zip(out.chunks_exact_mut(m * n))
        {
            let q = product(w).map_err(kernel_error)?;
            run(&q, m, x, y).map_err(kernel_error)?;
        }
    }
    let mut shape = sa.to_vec();
    *shape.last_mut().expect("rank checked above") = n;
    Ok(Some(match output_type {
        OutputType::U8 => Tensor::new(shape, out)?,
        OutputType::I8 => Tensor::new(shape, out.into_iter().map(|v| v as i8).collect::<Vec<i8>>())?,
    }))
}
