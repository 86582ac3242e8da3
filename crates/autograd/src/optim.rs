//! Stochastic gradient descent with momentum and weight decay, as `torch.optim.SGD`:
//! `g ← g + λ·w`, `v ← μ·v + g`, `w ← w − lr·v` (the first step sets `v = g`).
//! The velocity can be read and restored by value *name*, so that a checkpointed run
//! resumes bit-exactly on a re-imported graph (whose value ids differ).

use std::collections::HashMap;

use lowbit_graph::{Graph, ValueId};

use crate::error::{AutogradError, Result};
use crate::executor::{Gradients, TrainingExecutor};

#[derive(Debug, Clone)]
pub struct Sgd {
    pub lr: f32,
    pub momentum: f32,
    pub weight_decay: f32,
    velocity: HashMap<ValueId, Vec<f32>>,
}

impl Sgd {
    pub fn new(lr: f32, momentum: f32, weight_decay: f32) -> Self {
        Sgd {
            lr,
            momentum,
            weight_decay,
            velocity: HashMap::new(),
        }
    }

    /// Updates every trainable parameter of `executor` that has a gradient.
    pub fn step(&mut self, executor: &mut TrainingExecutor, grads: &Gradients) -> Result<()> {
        for (id, g) in grads.iter() {
            let name = executor.graph().value(id).name.clone();
            let Some(param) = executor.state_mut(id) else {
                continue;
            };
            let w = param.as_mut_slice::<f32>()?;
            let g = g.as_slice::<f32>()?;
            if w.len() != g.len() {
                return Err(AutogradError::Invalid(format!(
                    "gradient of '{name}' has {} values for {} weights",
                    g.len(),
                    w.len()
                )));
            }
            let first = !self.velocity.contains_key(&id);
            let v = self.velocity.entry(id).or_insert_with(|| vec![0.0; w.len()]);
            for ((w, &g), v) in w.iter_mut().zip(g).zip(v.iter_mut()) {
                let g = g + self.weight_decay * *w;
                *v = if first { g } else { self.momentum * *v + g };
                *w -= self.lr * *v;
            }
        }
        Ok(())
    }

    /// The velocity of every parameter stepped so far, by value name (sorted).
    pub fn velocity_by_name(&self, graph: &Graph) -> Vec<(String, &[f32])> {
        let mut named: Vec<(String, &[f32])> = self
            .velocity
            .iter()
            .map(|(&id, v)| (graph.value(id).name.clone(), v.as_slice()))
            .collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        named
    }

    /// Replaces the velocity with `named` (from [`Sgd::velocity_by_name`]), checking each
    /// against the size of the initializer of that name in `graph`.
    pub fn set_velocity_by_name(&mut self, graph: &Graph, named: Vec<(String, Vec<f32>)>) -> Result<()> {
        let mut velocity = HashMap::new();
        for (name, values) in named {
            let id = graph.find_value(&name).ok_or_else(|| {
                AutogradError::Invalid(format!("velocity for '{name}', which the model lacks"))
            })?;
            let expected = graph.initializers.get(&id).map(|t| t.len());
            if expected != Some(values.len()) {
                return Err(AutogradError::Invalid(format!(
                    "velocity for '{name}' has {} values, the parameter {expected:?}",
                    values.len()
                )));
            }
            velocity.insert(id, values);
        }
        self.velocity = velocity;
        Ok(())
    }
}
