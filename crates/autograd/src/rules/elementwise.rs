//! Broadcasting `Add`, `Sub` and `Mul`. Backward sums the output gradient over every axis an
//! input was broadcast along, so a bias of shape `[C, 1, 1]` gets one value per channel.
//! Inputs already shaped like the output (residual additions) skip the index maps.

use std::sync::Arc;

use lowbit_graph::ops::BinaryOp;
use lowbit_tensor::Tensor;

use super::{broadcast, f32s, grad, input, Backward, Inputs, Step};
use crate::error::RuleResult;

pub(crate) fn forward(kind: BinaryOp, inputs: Inputs) -> RuleResult<Step> {
    let (a, b) = (input(inputs, 0, "A")?, input(inputs, 1, "B")?);
    let out_shape = broadcast::shape(a.shape(), b.shape())?;
    let (map_a, map_b) = (
        IndexMap::new(&out_shape, a.shape()),
        IndexMap::new(&out_shape, b.shape()),
    );
    let (av, bv) = (f32s(a, "A")?, f32s(b, "B")?);
    let f = match kind {
        BinaryOp::Sub => |x: f32, y: f32| x - y,
        BinaryOp::Mul => |x: f32, y: f32| x * y,
        _ => |x: f32, y: f32| x + y,
    };
    let y = match (&map_a, &map_b) {
        (IndexMap::Same, IndexMap::Same) => av.iter().zip(bv).map(|(&x, &y)| f(x, y)).collect(),
        _ => (0..out_shape.iter().product())
            .map(|k| f(av[map_a.get(k)], bv[map_b.get(k)]))
            .collect(),
    };
    let saved = BinaryBackward {
        kind,
        a: a.clone(),
        b: b.clone(),
        map_a,
        map_b,
    };
    Ok(Step::new(Tensor::new(out_shape, y)?, saved))
}

/// Where each output element reads one input.
enum IndexMap {
    /// The input has the output's shape: element `k` reads element `k`.
    Same,
    /// The input is broadcast: element `k` reads `map[k]`.
    Broadcast(Vec<usize>),
}

impl IndexMap {
    fn new(out: &[usize], input: &[usize]) -> IndexMap {
        if out == input {
            IndexMap::Same
        } else {
            IndexMap::Broadcast(broadcast::index_map(out, input))
        }
    }

    fn get(&self, k: usize) -> usize {
        match self {
            IndexMap::Same => k,
            IndexMap::Broadcast(map) => map[k],
        }
    }

    /// Sums `d` (shaped like the output) back onto an input of `len` values.
    fn reduce(&self, d: Vec<f32>, len: usize) -> Vec<f32> {
        match self {
            IndexMap::Same => d,
            IndexMap::Broadcast(map) => broadcast::reduce(&d, map, len),
        }
    }
}

struct BinaryBackward {
    kind: BinaryOp,
    a: Arc<Tensor>,
    b: Arc<Tensor>,
    map_a: IndexMap,
    map_b: IndexMap,
}

impl Backward for BinaryBackward {
    fn backward(&self, dy: &[f32], needed: &[bool]) -> RuleResult<Vec<Option<Tensor>>> {
        let (av, bv) = (f32s(&self.a, "A")?, f32s(&self.b, "B")?);
        // ∂y/∂a and ∂y/∂b at output element k, as scaled copies of dy.
        let local = |other: &[f32], map: &IndexMap, sign: f32| -> Vec<f32> {
            match (self.kind, map) {
                (BinaryOp::Mul, IndexMap::Same) => dy.iter().zip(other).map(|(d, v)| d * v).collect(),
                (BinaryOp::Mul, IndexMap::Broadcast(m)) => {
                    dy.iter().zip(m).map(|(d, &j)| d * other[j]).collect()
                }
                _ if sign < 0.0 => dy.iter().map(|d| -d).collect(),
                _ => dy.to_vec(),
            }
        };
        let b_sign = if self.kind == BinaryOp::Sub { -1.0 } else { 1.0 };
        let da = if needed[0] {
            grad(
                self.a.shape(),
                self.map_a.reduce(local(bv, &self.map_b, 1.0), self.a.len()),
            )?
        } else {
            None
        };
        let db = if needed[1] {
            grad(
                self.b.shape(),
                self.map_b.reduce(local(av, &self.map_a, b_sign), self.b.len()),
            )?
        } else {
            None
        };
        Ok(vec![da, db])
    }
}
