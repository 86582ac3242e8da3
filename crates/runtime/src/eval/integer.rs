//! Plain integer references for the quantized ops: convolution and batched matrix product
//! over zero-point-adjusted i32 values. Correctness first; fast integer kernels replace
//! these behind the same ops later.

use lowbit_graph::ops::Conv;
use lowbit_tensor::{numel, Tensor};

use super::broadcast::{broadcast_shapes, Broadcast};
use super::{ensure, EvalError, EvalResult};

/// `x - zero_point` as i32, for a u8/i8/i32 tensor and a scalar zero point.
pub(crate) fn centered(t: &Tensor, zero_point: i32) -> EvalResult<Vec<i32>> {
    ensure(t.dtype().is_integer() && t.dtype().size() <= 4, || {
        format!("expected a u8, i8 or i32 tensor, got {}", t.dtype())
    })?;
    Ok(t.cast(lowbit_tensor::DType::I32)
        .into_vec::<i32>()?
        .into_iter()
        .map(|v| v - zero_point)
        .collect())
}

/// Zero points as i32: one per tensor, or `count` values (per channel, row or column).
pub(crate) fn zero_points(t: Option<&Tensor>, count: usize, what: &str) -> EvalResult<Vec<i32>> {
    let Some(t) = t else { return Ok(vec![0]) };
    ensure(
        t.dtype().is_integer() && (t.len() == 1 || t.len() == count),
        || {
            format!(
                "{what} zero point must be 1 or {count} integers, got {} {:?}",
                t.dtype(),
                t.shape()
            )
        },
    )?;
    Ok(t.to_i64_vec().into_iter().map(|v| v as i32).collect())
}

/// Direct NCHW convolution of centred values: `x` `[N, C, H, W]`, `w` `[M, C/g, kh, kw]`.
/// Returns the i32 accumulators `[N, M, oh, ow]` and their shape.
pub(crate) fn conv_i32(
    attrs: &Conv,
    x: &[i32],
    x_shape: &[usize],
    w: &[i32],
    w_shape: &[usize],
) -> EvalResult<(Vec<i32>, Vec<usize>)> {
    ensure(x_shape.len() == 4 && w_shape.len() == 4, || {
        format!("input and weights must be rank 4, got {x_shape:?} and {w_shape:?}")
    })?;
    let [n, c, h, wd] = [x_shape[0], x_shape[1], x_shape[2], x_shape[3]];
    let [m, cg, kh, kw] = [w_shape[0], w_shape[1], w_shape[2], w_shape[3]];
    let g = attrs.group;
    ensure(g > 0 && cg * g == c && m % g == 0, || {
        format!("weights {w_shape:?} with group {g} do not fit input {x_shape:?}")
    })?;
    ensure(
        !attrs.strides.contains(&0) && !attrs.dilations.contains(&0) && kh > 0 && kw > 0,
        || "zero stride, dilation or kernel size".to_string(),
    )?;
    let span = |k: usize, d: usize| d * (k - 1) + 1;
    let padded = [
        h + attrs.pads[0] + attrs.pads[2],
        wd + attrs.pads[1] + attrs.pads[3],
    ];
    ensure(
        padded[0] >= span(kh, attrs.dilations[0]) && padded[1] >= span(kw, attrs.dilations[1]),
        || format!("input {x_shape:?} is smaller than the kernel after padding"),
    )?;
    let oh = (padded[0] - span(kh, attrs.dilations[0])) / attrs.strides[0] + 1;
    let ow = (padded[1] - span(kw, attrs.dilations[1])) / attrs.strides[1] + 1;
    let m_per_group = m / g;
    let mut out = vec![0i32; n * m * oh * ow];
    for b in 0..n {
        for oc in 0..m {
            let group = oc / m_per_group;
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = 0i32;
                    for ic in 0..cg {
                        let channel = group * cg + ic;
                        for ky in 0..kh {
                            let y = (oy * attrs.strides[0] + ky * attrs.dilations[0]) as isize
                                - attrs.pads[0] as isize;
                            if y < 0 || y >= h as isize {
                                continue;
                            }
                            for kx in 0..kw {
                                let xx = (ox * attrs.strides[1] + kx * attrs.dilations[1]) as isize
                                    - attrs.pads[1] as isize;
                                if xx < 0 || xx >= wd as isize {
                                    continue;
                                }
                                let xv = x[((b * c + channel) * h + y as usize) * wd + xx as usize];
                                let wv = w[((oc * cg + ic) * kh + ky) * kw + kx];
                                acc = acc.wrapping_add(xv.wrapping_mul(wv));
                            }
                        }
                    }
                    out[((b * m + oc) * oh + oy) * ow + ox] = acc;
                }
            }
        }
    }
    Ok((out, vec![n, m, oh, ow]))
}

/// The shapes of a numpy matmul: rank-1 operands promoted, leading dims broadcast.
pub(crate) struct MatMulShape {
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub out: Vec<usize>,
}

impl MatMulShape {
    pub(crate) fn of(a: &[usize], b: &[usize]) -> EvalResult<Self> {
        ensure(!a.is_empty() && !b.is_empty(), || {
            format!("operands must have rank >= 1: {a:?} x {b:?}")
        })?;
        let (m, k) = if a.len() == 1 {
            (1, a[0])
        } else {
            (a[a.len() - 2], a[a.len() - 1])
        };
        let (kb, n) = if b.len() == 1 {
            (b[0], 1)
        } else {
            (b[b.len() - 2], b[b.len() - 1])
        };
        ensure(k == kb, || format!("inner dimensions differ: {a:?} x {b:?}"))?;
        let batch = broadcast_shapes(&[&a[..a.len().saturating_sub(2)], &b[..b.len().saturating_sub(2)]])?;
        let mut out = batch;
        if a.len() > 1 {
            out.push(m);
        }
        if b.len() > 1 {
            out.push(n);
        }
        Ok(MatMulShape { m, k, n, out })
    }
}

/// Batched i32 matrix product (wrapping accumulation, as 32-bit hardware does).
pub(crate) fn matmul_i32(
    a: &[i32],
    a_shape: &[usize],
    b: &[i32],
    b_shape: &[usize],
) -> EvalResult<(Vec<i32>, MatMulShape)> {
    let s = MatMulShape::of(a_shape, b_shape)?;
    let a_batch = &a_shape[..a_shape.len().saturating_sub(2)];
    let b_batch = &b_shape[..b_shape.len().saturating_sub(2)];
    let batch = broadcast_shapes(&[a_batch, b_batch])?;
    let (m, k, n) = (s.m, s.k, s.n);
    let mut out = vec![0i32; numel(&batch) * m * n];
    let plan = Broadcast::new(&batch, [a_batch, b_batch]);
    let [sa, sb] = plan.inner_strides();
    let count = plan.inner();
    plan.for_each_row(|o, [ia, ib]| {
        for t in 0..count {
            let (a0, b0, c0) = ((ia + t * sa) * m * k, (ib + t * sb) * k * n, (o + t) * m * n);
            // Row by row of B, so the inner loop runs along contiguous rows and
            // vectorises; wrapping sums do not depend on the order of the terms.
            for i in 0..m {
                let row = &mut out[c0 + i * n..c0 + (i + 1) * n];
                for p in 0..k {
                    let x = a[a0 + i * k + p];
                    let b_row = &b[b0 + p * n..b0 + (p + 1) * n];
                    for (y, &w) in row.iter_mut().zip(b_row) {
                        *y = y.wrapping_add(x.wrapping_mul(w));
                    }
                }
            }
        }
    });
    Ok((out, s))
}

/// Subtracts per-row (`len == rows`) or per-tensor zero points from a row-major matrix
/// stack whose rows have `row_len` values.
pub(crate) fn subtract_per_row(values: &mut [i32], zero_points: &[i32], rows: usize, row_len: usize) {
    for (r, row) in values.chunks_mut(row_len.max(1)).enumerate() {
        let zp = if zero_points.len() == 1 {
            zero_points[0]
        } else {
            zero_points[r % rows]
        };
        row.iter_mut().for_each(|v| *v -= zp);
    }
}

/// Subtracts per-column (`len == row_len`) or per-tensor zero points.
pub(crate) fn subtract_per_column(values: &mut [i32], zero_points: &[i32], row_len: usize) {
    for (i, v) in values.iter_mut().enumerate() {
        *v -= if zero_points.len() == 1 {
            zero_points[0]
        } else {
            zero_points[i % row_len]
        };
    }
}

/// An error for a quantized op whose scale input is malformed.
pub(crate) fn bad_scale(what: &str, t: &Tensor, count: usize) -> EvalError {
    EvalError(format!(
        "{what} scale must be 1 or {count} f32 values, got {} {:?}",
        t.dtype(),
        t.shape()
    ))
}
