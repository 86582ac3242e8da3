//! Depthwise convolution (one filter per channel), computed directly per plane.
//!
//! Each channel's plane is copied into a buffer padded with the input zero point, so every
//! output sees exactly `kh·kw` taps and no bounds checks remain in the inner loops. With
//! `w' = w − zw` the accumulator is `Σ x·w' − zx·Σw'`; the second term is a per-channel
//! constant folded into the bias at plan time ([`Depthwise::fold_input_zero_point`]), so
//! the kernels only compute `Σ x·w'` (i32, wrapping, like the GEMM). The vector kernels
//! requantize each vector of sums in registers ([`PlaneKernel`]); the scalar kernel writes
//! an accumulator block that one requantization call per block turns into bytes.
//!
//! 3×3 and 5×5 kernels with stride 1 or 2 and dilation 1 have vector kernels over output
//! width: AVX-512 VNNI ([`super::depthwise_vnni`], when `w − zw` fits i8 and the CPU has
//! VBMI), else AVX-512BW/AVX2 ([`super::depthwise_x86`]); everything else, and the scalar
//! tier, takes [`scalar_dwconv_u8s8`].

use rayon::prelude::*;

use super::super::super::isa::Tier;
use super::super::super::requant::ChannelAxis;
use super::super::error::Result;
use super::super::params::OutputRequant;
use super::super::vector::Vector;
use super::Image;
use crate::f32::ConvGeometry;

/// Bytes readable past the last padded row: vector kernels load whole vectors whose
/// lanes past the row end are computed and discarded.
const OVERREAD: usize = 256;

/// Accumulator bytes per channel block (see [`Depthwise::run`]).
const ACC_BLOCK_BYTES: usize = 64 * 1024;

/// Computes `Σ_ky Σ_kx xp[(oy·s + ky)·pw + ox·s + kx] · w[ky·kw + kx]` over one padded
/// plane `xp` of row stride `pw`, requantizes it with `rq` (the crate's rule, bit for bit)
/// and writes it to `out[oy·ow + ox]` for `dims = (oh, ow)` (two's complement for i8).
///
/// # Safety
/// The CPU has the kernel's features; `xp` holds every row the outputs read plus
/// [`OVERREAD`] bytes; `w` has `kh·kw` values in `-255..=255`; `out` has `oh·ow` bytes.
pub(super) type PlaneKernel =
    unsafe fn(xp: &[u8], pw: usize, w: &[i32], dims: (usize, usize), rq: &ChannelRequant, out: &mut [u8]);

/// One channel's requantization (see `int8::requant`): bounds are minus the zero point.
#[derive(Debug, Clone, Copy)]
pub(super) struct ChannelRequant {
    pub bias: i32,
    pub multiplier: f32,
    pub zero_point: i32,
    pub lo: f32,
    pub hi: f32,
}

#[derive(Debug)]
pub(super) struct Depthwise {
    /// `[C, kh·kw]`, weight minus its channel's zero point.
    weights: Vec<i32>,
    vector: Option<(PlaneKernel, &'static str)>,
}

impl Depthwise {
    pub(super) fn new(
        tier: Tier,
        g: &ConvGeometry,
        weights: &[i8],
        zero_points: &[i32],
    ) -> Result<Depthwise> {
        let vector = Vector::for_tier(tier)?;
        let taps = g.kernel[0] * g.kernel[1];
        let weights: Vec<i32> = weights
            .chunks_exact(taps)
            .zip(zero_points)
            .flat_map(|(k, z)| k.iter().map(move |w| i32::from(*w) - z))
            .collect();
        let vector = select(vector, g, &weights);
        Ok(Depthwise { weights, vector })
    }

    /// `[C, kh·kw]` weights minus their channel's zero point.
    pub(super) fn weights(&self) -> &[i32] {
        &self.weights
    }

    pub(super) fn kernel_name(&self) -> &'static str {
        self.vector.map_or("scalar_dwconv_u8s8", |(_, name)| name)
    }

    /// `bias[c] − zx·Σw'[c]`: the bias that makes `Σ x·w'` the zero-point-corrected sum.
    pub(super) fn fold_input_zero_point(&self, bias: &[i32], zx: i32) -> Vec<i32> {
        let taps = self.weights.len() / bias.len();
        bias.iter()
            .zip(self.weights.chunks_exact(taps))
            .map(|(b, w)| {
                let sum = w.iter().fold(0i32, |s, v| s.wrapping_add(*v));
                b.wrapping_sub(zx.wrapping_mul(sum))
            })
            .collect()
    }

    /// One batch item: `x` is `[C, h, w]`, `out` is `[C, oh, ow]`. Channels go in blocks
    /// (on the scalar path, sized so the block's accumulators stay in L2 until one
    /// requantization call turns them into bytes); blocks run in parallel when the rayon
    /// pool has several threads.
    pub(super) fn run(
        &self,
        tier: Tier,
        g: &ConvGeometry,
        image: &Image,
        x: &[u8],
        output: &OutputRequant,
        out: &mut [u8],
    ) -> Result<()> {
        let (in_plane, out_plane) = (image.h * image.w, image.oh * image.ow);
        let block = (ACC_BLOCK_BYTES / (4 * out_plane)).max(1);
        let taps = g.kernel[0] * g.kernel[1];
        let (oh, ow) = (image.oh, image.ow);
        let one = |scratch: &mut Scratch, (b, (xs, ys)): (usize, (&[u8], &mut [u8]))| -> Result<()> {
            let channels = xs.len() / in_plane;
            let planes = xs.chunks_exact(in_plane).zip(ys.chunks_exact_mut(out_plane));
            if let Some((kernel, _)) = self.vector {
                for (i, (plane, y)) in planes.enumerate() {
                    let c = b * block + i;
                    let pw = scratch.pad(g, image, plane);
                    let w = &self.weights[c * taps..][..taps];
                    let rq = channel_requant(output, c);
                    // SAFETY: `select` checked the CPU features through the tier (and that
                    // weights fit i8 for the VNNI kernels); `pad` left OVERREAD readable
                    // bytes; weights are i8 minus an i8 zero point.
                    unsafe { kernel(&scratch.padded, pw, w, (oh, ow), &rq, y) };
                }
                return Ok(());
            }
            scratch.acc.resize(channels * out_plane, 0);
            for (i, (plane, _)) in planes.enumerate() {
                let c = b * block + i;
                let pw = scratch.pad(g, image, plane);
                let acc = &mut scratch.acc[i * out_plane..][..out_plane];
                scalar_dwconv_u8s8(
                    g,
                    &scratch.padded,
                    pw,
                    &self.weights[c * taps..][..taps],
                    oh,
                    ow,
                    acc,
                );
            }
            let dims = (channels, out_plane);
            output.run(tier, dims, &scratch.acc, ChannelAxis::Rows, b * block, ys)
        };
        let (x, out) = (
            &x[..g.in_channels * in_plane],
            &mut out[..g.out_channels * out_plane],
        );
        if rayon::current_num_threads() > 1 {
            x.par_chunks(block * in_plane)
                .zip(out.par_chunks_mut(block * out_plane))
                .enumerate()
                .try_for_each_init(Scratch::default, one)
        } else {
            let mut scratch = Scratch::default();
            let blocks = x.chunks(block * in_plane).zip(out.chunks_mut(block * out_plane));
            blocks.enumerate().try_for_each(|item| one(&mut scratch, item))
        }
    }
}

fn channel_requant(output: &OutputRequant, c: usize) -> ChannelRequant {
    let zp = output.zero_point;
    ChannelRequant {
        bias: output.bias[c],
        multiplier: output.multiplier[c],
        zero_point: zp,
        lo: (output.range.0 - zp) as f32,
        hi: (output.range.1 - zp) as f32,
    }
}

/// Per-thread buffers: the padded plane and the accumulator plane.
#[derive(Default)]
struct Scratch {
    padded: Vec<u8>,
    /// `(h, w, pads, zero point)` the border of `padded` was last filled for; planes of the
    /// same layout only overwrite the interior.
    layout: Option<(usize, usize, [usize; 4], u8)>,
    acc: Vec<i32>,
}

impl Scratch {
    /// Copies plane `x` into `self.padded` surrounded by the zero point; returns its stride.
    fn pad(&mut self, g: &ConvGeometry, image: &Image, x: &[u8]) -> usize {
        let [top, left, bottom, right] = g.pads;
        let (ph, pw) = (image.h + top + bottom, image.w + left + right);
        let layout = Some((image.h, image.w, g.pads, image.zero_point));
        if self.layout != layout {
            self.padded.clear();
            self.padded.resize(ph * pw + OVERREAD, image.zero_point);
            self.layout = layout;
        }
        for (r, row) in x.chunks_exact(image.w).enumerate() {
            self.padded[(top + r) * pw + left..][..image.w].copy_from_slice(row);
        }
        pw
    }
}

/// Any kernel size, stride and dilation, on a padded plane.
pub(super) fn scalar_dwconv_u8s8(
    g: &ConvGeometry,
    xp: &[u8],
    pw: usize,
    w: &[i32],
    oh: usize,
    ow: usize,
    acc: &mut [i32],
) {
    let [kh, kw] = g.kernel;
    let [sh, sw] = g.strides;
    let [dh, dw] = g.dilations;
    for oy in 0..oh {
        for ox in 0..ow {
            let mut sum = 0i32;
            for ky in 0..kh {
                let row = &xp[(oy * sh + ky * dh) * pw + ox * sw..];
                for kx in 0..kw {
                    sum = sum.wrapping_add(i32::from(row[kx * dw]).wrapping_mul(w[ky * kw + kx]));
                }
            }
            acc[oy * ow + ox] = sum;
        }
    }
}

/// The vector kernel for this shape on `vector`, if there is one.
/// The VNNI kernels come first where the zero-point-adjusted weights fit i8.
fn select(vector: Vector, g: &ConvGeometry, weights: &[i32]) -> Option<(PlaneKernel, &'static str)> {
    let square = g.kernel[0] == g.kernel[1] && g.strides[0] == g.strides[1] && g.dilations == [1, 1];
    if !square {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    {
        let (k, s) = (g.kernel[0], g.strides[0]);
        let fits_i8 = weights.iter().all(|w| (-128..=127).contains(w));
        let vnni = if vector == Vector::Avx512 && fits_i8 {
            super::depthwise_vnni::select(k, s)
        } else {
            None
        };
        vnni.or_else(|| super::depthwise_x86::select(vector, k, s))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (vector, weights);
        None
    }
}
