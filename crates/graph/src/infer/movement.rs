//! Inference rules of the ops that select or glue data: Concat, Split, Slice, Gather.

use super::broadcast::{compatible, format_dims};
use super::ctx::NodeCtx;
use super::normalize_axis;
use crate::{Dim, Fact, Op, Result};

pub(super) fn infer(ctx: &NodeCtx) -> Result<Vec<Fact>> {
    let x = ctx.required(0, "input")?;
    match &ctx.node.op {
        Op::Concat { axis } => Ok(vec![Fact {
            dtype: x.dtype,
            shape: concat(ctx, *axis)?,
        }]),
        Op::Split(split) => {
            let shapes = split_shapes(ctx, split)?;
            Ok(shapes
                .into_iter()
                .map(|shape| Fact {
                    dtype: x.dtype,
                    shape,
                })
                .collect())
        }
        Op::Slice(_) => Ok(vec![Fact {
            dtype: x.dtype,
            shape: slice(ctx)?,
        }]),
        Op::Gather { axis } => Ok(vec![Fact {
            dtype: x.dtype,
            shape: gather(ctx, *axis)?,
        }]),
        other => unreachable!("{} is not a data-movement op", other.name()),
    }
}

fn concat(ctx: &NodeCtx, axis: i64) -> Result<Option<Vec<Dim>>> {
    let mut shapes = Vec::with_capacity(ctx.node.inputs.len());
    for index in 0..ctx.node.inputs.len() {
        match ctx.required(index, "input")?.shape.as_deref() {
            Some(dims) => shapes.push(dims),
            None => return Ok(None),
        }
    }
    let rank = shapes[0].len();
    let axis = normalize_axis(ctx, axis, rank)?;
    let mut out = shapes[0].to_vec();
    let mut total = Some(0usize);
    for (index, dims) in shapes.iter().enumerate() {
        if dims.len() != rank {
            return Err(ctx.error(format!(
                "all inputs must have rank {rank}, but {} does not",
                ctx.describe(index)
            )));
        }
        for (i, dim) in dims.iter().enumerate() {
            if i == axis {
                total = total.zip(dim.known()).map(|(t, n)| t + n);
            } else if !compatible(&out[i], dim) {
                return Err(ctx.error(format!(
                    "input {} differs from {} on axis {i}, which is not the concat axis {axis}",
                    ctx.describe(index),
                    format_dims(shapes[0])
                )));
            } else if dim.known().is_some() {
                out[i] = dim.clone();
            }
        }
    }
    // A sum involving a symbol has no single-dimension form.
    Ok(total.map(|t| {
        out[axis] = Dim::Known(t);
        out
    }))
}

fn split_shapes(ctx: &NodeCtx, split: &crate::ops::Split) -> Result<Vec<Option<Vec<Dim>>>> {
    let outputs = ctx.node.outputs.len();
    let unknown = vec![None; outputs];
    let Some(dims) = ctx.shape(0) else {
        return Ok(unknown);
    };
    let axis = normalize_axis(ctx, split.axis, dims.len())?;
    let sizes = match (ctx.node.input(1), &split.split) {
        (Some(_), _) => match ctx.ints(1) {
            Some(sizes) => Some(sizes),
            None => return Ok(unknown),
        },
        (None, Some(sizes)) => Some(sizes.clone()),
        (None, None) => None,
    };
    let sizes: Vec<usize> = match sizes {
        Some(sizes) => {
            if sizes.len() != outputs || sizes.iter().any(|&s| s < 0) {
                return Err(ctx.error(format!("split sizes {sizes:?} do not fit {outputs} outputs")));
            }
            let sizes: Vec<usize> = sizes.iter().map(|&s| s as usize).collect();
            if let Dim::Known(n) = dims[axis] {
                if sizes.iter().sum::<usize>() != n {
                    return Err(ctx.error(format!(
                        "split sizes {sizes:?} do not add up to {n}, axis {axis} of {}",
                        ctx.describe(0)
                    )));
                }
            }
            sizes
        }
        None => {
            let parts = split.num_outputs.unwrap_or(outputs);
            let Dim::Known(n) = dims[axis] else {
                return Ok(unknown);
            };
            if parts == 0 || parts != outputs {
                return Err(ctx.error(format!("cannot split into {parts} parts with {outputs} outputs")));
            }
            // Opset 18: equal chunks of ceil(n / parts), the last one smaller.
            let chunk = n.div_ceil(parts);
            (0..parts)
                .map(|i| chunk.min(n.saturating_sub(i * chunk)))
                .collect()
        }
    };
    Ok(sizes
        .into_iter()
        .map(|size| {
            let mut out = dims.to_vec();
            out[axis] = Dim::Known(size);
            Some(out)
        })
        .collect())
}

fn slice(ctx: &NodeCtx) -> Result<Option<Vec<Dim>>> {
    let Some(dims) = ctx.shape(0) else {
        return Ok(None);
    };
    let (Some(starts), Some(ends)) = (ctx.ints(1), ctx.ints(2)) else {
        return Ok(None);
    };
    let optional = |index: usize| match ctx.node.input(index) {
        Some(_) => ctx.ints(index).map(Some),
        None => Some(None),
    };
    let (Some(axes), Some(steps)) = (optional(3), optional(4)) else {
        return Ok(None);
    };
    let axes = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = steps.unwrap_or_else(|| vec![1; starts.len()]);
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return Err(ctx.error(format!(
            "starts {starts:?}, ends {ends:?}, axes {axes:?} and steps {steps:?} must have the same length"
        )));
    }
    let mut out = dims.to_vec();
    let mut seen = Vec::new();
    for i in 0..starts.len() {
        let axis = normalize_axis(ctx, axes[i], dims.len())?;
        if seen.contains(&axis) {
            return Err(ctx.error(format!("axes {axes:?} repeat axis {axis}")));
        }
        seen.push(axis);
        if steps[i] == 0 {
            return Err(ctx.error("slice steps must not be zero"));
        }
        out[axis] = match &dims[axis] {
            Dim::Known(n) => Dim::Known(slice_len(*n, starts[i], ends[i], steps[i])),
            // `x[0:]` keeps a symbolic dimension; other slices of it have no known size.
            Dim::Sym(_) if starts[i] == 0 && steps[i] == 1 && ends[i] >= i32::MAX as i64 => {
                dims[axis].clone()
            }
            Dim::Sym(_) => return Ok(None),
        };
    }
    Ok(Some(out))
}

/// ONNX Slice bounds on an axis of `len`: negative indices count from the end, then
/// starts and ends are clamped (to `[0, len]` going forward, `[-1, len-1]` backward).
fn slice_bounds(len: usize, start: i64, end: i64, step: i64) -> (i64, i64) {
    let len = len as i64;
    let wrap = |i: i64| if i < 0 { i + len } else { i };
    if step > 0 {
        (wrap(start).clamp(0, len), wrap(end).clamp(0, len))
    } else {
        (wrap(start).clamp(0, len - 1), wrap(end).clamp(-1, len - 1))
    }
}

fn slice_len(len: usize, start: i64, end: i64, step: i64) -> usize {
    let (start, end) = slice_bounds(len, start, end, step);
    let span = if step > 0 { end - start } else { start - end };
    let step = step.abs();
    ((span.max(0) + step - 1) / step) as usize
}

/// The indices a slice picks along an axis of `len`, in order. `step` is non-zero.
pub(crate) fn slice_indices(len: usize, start: i64, end: i64, step: i64) -> Vec<usize> {
    let count = slice_len(len, start, end, step);
    let (start, _) = slice_bounds(len, start, end, step);
    (0..count as i64).map(|k| (start + k * step) as usize).collect()
}

fn gather(ctx: &NodeCtx, axis: i64) -> Result<Option<Vec<Dim>>> {
    if let Some(t) = ctx.dtype(1) {
        if !matches!(t, lowbit_tensor::DType::I32 | lowbit_tensor::DType::I64) {
            return Err(ctx.error(format!("indices {} must be i32 or i64", ctx.describe(1))));
        }
    }
    let Some(data) = ctx.shape(0) else {
        return Ok(None);
    };
    if data.is_empty() {
        return Err(ctx.error(format!("cannot gather from the scalar {}", ctx.describe(0))));
    }
    let axis = normalize_axis(ctx, axis, data.len())?;
    if let (Dim::Known(n), Some(indices)) = (&data[axis], ctx.constant(1).map(|t| t.to_i64_vec())) {
        let n = *n as i64;
        if let Some(bad) = indices.iter().find(|&&i| i < -n || i >= n) {
            return Err(ctx.error(format!(
                "index {bad} is out of range for axis {axis} of size {n} in {}",
                ctx.describe(0)
            )));
        }
    }
    let Some(indices) = ctx.shape(1) else {
        return Ok(None);
    };
    let out = data[..axis]
        .iter()
        .chain(indices)
        .chain(&data[axis + 1..])
        .cloned()
        .collect();
    Ok(Some(out))
}
