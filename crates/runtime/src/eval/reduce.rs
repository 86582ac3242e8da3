//! Reductions (ReduceSum/Mean/Max/Min/Prod/SumSquare/L2) and ArgMax.

use lowbit_graph::ops::{Reduce, ReduceKind};
use lowbit_tensor::{strides, DType, Data, Element, Tensor};

use super::args::resolve_axis;
use super::layout::strided_copy;
use super::{ensure, EvalError, EvalResult, Inputs};

pub(crate) fn reduce(attrs: &Reduce, inputs: &Inputs) -> EvalResult<Tensor> {
    let x = inputs.get(0)?;
    let axes = match &attrs.axes {
        Some(a) => a.clone(),
        None => inputs.opt_i64s(1)?.unwrap_or_default(),
    };
    if axes.is_empty() && attrs.noop_with_empty_axes {
        return Ok(x.clone());
    }
    let mut reduced = vec![axes.is_empty(); x.rank()];
    for &a in &axes {
        reduced[resolve_axis(a, x.rank())?] = true;
    }
    let (rows, row_len) = rows_of(x.shape(), &reduced);
    let out_shape: Vec<usize> = x
        .shape()
        .iter()
        .zip(&reduced)
        .filter_map(|(&n, &r)| match (r, attrs.keepdims) {
            (false, _) => Some(n),
            (true, true) => Some(1),
            (true, false) => None,
        })
        .collect();
    let kind = attrs.kind;
    let data = match x.data() {
        Data::F32(v) => {
            let v = reordered(v, x.shape(), &reduced);
            Data::F32(
                (0..rows)
                    .map(|r| reduce_f32(kind, &v[r * row_len..(r + 1) * row_len]))
                    .collect(),
            )
        }
        Data::I64(v) => Data::I64(reduce_int(
            kind,
            &reordered(v, x.shape(), &reduced),
            rows,
            row_len,
        )?),
        Data::I32(v) => Data::I32(reduce_int(
            kind,
            &reordered(v, x.shape(), &reduced),
            rows,
            row_len,
        )?),
        _ => {
            return Err(EvalError(format!(
                "{} does not support {}",
                kind.name(),
                x.dtype()
            )))
        }
    };
    Ok(Tensor::from_data(out_shape, data)?)
}

/// The number of output rows and the length of each reduced row.
fn rows_of(shape: &[usize], reduced: &[bool]) -> (usize, usize) {
    let pick = |want: bool| -> usize {
        shape
            .iter()
            .zip(reduced)
            .filter(|(_, &r)| r == want)
            .map(|(&n, _)| n)
            .product()
    };
    (pick(false), pick(true))
}

/// The values with the reduced axes moved last, so each output reduces one contiguous
/// row. Already-trailing reduced axes need no copy.
fn reordered<'a, T: Copy>(v: &'a [T], shape: &[usize], reduced: &[bool]) -> std::borrow::Cow<'a, [T]> {
    let order: Vec<usize> = (0..shape.len())
        .filter(|&d| !reduced[d])
        .chain((0..shape.len()).filter(|&d| reduced[d]))
        .collect();
    if order.iter().enumerate().all(|(i, &d)| i == d) {
        return std::borrow::Cow::Borrowed(v);
    }
    let s = strides(shape);
    let view_shape: Vec<usize> = order.iter().map(|&d| shape[d]).collect();
    let view_strides: Vec<isize> = order.iter().map(|&d| s[d] as isize).collect();
    std::borrow::Cow::Owned(strided_copy(v, 0, &view_shape, &view_strides))
}

/// Sums accumulate in f64 so long rows (LayerNorm over 384 or 768 values) stay exact to
/// f32 precision.
fn reduce_f32(kind: ReduceKind, row: &[f32]) -> f32 {
    let sum = |f: fn(f32) -> f64| row.iter().map(|&x| f(x)).sum::<f64>();
    match kind {
        ReduceKind::Sum => sum(|x| x as f64) as f32,
        ReduceKind::Mean => (sum(|x| x as f64) / row.len() as f64) as f32,
        ReduceKind::SumSquare => sum(|x| (x as f64) * (x as f64)) as f32,
        ReduceKind::L2 => sum(|x| (x as f64) * (x as f64)).sqrt() as f32,
        ReduceKind::Prod => row.iter().map(|&x| x as f64).product::<f64>() as f32,
        ReduceKind::Max => row.iter().copied().fold(f32::NEG_INFINITY, f32::max),
        ReduceKind::Min => row.iter().copied().fold(f32::INFINITY, f32::min),
    }
}

fn reduce_int<T: Element + Into<i64> + TryFrom<i64>>(
    kind: ReduceKind,
    v: &[T],
    rows: usize,
    row_len: usize,
) -> EvalResult<Vec<T>> {
    (0..rows)
        .map(|r| {
            let row = v[r * row_len..(r + 1) * row_len].iter().map(|&x| x.into());
            let value: i64 = match kind {
                ReduceKind::Sum => row.fold(0i64, i64::wrapping_add),
                ReduceKind::Prod => row.fold(1i64, i64::wrapping_mul),
                ReduceKind::Max => row.max().unwrap_or(i64::MIN),
                ReduceKind::Min => row.min().unwrap_or(i64::MAX),
                ReduceKind::Mean => row.sum::<i64>() / row_len.max(1) as i64,
                ReduceKind::SumSquare => row.map(|x| x.wrapping_mul(x)).fold(0, i64::wrapping_add),
                ReduceKind::L2 => return Err(EvalError(format!("{} needs float input", kind.name()))),
            };
            T::try_from(value).map_err(|_| EvalError(format!("{} overflows {}", kind.name(), T::DTYPE)))
        })
        .collect()
}

pub(crate) fn arg_max(
    axis: i64,
    keepdims: bool,
    select_last_index: bool,
    inputs: &Inputs,
) -> EvalResult<Tensor> {
    let x = inputs.get(0)?;
    let axis = resolve_axis(axis, x.rank())?;
    let dim = x.shape()[axis];
    ensure(dim > 0, || "ArgMax over an empty axis".to_string())?;
    let outer: usize = x.shape()[..axis].iter().product();
    let inner: usize = x.shape()[axis + 1..].iter().product();
    // f64 holds every f32 and every index-sized integer exactly.
    let values: Vec<f64> = match x.dtype() {
        DType::F32 => x.as_slice::<f32>()?.iter().map(|&v| v as f64).collect(),
        DType::Bool => return Err(EvalError("ArgMax does not support bool".to_string())),
        _ => x.to_i64_vec().into_iter().map(|v| v as f64).collect(),
    };
    let mut out = Vec::with_capacity(outer * inner);
    for o in 0..outer {
        for i in 0..inner {
            let at = |d: usize| values[(o * dim + d) * inner + i];
            let mut best = 0;
            for d in 1..dim {
                let better = if select_last_index {
                    at(d) >= at(best)
                } else {
                    at(d) > at(best)
                };
                if better {
                    best = d;
                }
            }
            out.push(best as i64);
        }
    }
    let mut shape = x.shape().to_vec();
    if keepdims {
        shape[axis] = 1;
    } else {
        shape.remove(axis);
    }
    Ok(Tensor::new(shape, out)?)
}
