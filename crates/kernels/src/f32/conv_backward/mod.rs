//! Gradients of 2-D convolution (NCHW) for training: the input gradient `dX` and the weight
//! gradient `dW` given the output gradient `dY`.
//!
//! - depthwise (`group == in == out channels`): whole-plane shifted axpys and dot
//!   products (see [`depthwise_flat`]), with direct loops over valid output ranges for
//!   pads wider than the kernel's reach (see [`depthwise`]);
//! - pointwise (1×1, stride 1, unpadded, one group): plain GEMMs over each batch item as it
//!   lies in memory, see [`pointwise`].
//!
//! Every function overwrites its output. Work is split over batch items or channels with
//! rayon inside the caller's pool; GEMMs inside a split run on the calling thread.

mod depthwise;
mod depthwise_flat;
mod pointwise;

pub use depthwise::{depthwise_input_grad, depthwise_weight_grad};
pub use pointwise::{pointwise_input_grad, pointwise_weight_grad};

use super::ConvGeometry;

/// The forward input a gradient belongs to: `batch` items of `[in_channels, h, w]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvInput {
    pub batch: usize,
    pub h: usize,
    pub w: usize,
}

impl ConvInput {
    /// Values in one batch item of the input and of the output of `g`.
    fn item_lens(&self, g: &ConvGeometry) -> (usize, usize) {
        let (oh, ow) = g.output_hw(self.h, self.w);
        (g.in_channels * self.h * self.w, g.out_channels * oh * ow)
    }

    /// Asserts the slice lengths of a gradient call: `x_like` holds the input (or its
    /// gradient), `y_like` the output gradient, `w_like` the weights (or their gradient).
    fn check(&self, g: &ConvGeometry, x_like: usize, y_like: usize, w_like: usize) {
        let (in_len, out_len) = self.item_lens(g);
        assert_eq!(x_like, self.batch * in_len, "conv backward: input length");
        assert_eq!(
            y_like,
            self.batch * out_len,
            "conv backward: output gradient length"
        );
        assert_eq!(w_like, g.weight_len(), "conv backward: weight length");
    }
}

/// Outputs `o < count` whose tap `o·stride + offset` lands inside `0..size`, as a range
/// (taps grow with `o`, so the valid ones are contiguous).
fn valid_outputs(count: usize, stride: usize, offset: isize, size: usize) -> std::ops::Range<usize> {
    let (s, size) = (stride as isize, size as isize);
    let lo = if offset >= 0 { 0 } else { (-offset + s - 1) / s };
    let hi = if size > offset {
        (size - offset - 1) / s + 1
    } else {
        0
    };
    let hi = (hi as usize).min(count);
    (lo as usize).min(hi)..hi
}
