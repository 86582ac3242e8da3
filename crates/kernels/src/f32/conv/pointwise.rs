//! 1×1, stride-1, unpadded convolution: a single GEMM over the input as it lies in memory.

use super::tiled_gemm::{gemm_bias_act, Rhs};
use super::{ConvGeometry, Epilogue};

pub(super) struct Pointwise {
    /// `[Cout, Cin]` row-major.
    weights: Vec<f32>,
    out_channels: usize,
    in_channels: usize,
}

impl Pointwise {
    pub(super) fn new(g: &ConvGeometry, weights: &[f32]) -> Self {
        Pointwise {
            weights: weights.to_vec(),
            out_channels: g.out_channels,
            in_channels: g.in_channels,
        }
    }

    /// `x` is `[Cin, hw]`, `out` is `[Cout, hw]` for one batch item.
    pub(super) fn run(&self, x: &[f32], hw: usize, out: &mut [f32], epilogue: &Epilogue) {
        gemm_bias_act(
            self.out_channels,
            hw,
            self.in_channels,
            &self.weights,
            Rhs::Dense(x),
            out,
            epilogue,
            0,
        );
    }
}
