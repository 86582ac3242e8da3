//! Convolution as GEMM: pixel-major patches (u8, M = pixels) times packed weights
//! (i8, K = kh · kw · in_channels/group, N = out_channels/group), one GEMM per group.
//!
//! The group's input planes are first transposed to pixel-major (NHWC) order, so a patch
//! row is `kh·kw` contiguous copies of `in_channels/group` bytes rather than a byte-by-byte
//! gather; the weights are reordered to the matching `[ky, kx, ci]` depth order at plan
//! time. For a pointwise conv the transposed input is the patch matrix itself.

use rayon::prelude::*;

use super::super::super::config::gemm_kernel_name;
use super::super::super::gemm::{gemm_u8i8_i32, BZeroPoints};
use super::super::super::isa::Tier;
use super::super::super::packed::{PackedWeights, WeightLayout};
use super::super::super::requant::ChannelAxis;
use super::super::error::Result;
use super::super::params::OutputRequant;
use super::geometry::is_pointwise;
use super::transpose::transpose_bytes;
use super::Image;
use crate::f32::ConvGeometry;

#[derive(Debug)]
pub(super) struct GemmConv {
    /// One packed `K × N` matrix per group.
    packed: Vec<PackedWeights>,
    /// Per output channel.
    weight_zero_points: Vec<i32>,
    pointwise: bool,
}

impl GemmConv {
    pub(super) fn new(
        tier: Tier,
        g: &ConvGeometry,
        weights: &[i8],
        weight_zero_points: Vec<i32>,
    ) -> Result<GemmConv> {
        let (k, n) = (
            g.in_channels / g.group * g.kernel[0] * g.kernel[1],
            g.out_channels / g.group,
        );
        let packed = weights
            .chunks_exact(k * n)
            .map(|group_weights| {
                let reordered =
                    channels_last(group_weights, g.in_channels / g.group, g.kernel[0] * g.kernel[1]);
                PackedWeights::pack(tier, WeightLayout::NByK, k, n, &reordered)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(GemmConv {
            packed,
            weight_zero_points,
            pointwise: is_pointwise(g),
        })
    }

    pub(super) fn kernel_name(&self) -> &'static str {
        gemm_kernel_name(self.packed[0].tier())
    }

    /// One batch item: `x` is `[Cin, h, w]`, `out` is `[Cout, oh, ow]`.
    pub(super) fn run(
        &self,
        g: &ConvGeometry,
        image: &Image,
        x: &[u8],
        output: &OutputRequant,
        out: &mut [u8],
    ) -> Result<()> {
        let (cin_g, cout_g) = (g.in_channels / g.group, g.out_channels / g.group);
        let (hw, pixels) = (image.h * image.w, image.oh * image.ow);
        let k = self.packed[0].k();
        let mut pixel_major_input = vec![0u8; hw * cin_g];
        let mut patches = vec![0u8; if self.pointwise { 0 } else { pixels * k }];
        let mut acc = vec![0i32; pixels * cout_g];
        let mut pixel_major = vec![0u8; pixels * cout_g];
        for (group, packed) in self.packed.iter().enumerate() {
            let xg = &x[group * cin_g * hw..][..cin_g * hw];
            transpose_bytes(xg, cin_g, hw, &mut pixel_major_input);
            if !self.pointwise {
                im2col(g, image, cin_g, &pixel_major_input, &mut patches);
            }
            let patches = if self.pointwise {
                &pixel_major_input
            } else {
                &patches
            };
            let first = group * cout_g;
            let zb = BZeroPoints::PerColumn(&self.weight_zero_points[first..first + cout_g]);
            let za = i32::from(image.zero_point);
            gemm_u8i8_i32(pixels, patches, k, za, packed, zb, &mut acc)?;
            let dims = (pixels, cout_g);
            output.run(
                packed.tier(),
                dims,
                &acc,
                ChannelAxis::Columns,
                first,
                &mut pixel_major,
            )?;
            transpose_bytes(
                &pixel_major,
                pixels,
                cout_g,
                &mut out[first * pixels..][..cout_g * pixels],
            );
        }
        Ok(())
    }
}

/// `[co, ci, taps]` weights reordered to `[co, taps, ci]`.
fn channels_last(weights: &[i8], channels: usize, taps: usize) -> Vec<i8> {
    let mut out = vec![0i8; weights.len()];
    for (src, dst) in weights
        .chunks_exact(channels * taps)
        .zip(out.chunks_exact_mut(channels * taps))
    {
        for ci in 0..channels {
            for t in 0..taps {
                dst[t * channels + ci] = src[ci * taps + t];
            }
        }
    }
    out
}

/// Pixel-major patch matrix from a pixel-major input `x` (`[h, w, channels]`): row
/// `oy·ow + ox` holds, for each tap `(ky, kx)`, the `channels` input bytes under it, or the
/// input zero point where the tap covers padding. Output rows are filled in parallel when
/// the rayon pool has several threads.
fn im2col(g: &ConvGeometry, image: &Image, channels: usize, x: &[u8], patches: &mut [u8]) {
    let k = channels * g.kernel[0] * g.kernel[1];
    debug_assert_eq!(patches.len(), image.oh * image.ow * k);
    let fill = |(oy, rows): (usize, &mut [u8])| im2col_row(g, image, channels, x, oy, rows);
    if rayon::current_num_threads() > 1 {
        patches.par_chunks_mut(image.ow * k).enumerate().for_each(fill);
    } else {
        patches.chunks_mut(image.ow * k).enumerate().for_each(fill);
    }
}

/// The patch rows of output row `oy`.
fn im2col_row(g: &ConvGeometry, image: &Image, channels: usize, x: &[u8], oy: usize, rows: &mut [u8]) {
    let [kh, kw] = g.kernel;
    let [sh, sw] = g.strides;
    let [dh, dw] = g.dilations;
    let (h, w, zp) = (image.h as isize, image.w as isize, image.zero_point);
    for (ox, row) in rows.chunks_exact_mut(channels * kh * kw).enumerate() {
        for (t, tap) in row.chunks_exact_mut(channels).enumerate() {
            let (ky, kx) = (t / kw, t % kw);
            let iy = (oy * sh + ky * dh) as isize - g.pads[0] as isize;
            let ix = (ox * sw + kx * dw) as isize - g.pads[1] as isize;
            if (0..h).contains(&iy) && (0..w).contains(&ix) {
                let at = (iy as usize * image.w + ix as usize) * channels;
                tap.copy_from_slice(&x[at..at + channels]);
            } else {
                tap.fill(zp);
            }
        }
    }
}
