//! Pointwise (1×1, stride 1, unpadded, one group) convolution gradients as GEMMs.
//!
//! Per batch item the forward is `Y[M, P] = W[M, C] · X[C, P]` over the planes as they
//! lie in memory, so `dX = Wᵀ · dY` and `dW = Σ_b dY_b · X_bᵀ`; transposes are strides,
//! nothing is copied.

use rayon::prelude::*;

use super::ConvInput;
use crate::f32::{sequential_gemm, ConvGeometry};

/// Batch items per task of the weight gradient, so each task's private `dW` is reused
/// over several GEMMs while every thread still gets a few tasks to balance load.
const TASKS_PER_THREAD: usize = 4;

/// `dX[b] = Wᵀ · dY[b]`. `weights` are `[M, C, 1, 1]`, `dy` is `[batch, M, h, w]`, `dx` is
/// `[batch, C, h, w]` and is overwritten.
///
/// Panics (assert) when `g` is not pointwise or a length does not match the sizes.
pub fn pointwise_input_grad(g: &ConvGeometry, input: ConvInput, weights: &[f32], dy: &[f32], dx: &mut [f32]) {
    assert_pointwise(g);
    input.check(g, dx.len(), dy.len(), weights.len());
    let (c, m, p) = (g.in_channels, g.out_channels, input.h * input.w);
    if p == 0 {
        return;
    }
    let (ci, pi) = (c as isize, p as isize);
    dx.par_chunks_mut(c * p)
        .zip(dy.par_chunks(m * p))
        .for_each(|(dx_b, dy_b)| {
            // dX_b[C, P] = Wᵀ[C, M] · dY_b[M, P]
            sequential_gemm(c, p, m, 1.0, weights, 1, ci, dy_b, pi, 1, 0.0, dx_b, pi, 1);
        });
}

/// `dW = Σ_b dY[b] · X[b]ᵀ`. `x` is the forward input `[batch, C, h, w]`, `dy` is
/// `[batch, M, h, w]`, `dw` is `[M, C, 1, 1]` and is overwritten.
///
/// Panics (assert) when `g` is not pointwise or a length does not match the sizes.
pub fn pointwise_weight_grad(g: &ConvGeometry, input: ConvInput, x: &[f32], dy: &[f32], dw: &mut [f32]) {
    assert_pointwise(g);
    input.check(g, x.len(), dy.len(), dw.len());
    let (c, m, p) = (g.in_channels, g.out_channels, input.h * input.w);
    dw.fill(0.0);
    if p == 0 || input.batch == 0 {
        return;
    }
    let tasks = rayon::current_num_threads() * TASKS_PER_THREAD;
    let per_task = input.batch.div_ceil(tasks);
    let pi = p as isize;
    let partial = x
        .par_chunks(per_task * c * p)
        .zip(dy.par_chunks(per_task * m * p))
        .map(|(xs, dys)| {
            let mut acc = vec![0.0; m * c];
            for (x_b, dy_b) in xs.chunks_exact(c * p).zip(dys.chunks_exact(m * p)) {
                // dW[M, C] += dY_b[M, P] · X_bᵀ[P, C]
                sequential_gemm(
                    m, c, p, 1.0, dy_b, pi, 1, x_b, 1, pi, 1.0, &mut acc, c as isize, 1,
                );
            }
            acc
        })
        .reduce_with(|mut a, b| {
            a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
            a
        });
    if let Some(sum) = partial {
        dw.copy_from_slice(&sum);
    }
}

fn assert_pointwise(g: &ConvGeometry) {
    assert!(
        g.group == 1 && g.kernel == [1, 1] && g.strides == [1, 1] && g.pads == [0; 4],
        "pointwise backward: geometry is not a 1×1 stride-1 unpadded single-group conv: {g:?}"
    );
}
