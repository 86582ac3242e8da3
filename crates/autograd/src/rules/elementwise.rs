//! Broadcasting `Add`, `Sub` and `Mul`. Backward sums the output gradient over every axis an
//! input was broadcast along, so a bias of shape `[C, 1, 1]` gets one value per channel.
//! Inputs already shaped like the output (residual additions) skip the index maps.

use std::sync::Arc;

use lowbit_graph::ops::BinaryOp;
use lowbit_tensor::Tensor;
use rayon::prelude::*;

use super::{broadcast, f32s, grad, input, Backward, Inputs, Step};
use crate::error::RuleResult;

/// Elements per parallel task of same-shape passes (residual additions).
const PARALLEL_CHUNK: usize = 1 << 14;

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
        (IndexMap::Same, IndexMap::Same) => av
            .par_iter()
            .with_min_len(PARALLEL_CHUNK)
            .zip(bv)
            .map(|(&x, &y)| f(x, y))
            .collect(),
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
    fn backward(&self, dy: Vec<f32>, needed: &[bool]) -> RuleResult<Vec<Option<Tensor>>> {
        let (av, bv) = (f32s(&self.a, "A")?, f32s(&self.b, "B")?);
        let b_sign = if self.kind == BinaryOp::Sub { -1.0 } else { 1.0 };
        // ∂y/∂a and ∂y/∂b at output element k, as scaled copies of dy.
        let local = |dy: &[f32], other: &[f32], map: &IndexMap, sign: f32| -> Vec<f32> {
            match (self.kind, map) {
                (BinaryOp::Mul, IndexMap::Same) => dy.iter().zip(other).map(|(d, v)| d * v).collect(),
                (BinaryOp::Mul, IndexMap::Broadcast(m)) => {
                    dy.iter().zip(m).map(|(d, &j)| d * other[j]).collect()
                }
                _ if sign < 0.0 => dy.iter().map(|d| -d).collect(),
                _ => dy.to_vec(),
            }
        };
        // The last gradient computed takes dY's buffer when it is dY unchanged (an Add's,
        // such as a residual branch's), so at most one copy is made.
        let mut spare = Some(dy);
        let mut local_grad = |slot: usize, last: bool| -> Vec<f32> {
            let (other, other_map, sign) = if slot == 0 {
                (bv, &self.map_b, 1.0)
            } else {
                (av, &self.map_a, b_sign)
            };
            if last && self.kind != BinaryOp::Mul && sign > 0.0 {
                if let Some(dy) = spare.take() {
                    return dy;
                }
            }
            local(spare.as_deref().unwrap_or_default(), other, other_map, sign)
        };
        let da = if needed[0] {
            let local_a = local_grad(0, !needed[1]);
            grad(self.a.shape(), self.map_a.reduce(local_a, self.a.len()))?
        } else {
            None
        };
        let db = if needed[1] {
            let local_b = local_grad(1, true);
            grad(self.b.shape(), self.map_b.reduce(local_b, self.b.len()))?
        } else {
            None
        };
        Ok(vec![da, db])
    }
}
