//! Convolution as GEMM: pixel-major patches (u8, M = pixels) times packed weights
//! (i8, K = in_channels/group · kh · kw, N = out_channels/group), one GEMM per group.

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
        let (k, n) = (g.in_channels / g.group * g.kernel[0] * g.kernel[1], g.out_channels / g.group);
        let packed = weights
            .chunks_exact(k * n)
            .map(|group_weights| PackedWeights::pack(tier, WeightLayout::NByK, k, n, group_weights))
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
        let mut patches = vec![0u8; pixels * k];
        let mut acc = vec![0i32; pixels * cout_g];
        let mut pixel_major = vec![0u8; pixels * cout_g];
        for (group, packed) in self.packed.iter().enumerate() {
            let xg = &x[group * cin_g * hw..][..cin_g * hw];
            if self.pointwise {
                transpose_bytes(xg, cin_g, hw, &mut patches);
            } else {
                im2col(g, image, cin_g, xg, &mut patches);
            }
            let first = group * cout_g;
            let zb = BZeroPoints::PerColumn(&self.weight_zero_points[first..first + cout_g]);
            let za = i32::from(image.zero_point);
            gemm_u8i8_i32(pixels, &patches, k, za, packed, zb, &mut acc)?;
            let dims = (pixels, cout_g);
            output.run(packed.tier(), dims, &acc, ChannelAxis::Columns, first, &mut pixel_major)?;
            transpose_bytes(&pixel_major, pixels, cout_g, &mut out[first * pixels..][..cout_g * pixels]);
        }
        Ok(())
    }
}

/// Pixel-major patch matrix: row `oy·ow + ox` holds, for each input channel, the `kh × kw`
/// window at that output pixel (the weights' `[ci, ky, kx]` order), with the input zero
/// point where the window covers padding.
fn im2col(g: &ConvGeometry, image: &Image, channels: usize, x: &[u8], patches: &mut [u8]) {
    let [kh, kw] = g.kernel;
    let [sh, sw] = g.strides;
    let [dh, dw] = g.dilations;
    let (h, w, zp) = (image.h as isize, image.w as isize, image.zero_point);
    let k = channels * kh * kw;
    for oy in 0..image.oh {
        for ox in 0..image.ow {
            let row = &mut patches[(oy * image.ow + ox) * k..][..k];
            let x0 = (ox * sw) as isize - g.pads[1] as isize;
            let x_inside = x0 >= 0 && (x0 + ((kw - 1) * dw) as isize) < w;
            for (ci, window) in row.chunks_exact_mut(kh * kw).enumerate() {
                let plane = &x[ci * image.h * image.w..][..image.h * image.w];
                for (ky, taps) in window.chunks_exact_mut(kw).enumerate() {
                    let iy = (oy * sh + ky * dh) as isize - g.pads[0] as isize;
                    if iy < 0 || iy >= h {
                        taps.fill(zp);
                        continue;
                    }
                    let in_row = &plane[iy as usize * image.w..][..image.w];
                    if x_inside && dw == 1 {
                        taps.copy_from_slice(&in_row[x0 as usize..x0 as usize + kw]);
                        continue;
                    }
                    for (kx, t) in taps.iter_mut().enumerate() {
                        let ix = x0 + (kx * dw) as isize;
                        *t = if (0..w).contains(&ix) { in_row[ix as usize] } else { zp };
                    }
                }
            }
        }
    }
}
