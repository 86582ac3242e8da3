//! Integer operators of the INT8 engine, built on the u8×i8 GEMM and requantization.
//!
//! # Quantization convention
//! - Activations are u8, asymmetric, one `(scale, zero_point)` per tensor:
//!   `real = scale · (q − zero_point)`.
//! - Weights are i8, one scale per output channel; their zero points are 0 in the usual
//!   symmetric scheme, but nonzero per-channel values (ONNX `QLinearConv` allows them) are
//!   supported by the convolution and linear kernels at no cost when they are 0.
//! - Bias is i32 with scale `x_scale · w_scale[c]`, so it adds straight onto accumulators.
//! - Outputs are u8 (or i8 where a model asks for it, [`OutputType`]) and are produced by
//!   the crate's requantization rule (`int8::requant`): multiplier
//!   `x_scale · w_scale[c] / y_scale`, round half to even, with a fused clamp range
//!   (ReLU / ReLU6 expressed as an output range, see [`super::requant::activation_range`]).
//!
//! # Layout
//! The ops take NCHW tensors, like the FP32 engine and ONNX, and share its geometry
//! ([`ConvGeometry`], pads `[top, left, bottom, right]`). The GEMM wants u8 activations on
//! its left (`A`, M×K), so convolutions go through GEMM as `patches[pixels × K] ·
//! W^T[K × Cout]`, which is NHWC: a 1×1 stride-1 conv's NHWC input is its patch matrix
//! and its requantized result is its NHWC output, and im2col copies whole channel runs
//! per tap (the weights are reordered to `[ky, kx, ci]` depth at plan time to match).
//! [`QConv2d::run_layout`] therefore also reads and writes NHWC ([`Layout`]), so a runtime
//! that keeps activations NHWC between integer ops converts only at the edges; from NCHW
//! it transposes the input and output per call. Depthwise convs have an NHWC kernel
//! (channels as vector lanes, any filter) and NCHW plane kernels; NCHW to NCHW uses the
//! latter. [`qglobal_avg_pool_nhwc`] reads NHWC too; the other ops are layout-free
//! (elementwise) or NCHW.
//!
//! # Bit-exactness
//! Every op has a scalar path that is its reference; the vector paths (chosen by the
//! [`Tier`](super::Tier) passed in) return the same bits, as the tests check per tier.
//!
//! # Kernel names
//! The grammar of `int8/mod.rs`, with these ops: `dwconv<K>x<K>s<S>` (depthwise, any
//! shape when the size is left out), `qbinary` (qadd/qmul), `quantize`, `dequantize`; e.g.
//! `avx512vnni_dwconv3x3s1_u8s8`, `avx512_dwconv5x5s2_u8s8`, `avx2_dwconv3x3s2_u8s8`,
//! `scalar_dwconv_u8s8`, `avx512_qbinary_u8`, `avx2_quantize_f32`.

mod concat;
mod conv;
mod elementwise;
#[cfg(target_arch = "x86_64")]
mod elementwise_x86;
mod error;
mod linear;
mod lut;
mod params;
mod pool;
mod quantize;
#[cfg(target_arch = "x86_64")]
mod quantize_x86;
mod sign_view;
mod vector;

pub use concat::{qconcat, QInput};
pub use conv::{convert_layout, Layout, QConv2d, QConvParams};
pub use elementwise::{qadd, qmul};
pub use error::{QOpError, Result};
pub use linear::{LinearWeights, QLinear, QLinearDequantized, QLinearParams};
pub use params::{OutputType, QParams};
pub use pool::{qavg_pool2d, qglobal_avg_pool, qglobal_avg_pool_nhwc, qmax_pool2d, PoolQuant};
pub use quantize::{
    dequantize_i8_to_f32, dequantize_u8_to_f32, quantize_linear_f32_to_i8, quantize_linear_f32_to_u8,
    AxisShape, ChannelQuant,
};
pub use sign_view::{i8_view, u8_view, SIGN_FLIP_SHIFT};

pub use crate::f32::{ConvGeometry, PoolGeometry};
