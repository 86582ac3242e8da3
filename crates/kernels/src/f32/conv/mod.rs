//! 2-D convolution, NCHW, with the algorithm picked once when the weights are prepared.
//!
//! - pointwise (1×1, stride 1, no padding): one GEMM `W[Cout, Cin] · X[Cin, H·W]`, no copy;
//! - depthwise (`group == in == out channels`): a direct kernel, see [`depthwise`];
//! - everything else: im2col per group, then GEMM.
//!
//! Bias and activation are applied in one pass over each output plane.

mod depthwise;
mod depthwise_blocks;
mod depthwise_tiles;
mod geometry;
mod im2col;
mod pointwise;
mod tiled_gemm;

pub use geometry::ConvGeometry;

use super::{Activation, KernelError};

/// A convolution with its weights prepared once (layout, algorithm choice) at plan time.
pub struct Conv2d {
    geometry: ConvGeometry,
    /// One value per output channel (zeros when the model has no bias).
    bias: Vec<f32>,
    activation: Activation,
    algorithm: Algorithm,
}

enum Algorithm {
    Pointwise(pointwise::Pointwise),
    Depthwise(depthwise::Depthwise),
    Im2col(im2col::Im2col),
}

impl Conv2d {
    /// `weights` are `[out_channels, in_channels / group, kh, kw]` row-major; `bias` has
    /// `out_channels` values. Fails when the geometry is inconsistent (zero sizes, channels
    /// not divisible by `group`) or a length does not match it.
    pub fn new(
        geometry: ConvGeometry,
        weights: &[f32],
        bias: Option<&[f32]>,
        activation: Activation,
    ) -> Result<Conv2d, KernelError> {
        geometry.validate()?;
        let expected = geometry.weight_len();
        if weights.len() != expected {
            return Err(KernelError::LengthMismatch {
                what: "weights",
                expected,
                actual: weights.len(),
            });
        }
        let bias = match bias {
            Some(b) if b.len() != geometry.out_channels => {
                return Err(KernelError::LengthMismatch {
                    what: "bias",
                    expected: geometry.out_channels,
                    actual: b.len(),
                })
            }
            Some(b) => b.to_vec(),
            None => vec![0.0; geometry.out_channels],
        };
        let algorithm = if geometry.is_depthwise() {
            Algorithm::Depthwise(depthwise::Depthwise::new(&geometry, weights))
        } else if geometry.is_pointwise() {
            Algorithm::Pointwise(pointwise::Pointwise::new(&geometry, weights))
        } else {
            Algorithm::Im2col(im2col::Im2col::new(&geometry, weights))
        };
        Ok(Conv2d {
            geometry,
            bias,
            activation,
            algorithm,
        })
    }

    pub fn geometry(&self) -> &ConvGeometry {
        &self.geometry
    }

    /// `x` is `[batch, in_channels, h, w]`; `out` is `[batch, out_channels, oh, ow]` (see
    /// [`ConvGeometry::output_hw`]) and is fully overwritten. Panics (assert) when a slice is
    /// shorter than these sizes or `h` or `w` is 0.
    pub fn run(&self, x: &[f32], batch: usize, h: usize, w: usize, out: &mut [f32]) {
        let g = &self.geometry;
        let (oh, ow) = g.output_hw(h, w);
        let (in_len, out_len) = (g.in_channels * h * w, g.out_channels * oh * ow);
        assert!(
            x.len() >= batch * in_len,
            "conv: input has {} values, need {}",
            x.len(),
            batch * in_len
        );
        assert!(
            out.len() >= batch * out_len,
            "conv: output has {} values, need {}",
            out.len(),
            batch * out_len
        );
        assert!(h > 0 && w > 0, "conv: empty {h}x{w} input");
        if out_len == 0 {
            return;
        }
        let epilogue = Epilogue {
            bias: &self.bias,
            activation: self.activation,
        };
        for (xb, ob) in x
            .chunks_exact(in_len)
            .zip(out.chunks_exact_mut(out_len))
            .take(batch)
        {
            match &self.algorithm {
                Algorithm::Pointwise(p) => p.run(xb, h * w, ob, &epilogue),
                Algorithm::Depthwise(d) => d.run(g, xb, h, w, ob, &epilogue),
                Algorithm::Im2col(i) => i.run(g, xb, h, w, ob, &epilogue),
            }
        }
    }
}

/// What is applied to every output value after accumulation: `activation(acc + bias[channel])`.
struct Epilogue<'a> {
    bias: &'a [f32],
    activation: Activation,
}

impl Epilogue<'_> {
    /// Applies bias and activation to `planes` whose first channel is `first_channel`.
    fn apply(&self, planes: &mut [f32], plane_len: usize, first_channel: usize) {
        for (plane, &b) in planes
            .chunks_exact_mut(plane_len)
            .zip(&self.bias[first_channel..])
        {
            self.activation.bias_in_place(plane, b);
        }
    }
}
