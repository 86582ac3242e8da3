//! Depthwise convolution (one filter per channel), computed directly on each plane.
//!
//! The hot shapes (3×3 and 5×5, stride 1 or 2) use the register-blocked kernels of
//! [`super::depthwise_tiles`]; other shapes take a tap-by-tap loop over valid output ranges.

use super::depthwise_tiles::{self, PlaneFn, PlaneScratch};
use super::geometry::valid_outputs;
use super::{ConvGeometry, Epilogue};
use rayon::prelude::*;

pub(super) struct Depthwise {
    /// `[C, kh, kw]`.
    weights: Vec<f32>,
    /// Register-blocked kernel for this shape on this CPU, when there is one.
    tiled: Option<PlaneFn>,
}

impl Depthwise {
    pub(super) fn new(g: &ConvGeometry, weights: &[f32]) -> Self {
        let square = g.kernel[0] == g.kernel[1] && g.strides[0] == g.strides[1] && g.dilations == [1, 1];
        let tiled = if square {
            depthwise_tiles::select(g.kernel[0], g.strides[0])
        } else {
            None
        };
        Depthwise {
            weights: weights.to_vec(),
            tiled,
        }
    }

    /// One batch item: `x` is `[C, h, w]`, `out` is `[C, oh, ow]`.
    pub(super) fn run(
        &self,
        g: &ConvGeometry,
        x: &[f32],
        h: usize,
        w: usize,
        out: &mut [f32],
        epilogue: &Epilogue,
    ) {
        let (oh, ow) = g.output_hw(h, w);
        let taps = g.kernel[0] * g.kernel[1];
        let channels = g.out_channels;
        let bounds = epilogue.activation.bounds();
        let one = |scratch: &mut PlaneScratch, (c, (xs, ys)): (usize, (&[f32], &mut [f32]))| {
            let k = &self.weights[c * taps..(c + 1) * taps];
            match self.tiled {
                // SAFETY: `select` returned this kernel only after checking the CPU features it
                // needs; the slices meet its contract (`xs` is h×w, `ys` is oh×ow).
                Some(tiled) => unsafe {
                    tiled(
                        k,
                        xs,
                        [h, w],
                        [g.pads[0], g.pads[1]],
                        scratch,
                        ys,
                        ow,
                        epilogue.bias[c],
                        bounds,
                    )
                },
                None => {
                    plane(g, k, xs, h, w, ys, oh, ow);
                    epilogue.apply(ys, oh * ow, c);
                }
            }
        };
        let (xs, ys) = (&x[..channels * h * w], &mut out[..channels * oh * ow]);
        if oh * ow == 0 {
            return;
        }
        if rayon::current_num_threads() > 1 {
            xs.par_chunks_exact(h * w)
                .zip(ys.par_chunks_exact_mut(oh * ow))
                .enumerate()
                .for_each_init(PlaneScratch::default, one);
        } else {
            // The scratch is taken out of the thread-local rather than borrowed in place, like
            // im2col's, and put back so later layers reuse its allocation.
            let mut scratch = SCRATCH.take();
            scratch.pads_zeroed = false;
            let planes = xs.chunks_exact(h * w).zip(ys.chunks_exact_mut(oh * ow));
            planes.enumerate().for_each(|plane| one(&mut scratch, plane));
            SCRATCH.set(scratch);
        }
    }
}

thread_local! {
    /// Padded-plane scratch of the calling thread for the sequential path.
    static SCRATCH: std::cell::RefCell<PlaneScratch> = std::cell::RefCell::new(PlaneScratch::default());
}

/// Any shape: accumulates tap by tap over the outputs whose input lies inside the plane.
#[allow(clippy::too_many_arguments)]
fn plane(g: &ConvGeometry, k: &[f32], x: &[f32], h: usize, w: usize, out: &mut [f32], oh: usize, ow: usize) {
    out.fill(0.0);
    let [kh, kw] = g.kernel;
    let [sh, sw] = g.strides;
    let [dh, dw] = g.dilations;
    for ky in 0..kh {
        let y_off = (ky * dh) as isize - g.pads[0] as isize;
        let ys = valid_outputs(oh, sh, y_off, h);
        for kx in 0..kw {
            let x_off = (kx * dw) as isize - g.pads[1] as isize;
            let xs = valid_outputs(ow, sw, x_off, w);
            if xs.is_empty() {
                continue;
            }
            let wt = k[ky * kw + kx];
            for oy in ys.clone() {
                let in_row = &x[(oy as isize * sh as isize + y_off) as usize * w..][..w];
                let first = (xs.start as isize * sw as isize + x_off) as usize;
                for (o, i) in out[oy * ow..][xs.clone()]
                    .iter_mut()
                    .zip(in_row[first..].iter().step_by(sw))
                {
                    *o += wt * *i;
                }
            }
        }
    }
}
