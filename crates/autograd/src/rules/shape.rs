//! `Flatten`, `Reshape` and `Identity`: the data is unchanged, so the gradient is the output
//! gradient viewed in the input's shape.

use lowbit_tensor::Tensor;

use super::{grad, input, Backward, Inputs, Step};
use crate::error::{RuleError, RuleResult};

pub(crate) fn flatten(axis: i64, inputs: Inputs) -> RuleResult<Step> {
    let x = input(inputs, 0, "input")?;
    let rank = x.rank() as i64;
    let axis = if axis < 0 { axis + rank } else { axis };
    if !(0..=rank).contains(&axis) {
        return Err(RuleError::new(format!(
            "axis {axis} is out of range for rank {rank}"
        )));
    }
    let (outer, inner) = x.shape().split_at(axis as usize);
    view(x, vec![outer.iter().product(), inner.iter().product()])
}

/// ONNX `Reshape`: `0` copies the input's size (unless `allowzero`), `-1` is inferred.
pub(crate) fn reshape(allowzero: bool, inputs: Inputs) -> RuleResult<Step> {
    let x = input(inputs, 0, "data")?;
    let requested = input(inputs, 1, "shape")?.to_i64_vec();
    let mut shape = Vec::with_capacity(requested.len());
    let mut infer = None;
    for (i, &d) in requested.iter().enumerate() {
        shape.push(match d {
            -1 if infer.is_none() => {
                infer = Some(i);
                1
            }
            0 if !allowzero => *x
                .shape()
                .get(i)
                .ok_or_else(|| RuleError::new(format!("shape[{i}] = 0 copies a missing axis")))?,
            d if d >= 0 => d as usize,
            d => return Err(RuleError::new(format!("invalid size {d} in shape {requested:?}"))),
        });
    }
    if let Some(i) = infer {
        let known: usize = shape.iter().product();
        if known == 0 || x.len() % known != 0 {
            return Err(RuleError::new(format!(
                "cannot infer -1 in {requested:?} for {:?}",
                x.shape()
            )));
        }
        shape[i] = x.len() / known;
    }
    view(x, shape)
}

pub(crate) fn identity(inputs: Inputs) -> RuleResult<Step> {
    let x = input(inputs, 0, "input")?;
    view(x, x.shape().to_vec())
}

fn view(x: &Tensor, shape: Vec<usize>) -> RuleResult<Step> {
    let y = x.clone().reshape(shape)?;
    Ok(Step::new(y, ViewBackward(x.shape().to_vec())))
}

/// Holds the input's shape.
struct ViewBackward(Vec<usize>);

impl Backward for ViewBackward {
    fn backward(&self, dy: Vec<f32>, _needed: &[bool]) -> RuleResult<Vec<Option<Tensor>>> {
        Ok(vec![grad(&self.0, dy)?, None])
    }
}
