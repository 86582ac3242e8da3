//! Copies of strided views: the one primitive behind Transpose, Slice and Split.

/// The elements of the view `(offset, shape, strides)` of `src`, in row-major order.
/// Strides are in elements and may be negative (Slice with negative steps) or zero.
pub(crate) fn strided_copy<T: Copy>(src: &[T], offset: usize, shape: &[usize], strides: &[isize]) -> Vec<T> {
    let total: usize = shape.iter().product();
    let mut out = Vec::with_capacity(total);
    if total == 0 {
        return out;
    }
    let rank = shape.len();
    if rank == 0 {
        out.push(src[offset]);
        return out;
    }
    let inner = shape[rank - 1];
    let inner_stride = strides[rank - 1];
    let outer = &shape[..rank - 1];
    let mut index = vec![0usize; outer.len()];
    let mut base = offset as isize;
    loop {
        if inner_stride == 1 {
            let start = base as usize;
            out.extend_from_slice(&src[start..start + inner]);
        } else {
            out.extend((0..inner as isize).map(|i| src[(base + i * inner_stride) as usize]));
        }
        let mut d = outer.len();
        loop {
            if d == 0 {
                return out;
            }
            d -= 1;
            index[d] += 1;
            base += strides[d];
            if index[d] < outer[d] {
                break;
            }
            base -= strides[d] * outer[d] as isize;
            index[d] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transposes_and_reverses() {
        let src: Vec<i32> = (0..6).collect(); // [2,3]
        assert_eq!(strided_copy(&src, 0, &[3, 2], &[1, 3]), vec![0, 3, 1, 4, 2, 5]);
        assert_eq!(strided_copy(&src, 5, &[2, 3], &[-3, -1]), vec![5, 4, 3, 2, 1, 0]);
        assert_eq!(strided_copy(&src, 4, &[], &[]), vec![4]);
        assert!(strided_copy(&src, 0, &[0, 3], &[3, 1]).is_empty());
    }
}
