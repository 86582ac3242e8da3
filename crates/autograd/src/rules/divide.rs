//! Broadcasting `Div`: `y = a / b`, so `da = dy / b` and `db = −dy · a / b²`, each summed
//! back over the axes its input was broadcast along. QAT's Conv+BN units divide the conv
//! output by the per-channel BatchNorm scale factor.

use std::sync::Arc;

use lowbit_tensor::Tensor;

use super::{broadcast, f32s, grad, input, Backward, Inputs, Step};
use crate::error::RuleResult;

pub(crate) fn forward(inputs: Inputs) -> RuleResult<Step> {
    let (a, b) = (input(inputs, 0, "A")?, input(inputs, 1, "B")?);
    let out_shape = broadcast::shape(a.shape(), b.shape())?;
    let (map_a, map_b) = (
        broadcast::index_map(&out_shape, a.shape()),
        broadcast::index_map(&out_shape, b.shape()),
    );
    let (av, bv) = (f32s(a, "A")?, f32s(b, "B")?);
    let y = map_a.iter().zip(&map_b).map(|(&i, &j)| av[i] / bv[j]).collect();
    let saved = DivBackward {
        a: a.clone(),
        b: b.clone(),
        map_a,
        map_b,
    };
    Ok(Step::new(Tensor::new(out_shape, y)?, saved))
}

struct DivBackward {
    a: Arc<Tensor>,
    b: Arc<Tensor>,
    map_a: Vec<usize>,
    map_b: Vec<usize>,
}

impl Backward for DivBackward {
    fn backward(&self, dy: Vec<f32>, needed: &[bool]) -> RuleResult<Vec<Option<Tensor>>> {
        let dy = dy.as_slice();
        let (av, bv) = (f32s(&self.a, "A")?, f32s(&self.b, "B")?);
        let da = if needed[0] {
            let local: Vec<f32> = dy.iter().zip(&self.map_b).map(|(d, &j)| d / bv[j]).collect();
            grad(
                self.a.shape(),
                broadcast::reduce(&local, &self.map_a, self.a.len()),
            )?
        } else {
            None
        };
        let db = if needed[1] {
            let local: Vec<f32> = dy
                .iter()
                .zip(self.map_a.iter().zip(&self.map_b))
                .map(|(d, (&i, &j))| -d * av[i] / (bv[j] * bv[j]))
                .collect();
            grad(
                self.b.shape(),
                broadcast::reduce(&local, &self.map_b, self.b.len()),
            )?
        } else {
            None
        };
        Ok(vec![da, db])
    }
}
