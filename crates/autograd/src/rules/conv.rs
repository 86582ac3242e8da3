//! `Conv` (2-D, NCHW, groups and dilations). Forward reuses the inference kernel. Backward
//! hands depthwise and pointwise (1×1) convolutions, the bulk of a MobileNet, to the
//! gradient kernels of `lowbit_kernels::f32`; any other shape computes dW as
//! `dY · im2col(X)ᵀ` and dX as `col2im(Wᵀ · dY)` with the f32 GEMM, per group, with batch
//! items in parallel and their weight gradients summed. Only the gradients asked for are
//! computed.

use std::sync::Arc;

use lowbit_graph::ops::Conv;
use lowbit_kernels::f32::{
    depthwise_input_grad, depthwise_weight_grad, gemm, pointwise_input_grad, pointwise_weight_grad,
    Activation, Conv2d, ConvGeometry, ConvInput,
};
use lowbit_tensor::Tensor;
use rayon::prelude::*;

use super::buffer::build_in_pieces;
use super::{f32s, grad, input, Backward, Inputs, Step};
use crate::error::{RuleError, RuleResult};

/// Batch chunks per thread: a few, so a slow thread can be balanced.
const BATCH_TASKS_PER_THREAD: usize = 4;

pub(crate) fn forward(conv: &Conv, inputs: Inputs) -> RuleResult<Step> {
    let x = input(inputs, 0, "X")?;
    let w = input(inputs, 1, "W")?;
    let bias = inputs.get(2).and_then(Option::as_ref);
    let (&[n, c, h, wd], &[m, _, _, _]) = (x.shape(), w.shape()) else {
        return Err(RuleError::new(format!(
            "X {:?} and W {:?} must both be 4-D",
            x.shape(),
            w.shape()
        )));
    };
    let geometry = ConvGeometry {
        in_channels: c,
        out_channels: m,
        kernel: conv.kernel,
        strides: conv.strides,
        pads: conv.pads,
        dilations: conv.dilations,
        group: conv.group,
    };
    let b = bias.map(|b| f32s(b, "B")).transpose()?;
    let kernel = Conv2d::new(geometry.clone(), f32s(w, "W")?, b, Activation::None)?;
    let (oh, ow) = geometry.output_hw(h, wd);
    let (in_len, out_len) = (c * h * wd, m * oh * ow);
    let xs = f32s(x, "X")?;
    // The inference kernel runs one image at a time and splits work inside it, which leaves
    // small late layers (4×4 planes: one GEMM tile) on one thread; splitting the batch too
    // keeps every thread busy.
    let out = if in_len > 0 {
        build_in_pieces(n * out_len, out_len, batch_per_task(n), |b, ys| {
            kernel.run(&xs[b * in_len..(b + 1) * in_len], 1, h, wd, ys)
        })
    } else {
        vec![0.0; n * out_len]
    };
    let output = Tensor::new(vec![n, m, oh, ow], out)?;
    let saved = ConvBackward {
        geometry,
        x: x.clone(),
        w: w.clone(),
        has_bias: bias.is_some(),
    };
    Ok(Step::new(output, saved))
}

/// Batch items per parallel task: a few tasks per thread, so a slow thread can be balanced.
fn batch_per_task(batch: usize) -> usize {
    batch
        .div_ceil(rayon::current_num_threads() * BATCH_TASKS_PER_THREAD)
        .max(1)
}

struct ConvBackward {
    geometry: ConvGeometry,
    x: Arc<Tensor>,
    w: Arc<Tensor>,
    has_bias: bool,
}

/// Sizes shared by the backward loops.
#[derive(Clone, Copy)]
struct Dims {
    batch: usize,
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
}

impl Backward for ConvBackward {
    fn backward(&self, dy: Vec<f32>, needed: &[bool]) -> RuleResult<Vec<Option<Tensor>>> {
        let dy = dy.as_slice();
        let g = &self.geometry;
        let shape = self.x.shape();
        let (h, w) = (shape[2], shape[3]);
        let (oh, ow) = g.output_hw(h, w);
        let dims = Dims {
            batch: shape[0],
            h,
            w,
            oh,
            ow,
        };
        let input = ConvInput {
            batch: dims.batch,
            h,
            w,
        };
        let x = f32s(&self.x, "X")?;
        let weights = f32s(&self.w, "W")?;
        let (want_dx, want_dw) = (needed.first() == Some(&true), needed.get(1) == Some(&true));
        let depthwise = g.group == g.in_channels && g.group == g.out_channels;
        let pointwise = g.group == 1 && g.kernel == [1, 1] && g.strides == [1, 1] && g.pads == [0; 4];
        let mut grads = if depthwise || pointwise {
            let (input_grad, weight_grad): (GradKernel, GradKernel) = if depthwise {
                (depthwise_input_grad, depthwise_weight_grad)
            } else {
                (pointwise_input_grad, pointwise_weight_grad)
            };
            let dx = if want_dx {
                // One batch item per piece: each is zeroed by the task that computes it.
                let (in_len, out_len) = (x.len() / dims.batch.max(1), dy.len() / dims.batch.max(1));
                let item = ConvInput { batch: 1, h, w };
                let dx = build_in_pieces(x.len(), in_len, batch_per_task(dims.batch), |b, dx_b| {
                    input_grad(g, item, weights, &dy[b * out_len..(b + 1) * out_len], dx_b)
                });
                grad(shape, dx)?
            } else {
                None
            };
            let dw = if want_dw {
                let mut dw = vec![0.0; weights.len()];
                weight_grad(g, input, x, dy, &mut dw);
                grad(self.w.shape(), dw)?
            } else {
                None
            };
            vec![dx, dw]
        } else {
            let (dx, dw) = im2col_backward(g, dims, x, weights, dy, want_dx);
            vec![grad(shape, dx)?, grad(self.w.shape(), dw)?]
        };
        if self.has_bias {
            let plane = oh * ow;
            let db: Vec<f32> = (0..g.out_channels)
                .map(|o| {
                    (0..dims.batch)
                        .map(|b| {
                            let start = (b * g.out_channels + o) * plane;
                            dy[start..start + plane].iter().sum::<f32>()
                        })
                        .sum()
                })
                .collect();
            grads.push(grad(&[g.out_channels], db)?);
        }
        Ok(grads)
    }
}

/// A gradient kernel of [`lowbit_kernels::f32`]: geometry, input sizes, the operand (weights
/// for dX, forward input for dW), dY, and the gradient it overwrites.
type GradKernel = fn(&ConvGeometry, ConvInput, &[f32], &[f32], &mut [f32]);

/// Input row/column read by output position `o` and kernel tap `k` along one axis, if
/// inside the image.
#[inline]
fn source(o: usize, k: usize, stride: usize, dilation: usize, pad: usize, size: usize) -> Option<usize> {
    (o * stride + k * dilation).checked_sub(pad).filter(|&i| i < size)
}

fn im2col_backward(
    g: &ConvGeometry,
    d: Dims,
    x: &[f32],
    wt: &[f32],
    dy: &[f32],
    want_dx: bool,
) -> (Vec<f32>, Vec<f32>) {
    let (cin_g, cout_g) = (g.in_channels / g.group, g.out_channels / g.group);
    let rows = cin_g * g.kernel[0] * g.kernel[1];
    let positions = d.oh * d.ow;
    let (in_len, out_len) = (g.in_channels * d.h * d.w, g.out_channels * positions);
    let mut dx = vec![0.0; d.batch * in_len];
    let dw = x
        .par_chunks(in_len)
        .zip(dx.par_chunks_mut(in_len))
        .zip(dy.par_chunks(out_len))
        .fold(
            || (vec![0.0f32; wt.len()], vec![0.0f32; rows * positions]),
            |(mut dw, mut cols), ((xb, dxb), dyb)| {
                for grp in 0..g.group {
                    let x_g = &xb[grp * cin_g * d.h * d.w..(grp + 1) * cin_g * d.h * d.w];
                    let dy_g = &dyb[grp * cout_g * positions..(grp + 1) * cout_g * positions];
                    let w_g = &wt[grp * cout_g * rows..(grp + 1) * cout_g * rows];
                    im2col(g, d, x_g, cin_g, &mut cols);
                    // dW_g[cout_g, rows] += dY_g[cout_g, P] · colsᵀ[P, rows]
                    let dw_g = &mut dw[grp * cout_g * rows..(grp + 1) * cout_g * rows];
                    let p = positions as isize;
                    gemm(
                        cout_g,
                        rows,
                        positions,
                        1.0,
                        dy_g,
                        p,
                        1,
                        &cols,
                        1,
                        p,
                        1.0,
                        dw_g,
                        rows as isize,
                        1,
                    );
                    if want_dx {
                        // dcols[rows, P] = W_gᵀ[rows, cout_g] · dY_g[cout_g, P]
                        let r = rows as isize;
                        gemm(
                            rows, positions, cout_g, 1.0, w_g, 1, r, dy_g, p, 1, 0.0, &mut cols, p, 1,
                        );
                        let dx_g = &mut dxb[grp * cin_g * d.h * d.w..(grp + 1) * cin_g * d.h * d.w];
                        col2im(g, d, &cols, cin_g, dx_g);
                    }
                }
                (dw, cols)
            },
        )
        .map(|(dw, _)| dw)
        .reduce(
            || vec![0.0f32; wt.len()],
            |mut a, b| {
                a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
                a
            },
        );
    (dx, dw)
}

/// Calls `f(row, position, input index)` for every in-image entry of the im2col matrix of
/// `channels` channels: row `(ci·kh + ky)·kw + kx`, position `oy·ow + ox`.
fn for_each_tap(g: &ConvGeometry, d: Dims, channels: usize, mut f: impl FnMut(usize, usize, usize)) {
    let [kh, kw] = g.kernel;
    for ci in 0..channels {
        for ky in 0..kh {
            for kx in 0..kw {
                let row = (ci * kh + ky) * kw + kx;
                for oy in 0..d.oh {
                    let Some(iy) = source(oy, ky, g.strides[0], g.dilations[0], g.pads[0], d.h) else {
                        continue;
                    };
                    for ox in 0..d.ow {
                        if let Some(ix) = source(ox, kx, g.strides[1], g.dilations[1], g.pads[1], d.w) {
                            f(row, oy * d.ow + ox, (ci * d.h + iy) * d.w + ix);
                        }
                    }
                }
            }
        }
    }
}

fn im2col(g: &ConvGeometry, d: Dims, x: &[f32], channels: usize, cols: &mut [f32]) {
    let positions = d.oh * d.ow;
    cols.fill(0.0);
    for_each_tap(g, d, channels, |row, pos, i| cols[row * positions + pos] = x[i]);
}

/// The adjoint of [`im2col`]: scatters-adds every column entry back to its input pixel.
fn col2im(g: &ConvGeometry, d: Dims, cols: &[f32], channels: usize, dx: &mut [f32]) {
    let positions = d.oh * d.ow;
    for_each_tap(g, d, channels, |row, pos, i| dx[i] += cols[row * positions + pos]);
}
