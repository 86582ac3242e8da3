//! `Dropout`. In training mode each element is kept with probability `1 − ratio` and scaled
//! by `1 / (1 − ratio)` (inverted dropout, so evaluation is the identity); the mask comes
//! from the step's seed, so a run is reproducible. The gradient uses the same mask.

use lowbit_tensor::Tensor;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{f32s, grad, input, Backward, Ctx, Inputs, Step};
use crate::error::{RuleError, RuleResult};

pub(crate) fn forward(ratio: f32, inputs: Inputs, ctx: Ctx) -> RuleResult<Step> {
    let x = input(inputs, 0, "data")?;
    if !(0.0..1.0).contains(&ratio) {
        return Err(RuleError::new(format!("ratio {ratio} is outside [0, 1)")));
    }
    let xs = f32s(x, "data")?;
    let scale = if ctx.training { 1.0 / (1.0 - ratio) } else { 1.0 };
    let mut rng = StdRng::seed_from_u64(ctx.seed);
    // Each element's multiplier: 0 (dropped) or `scale`.
    let multiplier: Vec<f32> = xs
        .iter()
        .map(|_| {
            if ctx.training && rng.gen::<f32>() < ratio {
                0.0
            } else {
                scale
            }
        })
        .collect();
    let y = xs.iter().zip(&multiplier).map(|(v, m)| v * m).collect();
    let saved = DropoutBackward {
        shape: x.shape().to_vec(),
        multiplier,
    };
    Ok(Step::new(Tensor::new(x.shape().to_vec(), y)?, saved))
}

struct DropoutBackward {
    shape: Vec<usize>,
    multiplier: Vec<f32>,
}

impl Backward for DropoutBackward {
    fn backward(&self, dy: Vec<f32>, _needed: &[bool]) -> RuleResult<Vec<Option<Tensor>>> {
        let mut dx = dy;
        dx.iter_mut().zip(&self.multiplier).for_each(|(d, m)| *d *= m);
        Ok(vec![grad(&self.shape, dx)?, None, None])
    }
}
