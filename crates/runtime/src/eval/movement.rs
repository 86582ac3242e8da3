//! Data movement: Transpose, Concat, Split, Slice, Gather. All dtypes.

use lowbit_graph::ops::Split;
use lowbit_tensor::{strides, Element, Tensor};

use super::args::resolve_axis;
use super::layout::strided_copy;
use super::{ensure, EvalError, EvalResult, Inputs};

pub(crate) fn transpose(perm: Option<&[usize]>, inputs: &Inputs) -> EvalResult<Tensor> {
    let x = inputs.get(0)?;
    let rank = x.rank();
    let perm: Vec<usize> = perm.map_or_else(|| (0..rank).rev().collect(), <[usize]>::to_vec);
    let mut seen = vec![false; rank];
    ensure(
        perm.len() == rank
            && perm
                .iter()
                .all(|&p| p < rank && !std::mem::replace(&mut seen[p], true)),
        || format!("perm {perm:?} is not a permutation of rank {rank}"),
    )?;
    let in_strides = strides(x.shape());
    let shape: Vec<usize> = perm.iter().map(|&p| x.shape()[p]).collect();
    let view_strides: Vec<isize> = perm.iter().map(|&p| in_strides[p] as isize).collect();
    let data = map_data!(x.data(), v => strided_copy(v, 0, &shape, &view_strides));
    Ok(Tensor::from_data(shape, data)?)
}

pub(crate) fn concat(axis: i64, inputs: &Inputs) -> EvalResult<Tensor> {
    let parts: Vec<&Tensor> = (0..inputs.len()).filter_map(|i| inputs.opt(i)).collect();
    let first = *parts.first().ok_or("Concat needs at least one input")?;
    let axis = resolve_axis(axis, first.rank())?;
    let mut shape = first.shape().to_vec();
    shape[axis] = 0;
    for (i, p) in parts.iter().enumerate() {
        let same_elsewhere =
            p.rank() == first.rank() && (0..p.rank()).all(|d| d == axis || p.shape()[d] == first.shape()[d]);
        ensure(same_elsewhere && p.dtype() == first.dtype(), || {
            format!(
                "input {i} ({} {:?}) does not match input 0 ({} {:?}) outside axis {axis}",
                p.dtype(),
                p.shape(),
                first.dtype(),
                first.shape()
            )
        })?;
        shape[axis] += p.shape()[axis];
    }
    let outer: usize = shape[..axis].iter().product();
    let data = map_data!(first.data(), _first => concat_typed(&parts, axis, outer)?);
    Ok(Tensor::from_data(shape, data)?)
}

fn concat_typed<T: Element>(parts: &[&Tensor], axis: usize, outer: usize) -> EvalResult<Vec<T>> {
    let total = parts.iter().map(|p| p.len()).sum();
    let mut out = Vec::with_capacity(total);
    let slices: Vec<(&[T], usize)> = parts
        .iter()
        .map(|p| Ok((p.as_slice::<T>()?, p.shape()[axis..].iter().product())))
        .collect::<EvalResult<_>>()?;
    for o in 0..outer {
        for (values, block) in &slices {
            out.extend_from_slice(&values[o * block..(o + 1) * block]);
        }
    }
    Ok(out)
}

pub(crate) fn split(attrs: &Split, inputs: &Inputs, outputs: usize) -> EvalResult {
    let x = inputs.get(0)?;
    let axis = resolve_axis(attrs.axis, x.rank())?;
    let dim = x.shape()[axis];
    let sizes: Vec<usize> = match inputs.opt_i64s(1)?.or_else(|| attrs.split.clone()) {
        Some(s) => s
            .iter()
            .map(|&n| usize::try_from(n).map_err(|_| EvalError(format!("negative split size {n}"))))
            .collect::<EvalResult<_>>()?,
        None => {
            let parts = attrs.num_outputs.unwrap_or(outputs).max(1);
            // Opset 18: equal parts, the last one smaller when the axis does not divide.
            let chunk = dim.div_ceil(parts);
            (0..parts)
                .map(|i| chunk.min(dim.saturating_sub(i * chunk)))
                .collect()
        }
    };
    ensure(
        sizes.iter().sum::<usize>() == dim && sizes.len() == outputs,
        || {
            format!(
                "split sizes {sizes:?} do not cover axis {axis} of {:?} in {outputs} outputs",
                x.shape()
            )
        },
    )?;
    let in_strides: Vec<isize> = strides(x.shape()).iter().map(|&s| s as isize).collect();
    let mut start = 0;
    let mut result = Vec::with_capacity(outputs);
    for size in sizes {
        let mut shape = x.shape().to_vec();
        shape[axis] = size;
        let offset = start * in_strides[axis] as usize;
        let data = map_data!(x.data(), v => strided_copy(v, offset, &shape, &in_strides));
        result.push(Tensor::from_data(shape, data)?);
        start += size;
    }
    Ok(result)
}

/// Slice (opset 10+): per axis, clamp start/end as ONNX specifies and copy the view.
pub(crate) fn slice(inputs: &Inputs) -> EvalResult<Tensor> {
    let x = inputs.get(0)?;
    let starts = inputs.i64s(1)?;
    let ends = inputs.i64s(2)?;
    let axes = inputs
        .opt_i64s(3)?
        .unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = inputs.opt_i64s(4)?.unwrap_or_else(|| vec![1; starts.len()]);
    ensure(
        ends.len() == starts.len() && axes.len() == starts.len() && steps.len() == starts.len(),
        || "starts, ends, axes and steps must have the same length".to_string(),
    )?;
    let mut shape = x.shape().to_vec();
    let mut view_strides: Vec<isize> = strides(x.shape()).iter().map(|&s| s as isize).collect();
    let mut offset = 0isize;
    let mut seen = vec![false; x.rank()];
    for i in 0..starts.len() {
        let axis = resolve_axis(axes[i], x.rank())?;
        ensure(!std::mem::replace(&mut seen[axis], true), || {
            format!("axis {axis} is repeated")
        })?;
        let (start, count) = slice_range(shape[axis], starts[i], ends[i], steps[i])?;
        offset += start as isize * view_strides[axis];
        view_strides[axis] *= steps[i] as isize;
        shape[axis] = count;
    }
    let offset = if shape.contains(&0) { 0 } else { offset as usize };
    let data = map_data!(x.data(), v => strided_copy(v, offset, &shape, &view_strides));
    Ok(Tensor::from_data(shape, data)?)
}

/// The first index and element count of one sliced axis of length `dim`.
fn slice_range(dim: usize, start: i64, end: i64, step: i64) -> EvalResult<(i64, usize)> {
    ensure(step != 0, || "slice step must not be zero".to_string())?;
    if dim == 0 {
        return Ok((0, 0));
    }
    let dim = dim as i64;
    let wrap = |i: i64| if i < 0 { i.saturating_add(dim) } else { i };
    let (start, end) = (wrap(start), wrap(end));
    let (start, count) = if step > 0 {
        let (s, e) = (start.clamp(0, dim), end.clamp(0, dim));
        (s, if e > s { (e - s + step - 1) / step } else { 0 })
    } else {
        let (s, e) = (start.clamp(0, dim - 1), end.clamp(-1, dim - 1));
        (s, if s > e { (s - e - step - 1) / -step } else { 0 })
    };
    Ok((start, count as usize))
}

pub(crate) fn gather(axis: i64, inputs: &Inputs) -> EvalResult<Tensor> {
    let x = inputs.get(0)?;
    let indices_tensor = inputs.get(1)?;
    let axis = resolve_axis(axis, x.rank())?;
    let dim = x.shape()[axis];
    let indices: Vec<usize> = inputs
        .i64s(1)?
        .into_iter()
        .map(|i| {
            let j = if i < 0 { i + dim as i64 } else { i };
            usize::try_from(j)
                .ok()
                .filter(|&j| j < dim)
                .ok_or_else(|| EvalError(format!("index {i} is out of range for axis {axis} of size {dim}")))
        })
        .collect::<EvalResult<_>>()?;
    let outer: usize = x.shape()[..axis].iter().product();
    let inner: usize = x.shape()[axis + 1..].iter().product();
    let mut shape = x.shape()[..axis].to_vec();
    shape.extend_from_slice(indices_tensor.shape());
    shape.extend_from_slice(&x.shape()[axis + 1..]);
    let data = map_data!(x.data(), v => {
        let mut out = Vec::with_capacity(outer * indices.len() * inner);
        for o in 0..outer {
            for &i in &indices {
                let start = (o * dim + i) * inner;
                out.extend_from_slice(&v[start..start + inner]);
            }
        }
        out
    });
    Ok(Tensor::from_data(shape, data)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_ranges_follow_onnx_clamping() {
        assert_eq!(slice_range(10, 2, 8, 3).unwrap(), (2, 2));
        assert_eq!(slice_range(10, -1, i64::MIN, -1).unwrap(), (9, 10));
        assert_eq!(slice_range(10, 100, -100, -2).unwrap(), (9, 5));
        assert_eq!(slice_range(10, 5, 2, 1).unwrap(), (5, 0));
        assert_eq!(slice_range(10, 0, i64::MAX, 1).unwrap(), (0, 10));
        assert_eq!(slice_range(0, -1, -5, -1).unwrap(), (0, 0));
        assert!(slice_range(10, 0, 1, 0).is_err());
    }
}
