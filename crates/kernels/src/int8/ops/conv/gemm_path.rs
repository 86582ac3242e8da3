//! Convolution as GEMM: pixel-major patches (u8, M = pixels) times packed weights
//! (i8, K = kh · kw · in_channels/group, N = out_channels/group), one GEMM per group.
//!
//! Activations are NHWC (pixel-major), so a patch row is `kh·kw` contiguous copies of
//! `in_channels/group` bytes rather than a byte-by-byte gather; the weights are reordered
//! to the matching `[ky, kx, ci]` depth order at plan time. For an ungrouped pointwise
//! conv the input is the patch matrix itself and the requantized GEMM result the output.

use rayon::prelude::*;

use super::super::super::config::gemm_kernel_name;
use super::super::super::gemm::{gemm_u8i8_i32, BZeroPoints};
use super::super::super::isa::Tier;
use super::super::super::packed::{PackedWeights, WeightLayout};
use super::super::super::requant::{ChannelAxis, ColumnTable};
use super::super::error::Result;
use super::super::params::OutputRequant;
#[cfg(target_arch = "x86_64")]
use super::gemm_vnni_fused::FusedVnniGemm;
use super::geometry::is_pointwise;
use super::layout::{prefix, Scratch};
use super::Image;
use crate::f32::ConvGeometry;

/// Bytes of i32 accumulators one GEMM call produces before they are requantized: small
/// enough to stay in L2 (and mostly L1), where a whole layer's accumulators (4.8 MB for a
/// 112×112×96 expansion) would go to memory and back.
const ACC_CHUNK_BYTES: usize = 128 * 1024;

/// Output rows (pixels) per GEMM call for `cols` output channels: a multiple of 32 (the
/// largest microkernel height), at least one.
fn chunk_rows(cols: usize) -> usize {
    (ACC_CHUNK_BYTES / (4 * cols.max(1)) / 32).max(1) * 32
}

#[derive(Debug)]
pub(super) struct GemmConv {
    /// Depth of a patch row: `kh · kw · in_channels/group`.
    k: usize,
    multiply: Multiply,
    pointwise: bool,
}

/// How the patch matrix meets the weights.
#[derive(Debug)]
enum Multiply {
    /// The crate's GEMM into i32 accumulators, then a requantize pass.
    Packed {
        /// One packed `K × N` matrix per group.
        packed: Vec<PackedWeights>,
        /// Per output channel.
        weight_zero_points: Vec<i32>,
        /// Per group: its output channels' requantization laid out for whole blocks,
        /// where their period is short enough to table.
        tables: Vec<Option<ColumnTable>>,
    },
    /// The whole conv with requantization in registers, where it applies (one group, the
    /// AVX-512 VNNI tier, weight zero points 0).
    #[cfg(target_arch = "x86_64")]
    Fused(FusedVnniGemm),
}

impl GemmConv {
    pub(super) fn new(
        tier: Tier,
        g: &ConvGeometry,
        weights: &[i8],
        weight_zero_points: Vec<i32>,
        input_zero_point: u8,
        output: &OutputRequant,
    ) -> Result<GemmConv> {
        let (k, n) = (
            g.in_channels / g.group * g.kernel[0] * g.kernel[1],
            g.out_channels / g.group,
        );
        let tier = gemm_tier(tier, k);
        let reordered: Vec<Vec<i8>> = weights
            .chunks_exact(k * n)
            .map(|group_weights| {
                channels_last(group_weights, g.in_channels / g.group, g.kernel[0] * g.kernel[1])
            })
            .collect();
        let pointwise = is_pointwise(g);
        #[cfg(target_arch = "x86_64")]
        if g.group == 1 && tier == Tier::Avx512Vnni {
            if let Some(fused) =
                FusedVnniGemm::new(k, n, &reordered[0], &weight_zero_points, input_zero_point, output)
            {
                let multiply = Multiply::Fused(fused);
                return Ok(GemmConv {
                    k,
                    multiply,
                    pointwise,
                });
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = input_zero_point;
        let multiply = Multiply::Packed {
            packed: reordered
                .iter()
                .map(|group_weights| PackedWeights::pack(tier, WeightLayout::NByK, k, n, group_weights))
                .collect::<Result<Vec<_>, _>>()?,
            weight_zero_points,
            tables: (0..g.group)
                .map(|group| {
                    let channels = group * n..(group + 1) * n;
                    ColumnTable::new(&output.multiplier[channels.clone()], &output.bias[channels])
                })
                .collect(),
        };
        Ok(GemmConv {
            k,
            multiply,
            pointwise,
        })
    }

    pub(super) fn kernel_name(&self) -> &'static str {
        match &self.multiply {
            Multiply::Packed { packed, .. } => gemm_kernel_name(packed[0].tier()),
            #[cfg(target_arch = "x86_64")]
            Multiply::Fused(_) => "avx512vnni_gemm_requant_u8s8_8x32",
        }
    }

    /// One batch item in NHWC: `x` is `[h, w, Cin]`, `out` is `[oh, ow, Cout]`. With one
    /// group, a pointwise conv multiplies `x` itself and every conv requantizes straight
    /// into `out`; grouped convs gather each group's channels through im2col and scatter
    /// its result columns.
    pub(super) fn run_nhwc(
        &self,
        g: &ConvGeometry,
        image: &Image,
        x: &[u8],
        output: &OutputRequant,
        out: &mut [u8],
        scratch: &mut Scratch,
    ) -> Result<()> {
        let (packed, weight_zero_points, tables) = match &self.multiply {
            Multiply::Packed {
                packed,
                weight_zero_points,
                tables,
            } => (packed, weight_zero_points, tables),
            #[cfg(target_arch = "x86_64")]
            Multiply::Fused(fused) => {
                let patches = self.patches(g, image, x, 0, &mut scratch.patches);
                fused.run(image.oh * image.ow, patches, out);
                return Ok(());
            }
        };
        let cout_g = g.out_channels / g.group;
        let pixels = image.oh * image.ow;
        let k = self.k;
        let za = i32::from(image.zero_point);
        let rows = chunk_rows(cout_g).min(pixels);
        let acc = prefix(&mut scratch.acc, rows * cout_g);
        for (group, packed) in packed.iter().enumerate() {
            let patches = self.patches(g, image, x, group, &mut scratch.patches);
            let first = group * cout_g;
            let zb = BZeroPoints::PerColumn(&weight_zero_points[first..first + cout_g]);
            let group_out = prefix(
                &mut scratch.group_output,
                if g.group == 1 { 0 } else { pixels * cout_g },
            );
            for r0 in (0..pixels).step_by(rows) {
                let m = rows.min(pixels - r0);
                let acc = &mut acc[..m * cout_g];
                gemm_u8i8_i32(m, &patches[r0 * k..], k, za, packed, zb, acc)?;
                let tier = packed.tier();
                let out = if g.group == 1 {
                    &mut out[r0 * cout_g..][..m * cout_g]
                } else {
                    &mut group_out[r0 * cout_g..][..m * cout_g]
                };
                match &tables[group] {
                    Some(table) => table.requantize(tier, m, acc, (output.zero_point, output.range), out)?,
                    None => output.run(tier, (m, cout_g), acc, ChannelAxis::Columns, first, out)?,
                }
            }
            if g.group > 1 {
                for (src, dst) in group_out
                    .chunks_exact(cout_g)
                    .zip(out.chunks_exact_mut(g.out_channels))
                {
                    dst[first..first + cout_g].copy_from_slice(src);
                }
            }
        }
        Ok(())
    }

    /// Group `group`'s patch matrix (`pixels × k`): `x` itself for an ungrouped pointwise
    /// conv, else its channels gathered by im2col into `buffer`.
    fn patches<'a>(
        &self,
        g: &ConvGeometry,
        image: &Image,
        x: &'a [u8],
        group: usize,
        buffer: &'a mut Vec<u8>,
    ) -> &'a [u8] {
        if self.pointwise && g.group == 1 {
            return x;
        }
        let patches = prefix(buffer, image.oh * image.ow * self.k);
        let count = g.in_channels / g.group;
        let channels = Channels {
            first: group * count,
            count,
            stride: g.in_channels,
        };
        im2col(g, image, channels, x, patches);
        patches
    }
}

/// The tier whose GEMM runs a conv of depth `k` on `tier`. AMX multiplies 64-deep K steps
/// from A tiles it packs per block; for a shallow K (the expansion convs of small
/// channel counts, a 3-channel stem) most of each step is zero padding and the packing
/// costs more than AMX saves, while AVX-512 VNNI reads the NHWC rows in place. Both
/// return the same bits.
fn gemm_tier(tier: Tier, k: usize) -> Tier {
    const AMX_MIN_K: usize = 128;
    if tier == Tier::Amx && k < AMX_MIN_K && Tier::Avx512Vnni.is_available() {
        Tier::Avx512Vnni
    } else {
        tier
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

/// The input channels one group reads from an NHWC pixel of `stride` channels.
#[derive(Clone, Copy)]
struct Channels {
    first: usize,
    count: usize,
    stride: usize,
}

/// Pixel-major patch matrix from an NHWC input `x` (`[h, w, stride]`): row `oy·ow + ox`
/// holds, for each tap `(ky, kx)`, the group's `count` input bytes under it, or the input
/// zero point where the tap covers padding. Output rows are filled in parallel when the
/// rayon pool has several threads.
fn im2col(g: &ConvGeometry, image: &Image, channels: Channels, x: &[u8], patches: &mut [u8]) {
    let k = channels.count * g.kernel[0] * g.kernel[1];
    debug_assert_eq!(patches.len(), image.oh * image.ow * k);
    let fill = |(oy, rows): (usize, &mut [u8])| im2col_row(g, image, channels, x, oy, rows);
    if rayon::current_num_threads() > 1 {
        patches.par_chunks_mut(image.ow * k).enumerate().for_each(fill);
    } else {
        patches.chunks_mut(image.ow * k).enumerate().for_each(fill);
    }
}

/// The patch rows of output row `oy`. Where a filter row lies inside the image with
/// undilated taps over all of a pixel's channels, its taps are one contiguous run of
/// input bytes, copied at once (for a 3-channel stem, 9 bytes instead of three 3-byte
/// copies, each a `memcpy` call).
fn im2col_row(g: &ConvGeometry, image: &Image, channels: Channels, x: &[u8], oy: usize, rows: &mut [u8]) {
    let [kh, kw] = g.kernel;
    let [sh, sw] = g.strides;
    let [dh, dw] = g.dilations;
    let (h, w, zp) = (image.h as isize, image.w as isize, image.zero_point);
    let whole_pixels = channels.count == channels.stride && dw == 1;
    let run = kw * channels.count;
    for (ox, row) in rows.chunks_exact_mut(channels.count * kh * kw).enumerate() {
        let left = (ox * sw) as isize - g.pads[1] as isize;
        let inside = left >= 0 && left + kw as isize <= w;
        for (ky, filter_row) in row.chunks_exact_mut(run).enumerate() {
            let iy = (oy * sh + ky * dh) as isize - g.pads[0] as isize;
            if !(0..h).contains(&iy) {
                filter_row.fill(zp);
            } else if whole_pixels && inside {
                let at = (iy as usize * image.w + left as usize) * channels.stride;
                copy_short(&x[at..at + run], filter_row);
            } else {
                for (kx, tap) in filter_row.chunks_exact_mut(channels.count).enumerate() {
                    let ix = left + (kx * dw) as isize;
                    if (0..w).contains(&ix) {
                        let at = (iy as usize * image.w + ix as usize) * channels.stride + channels.first;
                        copy_short(&x[at..at + channels.count], tap);
                    } else {
                        tap.fill(zp);
                    }
                }
            }
        }
    }
}

/// `dst.copy_from_slice(src)` without a library call for the few bytes of a shallow
/// conv's taps: up to 16 bytes move as two overlapping fixed-size copies.
fn copy_short(src: &[u8], dst: &mut [u8]) {
    let n = dst.len();
    match n {
        8..=16 => {
            dst[..8].copy_from_slice(&src[..8]);
            dst[n - 8..].copy_from_slice(&src[n - 8..]);
        }
        4..=7 => {
            dst[..4].copy_from_slice(&src[..4]);
            dst[n - 4..].copy_from_slice(&src[n - 4..]);
        }
        0..=3 => {
            for (d, s) in dst.iter_mut().zip(src) {
                *d = *s;
            }
        }
        _ => dst.copy_from_slice(src),
    }
}
