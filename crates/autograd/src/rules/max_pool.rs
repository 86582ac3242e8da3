//! `MaxPool` (2-D, NCHW, pads, strides, dilations, ceil mode). Forward remembers which input
//! element won each window; backward routes each output gradient to that element (ties go
//! to the first in row-major window order, as PyTorch does).

use lowbit_graph::ops::Pool;
use lowbit_tensor::Tensor;
use rayon::prelude::*;

use super::{f32s, grad, input, Backward, Inputs, Step};
use crate::error::{RuleError, RuleResult};

pub(crate) fn forward(pool: &Pool, inputs: Inputs) -> RuleResult<Step> {
    let x = input(inputs, 0, "X")?;
    let &[n, c, h, w] = x.shape() else {
        return Err(RuleError::new(format!("X must be 4-D NCHW, got {:?}", x.shape())));
    };
    let (oh, ow) = pool.output_hw(h, w);
    let xs = f32s(x, "X")?;
    let (plane, out_plane) = (h * w, oh * ow);
    // Index within its plane of each output's winning input, or None for an all-padding window.
    let mut winners = vec![None; n * c * out_plane];
    winners
        .par_chunks_mut(out_plane.max(1))
        .enumerate()
        .for_each(|(p, out)| {
            let xp = &xs[p * plane..(p + 1) * plane];
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut best: Option<(usize, f32)> = None;
                    for ky in 0..pool.kernel[0] {
                        let Some(iy) = (oy * pool.strides[0] + ky * pool.dilations[0])
                            .checked_sub(pool.pads[0])
                            .filter(|&i| i < h)
                        else {
                            continue;
                        };
                        for kx in 0..pool.kernel[1] {
                            let Some(ix) = (ox * pool.strides[1] + kx * pool.dilations[1])
                                .checked_sub(pool.pads[1])
                                .filter(|&i| i < w)
                            else {
                                continue;
                            };
                            let v = xp[iy * w + ix];
                            if best.is_none_or(|(_, b)| v > b) {
                                best = Some((iy * w + ix, v));
                            }
                        }
                    }
                    out[oy * ow + ox] = best.map(|(i, _)| i);
                }
            }
        });
    let y = winners
        .iter()
        .enumerate()
        .map(|(o, win)| win.map_or(f32::NEG_INFINITY, |i| xs[(o / out_plane) * plane + i]))
        .collect();
    let saved = MaxPoolBackward {
        shape: x.shape().to_vec(),
        out_plane,
        winners,
    };
    Ok(Step::new(Tensor::new(vec![n, c, oh, ow], y)?, saved))
}

struct MaxPoolBackward {
    shape: Vec<usize>,
    out_plane: usize,
    winners: Vec<Option<usize>>,
}

impl Backward for MaxPoolBackward {
    fn backward(&self, dy: Vec<f32>, _needed: &[bool]) -> RuleResult<Vec<Option<Tensor>>> {
        let dy = dy.as_slice();
        let plane = self.shape[2] * self.shape[3];
        let mut dx = vec![0.0; self.shape.iter().product()];
        dx.par_chunks_mut(plane.max(1)).enumerate().for_each(|(p, dxp)| {
            let range = p * self.out_plane..(p + 1) * self.out_plane;
            for (win, d) in self.winners[range.clone()].iter().zip(&dy[range]) {
                if let Some(i) = win {
                    dxp[*i] += d;
                }
            }
        });
        Ok(vec![grad(&self.shape, dx)?])
    }
}
