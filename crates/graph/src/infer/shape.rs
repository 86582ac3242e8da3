//! Inference rules of shape ops: Reshape, Flatten, Transpose, Squeeze/Unsqueeze, Shape,
//! Cast, Expand, ConstantOfShape, Range, Identity. Ops that select or glue data (Slice,
//! Gather, Concat, Split) are in [`super::movement`].

use lowbit_tensor::DType;

use super::broadcast::{broadcast, format_dims, product};
use super::ctx::NodeCtx;
use super::movement;
use super::normalize_axis;
use super::values::{shape_op_range, SymInt};
use crate::{Dim, Fact, Op, Result};

pub(super) fn infer(ctx: &NodeCtx) -> Result<Vec<Fact>> {
    let x = ctx.required(0, "input")?;
    let with_shape = |shape: Option<Vec<Dim>>| {
        Ok(vec![Fact {
            dtype: x.dtype,
            shape,
        }])
    };
    match &ctx.node.op {
        Op::Identity => Ok(vec![x.clone()]),
        Op::Cast(cast) => Ok(vec![Fact {
            dtype: Some(cast.to),
            shape: x.shape.clone(),
        }]),
        Op::Shape { start, end } => {
            let shape = x.shape.as_ref().map(|dims| {
                let (first, last) = shape_op_range(dims.len(), *start, *end);
                vec![Dim::Known(last - first)]
            });
            Ok(vec![Fact {
                dtype: Some(DType::I64),
                shape,
            }])
        }
        Op::Reshape { allowzero } => with_shape(reshape(ctx, *allowzero)?),
        Op::Flatten { axis } => with_shape(flatten(ctx, *axis)?),
        Op::Transpose { perm } => with_shape(transpose(ctx, perm.as_deref())?),
        Op::Squeeze { axes } => with_shape(squeeze(ctx, axes.as_deref())?),
        Op::Unsqueeze { axes } => with_shape(unsqueeze(ctx, axes.as_deref())?),
        Op::Expand => {
            let target = target_dims(ctx, 1)?;
            let shape = match (&x.shape, target) {
                (Some(dims), Some(target)) => broadcast(ctx, &[dims, &target])?,
                _ => None,
            };
            with_shape(shape)
        }
        Op::ConstantOfShape(c) => Ok(vec![Fact {
            dtype: Some(c.value.dtype()),
            shape: target_dims(ctx, 0)?,
        }]),
        Op::Range => with_shape(range(ctx)?),
        Op::Concat { .. } | Op::Split(_) | Op::Slice(_) | Op::Gather { .. } => movement::infer(ctx),
        other => unreachable!("{} is not a shape op", other.name()),
    }
}

/// The dims held by shape input `index` (Expand, ConstantOfShape), when known.
fn target_dims(ctx: &NodeCtx, index: usize) -> Result<Option<Vec<Dim>>> {
    let Some(value) = ctx.shape_value(index) else {
        return Ok(None);
    };
    value
        .iter()
        .map(|v| {
            v.to_dim()
                .ok_or_else(|| ctx.error(format!("the shape {value:?} has a negative dimension")))
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

fn reshape(ctx: &NodeCtx, allowzero: bool) -> Result<Option<Vec<Dim>>> {
    let Some(target) = ctx.shape_value(1) else {
        return Ok(None);
    };
    let data = ctx.shape(0);
    let mut out: Vec<Option<Dim>> = Vec::with_capacity(target.len());
    let mut inferred = None;
    for (i, v) in target.iter().enumerate() {
        let dim = match v {
            SymInt::Int(-1) if inferred.is_some() => {
                return Err(ctx.error(format!("the shape {target:?} has more than one -1")));
            }
            SymInt::Int(-1) => {
                inferred = Some(i);
                None
            }
            SymInt::Int(0) if !allowzero => match data {
                Some(dims) if i < dims.len() => Some(dims[i].clone()),
                Some(dims) => {
                    return Err(ctx.error(format!(
                        "the shape {target:?} copies dimension {i} (0) but the input {} has rank {}",
                        ctx.describe(0),
                        dims.len()
                    )));
                }
                None => return Ok(None),
            },
            SymInt::Int(n) if *n >= 0 => Some(Dim::Known(*n as usize)),
            SymInt::Int(n) => return Err(ctx.error(format!("the shape {target:?} has an invalid entry {n}"))),
            SymInt::Sym(s) => Some(Dim::Sym(s.clone())),
        };
        out.push(dim);
    }
    let given: Vec<Dim> = out.iter().flatten().cloned().collect();
    if let Some(at) = inferred {
        let Some(dims) = data else {
            return Ok(None);
        };
        let Some(dim) = quotient(dims, &given) else {
            return Ok(None);
        };
        out[at] = Some(dim);
    }
    let out: Vec<Dim> = out.into_iter().flatten().collect();
    if let (Some(dims), Some(Dim::Known(from)), Some(Dim::Known(to))) =
        (data, data.and_then(product), product(&out))
    {
        if from != to {
            return Err(ctx.error(format!(
                "cannot reshape {} ({from} elements) into {} ({to} elements)",
                format_dims(dims),
                format_dims(&out)
            )));
        }
    }
    Ok(Some(out))
}

/// `product(total) / product(part)` as one dimension, when symbols cancel out and the
/// known parts divide exactly.
fn quotient(total: &[Dim], part: &[Dim]) -> Option<Dim> {
    let (mut symbols, mut numerator) = (Vec::new(), 1usize);
    for dim in total {
        match dim {
            Dim::Known(n) => numerator *= n,
            Dim::Sym(s) => symbols.push(s),
        }
    }
    let mut denominator = 1usize;
    for dim in part {
        match dim {
            Dim::Known(n) => denominator *= n,
            Dim::Sym(s) => {
                let at = symbols.iter().position(|t| *t == s)?;
                symbols.remove(at);
            }
        }
    }
    if denominator == 0 || numerator % denominator != 0 {
        return None;
    }
    let known = numerator / denominator;
    match symbols.as_slice() {
        [] => Some(Dim::Known(known)),
        [s] if known == 1 => Some(Dim::Sym((*s).clone())),
        _ => None,
    }
}

fn flatten(ctx: &NodeCtx, axis: i64) -> Result<Option<Vec<Dim>>> {
    let Some(dims) = ctx.shape(0) else {
        return Ok(None);
    };
    // Flatten accepts axis == rank (everything in the outer part).
    let rank = dims.len() as i64;
    if axis < -rank || axis > rank {
        return Err(ctx.error(format!("axis {axis} is out of range for rank {rank}")));
    }
    let axis = if axis < 0 { axis + rank } else { axis } as usize;
    Ok(product(&dims[..axis])
        .zip(product(&dims[axis..]))
        .map(|(a, b)| vec![a, b]))
}

fn transpose(ctx: &NodeCtx, perm: Option<&[usize]>) -> Result<Option<Vec<Dim>>> {
    let Some(dims) = ctx.shape(0) else {
        return Ok(None);
    };
    let Some(perm) = perm else {
        return Ok(Some(dims.iter().rev().cloned().collect()));
    };
    let mut seen = vec![false; dims.len()];
    for &p in perm {
        if p >= dims.len() || std::mem::replace(&mut seen[p], true) {
            return Err(ctx.error(format!(
                "perm {perm:?} is not a permutation of the {} axes of {}",
                dims.len(),
                ctx.describe(0)
            )));
        }
    }
    if perm.len() != dims.len() {
        return Err(ctx.error(format!(
            "perm {perm:?} has {} entries for rank {}",
            perm.len(),
            dims.len()
        )));
    }
    Ok(Some(perm.iter().map(|&p| dims[p].clone()).collect()))
}

/// The axes of Squeeze/Unsqueeze: the attribute, else the optional second input.
/// `Ok(None)` when the input is present but not constant.
fn axes_of(ctx: &NodeCtx, attribute: Option<&[i64]>) -> Option<Option<Vec<i64>>> {
    match (attribute, ctx.node.input(1)) {
        (Some(axes), _) => Some(Some(axes.to_vec())),
        (None, Some(_)) => ctx.ints(1).map(Some),
        (None, None) => Some(None),
    }
}

fn normalize_axes(ctx: &NodeCtx, axes: &[i64], rank: usize) -> Result<Vec<usize>> {
    let mut out = Vec::with_capacity(axes.len());
    for &axis in axes {
        let axis = normalize_axis(ctx, axis, rank)?;
        if out.contains(&axis) {
            return Err(ctx.error(format!("axes {axes:?} repeat axis {axis}")));
        }
        out.push(axis);
    }
    Ok(out)
}

fn squeeze(ctx: &NodeCtx, attribute: Option<&[i64]>) -> Result<Option<Vec<Dim>>> {
    let (Some(dims), Some(axes)) = (ctx.shape(0), axes_of(ctx, attribute)) else {
        return Ok(None);
    };
    let Some(axes) = axes.filter(|a| !a.is_empty()) else {
        // Without axes every size-1 dimension goes; a symbol might be 1, so we can't tell.
        if dims.iter().any(|d| matches!(d, Dim::Sym(_))) {
            return Ok(None);
        }
        return Ok(Some(
            dims.iter().filter(|d| d.known() != Some(1)).cloned().collect(),
        ));
    };
    let axes = normalize_axes(ctx, &axes, dims.len())?;
    for &axis in &axes {
        if let Dim::Known(n) = dims[axis] {
            if n != 1 {
                return Err(ctx.error(format!(
                    "cannot squeeze axis {axis} of size {n} in {}",
                    ctx.describe(0)
                )));
            }
        }
    }
    Ok(Some(
        dims.iter()
            .enumerate()
            .filter(|(i, _)| !axes.contains(i))
            .map(|(_, d)| d.clone())
            .collect(),
    ))
}

fn unsqueeze(ctx: &NodeCtx, attribute: Option<&[i64]>) -> Result<Option<Vec<Dim>>> {
    let Some(axes) = axes_of(ctx, attribute) else {
        return Ok(None);
    };
    let Some(axes) = axes else {
        return Err(ctx.error("needs axes, as an attribute or as input 1"));
    };
    let Some(dims) = ctx.shape(0) else {
        return Ok(None);
    };
    let rank = dims.len() + axes.len();
    let axes = normalize_axes(ctx, &axes, rank)?;
    let mut rest = dims.iter();
    let out = (0..rank)
        .map(|i| {
            if axes.contains(&i) {
                Dim::Known(1)
            } else {
                rest.next().cloned().unwrap_or(Dim::Known(1))
            }
        })
        .collect();
    Ok(Some(out))
}

fn range(ctx: &NodeCtx) -> Result<Option<Vec<Dim>>> {
    // Integer operands come through `ints` (constants or tracked shape values).
    let value = |index: usize| match ctx.ints(index) {
        Some(v) => (v.len() == 1).then(|| v[0] as f64),
        None => ctx
            .constant(index)
            .filter(|t| t.len() == 1)
            .map(|t| t.to_f32_vec()[0] as f64),
    };
    let (Some(start), Some(limit), Some(delta)) = (value(0), value(1), value(2)) else {
        return Ok(None);
    };
    if delta == 0.0 {
        return Err(ctx.error("delta must not be zero"));
    }
    let count = ((limit - start) / delta).ceil().max(0.0) as usize;
    Ok(Some(vec![Dim::Known(count)]))
}
