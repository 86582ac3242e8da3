//! `Conv` (2-D, NCHW, groups and dilations). Forward reuses the inference kernel; backward
//! computes dW as `dY · im2col(X)ᵀ` and dX as `col2im(Wᵀ · dY)` with the f32 GEMM, per
//! group, and runs depthwise convolutions (one input and one output channel per group)
//! as direct loops. Batch items run in parallel; their weight gradients are summed.

use std::sync::Arc;

use lowbit_graph::ops::Conv;
use lowbit_kernels::f32::{gemm, Activation, Conv2d, ConvGeometry};
use lowbit_tensor::Tensor;
use rayon::prelude::*;

use super::{f32s, grad, input, Backward, Inputs, Step};
use crate::error::{RuleError, RuleResult};

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
    let mut out = vec![0.0; n * m * oh * ow];
    kernel.run(f32s(x, "X")?, n, h, wd, &mut out);
    let output = Tensor::new(vec![n, m, oh, ow], out)?;
    let saved = ConvBackward {
        geometry,
        x: x.clone(),
        w: w.clone(),
        has_bias: bias.is_some(),
    };
    Ok(Step::new(output, saved))
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
    fn backward(&self, dy: &[f32], needed: &[bool]) -> RuleResult<Vec<Option<Tensor>>> {
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
        let x = f32s(&self.x, "X")?;
        let weights = f32s(&self.w, "W")?;
        let depthwise = g.group == g.in_channels && g.group == g.out_channels;
        let (dx, dw) = if depthwise {
            depthwise_backward(g, dims, x, weights, dy)
        } else {
            im2col_backward(g, dims, x, weights, dy, needed.first() == Some(&true))
        };
        let mut grads = vec![grad(shape, dx)?, grad(self.w.shape(), dw)?];
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

/// Input row/column read by output position `o` and kernel tap `k` along one axis, if
/// inside the image.
#[inline]
fn source(o: usize, k: usize, stride: usize, dilation: usize, pad: usize, size: usize) -> Option<usize> {
    (o * stride + k * dilation).checked_sub(pad).filter(|&i| i < size)
}

fn depthwise_backward(g: &ConvGeometry, d: Dims, x: &[f32], wt: &[f32], dy: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let (c, [kh, kw]) = (g.in_channels, g.kernel);
    let (plane, out_plane, taps) = (d.h * d.w, d.oh * d.ow, kh * kw);
    // Visits every (output position, tap) pair of one plane with its input index.
    let visit = |mut f: Box<dyn FnMut(usize, usize, usize) + '_>| {
        for oy in 0..d.oh {
            for ky in 0..kh {
                let Some(iy) = source(oy, ky, g.strides[0], g.dilations[0], g.pads[0], d.h) else {
                    continue;
                };
                for ox in 0..d.ow {
                    for kx in 0..kw {
                        if let Some(ix) = source(ox, kx, g.strides[1], g.dilations[1], g.pads[1], d.w) {
                            f(oy * d.ow + ox, ky * kw + kx, iy * d.w + ix);
                        }
                    }
                }
            }
        }
    };
    let mut dx = vec![0.0; d.batch * c * plane];
    dx.par_chunks_mut(plane).enumerate().for_each(|(p, dx_plane)| {
        let ch = p % c;
        let (dyp, wc) = (
            &dy[p * out_plane..(p + 1) * out_plane],
            &wt[ch * taps..(ch + 1) * taps],
        );
        visit(Box::new(|o, k, i| dx_plane[i] += dyp[o] * wc[k]));
    });
    let mut dw = vec![0.0; c * taps];
    dw.par_chunks_mut(taps).enumerate().for_each(|(ch, dw_c)| {
        for b in 0..d.batch {
            let p = b * c + ch;
            let (dyp, xp) = (
                &dy[p * out_plane..(p + 1) * out_plane],
                &x[p * plane..(p + 1) * plane],
            );
            visit(Box::new(|o, k, i| dw_c[k] += dyp[o] * xp[i]));
        }
    });
    (dx, dw)
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
            || vec![0.0f32; wt.len()],
            |mut dw, ((xb, dxb), dyb)| {
                let mut cols = vec![0.0; rows * positions];
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
                dw
            },
        )
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
