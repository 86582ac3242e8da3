//! Numpy-style (multidirectional) broadcasting.
//!
//! [`Broadcast`] turns an output shape and `K` input shapes into an outer loop over rows
//! and an inner loop with per-input stride 0 or 1. Adjacent dimensions that are laid out
//! contiguously for every input are merged first, so `[B,S,384] + [384]` runs as rows of
//! 384 and same-shape operands run as one long row.

use super::{EvalError, EvalResult};

/// The broadcast of several shapes, or an error naming the incompatible pair.
pub(crate) fn broadcast_shapes(shapes: &[&[usize]]) -> EvalResult<Vec<usize>> {
    let rank = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = vec![1usize; rank];
    for shape in shapes {
        let offset = rank - shape.len();
        for (d, &n) in shape.iter().enumerate() {
            let o = &mut out[offset + d];
            if *o == 1 {
                *o = n;
            } else if n != 1 && n != *o {
                let all: Vec<String> = shapes.iter().map(|s| format!("{s:?}")).collect();
                return Err(EvalError(format!(
                    "shapes {} do not broadcast",
                    all.join(" and ")
                )));
            }
        }
    }
    Ok(out)
}

/// The row iteration plan for `K` inputs broadcast to one output.
pub(crate) struct Broadcast<const K: usize> {
    outer: Vec<usize>,
    outer_strides: Vec<[usize; K]>,
    inner: usize,
    inner_strides: [usize; K],
}

impl<const K: usize> Broadcast<K> {
    /// `inputs` must broadcast to `out` (see [`broadcast_shapes`]).
    pub(crate) fn new(out: &[usize], inputs: [&[usize]; K]) -> Self {
        let rank = out.len();
        // Per output dim: the element stride of each input, 0 where it is broadcast.
        let mut dims: Vec<(usize, [usize; K])> = Vec::with_capacity(rank);
        let mut running = [1usize; K];
        let mut reversed = Vec::with_capacity(rank);
        for d in (0..rank).rev() {
            let mut strides = [0usize; K];
            for (k, shape) in inputs.iter().enumerate() {
                let offset = rank - shape.len();
                let n = if d >= offset { shape[d - offset] } else { 1 };
                if n != 1 {
                    strides[k] = running[k];
                }
                running[k] *= n;
            }
            reversed.push((out[d], strides));
        }
        for (n, strides) in reversed.into_iter().rev() {
            if n == 1 {
                continue;
            }
            if let Some((prev_n, prev)) = dims.last_mut() {
                if (0..K).all(|k| prev[k] == strides[k] * n) {
                    *prev_n *= n;
                    *prev = strides;
                    continue;
                }
            }
            dims.push((n, strides));
        }
        let (inner, inner_strides) = dims.pop().unwrap_or((1, [0; K]));
        Broadcast {
            outer: dims.iter().map(|d| d.0).collect(),
            outer_strides: dims.iter().map(|d| d.1).collect(),
            inner,
            inner_strides,
        }
    }

    /// Length of each row.
    pub(crate) fn inner(&self) -> usize {
        self.inner
    }

    /// Per input, the stride along a row: 1, or 0 when the input is broadcast along it.
    pub(crate) fn inner_strides(&self) -> [usize; K] {
        self.inner_strides
    }

    /// Calls `f(out_offset, input_offsets)` for every row, in output order. Inlined so
    /// that callers compiled for a wider ISA vectorise `f` at that width.
    #[inline(always)]
    pub(crate) fn for_each_row(&self, mut f: impl FnMut(usize, [usize; K])) {
        if self.outer.contains(&0) || self.inner == 0 {
            return;
        }
        let mut index = vec![0usize; self.outer.len()];
        let mut offsets = [0usize; K];
        let mut out = 0;
        loop {
            f(out, offsets);
            out += self.inner;
            // Odometer increment over the outer dims.
            let mut d = self.outer.len();
            loop {
                if d == 0 {
                    return;
                }
                d -= 1;
                index[d] += 1;
                for (o, s) in offsets.iter_mut().zip(self.outer_strides[d]) {
                    *o += s;
                }
                if index[d] < self.outer[d] {
                    break;
                }
                for (o, s) in offsets.iter_mut().zip(self.outer_strides[d]) {
                    *o -= s * self.outer[d];
                }
                index[d] = 0;
            }
        }
    }
}

/// `out[i] = f(a[i], b[i])` with broadcasting; `out` has the broadcast shape's length.
#[inline(always)]
pub(crate) fn zip_into<A: Copy, B: Copy, O>(
    out_shape: &[usize],
    a: (&[A], &[usize]),
    b: (&[B], &[usize]),
    out: &mut [O],
    f: impl Fn(A, B) -> O,
) {
    let plan = Broadcast::new(out_shape, [a.1, b.1]);
    let n = plan.inner();
    let [sa, sb] = plan.inner_strides();
    plan.for_each_row(|o, [ia, ib]| {
        let row = &mut out[o..o + n];
        // Separate loops per stride pattern let the compiler vectorise the common cases.
        match (sa, sb) {
            (1, 1) => {
                for ((y, &x), &z) in row.iter_mut().zip(&a.0[ia..ia + n]).zip(&b.0[ib..ib + n]) {
                    *y = f(x, z);
                }
            }
            (1, 0) => {
                let z = b.0[ib];
                for (y, &x) in row.iter_mut().zip(&a.0[ia..ia + n]) {
                    *y = f(x, z);
                }
            }
            (0, 1) => {
                let x = a.0[ia];
                for (y, &z) in row.iter_mut().zip(&b.0[ib..ib + n]) {
                    *y = f(x, z);
                }
            }
            _ => {
                let (x, z) = (a.0[ia], b.0[ib]);
                row.iter_mut().for_each(|y| *y = f(x, z));
            }
        }
    });
}

/// Copies `src` (of shape `shape`) broadcast to `out_shape`.
pub(crate) fn expand_into<T: Copy>(src: &[T], shape: &[usize], out_shape: &[usize], out: &mut [T]) {
    let plan = Broadcast::new(out_shape, [shape]);
    let n = plan.inner();
    let [s] = plan.inner_strides();
    plan.for_each_row(|o, [i]| {
        if s == 1 {
            out[o..o + n].copy_from_slice(&src[i..i + n]);
        } else {
            out[o..o + n].fill(src[i]);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_broadcast_like_numpy() {
        assert_eq!(broadcast_shapes(&[&[2, 1, 3], &[4, 1]]).unwrap(), vec![2, 4, 3]);
        assert_eq!(broadcast_shapes(&[&[], &[5]]).unwrap(), vec![5]);
        assert!(broadcast_shapes(&[&[2, 3], &[4]]).is_err());
    }

    #[test]
    fn zip_matches_index_arithmetic() {
        // a: [2,1,3], b: [4,1] -> [2,4,3]
        let a: Vec<i64> = (0..6).collect();
        let b: Vec<i64> = (0..4).map(|x| x * 100).collect();
        let mut out = vec![0i64; 24];
        zip_into(&[2, 4, 3], (&a, &[2, 1, 3]), (&b, &[4, 1]), &mut out, |x, y| {
            x + y
        });
        for i in 0..2 {
            for j in 0..4 {
                for k in 0..3 {
                    assert_eq!(out[(i * 4 + j) * 3 + k], a[i * 3 + k] + b[j]);
                }
            }
        }
    }

    #[test]
    fn expand_handles_scalars_and_empty() {
        let mut out = vec![0f32; 6];
        expand_into(&[7.0], &[], &[2, 3], &mut out);
        assert_eq!(out, vec![7.0; 6]);
        let mut none: Vec<f32> = vec![];
        expand_into(&[1.0], &[1], &[0, 3], &mut none);
        assert!(none.is_empty());
    }
}
