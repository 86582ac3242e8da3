//! Inference rules of reductions (ReduceMean, ReduceSum, ...) and ArgMax.

use lowbit_tensor::DType;

use super::ctx::NodeCtx;
use super::normalize_axis;
use crate::ops::Reduce;
use crate::{Dim, Fact, Op, Result};

pub(super) fn infer(ctx: &NodeCtx) -> Result<Vec<Fact>> {
    let x = ctx.required(0, "data")?;
    match &ctx.node.op {
        Op::Reduce(reduce) => Ok(vec![Fact {
            dtype: x.dtype,
            shape: reduce_shape(ctx, reduce)?,
        }]),
        Op::ArgMax { axis, keepdims, .. } => {
            let shape = match ctx.shape(0) {
                Some(dims) => {
                    let axis = normalize_axis(ctx, *axis, dims.len())?;
                    Some(reduced(dims, &[axis], *keepdims))
                }
                None => None,
            };
            Ok(vec![Fact {
                dtype: Some(DType::I64),
                shape,
            }])
        }
        other => unreachable!("{} is not a reduction", other.name()),
    }
}

fn reduce_shape(ctx: &NodeCtx, reduce: &Reduce) -> Result<Option<Vec<Dim>>> {
    let Some(dims) = ctx.shape(0) else {
        return Ok(None);
    };
    let axes = match (&reduce.axes, ctx.node.input(1)) {
        (Some(axes), _) => axes.clone(),
        (None, Some(_)) => match ctx.ints(1) {
            Some(axes) => axes,
            None => return Ok(None),
        },
        (None, None) => Vec::new(),
    };
    if axes.is_empty() {
        if reduce.noop_with_empty_axes {
            return Ok(Some(dims.to_vec()));
        }
        let all: Vec<usize> = (0..dims.len()).collect();
        return Ok(Some(reduced(dims, &all, reduce.keepdims)));
    }
    let mut normalized = Vec::with_capacity(axes.len());
    for &axis in &axes {
        let axis = normalize_axis(ctx, axis, dims.len())?;
        if normalized.contains(&axis) {
            return Err(ctx.error(format!("axes {axes:?} repeat axis {axis}")));
        }
        normalized.push(axis);
    }
    Ok(Some(reduced(dims, &normalized, reduce.keepdims)))
}

/// `dims` with `axes` set to 1 (`keepdims`) or removed.
fn reduced(dims: &[Dim], axes: &[usize], keepdims: bool) -> Vec<Dim> {
    dims.iter()
        .enumerate()
        .filter_map(|(i, d)| match (axes.contains(&i), keepdims) {
            (false, _) => Some(d.clone()),
            (true, true) => Some(Dim::Known(1)),
            (true, false) => None,
        })
        .collect()
}
