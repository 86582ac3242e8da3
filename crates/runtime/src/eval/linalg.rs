//! Gemm and MatMul (f32) on the `lowbit_kernels::f32::gemm` kernel.

use lowbit_graph::ops::Gemm;
use lowbit_kernels::f32::gemm as kernel;
use lowbit_tensor::{numel, Tensor};
use rayon::prelude::*;

use super::broadcast::{broadcast_shapes, expand_into, Broadcast};
use super::{ensure, Cx, EvalResult, Inputs};

/// `Y = alpha * op(A) * op(B) + beta * C`, A and B of rank 2, C broadcast to `[M, N]`.
pub(crate) fn gemm(attrs: &Gemm, inputs: &Inputs, cx: &mut Cx) -> EvalResult<Tensor> {
    let (a, sa) = inputs.f32_of_rank(0, 2)?;
    let (b, sb) = inputs.f32_of_rank(1, 2)?;
    let (m, k) = if attrs.trans_a {
        (sa[1], sa[0])
    } else {
        (sa[0], sa[1])
    };
    let (kb, n) = if attrs.trans_b {
        (sb[1], sb[0])
    } else {
        (sb[0], sb[1])
    };
    ensure(k == kb, || {
        format!(
            "inner dimensions differ: A {sa:?} (trans_a {}) and B {sb:?} (trans_b {})",
            attrs.trans_a, attrs.trans_b
        )
    })?;
    let mut out = cx.buffers.take_f32(m * n);
    let mut beta = 0.0;
    if let (Some(c), true) = (inputs.opt(2), attrs.beta != 0.0) {
        let values = inputs.slice::<f32>(2)?;
        let target = [m, n];
        ensure(
            c.rank() <= 2 && broadcast_shapes(&[c.shape(), &target]).is_ok_and(|s| s == target),
            || format!("C {:?} does not broadcast to [{m}, {n}]", c.shape()),
        )?;
        expand_into(values, c.shape(), &target, &mut out);
        beta = attrs.beta;
    }
    // A transposed operand is the same buffer read with swapped strides.
    let (rsa, csa) = if attrs.trans_a {
        (1, m as isize)
    } else {
        (k as isize, 1)
    };
    let (rsb, csb) = if attrs.trans_b {
        (1, k as isize)
    } else {
        (n as isize, 1)
    };
    if k == 0 {
        // An empty product: only the C term remains.
        if beta == 0.0 {
            out.fill(0.0);
        } else {
            out.iter_mut().for_each(|v| *v *= beta);
        }
        return Ok(Tensor::new(vec![m, n], out)?);
    }
    kernel(
        m,
        n,
        k,
        attrs.alpha,
        a,
        rsa,
        csa,
        b,
        rsb,
        csb,
        beta,
        &mut out,
        n as isize,
        1,
    );
    Ok(Tensor::new(vec![m, n], out)?)
}

/// Multiply-adds below which one matrix product is too small to split across threads.
const SMALL_PRODUCT: usize = 1 << 18;

/// MatMul with numpy semantics: rank-1 operands are promoted and the added dim removed,
/// leading (batch) dims broadcast.
pub(crate) fn matmul(inputs: &Inputs, cx: &mut Cx) -> EvalResult<Tensor> {
    let (ta, tb) = (inputs.get(0)?, inputs.get(1)?);
    let (a, b) = (inputs.slice::<f32>(0)?, inputs.slice::<f32>(1)?);
    ensure(ta.rank() >= 1 && tb.rank() >= 1, || {
        format!(
            "operands must have rank >= 1, got {:?} and {:?}",
            ta.shape(),
            tb.shape()
        )
    })?;
    let a_shape: Vec<usize> = if ta.rank() == 1 {
        vec![1, ta.shape()[0]]
    } else {
        ta.shape().to_vec()
    };
    let b_shape: Vec<usize> = if tb.rank() == 1 {
        vec![tb.shape()[0], 1]
    } else {
        tb.shape().to_vec()
    };
    let (ra, rb) = (a_shape.len(), b_shape.len());
    let (m, k, kb, n) = (a_shape[ra - 2], a_shape[ra - 1], b_shape[rb - 2], b_shape[rb - 1]);
    ensure(k == kb, || {
        format!("inner dimensions differ: {:?} x {:?}", ta.shape(), tb.shape())
    })?;
    let (a_batch, b_batch) = (&a_shape[..ra - 2], &b_shape[..rb - 2]);
    let batch = broadcast_shapes(&[a_batch, b_batch])?;
    let mut out = cx.buffers.take_f32(numel(&batch) * m * n);
    if k == 0 {
        out.fill(0.0);
    } else if numel(b_batch) == 1 {
        // Every A matrix meets the same B: one GEMM over all of A's rows.
        let rows = numel(&batch) * m;
        kernel(
            rows, n, k, 1.0, a, k as isize, 1, b, n as isize, 1, 0.0, &mut out, n as isize, 1,
        );
    } else if m * n > 0 {
        // Offsets of the A and B matrices behind each output matrix.
        let plan = Broadcast::new(&batch, [a_batch, b_batch]);
        let [sa, sb] = plan.inner_strides();
        let mut pairs = Vec::with_capacity(numel(&batch));
        plan.for_each_row(|_, [ia, ib]| {
            pairs.extend((0..plan.inner()).map(|i| ((ia + i * sa) * m * k, (ib + i * sb) * k * n)));
        });
        let product = |(a_at, b_at): (usize, usize), c: &mut [f32]| {
            let (a, b) = (&a[a_at..a_at + m * k], &b[b_at..b_at + k * n]);
            kernel(
                m, n, k, 1.0, a, k as isize, 1, b, n as isize, 1, 0.0, c, n as isize, 1,
            );
        };
        // Attention's many small products run one per task; large ones parallelise inside.
        if m * n * k < SMALL_PRODUCT {
            out.par_chunks_mut(m * n)
                .zip(pairs.par_iter())
                .for_each(|(c, &pair)| product(pair, c));
        } else {
            out.chunks_mut(m * n)
                .zip(pairs)
                .for_each(|(c, pair)| product(pair, c));
        }
    }
    let mut shape = batch;
    if ta.rank() > 1 {
        shape.push(m);
    }
    if tb.rank() > 1 {
        shape.push(n);
    }
    Ok(Tensor::new(shape, out)?)
}
