//! Ops that change only the shape, or build small tensors from shapes.

use lowbit_graph::ops::ConstantOfShape;
use lowbit_tensor::{numel, DType, Element, Tensor};

use super::args::resolve_axis;
use super::broadcast::{broadcast_shapes, expand_into};
use super::{ensure, EvalError, EvalResult, Inputs};

/// Dropout at inference: the input unchanged, and an all-true mask if asked for.
pub(crate) fn dropout(inputs: &Inputs, outputs: usize) -> EvalResult {
    let x = inputs.get(0)?;
    let mut result = vec![x.clone()];
    if outputs > 1 {
        result.push(Tensor::new(x.shape(), vec![true; x.len()])?);
    }
    Ok(result)
}

pub(crate) fn reshape(allowzero: bool, inputs: &Inputs) -> EvalResult<Tensor> {
    let x = inputs.get(0)?;
    let requested = inputs.i64s(1)?;
    let shape = reshape_target(x.shape(), &requested, allowzero)?;
    Ok(x.clone().reshape(shape)?)
}

/// Resolves ONNX Reshape's `0` (copy the input dim, unless `allowzero`) and `-1` (infer).
fn reshape_target(input: &[usize], requested: &[i64], allowzero: bool) -> EvalResult<Vec<usize>> {
    let mut shape = Vec::with_capacity(requested.len());
    let mut inferred = None;
    for (i, &d) in requested.iter().enumerate() {
        match d {
            -1 if inferred.is_none() => {
                inferred = Some(i);
                shape.push(1);
            }
            0 if !allowzero => {
                let copied = input
                    .get(i)
                    .ok_or_else(|| EvalError(format!("shape {requested:?} copies dim {i} of {input:?}")))?;
                shape.push(*copied);
            }
            d if d >= 0 => shape.push(d as usize),
            _ => return Err(EvalError(format!("invalid target shape {requested:?}"))),
        }
    }
    let total = numel(input);
    if let Some(i) = inferred {
        let known: usize = shape.iter().product();
        shape[i] = total
            .checked_div(known)
            .filter(|q| q * known == total)
            .ok_or_else(|| EvalError(format!("cannot reshape {input:?} into {requested:?}")))?;
    }
    ensure(numel(&shape) == total, || {
        format!("cannot reshape {input:?} into {requested:?}")
    })?;
    Ok(shape)
}

pub(crate) fn flatten(axis: i64, inputs: &Inputs) -> EvalResult<Tensor> {
    let x = inputs.get(0)?;
    let rank = x.rank() as i64;
    let a = if axis < 0 { axis + rank } else { axis };
    ensure((0..=rank).contains(&a), || {
        format!("axis {axis} is out of range for rank {rank}")
    })?;
    let outer: usize = x.shape()[..a as usize].iter().product();
    let inner: usize = x.shape()[a as usize..].iter().product();
    Ok(x.clone().reshape(vec![outer, inner])?)
}

pub(crate) fn squeeze(attr_axes: Option<&[i64]>, inputs: &Inputs) -> EvalResult<Tensor> {
    let x = inputs.get(0)?;
    let axes = match attr_axes {
        Some(a) => Some(a.to_vec()),
        None => inputs.opt_i64s(1)?,
    };
    let shape: Vec<usize> = match axes {
        None => x.shape().iter().copied().filter(|&d| d != 1).collect(),
        Some(axes) => {
            let mut drop = vec![false; x.rank()];
            for &a in &axes {
                let a = resolve_axis(a, x.rank())?;
                ensure(x.shape()[a] == 1, || {
                    format!("cannot squeeze axis {a} of shape {:?}", x.shape())
                })?;
                drop[a] = true;
            }
            x.shape()
                .iter()
                .zip(drop)
                .filter(|(_, d)| !d)
                .map(|(&n, _)| n)
                .collect()
        }
    };
    Ok(x.clone().reshape(shape)?)
}

pub(crate) fn unsqueeze(attr_axes: Option<&[i64]>, inputs: &Inputs) -> EvalResult<Tensor> {
    let x = inputs.get(0)?;
    let axes = match attr_axes {
        Some(a) => a.to_vec(),
        None => inputs.i64s(1)?,
    };
    let rank = x.rank() + axes.len();
    let mut inserted = vec![false; rank];
    for &a in &axes {
        let a = resolve_axis(a, rank)?;
        ensure(!inserted[a], || format!("axis {a} is repeated in {axes:?}"))?;
        inserted[a] = true;
    }
    let mut dims = x.shape().iter();
    let shape: Vec<usize> = inserted
        .iter()
        .map(|&new| {
            if new {
                1
            } else {
                *dims.next().expect("rank adds up")
            }
        })
        .collect();
    Ok(x.clone().reshape(shape)?)
}

/// Shape, with opset-15 `start`/`end` (clamped, negative counts from the back).
pub(crate) fn shape(start: i64, end: Option<i64>, inputs: &Inputs) -> EvalResult<Tensor> {
    let dims = inputs.get(0)?.shape();
    let rank = dims.len() as i64;
    let clamp = |i: i64| (if i < 0 { i + rank } else { i }).clamp(0, rank) as usize;
    let (s, e) = (clamp(start), clamp(end.unwrap_or(rank)));
    let values: Vec<i64> = dims[s..e.max(s)].iter().map(|&d| d as i64).collect();
    Ok(Tensor::new(vec![values.len()], values)?)
}

/// Reads a shape input: non-negative dims.
fn shape_input(inputs: &Inputs, index: usize) -> EvalResult<Vec<usize>> {
    inputs
        .i64s(index)?
        .into_iter()
        .map(|d| usize::try_from(d).map_err(|_| EvalError(format!("negative dimension {d} in shape"))))
        .collect()
}

pub(crate) fn expand(inputs: &Inputs) -> EvalResult<Tensor> {
    let x = inputs.get(0)?;
    let target = shape_input(inputs, 1)?;
    let out_shape = broadcast_shapes(&[x.shape(), &target])?;
    let n = numel(&out_shape);
    let data = map_data!(x.data(), v => {
        let mut out = vec![Default::default(); n];
        expand_into(v, x.shape(), &out_shape, &mut out);
        out
    });
    Ok(Tensor::from_data(out_shape, data)?)
}

pub(crate) fn constant_of_shape(attrs: &ConstantOfShape, inputs: &Inputs) -> EvalResult<Tensor> {
    let shape = shape_input(inputs, 0)?;
    let n = numel(&shape);
    ensure(attrs.value.len() == 1, || {
        "value must hold one element".to_string()
    })?;
    let data = map_data!(attrs.value.data(), v => vec![v[0]; n]);
    Ok(Tensor::from_data(shape, data)?)
}

pub(crate) fn range(inputs: &Inputs) -> EvalResult<Tensor> {
    let start = inputs.get(0)?;
    for i in 0..3 {
        let t = inputs.get(i)?;
        ensure(t.len() == 1 && t.dtype() == start.dtype(), || {
            format!(
                "start, limit and delta must be scalars of one type; input {i} is {}{:?}",
                t.dtype(),
                t.shape()
            )
        })?;
    }
    match start.dtype() {
        DType::F32 => {
            let [s, l, d] = [0, 1, 2].map(|i| inputs.slice::<f32>(i).map(|v| v[0]));
            let (s, l, d) = (s?, l?, d?);
            ensure(d != 0.0, || "delta must not be zero".to_string())?;
            let n = ((l - s) / d).ceil().max(0.0) as usize;
            range_tensor((0..n).map(|i| s + i as f32 * d).collect())
        }
        DType::I64 | DType::I32 => {
            let values: Vec<i64> = (0..3)
                .map(|i| inputs.get(i).map(|t| t.to_i64_vec()[0]))
                .collect::<EvalResult<_>>()?;
            let (s, l, d) = (values[0], values[1], values[2]);
            ensure(d != 0, || "delta must not be zero".to_string())?;
            let n = ((l - s) as f64 / d as f64).ceil().max(0.0) as usize;
            let out: Vec<i64> = (0..n as i64).map(|i| s + i * d).collect();
            let t = range_tensor(out)?;
            Ok(if start.dtype() == DType::I32 {
                t.cast(DType::I32)
            } else {
                t
            })
        }
        other => Err(EvalError(format!("Range does not support {other}"))),
    }
}

fn range_tensor<T: Element>(values: Vec<T>) -> EvalResult<Tensor> {
    Ok(Tensor::new(vec![values.len()], values)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reshape_resolves_zero_and_minus_one() {
        assert_eq!(reshape_target(&[2, 3, 4], &[0, -1], false).unwrap(), vec![2, 12]);
        assert_eq!(
            reshape_target(&[2, 3, 4], &[-1, 0, 4], false).unwrap(),
            vec![2, 3, 4]
        );
        assert_eq!(reshape_target(&[0, 3], &[0, 3], true).unwrap(), vec![0, 3]);
        assert!(reshape_target(&[2, 3], &[4, -1], false).is_err());
        assert!(reshape_target(&[2, 3], &[-1, -1], false).is_err());
    }
}
