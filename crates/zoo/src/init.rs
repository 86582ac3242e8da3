//! Weight initialisation as torchvision does it, from a seeded generator.
//!
//! PyTorch's fan computation (`_calculate_fan_in_and_fan_out`): for a weight of shape
//! `[out, in/groups, kh, kw]`, `fan_in = in/groups * kh * kw` and
//! `fan_out = out * kh * kw`; groups are *not* divided out of `fan_out`.

use lowbit_graph::builder::BatchNormWeights;
use lowbit_tensor::Tensor;
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal, Uniform};

/// Draws initial weights in model-construction order, so one seed gives one model.
#[derive(Debug)]
pub struct Initializer {
    rng: StdRng,
}

impl Initializer {
    pub fn new(seed: u64) -> Self {
        Initializer {
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// `nn.init.kaiming_normal_(w, mode='fan_out', nonlinearity='relu')`: N(0, 2 / fan_out).
    /// (The default `leaky_relu` with `a=0` has the same gain, sqrt(2).)
    pub fn conv_kaiming_fan_out(&mut self, shape: [usize; 4]) -> Tensor {
        let fan_out = shape[0] * shape[2] * shape[3];
        let std = (2.0 / fan_out as f64).sqrt();
        self.normal(&shape, std)
    }

    /// `nn.init.normal_(w, 0, std)`.
    pub fn normal(&mut self, shape: &[usize], std: f64) -> Tensor {
        let normal = Normal::new(0.0, std).expect("a finite positive std");
        let values = (0..shape.iter().product())
            .map(|_| normal.sample(&mut self.rng) as f32)
            .collect();
        Tensor::new(shape.to_vec(), values).expect("length matches the shape")
    }

    /// U(-bound, bound).
    pub fn uniform(&mut self, shape: &[usize], bound: f64) -> Tensor {
        let uniform = Uniform::new_inclusive(-bound, bound);
        let values = (0..shape.iter().product())
            .map(|_| uniform.sample(&mut self.rng) as f32)
            .collect();
        Tensor::new(shape.to_vec(), values).expect("length matches the shape")
    }

    /// `nn.Linear(in, out)` as constructed: `kaiming_uniform_(a=sqrt(5))` for the weight,
    /// which is U(-1/sqrt(in), 1/sqrt(in)), and the same bound for the bias.
    pub fn linear_default(&mut self, out_features: usize, in_features: usize) -> (Tensor, Tensor) {
        let bound = 1.0 / (in_features as f64).sqrt();
        let weight = self.uniform(&[out_features, in_features], bound);
        let bias = self.uniform(&[out_features], bound);
        (weight, bias)
    }
}

/// `nn.init.zeros_`.
pub fn zeros(shape: &[usize]) -> Tensor {
    Tensor::zeros(lowbit_tensor::DType::F32, shape.to_vec())
}

/// `nn.BatchNorm2d(channels)` after `ones_(weight)`, `zeros_(bias)`: also the state of a
/// fresh module (running mean 0, running variance 1, eps 1e-5).
pub fn batch_norm(channels: usize) -> BatchNormWeights {
    BatchNormWeights::fresh(channels)
}
