//! Quantized 2-D convolution (ONNX `QLinearConv` / `ConvInteger` + requantization), NCHW.
//!
//! The algorithm is chosen once, when the weights are prepared:
//! - depthwise (`group == in == out channels`): a direct kernel on zero-point-padded planes,
//!   see [`depthwise`];
//! - everything else, grouped or not: per group, a pixel-major patch matrix (for 1×1
//!   stride-1 unpadded convs, just the transposed input; otherwise an im2col whose padding
//!   is the input zero point, so it contributes exactly zero after the GEMM's zero-point
//!   correction), the u8×i8 GEMM on weights packed at plan time, requantization, and a
//!   byte transpose back to NCHW; see [`gemm_path`].

mod depthwise;
#[cfg(target_arch = "x86_64")]
mod depthwise_vnni;
#[cfg(target_arch = "x86_64")]
mod depthwise_x86;
mod gemm_path;
mod geometry;
mod transpose;

use super::super::isa::Tier;
use super::super::requant::PerChannel;
use super::error::{check_len, Result};
use super::params::{as_bytes_mut, invalid, validate_range, OutputRequant, OutputType};
use crate::f32::ConvGeometry;

/// Everything a quantized convolution needs besides its geometry.
#[derive(Debug, Clone, Copy)]
pub struct QConvParams<'a> {
    /// `[out_channels, in_channels / group, kh, kw]`, row-major.
    pub weights: &'a [i8],
    /// One value, or one per output channel, each in `-128..=127`.
    pub weight_zero_points: PerChannel<'a, i32>,
    pub input_zero_point: u8,
    /// `out_channels` values with scale `x_scale · w_scale[c]`.
    pub bias: Option<&'a [i32]>,
    /// `x_scale · w_scale[c] / y_scale`: one value, or one per output channel.
    pub multiplier: PerChannel<'a, f32>,
    pub output_zero_point: i32,
    /// Inclusive output range after the zero point (the type range, or a fused ReLU/ReLU6).
    pub output_range: (i32, i32),
    pub output_type: OutputType,
}

/// A quantized convolution with weights packed for one tier at plan time.
#[derive(Debug)]
pub struct QConv2d {
    geometry: ConvGeometry,
    tier: Tier,
    input_zero_point: u8,
    output: OutputRequant,
    algorithm: Algorithm,
}

#[derive(Debug)]
enum Algorithm {
    Depthwise(depthwise::Depthwise),
    Gemm(gemm_path::GemmConv),
}

const OP: &str = "QConv2d";

impl QConv2d {
    /// Validates and prepares the convolution for `tier` (which must be available).
    pub fn new(tier: Tier, geometry: ConvGeometry, p: &QConvParams<'_>) -> Result<QConv2d> {
        geometry::validate(&geometry)?;
        let cout = geometry.out_channels;
        check_len("conv weights", geometry.weight_len(), p.weights.len())?;
        let weight_zero_points = expand(p.weight_zero_points, cout, "weight zero points")?;
        if let Some(z) = weight_zero_points.iter().find(|z| !(-128..=127).contains(*z)) {
            return Err(invalid(
                OP,
                format!("weight zero point {z} is outside -128..=127"),
            ));
        }
        let multiplier = expand(p.multiplier, cout, "multipliers")?;
        if let Some(m) = multiplier.iter().find(|m| !(m.is_finite() && **m > 0.0)) {
            return Err(invalid(OP, format!("multiplier {m} must be finite and > 0")));
        }
        let bias = match p.bias {
            Some(b) => {
                check_len("conv bias", cout, b.len())?;
                b.to_vec()
            }
            None => vec![0; cout],
        };
        validate_range(OP, p.output_range, p.output_zero_point, p.output_type)?;
        let zx = i32::from(p.input_zero_point);
        let (algorithm, bias) = if geometry.is_depthwise() {
            let dw = depthwise::Depthwise::new(tier, &geometry, p.weights, &weight_zero_points)?;
            let folded = dw.fold_input_zero_point(&bias, zx);
            (Algorithm::Depthwise(dw), folded)
        } else {
            let gemm = gemm_path::GemmConv::new(tier, &geometry, p.weights, weight_zero_points)?;
            (Algorithm::Gemm(gemm), bias)
        };
        Ok(QConv2d {
            geometry,
            tier,
            input_zero_point: p.input_zero_point,
            output: OutputRequant {
                multiplier,
                bias,
                zero_point: p.output_zero_point,
                range: p.output_range,
                dtype: p.output_type,
            },
            algorithm,
        })
    }

    pub fn geometry(&self) -> &ConvGeometry {
        &self.geometry
    }

    pub fn tier(&self) -> Tier {
        self.tier
    }

    /// Name of the kernel that does the arithmetic, e.g. `avx512_dwconv3x3s1_u8s8` or the
    /// GEMM microkernel's name.
    pub fn kernel_name(&self) -> &'static str {
        match &self.algorithm {
            Algorithm::Depthwise(d) => d.kernel_name(),
            Algorithm::Gemm(g) => g.kernel_name(),
        }
    }

    /// `x` is u8 `[batch, in_channels, h, w]`; `out` is `[batch, out_channels, oh, ow]`
    /// ([`ConvGeometry::output_hw`]) and is fully overwritten. Needs a u8 output type.
    pub fn run(&self, x: &[u8], batch: usize, h: usize, w: usize, out: &mut [u8]) -> Result<()> {
        self.output.expect_type(OP, OutputType::U8)?;
        self.run_bytes(x, batch, h, w, out)
    }

    /// As [`QConv2d::run`] for an i8 output type.
    pub fn run_i8(&self, x: &[u8], batch: usize, h: usize, w: usize, out: &mut [i8]) -> Result<()> {
        self.output.expect_type(OP, OutputType::I8)?;
        self.run_bytes(x, batch, h, w, as_bytes_mut(out))
    }

    fn run_bytes(&self, x: &[u8], batch: usize, h: usize, w: usize, out: &mut [u8]) -> Result<()> {
        let g = &self.geometry;
        let (oh, ow) = g.output_hw(h, w);
        let (in_len, out_len) = (g.in_channels * h * w, g.out_channels * oh * ow);
        check_len("conv input", batch * in_len, x.len())?;
        check_len("conv output", batch * out_len, out.len())?;
        if out_len == 0 || in_len == 0 {
            return Ok(());
        }
        let image = Image {
            h,
            w,
            oh,
            ow,
            zero_point: self.input_zero_point,
        };
        for (xb, ob) in x.chunks_exact(in_len).zip(out.chunks_exact_mut(out_len)) {
            match &self.algorithm {
                Algorithm::Depthwise(d) => d.run(self.tier, g, &image, xb, &self.output, ob)?,
                Algorithm::Gemm(m) => m.run(g, &image, xb, &self.output, ob)?,
            }
        }
        Ok(())
    }
}

/// Sizes of one batch item and its input zero point (the padding value).
pub(super) struct Image {
    pub h: usize,
    pub w: usize,
    pub oh: usize,
    pub ow: usize,
    pub zero_point: u8,
}

fn expand<T: Copy>(v: PerChannel<'_, T>, channels: usize, what: &'static str) -> Result<Vec<T>> {
    match v {
        PerChannel::Same(x) => Ok(vec![x; channels]),
        PerChannel::Each(xs) => {
            check_len(what, channels, xs.len())?;
            Ok(xs.to_vec())
        }
    }
}
