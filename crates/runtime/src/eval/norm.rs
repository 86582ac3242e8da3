//! Normalisations: BatchNormalization (inference), Softmax/LogSoftmax, LayerNormalization.

use lowbit_graph::ops::{BatchNorm, LayerNorm};
use lowbit_tensor::{numel, Tensor};
use rayon::prelude::*;

use super::args::resolve_axis;
use super::broadcast::expand_into;
use super::{ensure, vmath, Cx, EvalResult, Inputs};

/// `y = (x - mean) / sqrt(var + eps) * scale + bias` per channel (axis 1).
pub(crate) fn batch_norm(attrs: &BatchNorm, inputs: &Inputs, cx: &mut Cx) -> EvalResult<Tensor> {
    let x = inputs.get(0)?;
    let v = inputs.slice::<f32>(0)?;
    ensure(x.rank() >= 2, || {
        format!("input must be [N, C, ...], got {:?}", x.shape())
    })?;
    let channels = x.shape()[1];
    let params: Vec<&[f32]> = (1..5)
        .map(|i| inputs.slice::<f32>(i))
        .collect::<EvalResult<_>>()?;
    ensure(params.iter().all(|p| p.len() == channels), || {
        format!("scale, bias, mean and var must each hold {channels} values")
    })?;
    let (scale, shift) = batch_norm_affine(params[0], params[1], params[2], params[3], attrs.epsilon);
    let plane: usize = x.shape()[2..].iter().product();
    let mut out = cx.buffers.take_f32(v.len());
    for (n, (src, dst)) in v
        .chunks(plane.max(1))
        .zip(out.chunks_mut(plane.max(1)))
        .enumerate()
    {
        let c = n % channels;
        dst.iter_mut()
            .zip(src)
            .for_each(|(y, &x)| *y = x * scale[c] + shift[c]);
    }
    Ok(Tensor::new(x.shape(), out)?)
}

/// The per-channel `(scale, shift)` equivalent to inference BatchNormalization.
pub(crate) fn batch_norm_affine(
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    var: &[f32],
    epsilon: f32,
) -> (Vec<f32>, Vec<f32>) {
    let scale: Vec<f32> = gamma
        .iter()
        .zip(var)
        .map(|(&g, &v)| g / (v + epsilon).sqrt())
        .collect();
    let shift = beta
        .iter()
        .zip(mean)
        .zip(&scale)
        .map(|((&b, &m), &s)| b - m * s)
        .collect();
    (scale, shift)
}

/// Values per parallel softmax task.
const SOFTMAX_TASK: usize = 1 << 14;

/// Softmax or LogSoftmax (opset 13) along `axis`.
pub(crate) fn softmax(axis: i64, log: bool, inputs: &Inputs, cx: &mut Cx) -> EvalResult<Tensor> {
    let x = inputs.get(0)?;
    let v = inputs.slice::<f32>(0)?;
    let axis = resolve_axis(axis, x.rank())?;
    let dim = x.shape()[axis];
    let inner: usize = x.shape()[axis + 1..].iter().product();
    let mut out = cx.buffers.take_f32(v.len());
    if inner == 1 && !log && dim > 0 {
        // Contiguous rows (attention's scores): the vectorised row kernel, rows in parallel.
        let task = dim * (SOFTMAX_TASK / dim).max(1);
        out.par_chunks_mut(task)
            .zip(v.par_chunks(task))
            .for_each(|(rows, source)| vmath::softmax_rows(source, rows, dim));
        return Ok(Tensor::new(x.shape(), out)?);
    }
    let mut row = vec![0f32; dim];
    for base in (0..v.len()).step_by((dim * inner).max(1)) {
        for i in 0..inner {
            let at = |d: usize| base + d * inner + i;
            row.iter_mut().enumerate().for_each(|(d, r)| *r = v[at(d)]);
            softmax_row(&mut row, log);
            row.iter().enumerate().for_each(|(d, &r)| out[at(d)] = r);
        }
    }
    Ok(Tensor::new(x.shape(), out)?)
}

/// In-place softmax of one row, shifted by the max for range safety; sums in f64.
fn softmax_row(row: &mut [f32], log: bool) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if log {
        let sum: f64 = row.iter().map(|&x| ((x - max).exp()) as f64).sum();
        let log_sum = sum.ln() as f32;
        row.iter_mut().for_each(|x| *x = *x - max - log_sum);
    } else {
        let mut sum = 0f64;
        for x in row.iter_mut() {
            *x = (*x - max).exp();
            sum += *x as f64;
        }
        let inv = (1.0 / sum) as f32;
        row.iter_mut().for_each(|x| *x *= inv);
    }
}

/// LayerNormalization over the axes `axis..`; outputs Y and, if asked, Mean and InvStdDev.
pub(crate) fn layer_norm(attrs: &LayerNorm, inputs: &Inputs, outputs: usize, cx: &mut Cx) -> EvalResult {
    let x = inputs.get(0)?;
    let v = inputs.slice::<f32>(0)?;
    let axis = resolve_axis(attrs.axis, x.rank())?;
    let norm_shape = &x.shape()[axis..];
    let width = numel(norm_shape);
    let per_row = |index: usize| -> EvalResult<Option<Vec<f32>>> {
        let Some(t) = inputs.opt(index) else {
            return Ok(None);
        };
        let values = inputs.slice::<f32>(index)?;
        super::broadcast::broadcast_shapes(&[t.shape(), norm_shape])
            .ok()
            .filter(|s| s == norm_shape)
            .ok_or_else(|| {
                format!(
                    "input {index} of shape {:?} does not broadcast to {norm_shape:?}",
                    t.shape()
                )
            })?;
        let mut full = vec![0f32; width];
        expand_into(values, t.shape(), norm_shape, &mut full);
        Ok(Some(full))
    };
    let scale = per_row(1)?.ok_or("scale is required")?;
    let bias = per_row(2)?;
    let mut out = cx.buffers.take_f32(v.len());
    let epsilon = attrs.epsilon;
    let bias = bias.as_deref();
    // Rows are independent: normalise them in parallel, each returning its statistics.
    let stats: Vec<(f32, f32)> = if width == 0 {
        Vec::new()
    } else {
        out.par_chunks_mut(width)
            .zip(v.par_chunks(width))
            .map(|(dst, src)| vmath::layer_norm_row(src, dst, &scale, bias, epsilon))
            .collect()
    };
    let (means, inv_stds): (Vec<f32>, Vec<f32>) = stats.into_iter().unzip();
    let mut stat_shape = x.shape().to_vec();
    stat_shape[axis..].iter_mut().for_each(|d| *d = 1);
    let mut result = vec![Tensor::new(x.shape(), out)?];
    if outputs > 1 {
        result.push(Tensor::new(stat_shape.clone(), means)?);
    }
    if outputs > 2 {
        result.push(Tensor::new(stat_shape, inv_stds)?);
    }
    Ok(result)
}
