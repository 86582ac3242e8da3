//! `Relu` and `Clip` (ReLU6). The gradient passes where the input lies strictly inside the
//! active range and is zero elsewhere (PyTorch's convention at the kinks as well).

use std::sync::Arc;

use lowbit_kernels::f32::{clamp_grad, clamp_into};
use lowbit_tensor::Tensor;
use rayon::prelude::*;

use super::buffer::build_in_pieces;
use super::{f32s, grad, input, Backward, Inputs, Step};
use crate::error::{RuleError, RuleResult};

pub(crate) fn relu(inputs: Inputs) -> RuleResult<Step> {
    clamp(inputs, 0.0, f32::INFINITY)
}

/// `Clip(x, min?, max?)`; absent bounds are unbounded. Bounds must be scalars.
pub(crate) fn clip(inputs: Inputs) -> RuleResult<Step> {
    let (min, max) = clip_bounds(inputs)?;
    clamp(inputs, min, max)
}

/// The `(min, max)` of a `Clip` node from its inputs (unbounded where absent).
pub(crate) fn clip_bounds(inputs: Inputs) -> RuleResult<(f32, f32)> {
    let bound = |slot: usize, default: f32| -> RuleResult<f32> {
        match inputs.get(slot).and_then(Option::as_ref) {
            None => Ok(default),
            Some(t) => match f32s(t, "bound")? {
                [v] => Ok(*v),
                other => Err(RuleError::new(format!(
                    "bound must be a scalar, got {} values",
                    other.len()
                ))),
            },
        }
    };
    Ok((bound(1, f32::NEG_INFINITY)?, bound(2, f32::INFINITY)?))
}

/// Elements per parallel task of the elementwise loops: large enough to amortise the task,
/// small enough to split a MobileNet activation over a few threads.
const CHUNK: usize = 1 << 14;

fn clamp(inputs: Inputs, min: f32, max: f32) -> RuleResult<Step> {
    let x = input(inputs, 0, "X")?;
    let xs = f32s(x, "X")?;
    let y = build_in_pieces(xs.len(), CHUNK, 1, |i, out| {
        clamp_into(&xs[i * CHUNK..], min, max, out)
    });
    let y = Arc::new(Tensor::new(x.shape().to_vec(), y)?);
    let saved = ClampBackward {
        y: y.clone(),
        min,
        max,
    };
    Ok(Step {
        outputs: vec![y],
        backward: Box::new(saved),
        state: Vec::new(),
    })
}

/// Keeps the output, which shares its buffer with the graph value: the input lies strictly
/// inside `(min, max)` exactly where the output does, since outside it the output equals a
/// bound.
struct ClampBackward {
    y: Arc<Tensor>,
    min: f32,
    max: f32,
}

impl Backward for ClampBackward {
    fn backward(&self, dy: Vec<f32>, _needed: &[bool]) -> RuleResult<Vec<Option<Tensor>>> {
        let (min, max) = (self.min, self.max);
        let y = f32s(&self.y, "Y")?;
        // dY becomes dX in place: no new buffer to zero-fill and fault in.
        let mut dx = dy;
        dx.par_chunks_mut(CHUNK)
            .zip(y.par_chunks(CHUNK))
            .for_each(|(d, y)| clamp_grad(y, d, min, max));
        Ok(vec![grad(self.y.shape(), dx)?, None, None])
    }
}
