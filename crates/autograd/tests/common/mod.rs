//! Gradient checking against central finite differences, shared by the gradcheck tests.
//!
//! The scalar checked is `L = Σ y·R` over the graph's first output `y`, with a fixed random
//! projection `R`, summed in f64. Its analytic gradient comes from back-propagating `R`.
#![allow(dead_code)]

use lowbit_autograd::{Mode, TrainingExecutor};
use lowbit_graph::{Graph, ValueId};
use lowbit_tensor::Tensor;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A tensor of uniform values in `[-scale, scale]` from `seed`.
pub fn random(shape: &[usize], seed: u64, scale: f32) -> Tensor {
    let mut rng = StdRng::seed_from_u64(seed);
    let n = shape.iter().product();
    let values = (0..n).map(|_| rng.gen_range(-scale..=scale)).collect();
    Tensor::new(shape.to_vec(), values).unwrap()
}

/// Finite-difference step and tolerances: `|fd − analytic| ≤ atol + rtol·|fd|`.
#[derive(Debug, Clone, Copy)]
pub struct Tolerance {
    pub eps: f32,
    pub atol: f64,
    pub rtol: f64,
}

/// Linear-in-the-checked-value ops: a large step has no truncation error.
pub const LINEAR: Tolerance = Tolerance {
    eps: 0.1,
    atol: 2e-3,
    rtol: 1e-2,
};

/// Smooth non-linear ops.
pub const SMOOTH: Tolerance = Tolerance {
    eps: 1e-2,
    atol: 5e-3,
    rtol: 2e-2,
};

pub struct GradCheck {
    pub exec: TrainingExecutor,
    pub feeds: Vec<(ValueId, Tensor)>,
    pub mode: Mode,
    projection: Option<Tensor>,
}

impl GradCheck {
    pub fn new(graph: &Graph, feeds: Vec<(ValueId, Tensor)>, mode: Mode) -> Self {
        GradCheck {
            exec: TrainingExecutor::new(graph, 11).unwrap(),
            feeds,
            mode,
            projection: None,
        }
    }

    fn loss(&mut self) -> f64 {
        let tape = self.exec.forward(&self.feeds, self.mode).unwrap();
        let y = tape.output().unwrap();
        let r = self
            .projection
            .get_or_insert_with(|| random(y.shape(), 99, 1.0))
            .clone();
        y.as_slice::<f32>()
            .unwrap()
            .iter()
            .zip(r.as_slice::<f32>().unwrap())
            .map(|(&a, &b)| a as f64 * b as f64)
            .sum()
    }

    fn values_mut(&mut self, id: ValueId) -> &mut [f32] {
        if let Some(pos) = self.feeds.iter().position(|(f, _)| *f == id) {
            return self.feeds[pos].1.as_mut_slice::<f32>().unwrap();
        }
        self.exec.state_mut(id).unwrap().as_mut_slice::<f32>().unwrap()
    }

    /// Checks the gradient of every element of each value in `wrt` (inputs or
    /// initializers) and returns how many elements were compared.
    pub fn check(&mut self, wrt: &[ValueId], tol: Tolerance) -> usize {
        for &id in wrt {
            self.exec.set_requires_grad(id, true);
        }
        self.loss();
        let r = self.projection.clone().unwrap();
        let tape = self.exec.forward(&self.feeds, self.mode).unwrap();
        let out = self.exec.graph().outputs[0];
        let grads = tape.backward(&[(out, r)]).unwrap();
        let mut compared = 0;
        for &id in wrt {
            let name = self.exec.graph().value(id).name.clone();
            let analytic = grads
                .get(id)
                .unwrap_or_else(|| panic!("no gradient for '{name}'"))
                .to_f32_vec();
            for (i, &an) in analytic.iter().enumerate() {
                let original = self.values_mut(id)[i];
                self.values_mut(id)[i] = original + tol.eps;
                let plus = self.loss();
                self.values_mut(id)[i] = original - tol.eps;
                let minus = self.loss();
                self.values_mut(id)[i] = original;
                let fd = (plus - minus) / (2.0 * tol.eps as f64);
                let err = (fd - an as f64).abs();
                assert!(
                    err <= tol.atol + tol.rtol * fd.abs(),
                    "d/d {name}[{i}]: finite difference {fd:.6}, analytic {an:.6} (error {err:.2e})"
                );
                compared += 1;
            }
        }
        compared
    }
}
