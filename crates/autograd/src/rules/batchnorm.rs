//! `BatchNormalization` over `[N, C, ...]`. In training mode it normalises with the batch's
//! statistics (biased variance) and emits running-statistics updates the way PyTorch does:
//! `running = m·running + (1 − m)·batch`, where `m` is ONNX's momentum (0.9 for PyTorch's
//! 0.1) and the running variance takes the unbiased batch variance. In evaluation mode it
//! uses the running statistics and is an affine map per channel.

use std::sync::Arc;

use lowbit_graph::ops::BatchNorm;
use lowbit_kernels::f32::{
    batch_norm_input_grad, clamp_grad, scale_shift, sum, sum_and_centered_product, sum_squared_deviation,
    Activation,
};
use lowbit_tensor::Tensor;
use rayon::prelude::*;

use super::buffer::build_in_pieces;
use super::{f32s, grad, input, Backward, Ctx, Inputs, Step};
use crate::error::{RuleError, RuleResult};

/// Input slots of the running mean and variance, the state a training step updates.
const RUNNING_MEAN: usize = 3;
const RUNNING_VAR: usize = 4;

pub(crate) fn forward(bn: &BatchNorm, inputs: Inputs, ctx: Ctx) -> RuleResult<Step> {
    forward_then_clamp(bn, inputs, ctx, None)
}

/// A BatchNorm followed by a clamp to `bounds` (`[min, max]`: Relu, ReLU6) whose input
/// nothing else reads, as one step: the normalised values are clamped while still in
/// cache and never stored, and the backward pass masks dY with the clamp's output plane by
/// plane inside its own passes. Returns the clamp's output.
pub(crate) fn forward_then_clamp(
    bn: &BatchNorm,
    inputs: Inputs,
    ctx: Ctx,
    bounds: Option<[f32; 2]>,
) -> RuleResult<Step> {
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
        batch_stats(xs, batch, channels, spatial)
    } else {
        (running_mean.to_vec(), running_var.to_vec())
    };
    let inv_std: Vec<f32> = var.iter().map(|v| 1.0 / (v + bn.epsilon).sqrt()).collect();
    // y = γ·(x − μ)/σ + β = a·x + b per channel.
    let scale: Vec<f32> = gamma.iter().zip(&inv_std).map(|(g, s)| g * s).collect();
    let shift: Vec<f32> = (0..channels).map(|c| beta[c] - mean[c] * scale[c]).collect();
    let y = build_in_pieces(xs.len(), spatial, planes_per_task(spatial), |p, out| {
        let c = p % channels;
        scale_shift(&xs[p * spatial..(p + 1) * spatial], scale[c], shift[c], out);
        if let Some([min, max]) = bounds {
            Activation::Clip { min, max }.bias_in_place(out, 0.0);
        }
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
    let y = Arc::new(Tensor::new(shape.to_vec(), y)?);
    let saved = BatchNormBackward {
        x: x.clone(),
        mean,
        gamma: gamma.to_vec(),
        inv_std,
        batch_stats: ctx.training,
        clamp: bounds.map(|bounds| ClampMask { y: y.clone(), bounds }),
    };
    Ok(Step {
        outputs: vec![y],
        backward: Box::new(saved),
        state,
    })
}

/// Values per parallel task of the per-plane passes: enough to amortise the task on small
/// late-layer planes (16 values), few enough to split a layer over the threads.
const VALUES_PER_TASK: usize = 1 << 14;

/// Planes of `spatial` values per parallel task.
fn planes_per_task(spatial: usize) -> usize {
    (VALUES_PER_TASK / spatial.max(1)).max(1)
}

/// `f(plane range)` for each of `planes` planes of `spatial` values, in memory order (in
/// parallel), which streams far better than walking one channel's planes.
fn per_plane(
    planes: usize,
    spatial: usize,
    f: impl Fn(std::ops::Range<usize>) -> (f64, f64) + Sync,
) -> Vec<(f64, f64)> {
    (0..planes)
        .into_par_iter()
        .with_min_len(planes_per_task(spatial))
        .map(|p| f(p * spatial..(p + 1) * spatial))
        .collect()
}

/// Per-channel sums of per-plane `[N, C]` values.
fn channel_totals(planes: &[(f64, f64)], channels: usize) -> Vec<(f64, f64)> {
    let mut totals = vec![(0.0, 0.0); channels];
    for batch_item in planes.chunks_exact(channels.max(1)) {
        for (total, (a, b)) in totals.iter_mut().zip(batch_item) {
            total.0 += a;
            total.1 += b;
        }
    }
    totals
}

/// Mean and biased variance per channel in one pass over memory: each plane's sum and
/// squared deviations from its own mean (the second pass over a plane hits the cache), then
/// the planes are merged exactly, `M2 = Σ (M2_p + n·(mean_p − mean)²)`.
fn batch_stats(x: &[f32], batch: usize, channels: usize, spatial: usize) -> (Vec<f32>, Vec<f32>) {
    let n = spatial.max(1) as f64;
    let planes = per_plane(batch * channels, spatial, |plane| {
        let plane = &x[plane];
        let mean = sum(plane) / n;
        (mean, sum_squared_deviation(plane, mean as f32))
    });
    let count = (batch as f64 * n).max(1.0);
    let mean: Vec<f64> = channel_totals(&planes, channels)
        .iter()
        .map(|&(means, _)| means * n / count)
        .collect();
    let mut m2 = vec![0.0f64; channels];
    for batch_item in planes.chunks_exact(channels.max(1)) {
        for (c, &(plane_mean, plane_m2)) in batch_item.iter().enumerate() {
            m2[c] += plane_m2 + n * (plane_mean - mean[c]).powi(2);
        }
    }
    (
        mean.iter().map(|&m| m as f32).collect(),
        m2.iter().map(|&v| (v / count) as f32).collect(),
    )
}

struct BatchNormBackward {
    /// The forward input; x̂ = (x − μ)·inv_std is recomputed rather than stored.
    x: Arc<Tensor>,
    mean: Vec<f32>,
    gamma: Vec<f32>,
    inv_std: Vec<f32>,
    /// Whether the forward normalised with batch statistics (which then depend on X).
    batch_stats: bool,
    /// The fused clamp, if any: dY arrives for its output and is masked first.
    clamp: Option<ClampMask>,
}

/// The output of a clamp fused after a BatchNorm, and its bounds: the clamp passes the
/// gradient where the output lies strictly inside them.
struct ClampMask {
    y: Arc<Tensor>,
    bounds: [f32; 2],
}

impl Backward for BatchNormBackward {
    fn backward(&self, mut dy: Vec<f32>, _needed: &[bool]) -> RuleResult<Vec<Option<Tensor>>> {
        let shape = self.x.shape();
        let (batch, channels) = (shape[0], shape[1]);
        let spatial: usize = shape[2..].iter().product();
        let x = f32s(&self.x, "X")?;
        let mask = match &self.clamp {
            Some(ClampMask { y, bounds }) => Some((f32s(y, "Y")?, *bounds)),
            None => None,
        };
        // Per channel: Σ dy and Σ dy·x̂, each plane of dY masked by the fused clamp first
        // (while it is in cache).
        let planes: Vec<(f64, f64)> = if spatial == 0 {
            vec![(0.0, 0.0); batch * channels]
        } else {
            dy.par_chunks_mut(spatial)
                .with_min_len(planes_per_task(spatial))
                .enumerate()
                .map(|(p, plane)| {
                    let range = p * spatial..(p + 1) * spatial;
                    if let Some((y, [lo, hi])) = mask {
                        clamp_grad(&y[range.clone()], plane, lo, hi);
                    }
                    sum_and_centered_product(plane, &x[range], self.mean[p % channels])
                })
                .collect()
        };
        let sums: Vec<(f32, f32)> = channel_totals(&planes, channels)
            .iter()
            .zip(&self.inv_std)
            .map(|(&(s, sx), &inv_std)| (s as f32, (sx * inv_std as f64) as f32))
            .collect();
        let count = (batch * spatial).max(1) as f32;
        // dx = a·dy + b·x + k per channel. With batch statistics this is
        // γ/σ·(dy − Σdy/n − x̂·Σ(dy·x̂)/n), expanded so one pass reads dy and x.
        let coefficients: Vec<[f32; 3]> = (0..channels)
            .map(|c| {
                let a = self.gamma[c] * self.inv_std[c];
                if !self.batch_stats {
                    return [a, 0.0, 0.0];
                }
                let (s, sx) = sums[c];
                let b = -a * self.inv_std[c] * sx / count;
                [a, b, -a * s / count - b * self.mean[c]]
            })
            .collect();
        // dY becomes dX in place: no new buffer to zero-fill, no copy.
        let mut dx = dy;
        if spatial > 0 {
            dx.par_chunks_mut(spatial)
                .with_min_len(planes_per_task(spatial))
                .enumerate()
                .for_each(|(p, plane)| {
                    let x_plane = &x[p * spatial..(p + 1) * spatial];
                    batch_norm_input_grad(plane, x_plane, coefficients[p % channels]);
                });
        }
        let dgamma = sums.iter().map(|&(_, sx)| sx).collect();
        let dbeta = sums.iter().map(|&(s, _)| s).collect();
        Ok(vec![
            grad(shape, dx)?,
            grad(&[channels], dgamma)?,
            grad(&[channels], dbeta)?,
            None,
            None,
        ])
    }
}
