//! Broadcasting `Add`, `Sub` and `Mul`. Backward sums the output gradient over every axis an
//! input was broadcast along, so a bias of shape `[C, 1, 1]` gets one value per channel.

use std::sync::Arc;

use lowbit_graph::ops::BinaryOp;
use lowbit_tensor::Tensor;

use super::{broadcast, f32s, grad, input, Backward, Inputs, Step};
use crate::error::RuleResult;

pub(crate) fn forward(kind: BinaryOp, inputs: Inputs) -> RuleResult<Step> {
    let (a, b) = (input(inputs, 0, "A")?, input(inputs, 1, "B")?);
    let out_shape = broadcast::shape(a.shape(), b.shape())?;
    let (map_a, map_b) = (
        broadcast::index_map(&out_shape, a.shape()),
        broadcast::index_map(&out_shape, b.shape()),
    );
    let (av, bv) = (f32s(a, "A")?, f32s(b, "B")?);
    let f = match kind {
        BinaryOp::Sub => |x: f32, y: f32| x - y,
        BinaryOp::Mul => |x: f32, y: f32| x * y,
        _ => |x: f32, y: f32| x + y,
    };
    let y = map_a.iter().zip(&map_b).map(|(&i, &j)| f(av[i], bv[j])).collect();
    let saved = BinaryBackward {
        kind,
        a: a.clone(),
        b: b.clone(),
        map_a,
        map_b,
    };
    Ok(Step::new(Tensor::new(out_shape, y)?, saved))
}

struct BinaryBackward {
    kind: BinaryOp,
    a: Arc<Tensor>,
    b: Arc<Tensor>,
    map_a: Vec<usize>,
    map_b: Vec<usize>,
}

impl Backward for BinaryBackward {
    fn backward(&self, dy: &[f32], needed: &[bool]) -> RuleResult<Vec<Option<Tensor>>> {
        let (av, bv) = (f32s(&self.a, "A")?, f32s(&self.b, "B")?);
        // ∂y/∂a and ∂y/∂b at output element k, as scaled copies of dy.
        let local: Vec<f32>;
        let (da_in, db_in): (&[f32], Vec<f32>) = match self.kind {
            BinaryOp::Sub => (dy, dy.iter().map(|d| -d).collect()),
            BinaryOp::Mul => {
                local = dy.iter().zip(&self.map_b).map(|(d, &j)| d * bv[j]).collect();
                let db = dy.iter().zip(&self.map_a).map(|(d, &i)| d * av[i]).collect();
                (&local, db)
            }
            _ => (dy, dy.to_vec()),
        };
        let side = |want: bool, t: &Tensor, map: &[usize], d: &[f32]| -> RuleResult<Option<Tensor>> {
            if !want {
                return Ok(None);
            }
            grad(t.shape(), broadcast::reduce(d, map, t.len()))
        };
        Ok(vec![
            side(needed[0], &self.a, &self.map_a, da_in)?,
            side(needed[1], &self.b, &self.map_b, &db_in)?,
        ])
    }
}
