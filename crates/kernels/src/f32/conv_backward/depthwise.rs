//! Depthwise convolution gradients, one plane at a time.
//!
//! Convolutions whose pads stay within the kernel's reach (all the usual ones) take the
//! whole-plane path of [`super::depthwise_flat`]. Otherwise both gradients walk the same (tap, output row) pairs as the forward pass, each over
//! the contiguous range of output columns whose input column lies inside the plane, so
//! padding needs no branches in the inner loops. With stride 1 those loops read and
//! write consecutive floats and vectorise; wider strides step through the input row.

use std::ops::Range;

use rayon::prelude::*;

use super::depthwise_flat::{FlatPlanes, LANES};
use super::{valid_outputs, ConvInput};
use crate::f32::ConvGeometry;

/// `dX` of a depthwise convolution: `dx[b, c]` is the full correlation of `dy[b, c]` with
/// the flipped filter `c`. `weights` are `[C, 1, kh, kw]`, `dy` is `[batch, C, oh, ow]`,
/// `dx` is `[batch, C, h, w]` and is overwritten.
///
/// Panics (assert) when `g` is not depthwise or a length does not match the sizes.
pub fn depthwise_input_grad(g: &ConvGeometry, input: ConvInput, weights: &[f32], dy: &[f32], dx: &mut [f32]) {
    assert_depthwise(g);
    input.check(g, dx.len(), dy.len(), weights.len());
    let taps = Taps::new(g, input);
    let (plane, out_plane) = (input.h * input.w, taps.oh * taps.ow);
    if plane == 0 {
        return;
    }
    if out_plane == 0 {
        dx.fill(0.0);
        return;
    }
    let tap_count = g.kernel[0] * g.kernel[1];
    let planes = dx.par_chunks_mut(plane).zip(dy.par_chunks(out_plane)).enumerate();
    let filter = |p: usize| &weights[(p % g.in_channels) * tap_count..][..tap_count];
    match FlatPlanes::new(g, input) {
        Some(flat) => planes.for_each_init(
            || flat.input_grad_scratch(),
            |(bordered, pitched), (p, (dx_plane, dy_plane))| {
                dispatch(
                    #[inline(always)]
                    || flat.input_grad_plane(filter(p), dy_plane, bordered, pitched, dx_plane),
                )
            },
        ),
        None => planes.for_each(|(p, (dx_plane, dy_plane))| {
            dispatch(
                #[inline(always)]
                || taps.input_grad_plane(filter(p), dy_plane, dx_plane),
            );
        }),
    }
}

/// `dW` of a depthwise convolution: `dw[c, ky, kx]` sums `dy[b, c, oy, ox]` times the input
/// value that tap read, over the batch and every output position. `x` is the forward
/// input `[batch, C, h, w]`; `dw` is `[C, 1, kh, kw]` and is overwritten.
///
/// Panics (assert) when `g` is not depthwise or a length does not match the sizes.
pub fn depthwise_weight_grad(g: &ConvGeometry, input: ConvInput, x: &[f32], dy: &[f32], dw: &mut [f32]) {
    assert_depthwise(g);
    input.check(g, x.len(), dy.len(), dw.len());
    let taps = Taps::new(g, input);
    let (channels, plane, out_plane) = (g.in_channels, input.h * input.w, taps.oh * taps.ow);
    if out_plane == 0 || plane == 0 {
        dw.fill(0.0);
        return;
    }
    let tap_count = g.kernel[0] * g.kernel[1];
    // The planes of channel `c`, as (x, dy) pairs over the batch.
    let planes = |c: usize| {
        (0..input.batch).map(move |b| {
            let p = b * channels + c;
            (
                &x[p * plane..(p + 1) * plane],
                &dy[p * out_plane..(p + 1) * out_plane],
            )
        })
    };
    let channels_out = dw.par_chunks_mut(tap_count).enumerate();
    match FlatPlanes::new(g, input) {
        Some(flat) => channels_out.for_each_init(
            || (flat.weight_grad_scratch(), vec![[0.0; LANES]; tap_count]),
            |((padded, pitched), lanes), (c, dw_c)| {
                lanes.fill([0.0; LANES]);
                for (x_plane, dy_plane) in planes(c) {
                    dispatch(
                        #[inline(always)]
                        || flat.weight_grad_plane(x_plane, dy_plane, padded, pitched, lanes),
                    );
                }
                for (d, lane) in dw_c.iter_mut().zip(lanes.iter()) {
                    *d = lane.iter().map(|&v| v as f64).sum::<f64>() as f32;
                }
            },
        ),
        None => channels_out.for_each_init(
            || vec![0.0; tap_count * taps.ow],
            |lanes, (c, dw_c)| {
                lanes.fill(0.0);
                for (x_plane, dy_plane) in planes(c) {
                    dispatch(
                        #[inline(always)]
                        || taps.weight_grad_plane(x_plane, dy_plane, lanes),
                    );
                }
                for (d, lane) in dw_c.iter_mut().zip(lanes.chunks_exact(taps.ow)) {
                    *d = lane.iter().sum();
                }
            },
        ),
    }
}

/// Runs `plane` through an AVX-512F-compiled frame when the CPU has it. `plane` and the
/// loops it calls are `#[inline(always)]`, so they are compiled inside that frame and
/// vectorise with 16 lanes.
#[inline(always)]
fn dispatch(plane: impl FnOnce()) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx512f") {
        #[target_feature(enable = "avx512f")]
        unsafe fn avx512(plane: impl FnOnce()) {
            plane()
        }
        // SAFETY: the CPU supports AVX-512F (checked just above).
        unsafe { avx512(plane) };
        return;
    }
    plane()
}

fn assert_depthwise(g: &ConvGeometry) {
    assert!(
        g.group == g.in_channels && g.group == g.out_channels,
        "depthwise backward: geometry is not depthwise: {g:?}"
    );
    assert!(
        !g.kernel.contains(&0) && !g.strides.contains(&0) && !g.dilations.contains(&0),
        "depthwise backward: zero kernel, stride or dilation in {g:?}"
    );
}

/// Where one kernel tap lands along an axis: the outputs whose input is inside the plane,
/// and the input index of the first of them (the next ones follow at the stride).
#[derive(Debug, Clone)]
struct Tap {
    outputs: Range<usize>,
    first_input: usize,
}

/// Per-axis tap placement of one convolution on one input size, shared by every plane.
struct Taps {
    rows: Vec<Tap>,
    cols: Vec<Tap>,
    strides: [usize; 2],
    w: usize,
    oh: usize,
    ow: usize,
}

impl Taps {
    fn new(g: &ConvGeometry, input: ConvInput) -> Taps {
        let (oh, ow) = g.output_hw(input.h, input.w);
        let axis = |a: usize, size: usize, count: usize| -> Vec<Tap> {
            (0..g.kernel[a])
                .map(|k| {
                    let offset = (k * g.dilations[a]) as isize - g.pads[a] as isize;
                    let outputs = valid_outputs(count, g.strides[a], offset, size);
                    let first = outputs.start as isize * g.strides[a] as isize + offset;
                    Tap {
                        first_input: first.max(0) as usize,
                        outputs,
                    }
                })
                .collect()
        };
        Taps {
            rows: axis(0, input.h, oh),
            cols: axis(1, input.w, ow),
            strides: g.strides,
            w: input.w,
            oh,
            ow,
        }
    }

    /// Every (tap index, row tap, column tap) with at least one valid output.
    fn each(&self) -> impl Iterator<Item = (usize, &Tap, &Tap)> {
        let kw = self.cols.len();
        self.rows.iter().enumerate().flat_map(move |(ky, row)| {
            self.cols
                .iter()
                .enumerate()
                .filter(move |(_, col)| !row.outputs.is_empty() && !col.outputs.is_empty())
                .map(move |(kx, col)| (ky * kw + kx, row, col))
        })
    }

    /// Input rows paired with the output rows that read them through `row`.
    fn row_pairs(&self, row: &Tap) -> impl Iterator<Item = (usize, usize)> {
        let (first, stride) = (row.first_input, self.strides[0]);
        row.outputs
            .clone()
            .enumerate()
            .map(move |(n, oy)| (first + n * stride, oy))
    }

    #[inline(always)]
    /// `dx_plane = Σ_taps filter[tap] · (dy_plane scattered to the inputs the tap read)`.
    fn input_grad_plane(&self, filter: &[f32], dy_plane: &[f32], dx_plane: &mut [f32]) {
        dx_plane.fill(0.0);
        let (w, ow, sw) = (self.w, self.ow, self.strides[1]);
        for (tap, row, col) in self.each() {
            let weight = filter[tap];
            for (iy, oy) in self.row_pairs(row) {
                let dy_row = &dy_plane[oy * ow..][col.outputs.clone()];
                let dx_row = &mut dx_plane[iy * w + col.first_input..(iy + 1) * w];
                if sw == 1 {
                    for (d, &g) in dx_row.iter_mut().zip(dy_row) {
                        *d += weight * g;
                    }
                } else {
                    for (d, &g) in dx_row.iter_mut().step_by(sw).zip(dy_row) {
                        *d += weight * g;
                    }
                }
            }
        }
    }

    #[inline(always)]
    /// Adds `dy_plane · (the inputs each tap read)` elementwise into `lanes`, one row of
    /// `ow` partial sums per tap, so the reduction to one value per tap happens once.
    fn weight_grad_plane(&self, x_plane: &[f32], dy_plane: &[f32], lanes: &mut [f32]) {
        let (w, ow, sw) = (self.w, self.ow, self.strides[1]);
        for (tap, row, col) in self.each() {
            let lane = &mut lanes[tap * ow..][..col.outputs.len()];
            for (iy, oy) in self.row_pairs(row) {
                let dy_row = &dy_plane[oy * ow..][col.outputs.clone()];
                let x_row = &x_plane[iy * w + col.first_input..(iy + 1) * w];
                if sw == 1 {
                    for ((acc, &g), &v) in lane.iter_mut().zip(dy_row).zip(x_row) {
                        *acc += g * v;
                    }
                } else {
                    for ((acc, &g), &v) in lane.iter_mut().zip(dy_row).zip(x_row.iter().step_by(sw)) {
                        *acc += g * v;
                    }
                }
            }
        }
    }
}
