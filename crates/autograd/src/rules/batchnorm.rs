//! `BatchNormalization` over `[N, C, ...]`. In training mode it normalises with the batch's
//! statistics (biased variance) and emits running-statistics updates the way PyTorch does:
//! `running = m·running + (1 − m)·batch`, where `m` is ONNX's momentum (0.9 for PyTorch's
//! 0.1) and the running variance takes the unbiased batch variance. In evaluation mode it
//! uses the running statistics and is an affine map per channel.

use std::sync::Arc;

use lowbit_graph::ops::BatchNorm;
use lowbit_tensor::Tensor;
use rayon::prelude::*;

use super::{f32s, grad, input, Backward, Ctx, Inputs, Step};
use crate::error::{RuleError, RuleResult};

/// Input slots of the running mean and variance, the state a training step updates.
const RUNNING_MEAN: usize = 3;
const RUNNING_VAR: usize = 4;

pub(crate) fn forward(bn: &BatchNorm, inputs: Inputs, ctx: Ctx) -> RuleResult<Step> {
    let x = input(inputs, 0, "X")?;
    let [gamma, beta, running_mean, running_var] = [
        (1, "scale"),
        (2, "B"),
        (RUNNING_MEAN, "input_mean"),
        (RUNNING_VAR, "input_var"),
    ]
    .map(|(slot, what)| input(inputs, slot, what).and_then(|t| f32s(t, what)));
    let (gamma, beta, running_mean, running_var) = (gamma?, beta?, running_mean?, running_var?);
    let shape = x.shape();
    if shape.len() < 2 {
        return Err(RuleError::new(format!("X must be [N, C, ...], got {shape:?}")));
    }
    let (batch, channels) = (shape[0], shape[1]);
    let spatial: usize = shape[2..].iter().product();
    for (what, len) in [
        ("scale", gamma.len()),
        ("B", beta.len()),
        ("mean", running_mean.len()),
        ("var", running_var.len()),
    ] {
        if len != channels {
            return Err(RuleError::new(format!(
                "{what} has {len} values for {channels} channels"
            )));
        }
    }
    let xs = f32s(x, "X")?;
    let count = batch * spatial;
    let (mean, var): (Vec<f32>, Vec<f32>) = if ctx.training {
        (0..channels)
            .into_par_iter()
            .map(|c| channel_stats(xs, c, batch, channels, spatial))
            .unzip()
    } else {
        (running_mean.to_vec(), running_var.to_vec())
    };
    let inv_std: Vec<f32> = var.iter().map(|v| 1.0 / (v + bn.epsilon).sqrt()).collect();
    let mut xhat = xs.to_vec();
    xhat.par_chunks_mut(spatial.max(1))
        .enumerate()
        .for_each(|(p, plane)| {
            let c = p % channels;
            plane.iter_mut().for_each(|v| *v = (*v - mean[c]) * inv_std[c]);
        });
    let mut y = xhat.clone();
    y.par_chunks_mut(spatial.max(1))
        .enumerate()
        .for_each(|(p, plane)| {
            let c = p % channels;
            plane.iter_mut().for_each(|v| *v = *v * gamma[c] + beta[c]);
        });
    let mut state = Vec::new();
    if ctx.training {
        let m = bn.momentum;
        let unbias = if count > 1 {
            count as f32 / (count - 1) as f32
        } else {
            1.0
        };
        let blend = |old: &[f32], new: &[f32], scale: f32| -> Vec<f32> {
            old.iter()
                .zip(new)
                .map(|(o, n)| m * o + (1.0 - m) * n * scale)
                .collect()
        };
        state.push((
            RUNNING_MEAN,
            Tensor::new(vec![channels], blend(running_mean, &mean, 1.0))?,
        ));
        state.push((
            RUNNING_VAR,
            Tensor::new(vec![channels], blend(running_var, &var, unbias))?,
        ));
    }
    let saved = BatchNormBackward {
        shape: shape.to_vec(),
        xhat: Arc::new(xhat),
        gamma: gamma.to_vec(),
        inv_std,
        batch_stats: ctx.training,
    };
    let mut step = Step::new(Tensor::new(shape.to_vec(), y)?, saved);
    step.state = state;
    Ok(step)
}

/// Mean and biased variance of channel `c`, accumulated in f64.
fn channel_stats(x: &[f32], c: usize, batch: usize, channels: usize, spatial: usize) -> (f32, f32) {
    let (mut sum, mut sum_sq) = (0f64, 0f64);
    for b in 0..batch {
        let start = (b * channels + c) * spatial;
        for &v in &x[start..start + spatial] {
            sum += v as f64;
            sum_sq += (v as f64) * (v as f64);
        }
    }
    let count = (batch * spatial).max(1) as f64;
    let mean = sum / count;
    (mean as f32, (sum_sq / count - mean * mean).max(0.0) as f32)
}

struct BatchNormBackward {
    shape: Vec<usize>,
    xhat: Arc<Vec<f32>>,
    gamma: Vec<f32>,
    inv_std: Vec<f32>,
    /// Whether the forward normalised with batch statistics (which then depend on X).
    batch_stats: bool,
}

impl Backward for BatchNormBackward {
    fn backward(&self, dy: &[f32], _needed: &[bool]) -> RuleResult<Vec<Option<Tensor>>> {
        let (batch, channels) = (self.shape[0], self.shape[1]);
        let spatial: usize = self.shape[2..].iter().product();
        let xhat = &self.xhat;
        // Per channel: Σ dy and Σ dy·x̂.
        let sums: Vec<(f32, f32)> = (0..channels)
            .into_par_iter()
            .map(|c| {
                let (mut s, mut sx) = (0f64, 0f64);
                for b in 0..batch {
                    let start = (b * channels + c) * spatial;
                    for i in start..start + spatial {
                        s += dy[i] as f64;
                        sx += (dy[i] * xhat[i]) as f64;
                    }
                }
                (s as f32, sx as f32)
            })
            .collect();
        let count = (batch * spatial).max(1) as f32;
        let mut dx = vec![0.0; dy.len()];
        dx.par_chunks_mut(spatial.max(1))
            .enumerate()
            .for_each(|(p, plane)| {
                let c = p % channels;
                let start = p * spatial;
                let scale = self.gamma[c] * self.inv_std[c];
                let (s, sx) = sums[c];
                for (i, d) in plane.iter_mut().enumerate() {
                    let k = start + i;
                    *d = if self.batch_stats {
                        // d/dx of γ·(x − μ_B)/σ_B: the batch mean and variance depend on x too.
                        scale * (dy[k] - s / count - xhat[k] * sx / count)
                    } else {
                        scale * dy[k]
                    };
                }
            });
        let dgamma = sums.iter().map(|&(_, sx)| sx).collect();
        let dbeta = sums.iter().map(|&(s, _)| s).collect();
        Ok(vec![
            grad(&self.shape, dx)?,
            grad(&[channels], dgamma)?,
            grad(&[channels], dbeta)?,
            None,
            None,
        ])
    }
}
