//! `Relu` and `Clip` (ReLU6). The gradient passes where the input lies strictly inside the
//! active range and is zero elsewhere (PyTorch's convention at the kinks as well).

use lowbit_tensor::Tensor;

use super::{f32s, grad, input, Backward, Inputs, Step};
use crate::error::{RuleError, RuleResult};

pub(crate) fn relu(inputs: Inputs) -> RuleResult<Step> {
    clamp(inputs, 0.0, f32::INFINITY)
}

/// `Clip(x, min?, max?)`; absent bounds are unbounded. Bounds must be scalars.
pub(crate) fn clip(inputs: Inputs) -> RuleResult<Step> {
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
    clamp(inputs, bound(1, f32::NEG_INFINITY)?, bound(2, f32::INFINITY)?)
}

fn clamp(inputs: Inputs, min: f32, max: f32) -> RuleResult<Step> {
    let x = input(inputs, 0, "X")?;
    let xs = f32s(x, "X")?;
    let y: Vec<f32> = xs.iter().map(|v| v.max(min).min(max)).collect();
    let pass: Vec<bool> = xs.iter().map(|&v| v > min && v < max).collect();
    let saved = ClampBackward {
        shape: x.shape().to_vec(),
        pass,
    };
    Ok(Step::new(Tensor::new(x.shape().to_vec(), y)?, saved))
}

struct ClampBackward {
    shape: Vec<usize>,
    /// Where the input was strictly inside the range.
    pass: Vec<bool>,
}

impl Backward for ClampBackward {
    fn backward(&self, dy: &[f32], _needed: &[bool]) -> RuleResult<Vec<Option<Tensor>>> {
        let dx = dy
            .iter()
            .zip(&self.pass)
            .map(|(&d, &p)| if p { d } else { 0.0 })
            .collect();
        Ok(vec![grad(&self.shape, dx)?, None, None])
    }
}
