//! Numpy broadcasting as index maps, shared by the binary rules.

use crate::error::{RuleError, RuleResult};

/// The broadcast shape of `a` and `b`, aligned on their last axes.
pub(crate) fn shape(a: &[usize], b: &[usize]) -> RuleResult<Vec<usize>> {
    let rank = a.len().max(b.len());
    let dim = |s: &[usize], i: usize| {
        if i + s.len() >= rank {
            s[i + s.len() - rank]
        } else {
            1
        }
    };
    (0..rank)
        .map(|i| match (dim(a, i), dim(b, i)) {
            (x, y) if x == y || y == 1 => Ok(x),
            (1, y) => Ok(y),
            (x, y) => Err(RuleError::new(format!(
                "shapes {a:?} and {b:?} do not broadcast ({x} vs {y})"
            ))),
        })
        .collect()
}

/// For each element of `out` (row-major), the index of the element of `input` it reads
/// when `input` is broadcast to `out`.
pub(crate) fn index_map(out: &[usize], input: &[usize]) -> Vec<usize> {
    let total: usize = out.iter().product();
    if out == input {
        return (0..total).collect();
    }
    let offset = out.len() - input.len();
    // Stride of each output axis in the input (0 where the input is broadcast).
    let mut strides = vec![0; out.len()];
    let mut stride = 1;
    for i in (0..input.len()).rev() {
        if input[i] != 1 {
            strides[i + offset] = stride;
        }
        stride *= input[i];
    }
    let mut map = Vec::with_capacity(total);
    let mut coords = vec![0; out.len()];
    let mut index = 0;
    for _ in 0..total {
        map.push(index);
        for axis in (0..out.len()).rev() {
            coords[axis] += 1;
            index += strides[axis];
            if coords[axis] < out[axis] {
                break;
            }
            index -= strides[axis] * out[axis];
            coords[axis] = 0;
        }
    }
    map
}

/// Sums `dy` (shaped like the broadcast output) back onto an input of `len` values.
pub(crate) fn reduce(dy: &[f32], map: &[usize], len: usize) -> Vec<f32> {
    let mut out = vec![0.0; len];
    for (&i, &d) in map.iter().zip(dy) {
        out[i] += d;
    }
    out
}
