//! General (k×k, strided, dilated, grouped) convolution: GEMM over im2col patches, which are
//! produced one column tile at a time into a cache-sized panel (see [`Rhs::Panels`]) instead of
//! as a whole patch matrix, so they are still in L2 when the GEMM reads them.

use super::geometry::valid_outputs;
use super::tiled_gemm::{gemm_bias_act, Rhs};
use super::{ConvGeometry, Epilogue};
use std::ops::Range;

pub(super) struct Im2col {
    /// `[Cout, Cin/group · kh · kw]` row-major, as the model gives them.
    weights: Vec<f32>,
}

impl Im2col {
    pub(super) fn new(_g: &ConvGeometry, weights: &[f32]) -> Self {
        Im2col {
            weights: weights.to_vec(),
        }
    }

    /// One batch item: `x` is `[Cin, h, w]`, `out` is `[Cout, oh, ow]`.
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
        let ohw = oh * ow;
        let (cin, cout) = (g.in_per_group(), g.out_per_group());
        let depth = cin * g.kernel[0] * g.kernel[1];
        for group in 0..g.group {
            let x_g = &x[group * cin * h * w..(group + 1) * cin * h * w];
            let fill = |c0: usize, nc: usize, stride: usize, panel: &mut [f32]| {
                fill_panel(g, x_g, [h, w], c0..c0 + nc, stride, panel)
            };
            let weights = &self.weights[group * cout * depth..(group + 1) * cout * depth];
            let out_g = &mut out[group * cout * ohw..(group + 1) * cout * ohw];
            gemm_bias_act(
                cout,
                ohw,
                depth,
                weights,
                Rhs::Panels(&fill),
                out_g,
                epilogue,
                group * cout,
            );
        }
    }
}

/// Writes columns `cols` (flat output positions `oy · ow + ox`) of the `[cin · kh · kw, oh · ow]`
/// patch matrix of one group's input `x` (`[cin, h, w]`) as a row-major `[.., cols.len()]`
/// panel with row stride `stride`; the first `cols.len()` values of every row are overwritten.
fn fill_panel(
    g: &ConvGeometry,
    x: &[f32],
    [h, w]: [usize; 2],
    cols: Range<usize>,
    stride: usize,
    panel: &mut [f32],
) {
    let (oh, ow) = g.output_hw(h, w);
    let [kh, kw] = g.kernel;
    let [sh, sw] = g.strides;
    let [dh, dw] = g.dilations;
    let mut rows = panel.chunks_mut(stride);
    for plane in x.chunks_exact(h * w) {
        for ky in 0..kh {
            let y_off = (ky * dh) as isize - g.pads[0] as isize;
            let ys = valid_outputs(oh, sh, y_off, h);
            for kx in 0..kw {
                let x_off = (kx * dw) as isize - g.pads[1] as isize;
                let xs = valid_outputs(ow, sw, x_off, w);
                let mut row = &mut rows.next().expect("panel sized for cin·kh·kw rows")[..cols.len()];
                // Walk the output rows that the column range crosses, one segment each.
                let mut p = cols.start;
                while p < cols.end {
                    let (oy, ox0) = (p / ow, p % ow);
                    let ox1 = ow.min(ox0 + cols.end - p);
                    let (segment, rest) = row.split_at_mut(ox1 - ox0);
                    if ys.contains(&oy) {
                        let in_row = &plane[(oy as isize * sh as isize + y_off) as usize * w..][..w];
                        fill_segment(segment, ox0, &xs, in_row, sw, x_off);
                    } else {
                        segment.fill(0.0);
                    }
                    row = rest;
                    p += ox1 - ox0;
                }
            }
        }
    }
}

/// Outputs `ox0..ox0 + segment.len()` of one patch row: the input value each reads from
/// `in_row` when `ox` is in `valid`, else zero.
fn fill_segment(
    segment: &mut [f32],
    ox0: usize,
    valid: &Range<usize>,
    in_row: &[f32],
    sw: usize,
    x_off: isize,
) {
    let ox1 = ox0 + segment.len();
    let (lo, hi) = (valid.start.clamp(ox0, ox1), valid.end.clamp(ox0, ox1));
    if lo >= hi {
        segment.fill(0.0);
        return;
    }
    segment[..lo - ox0].fill(0.0);
    segment[hi - ox0..].fill(0.0);
    let first = (lo as isize * sw as isize + x_off) as usize;
    let dst = &mut segment[lo - ox0..hi - ox0];
    match sw {
        1 => dst.copy_from_slice(&in_row[first..first + dst.len()]),
        2 => copy_even(dst, &in_row[first..]),
        _ => dst
            .iter_mut()
            .enumerate()
            .for_each(|(i, d)| *d = in_row[first + i * sw]),
    }
}

/// `dst[i] = src[2 · i]` for every `i` of `dst`; `src` holds at least `2 · dst.len() − 1` values.
fn copy_even(dst: &mut [f32], src: &[f32]) {
    let src = &src[..(2 * dst.len()).saturating_sub(1)];
    #[allow(unused_mut)]
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if dst.len() >= 16 && std::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU supports AVX-512F (checked just above).
        done = unsafe { avx512_copy_even(dst, src) };
    }
    for (i, d) in dst.iter_mut().enumerate().skip(done) {
        *d = src[2 * i];
    }
}

/// [`copy_even`] over whole blocks of 16 outputs (each reading 32 inputs that lie inside
/// `src`); returns how many outputs it wrote.
///
/// # Safety
/// The CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn avx512_copy_even(dst: &mut [f32], src: &[f32]) -> usize {
    use std::arch::x86_64::*;
    let blocks = (dst.len() / 16).min(src.len() / 32);
    let evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    for b in 0..blocks {
        // SAFETY: block b reads src[32b..32b + 32] and writes dst[16b..16b + 16], both in bounds
        // by the choice of `blocks`.
        unsafe {
            let lo = _mm512_loadu_ps(src.as_ptr().add(32 * b));
            let hi = _mm512_loadu_ps(src.as_ptr().add(32 * b + 16));
            _mm512_storeu_ps(
                dst.as_mut_ptr().add(16 * b),
                _mm512_permutex2var_ps(lo, evens, hi),
            );
        }
    }
    blocks * 16
}
