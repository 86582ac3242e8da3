//! Reference implementations of the ONNX quantization ops: QuantizeLinear,
//! DequantizeLinear, DynamicQuantizeLinear, QLinearConv, QLinearMatMul, ConvInteger and
//! MatMulInteger. Rounding is half to even and results saturate, as ONNX specifies.

use lowbit_graph::ops::Conv;
use lowbit_tensor::{DType, Data, Tensor};

use super::args::resolve_axis;
use super::integer::{
    bad_scale, centered, conv_i32, matmul_i32, subtract_per_column, subtract_per_row, zero_points,
};
use super::{ensure, EvalError, EvalResult, Inputs};

/// Per-tensor or per-axis quantization parameters, expanded to one entry per channel.
struct AxisParams {
    scales: Vec<f32>,
    zero_points: Vec<i32>,
    /// Elements per step of the channel axis (1 for per-tensor parameters).
    inner: usize,
    channels: usize,
}

impl AxisParams {
    fn read(inputs: &Inputs, x: &Tensor, axis: i64) -> EvalResult<Self> {
        let scale = inputs.get(1)?;
        let scales = inputs.slice::<f32>(1)?.to_vec();
        let (inner, channels) = if scales.len() == 1 && scale.rank() <= 1 {
            (1, 1)
        } else {
            let a = resolve_axis(axis, x.rank())?;
            let channels = x.shape()[a];
            ensure(scale.rank() == 1 && scales.len() == channels, || {
                format!(
                    "per-axis scale must have {channels} values (axis {a} of {:?})",
                    x.shape()
                )
            })?;
            (x.shape()[a + 1..].iter().product(), channels)
        };
        let zero_points = zero_points(inputs.opt(2), channels, "the")?;
        ensure(
            zero_points.len() == 1 || zero_points.len() == scales.len(),
            || "scale and zero point sizes differ".to_string(),
        )?;
        Ok(AxisParams {
            scales,
            zero_points,
            inner,
            channels,
        })
    }

    /// `(scale, zero point)` of element `i`.
    fn at(&self, i: usize) -> (f32, i32) {
        let c = if self.channels == 1 {
            0
        } else {
            (i / self.inner) % self.channels
        };
        let zp = self.zero_points[if self.zero_points.len() == 1 { 0 } else { c }];
        (self.scales[c], zp)
    }
}

/// The integer range of a quantized output type.
fn range_of(dtype: DType) -> EvalResult<(i32, i32)> {
    match dtype {
        DType::U8 => Ok((0, 255)),
        DType::I8 => Ok((-128, 127)),
        other => Err(EvalError(format!("{other} is not a quantized type (u8 or i8)"))),
    }
}

/// `round_half_even(value) + zero_point`, saturated to `[lo, hi]`, as i32.
fn saturate(value: f32, zero_point: i32, (lo, hi): (i32, i32)) -> i32 {
    let q = value.round_ties_even() as i64 + zero_point as i64;
    q.clamp(lo as i64, hi as i64) as i32
}

/// i32 values already in range, stored as `dtype` (u8 or i8).
fn store(values: Vec<i32>, dtype: DType, shape: &[usize]) -> EvalResult<Tensor> {
    let data = match dtype {
        DType::U8 => Data::U8(values.into_iter().map(|v| v as u8).collect()),
        _ => Data::I8(values.into_iter().map(|v| v as i8).collect()),
    };
    Ok(Tensor::from_data(shape, data)?)
}

/// `y = saturate(round(x / scale) + zero_point)`; the zero point's type (default u8) is
/// the output type.
pub(crate) fn quantize_linear(axis: i64, inputs: &Inputs) -> EvalResult<Tensor> {
    let x = inputs.get(0)?;
    ensure(matches!(x.dtype(), DType::F32 | DType::I32), || {
        format!("input must be f32 or i32, got {}", x.dtype())
    })?;
    let dtype = inputs.opt(2).map_or(DType::U8, Tensor::dtype);
    let range = range_of(dtype)?;
    let params = AxisParams::read(inputs, x, axis)?;
    let values = x.to_f32_vec();
    let q = values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let (s, zp) = params.at(i);
            saturate(v / s, zp, range)
        })
        .collect();
    store(q, dtype, x.shape())
}

/// `y = (x - zero_point) * scale`.
pub(crate) fn dequantize_linear(axis: i64, inputs: &Inputs) -> EvalResult<Tensor> {
    let x = inputs.get(0)?;
    ensure(matches!(x.dtype(), DType::U8 | DType::I8 | DType::I32), || {
        format!("input must be u8, i8 or i32, got {}", x.dtype())
    })?;
    if let Some(zp) = inputs.opt(2) {
        ensure(zp.dtype() == x.dtype(), || {
            format!("zero point is {} but the input is {}", zp.dtype(), x.dtype())
        })?;
    }
    let params = AxisParams::read(inputs, x, axis)?;
    if params.channels == 1 {
        // Per-tensor parameters (an f32 fallback's input): one vectorisable pass.
        let (s, zp) = params.at(0);
        let y = match x.data() {
            Data::U8(v) => dequantize_per_tensor(v, s, zp),
            Data::I8(v) => dequantize_per_tensor(v, s, zp),
            _ => dequantize_per_tensor(x.as_slice::<i32>()?, s, zp),
        };
        return Ok(Tensor::new(x.shape(), y)?);
    }
    let q = centered(x, 0)?;
    let y: Vec<f32> = q
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let (s, zp) = params.at(i);
            (v - zp) as f32 * s
        })
        .collect();
    Ok(Tensor::new(x.shape(), y)?)
}

fn dequantize_per_tensor<T: Copy + Into<i32>>(values: &[T], scale: f32, zero_point: i32) -> Vec<f32> {
    values
        .iter()
        .map(|&v| (v.into() - zero_point) as f32 * scale)
        .collect()
}

/// u8 quantization with a range that always includes 0: outputs y, y_scale, y_zero_point.
pub(crate) fn dynamic_quantize_linear(inputs: &Inputs) -> EvalResult {
    let x = inputs.get(0)?;
    let v = inputs.slice::<f32>(0)?;
    let min = v.iter().copied().fold(0f32, f32::min);
    let max = v.iter().copied().fold(0f32, f32::max);
    let scale = (max - min) / 255.0;
    // An all-zero input has no range: every value quantizes to zero point 0.
    let (zero_point, y) = if scale == 0.0 {
        (0, vec![0u8; v.len()])
    } else {
        let zp = (-min / scale).clamp(0.0, 255.0).round_ties_even() as i32;
        (
            zp,
            v.iter()
                .map(|&x| saturate(x / scale, zp, (0, 255)) as u8)
                .collect(),
        )
    };
    Ok(vec![
        Tensor::new(x.shape(), y)?,
        Tensor::scalar(scale),
        Tensor::scalar(zero_point as u8),
    ])
}

/// Scales as one value or one per channel.
fn scales(inputs: &Inputs, index: usize, what: &str, count: usize) -> EvalResult<Vec<f32>> {
    let t = inputs.get(index)?;
    let values = t.as_slice::<f32>().map_err(|_| bad_scale(what, t, count))?;
    ensure(values.len() == 1 || values.len() == count, || {
        bad_scale(what, t, count).0
    })?;
    Ok(values.to_vec())
}

/// A per-tensor scalar zero point (required to be a single value).
fn scalar_zero_point(inputs: &Inputs, index: usize, what: &str) -> EvalResult<i32> {
    Ok(zero_points(inputs.opt(index), 1, what)?[0])
}

fn pick<T: Copy>(values: &[T], i: usize) -> T {
    if values.len() == 1 {
        values[0]
    } else {
        values[i]
    }
}

/// Requantizes i32 accumulators with per-channel multipliers `x_scale * w_scale[c] / y_scale`.
fn requantize(
    acc: &[i32],
    channel_of: impl Fn(usize) -> usize,
    multipliers: &[f32],
    zp: i32,
    dtype: DType,
) -> EvalResult<Vec<i32>> {
    let range = range_of(dtype)?;
    Ok(acc
        .iter()
        .enumerate()
        .map(|(i, &a)| saturate(a as f32 * pick(multipliers, channel_of(i)), zp, range))
        .collect())
}

pub(crate) fn qlinear_conv(attrs: &Conv, inputs: &Inputs) -> EvalResult<Tensor> {
    let (x, w) = (inputs.get(0)?, inputs.get(3)?);
    let m = w.shape().first().copied().unwrap_or(0);
    let x_scale = scales(inputs, 1, "x", 1)?[0];
    let w_scales = scales(inputs, 4, "w", m)?;
    let y_scale = scales(inputs, 6, "y", 1)?[0];
    let x_zp = scalar_zero_point(inputs, 2, "x")?;
    let w_zps = zero_points(inputs.opt(5), m, "w")?;
    let y_zp = scalar_zero_point(inputs, 7, "y")?;
    let y_type = inputs.opt(7).map_or(DType::U8, Tensor::dtype);
    let xc = centered(x, x_zp)?;
    let wc = centered_per_channel(w, &w_zps)?;
    let (mut acc, shape) = conv_i32(attrs, &xc, x.shape(), &wc, w.shape())?;
    let plane = shape[2] * shape[3];
    if let Some(b) = inputs.opt(8) {
        let bias = b
            .as_slice::<i32>()
            .map_err(|_| EvalError(format!("bias must be i32, got {}", b.dtype())))?;
        ensure(bias.len() == m, || format!("bias must have {m} values"))?;
        acc.iter_mut()
            .enumerate()
            .for_each(|(i, a)| *a = a.wrapping_add(bias[(i / plane) % m]));
    }
    let multipliers: Vec<f32> = w_scales.iter().map(|&ws| x_scale * ws / y_scale).collect();
    let q = requantize(&acc, |i| (i / plane) % m, &multipliers, y_zp, y_type)?;
    store(q, y_type, &shape)
}

/// Weights `[M, ...]` minus their per-output-channel (or per-tensor) zero points.
fn centered_per_channel(w: &Tensor, zps: &[i32]) -> EvalResult<Vec<i32>> {
    let mut values = centered(w, 0)?;
    let m = w.shape().first().copied().unwrap_or(1).max(1);
    subtract_per_row(&mut values, zps, m, w.len() / m);
    Ok(values)
}

pub(crate) fn conv_integer(attrs: &Conv, inputs: &Inputs) -> EvalResult<Tensor> {
    let (x, w) = (inputs.get(0)?, inputs.get(1)?);
    let m = w.shape().first().copied().unwrap_or(0);
    let x_zp = scalar_zero_point(inputs, 2, "x")?;
    let w_zps = zero_points(inputs.opt(3), m, "w")?;
    let (acc, shape) = conv_i32(
        attrs,
        &centered(x, x_zp)?,
        x.shape(),
        &centered_per_channel(w, &w_zps)?,
        w.shape(),
    )?;
    Ok(Tensor::new(shape, acc)?)
}

/// `(a - a_zp) x (b - b_zp)` in i32, with per-row a and per-column b zero points allowed.
fn centered_matmul(
    inputs: &Inputs,
    a_index: usize,
    b_index: usize,
    a_zp: Option<&Tensor>,
    b_zp: Option<&Tensor>,
) -> EvalResult<(Vec<i32>, Vec<usize>, usize)> {
    let (a, b) = (inputs.get(a_index)?, inputs.get(b_index)?);
    let s = super::integer::MatMulShape::of(a.shape(), b.shape())?;
    let mut ac = centered(a, 0)?;
    let mut bc = centered(b, 0)?;
    subtract_per_row(&mut ac, &zero_points(a_zp, s.m, "a")?, s.m, s.k);
    subtract_per_column(&mut bc, &zero_points(b_zp, s.n, "b")?, s.n);
    let (acc, shape) = matmul_i32(&ac, a.shape(), &bc, b.shape())?;
    Ok((acc, shape.out, shape.n))
}

pub(crate) fn matmul_integer(inputs: &Inputs) -> EvalResult<Tensor> {
    let (acc, shape, _) = centered_matmul(inputs, 0, 1, inputs.opt(2), inputs.opt(3))?;
    Ok(Tensor::new(shape, acc)?)
}

/// a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp; b's parameters may be per column.
pub(crate) fn qlinear_matmul(inputs: &Inputs) -> EvalResult<Tensor> {
    let (acc, shape, n) = centered_matmul(inputs, 0, 3, inputs.opt(2), inputs.opt(5))?;
    let a_scale = scales(inputs, 1, "a", 1)?[0];
    let b_scales = scales(inputs, 4, "b", n)?;
    let y_scale = scales(inputs, 6, "y", 1)?[0];
    let y_zp = scalar_zero_point(inputs, 7, "y")?;
    let y_type = inputs.opt(7).map_or(DType::U8, Tensor::dtype);
    let multipliers: Vec<f32> = b_scales.iter().map(|&bs| a_scale * bs / y_scale).collect();
    let q = requantize(&acc, |i| i % n.max(1), &multipliers, y_zp, y_type)?;
    store(q, y_type, &shape)
}
