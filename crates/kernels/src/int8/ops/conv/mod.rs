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
mod depthwise_nhwc;
#[cfg(target_arch = "x86_64")]
mod depthwise_nhwc_vnni;
#[cfg(target_arch = "x86_64")]
mod depthwise_nhwc_vnni_run;
#[cfg(target_arch = "x86_64")]
mod depthwise_vnni;
#[cfg(target_arch = "x86_64")]
mod depthwise_x86;
mod gemm_path;
#[cfg(target_arch = "x86_64")]
mod gemm_vnni_fused;
mod geometry;
mod layout;
mod transpose;

pub use layout::{convert_layout, Layout};

use super::super::isa::Tier;
use super::super::requant::PerChannel;
use super::error::{check_len, Result};
use super::params::{as_bytes_mut, invalid, validate_range, OutputRequant, OutputType};
use crate::f32::ConvGeometry;
use layout::{prefix, Scratch};
use transpose::transpose_bytes;

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
    /// The plane kernels, and the NHWC kernel where this CPU has one.
    Depthwise(depthwise::Depthwise, Option<NhwcDepthwise>),
    Gemm(gemm_path::GemmConv),
}

#[cfg(target_arch = "x86_64")]
use depthwise_nhwc::NhwcDepthwise;

/// Stands in for the NHWC depthwise kernel where there is none.
#[cfg(not(target_arch = "x86_64"))]
#[derive(Debug)]
enum NhwcDepthwise {}

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
        let mut output = OutputRequant {
            multiplier,
            bias,
            zero_point: p.output_zero_point,
            range: p.output_range,
            dtype: p.output_type,
        };
        let algorithm = if geometry.is_depthwise() {
            let dw = depthwise::Depthwise::new(tier, &geometry, p.weights, &weight_zero_points)?;
            output.bias = dw.fold_input_zero_point(&output.bias, zx);
            let nhwc = nhwc_depthwise(tier, &geometry, &dw, &output, p.input_zero_point);
            Algorithm::Depthwise(dw, nhwc)
        } else {
            let gemm = gemm_path::GemmConv::new(
                tier,
                &geometry,
                p.weights,
                weight_zero_points,
                p.input_zero_point,
                &output,
            )?;
            Algorithm::Gemm(gemm)
        };
        Ok(QConv2d {
            geometry,
            tier,
            input_zero_point: p.input_zero_point,
            output,
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
            Algorithm::Depthwise(d, _) => d.kernel_name(),
            Algorithm::Gemm(g) => g.kernel_name(),
        }
    }

    /// Name of the kernel that runs on NHWC activations: the GEMM's microkernel, the NHWC
    /// depthwise kernel, or the plane kernel between transposes where there is none.
    pub fn nhwc_kernel_name(&self) -> &'static str {
        match &self.algorithm {
            #[cfg(target_arch = "x86_64")]
            Algorithm::Depthwise(_, Some(nhwc)) => nhwc.kernel_name(),
            Algorithm::Depthwise(d, _) => d.kernel_name(),
            Algorithm::Gemm(g) => g.kernel_name(),
        }
    }

    /// `x` is u8 `[batch, in_channels, h, w]`; `out` is `[batch, out_channels, oh, ow]`
    /// ([`ConvGeometry::output_hw`]) and is fully overwritten. Needs a u8 output type.
    pub fn run(&self, x: &[u8], batch: usize, h: usize, w: usize, out: &mut [u8]) -> Result<()> {
        self.output.expect_type(OP, OutputType::U8)?;
        self.run_bytes(x, (batch, h, w), (Layout::Nchw, Layout::Nchw), out)
    }

    /// As [`QConv2d::run`] for an i8 output type.
    pub fn run_i8(&self, x: &[u8], batch: usize, h: usize, w: usize, out: &mut [i8]) -> Result<()> {
        self.output.expect_type(OP, OutputType::I8)?;
        self.run_bytes(x, (batch, h, w), (Layout::Nchw, Layout::Nchw), as_bytes_mut(out))
    }

    /// As [`QConv2d::run`] with the input read and the output written in the given
    /// layouts (`[batch, h, w, C]` for NHWC), for the planned output type (i8 outputs as
    /// their two's-complement bytes). NHWC on both sides converts nothing.
    pub fn run_layout(
        &self,
        x: &[u8],
        (batch, h, w): (usize, usize, usize),
        layouts: (Layout, Layout),
        out: &mut [u8],
    ) -> Result<()> {
        self.run_bytes(x, (batch, h, w), layouts, out)
    }

    fn run_bytes(
        &self,
        x: &[u8],
        (batch, h, w): (usize, usize, usize),
        layouts: (Layout, Layout),
        out: &mut [u8],
    ) -> Result<()> {
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
        layout::with_scratch(|scratch| {
            for (xb, ob) in x.chunks_exact(in_len).zip(out.chunks_exact_mut(out_len)) {
                self.run_item(&image, xb, layouts, ob, scratch)?;
            }
            Ok(())
        })
    }

    /// One batch item: converts the input to NHWC and the NHWC result to the output
    /// layout where they differ. Depthwise NCHW to NCHW stays on the plane kernels.
    fn run_item(
        &self,
        image: &Image,
        x: &[u8],
        layouts: (Layout, Layout),
        out: &mut [u8],
        scratch: &mut Scratch,
    ) -> Result<()> {
        let g = &self.geometry;
        if let (Algorithm::Depthwise(d, _), (Layout::Nchw, Layout::Nchw)) = (&self.algorithm, layouts) {
            return d.run(self.tier, g, image, x, &self.output, out);
        }
        let (hw, pixels) = (image.h * image.w, image.oh * image.ow);
        let mut input = std::mem::take(&mut scratch.input);
        let x = match layouts.0 {
            Layout::Nhwc => x,
            Layout::Nchw => {
                let nhwc = prefix(&mut input, x.len());
                transpose_bytes(x, g.in_channels, hw, nhwc);
                nhwc
            }
        };
        let mut output = std::mem::take(&mut scratch.output);
        let result = match layouts.1 {
            Layout::Nhwc => self.run_nhwc(image, x, out, scratch),
            Layout::Nchw => {
                let nhwc = prefix(&mut output, out.len());
                let r = self.run_nhwc(image, x, nhwc, scratch);
                transpose_bytes(nhwc, pixels, g.out_channels, out);
                r
            }
        };
        (scratch.input, scratch.output) = (input, output);
        result
    }

    /// One batch item, NHWC to NHWC.
    fn run_nhwc(&self, image: &Image, x: &[u8], out: &mut [u8], scratch: &mut Scratch) -> Result<()> {
        let g = &self.geometry;
        match &self.algorithm {
            Algorithm::Gemm(m) => m.run_nhwc(g, image, x, &self.output, out, scratch),
            #[cfg(target_arch = "x86_64")]
            Algorithm::Depthwise(_, Some(nhwc)) => {
                nhwc.run(g, image, x, out);
                Ok(())
            }
            Algorithm::Depthwise(d, _) => {
                let (hw, pixels) = (image.h * image.w, image.oh * image.ow);
                let planes_in = prefix(&mut scratch.planes_in, x.len());
                transpose_bytes(x, hw, g.in_channels, planes_in);
                let planes_out = prefix(&mut scratch.planes_out, out.len());
                d.run(self.tier, g, image, planes_in, &self.output, planes_out)?;
                transpose_bytes(planes_out, g.out_channels, pixels, out);
                Ok(())
            }
        }
    }
}

/// The NHWC depthwise kernel for this conv, where the tier's vector class has one.
fn nhwc_depthwise(
    tier: Tier,
    g: &ConvGeometry,
    dw: &depthwise::Depthwise,
    output: &OutputRequant,
    input_zero_point: u8,
) -> Option<NhwcDepthwise> {
    #[cfg(target_arch = "x86_64")]
    {
        let vector = super::vector::Vector::for_tier(tier).ok()?;
        let taps = g.kernel[0] * g.kernel[1];
        (vector == super::vector::Vector::Avx512)
            .then(|| NhwcDepthwise::new(taps, dw.weights(), output, input_zero_point))
            .flatten()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (tier, g, dw, output, input_zero_point);
        None
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
