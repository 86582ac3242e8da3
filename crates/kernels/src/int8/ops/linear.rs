//! Quantized Linear / Gemm / MatMul with constant i8 weights: `y = x · W^T (+ bias)`.
//!
//! [`QLinear`] requantizes to u8/i8 (static quantization); [`QLinearDequantized`] returns
//! f32 for dynamic quantization, `y[i][c] = f32(acc[i][c]) · (x_scale · w_scale[c]) +
//! bias[c]`, a multiply then an add (no FMA), so it is reproducible everywhere.

use super::super::gemm::{gemm_u8i8_i32, BZeroPoints};
use super::super::isa::Tier;
use super::super::packed::{PackedWeights, WeightLayout};
use super::super::requant::{ChannelAxis, PerChannel};
use super::error::{check_len, Result};
use super::params::{as_bytes_mut, invalid, validate_range, OutputRequant, OutputType};

/// Packed weights and their per-column zero points, shared by both variants.
#[derive(Debug)]
struct Weights {
    packed: PackedWeights,
    zero_points: Vec<i32>,
}

impl Weights {
    fn new(tier: Tier, op: &'static str, w: &LinearWeights<'_>) -> Result<Self> {
        let (k, n) = (w.k, w.n);
        let packed = PackedWeights::pack(tier, w.layout, k, n, w.values)?;
        let zero_points = match w.zero_points {
            PerChannel::Same(z) => vec![z; n],
            PerChannel::Each(z) => {
                check_len("linear weight zero points", n, z.len())?;
                z.to_vec()
            }
        };
        if let Some(z) = zero_points.iter().find(|z| !(-128..=127).contains(*z)) {
            return Err(invalid(
                op,
                format!("weight zero point {z} is outside -128..=127"),
            ));
        }
        Ok(Weights { packed, zero_points })
    }

    /// `acc (m × n) = (x − zx) · (W − zw)`.
    fn accumulate(&self, m: usize, x: &[u8], zx: u8, acc: &mut Vec<i32>) -> Result<()> {
        check_len("linear input", m * self.packed.k(), x.len())?;
        acc.clear();
        acc.resize(m * self.packed.n(), 0);
        let zb = BZeroPoints::PerColumn(&self.zero_points);
        gemm_u8i8_i32(m, x, self.packed.k(), i32::from(zx), &self.packed, zb, acc)?;
        Ok(())
    }
}

/// `y (M×N) = requant((x − zx) · (W − zw) + bias)`, weights packed once.
#[derive(Debug)]
pub struct QLinear {
    weights: Weights,
    input_zero_point: u8,
    output: OutputRequant,
}

const OP: &str = "QLinear";

/// Weight matrix shape and storage: `K` inputs, `N` outputs.
#[derive(Debug, Clone, Copy)]
pub struct LinearWeights<'a> {
    pub k: usize,
    pub n: usize,
    pub layout: WeightLayout,
    pub values: &'a [i8],
    pub zero_points: PerChannel<'a, i32>,
}

/// Everything a [`QLinear`] needs: weights, input zero point, bias and output
/// requantization (the same fields as a convolution's `QConvParams`).
#[derive(Debug, Clone, Copy)]
pub struct QLinearParams<'a> {
    pub weights: LinearWeights<'a>,
    pub input_zero_point: u8,
    /// N values at scale `x_scale · w_scale[c]`.
    pub bias: Option<&'a [i32]>,
    /// `x_scale · w_scale[c] / y_scale`: one value, or one per output column.
    pub multiplier: PerChannel<'a, f32>,
    pub output_zero_point: i32,
    /// Inclusive output range after the zero point (the type range, or a fused ReLU).
    pub output_range: (i32, i32),
    pub output_type: OutputType,
}

impl QLinear {
    /// Validates and packs the weights for `tier` (which must be available).
    pub fn new(tier: Tier, p: &QLinearParams<'_>) -> Result<QLinear> {
        let n = p.weights.n;
        let weights = &p.weights;
        let w = Weights::new(tier, OP, weights)?;
        validate_range(OP, p.output_range, p.output_zero_point, p.output_type)?;
        let multiplier = match p.multiplier {
            PerChannel::Same(m) => vec![m; n],
            PerChannel::Each(m) => {
                check_len("linear multipliers", n, m.len())?;
                m.to_vec()
            }
        };
        if let Some(m) = multiplier.iter().find(|m| !(m.is_finite() && **m > 0.0)) {
            return Err(invalid(OP, format!("multiplier {m} must be finite and > 0")));
        }
        let bias = match p.bias {
            Some(b) => {
                check_len("linear bias", n, b.len())?;
                b.to_vec()
            }
            None => vec![0; n],
        };
        Ok(QLinear {
            weights: w,
            input_zero_point: p.input_zero_point,
            output: OutputRequant {
                multiplier,
                bias,
                zero_point: p.output_zero_point,
                range: p.output_range,
                dtype: p.output_type,
            },
        })
    }

    /// `x` is `M × K` u8, `out` is `M × N` u8.
    pub fn run(&self, m: usize, x: &[u8], out: &mut [u8]) -> Result<()> {
        self.output.expect_type(OP, OutputType::U8)?;
        self.run_bytes(m, x, out)
    }

    /// As [`QLinear::run`] for an i8 output type.
    pub fn run_i8(&self, m: usize, x: &[u8], out: &mut [i8]) -> Result<()> {
        self.output.expect_type(OP, OutputType::I8)?;
        self.run_bytes(m, x, as_bytes_mut(out))
    }

    fn run_bytes(&self, m: usize, x: &[u8], out: &mut [u8]) -> Result<()> {
        let n = self.weights.packed.n();
        check_len("linear output", m * n, out.len())?;
        let mut acc = Vec::new();
        self.weights.accumulate(m, x, self.input_zero_point, &mut acc)?;
        let tier = self.weights.packed.tier();
        self.output.run(tier, (m, n), &acc, ChannelAxis::Columns, 0, out)
    }
}

/// `y (M×N, f32) = f32((x − zx) · (W − zw)) · (x_scale · w_scale[c]) + bias[c]`.
#[derive(Debug)]
pub struct QLinearDequantized {
    weights: Weights,
    /// `x_scale · w_scale[c]`, computed at plan time.
    scales: Vec<f32>,
    bias: Vec<f32>,
}

impl QLinearDequantized {
    /// Packs the weights; the input's scale and zero point come with each call, since
    /// dynamic quantization picks them per input.
    pub fn new(
        tier: Tier,
        weights: LinearWeights<'_>,
        weight_scales: PerChannel<'_, f32>,
        bias: Option<&[f32]>,
    ) -> Result<QLinearDequantized> {
        let n = weights.n;
        let w = Weights::new(tier, "QLinearDequantized", &weights)?;
        let scales = match weight_scales {
            PerChannel::Same(s) => vec![s; n],
            PerChannel::Each(s) => {
                check_len("linear weight scales", n, s.len())?;
                s.to_vec()
            }
        };
        if let Some(s) = scales.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(invalid(
                "QLinearDequantized",
                format!("weight scale {s} must be finite and > 0"),
            ));
        }
        let bias = match bias {
            Some(b) => {
                check_len("linear bias", n, b.len())?;
                b.to_vec()
            }
            None => vec![0.0; n],
        };
        Ok(QLinearDequantized {
            weights: w,
            scales,
            bias,
        })
    }

    /// `x` is `M × K` u8 with scale `x_scale` and zero point `x_zero_point`; `out` is
    /// `M × N` f32. The per-column scale is `x_scale · w_scale[c]` rounded to f32.
    pub fn run_with_scale(
        &self,
        m: usize,
        x: &[u8],
        x_scale: f32,
        x_zero_point: u8,
        out: &mut [f32],
    ) -> Result<()> {
        let n = self.weights.packed.n();
        check_len("linear output", m * n, out.len())?;
        if !(x_scale.is_finite() && x_scale > 0.0) {
            return Err(invalid(
                "QLinearDequantized",
                format!("input scale {x_scale} must be finite and > 0"),
            ));
        }
        let mut acc = Vec::new();
        self.weights.accumulate(m, x, x_zero_point, &mut acc)?;
        let scales: Vec<f32> = self.scales.iter().map(|s| x_scale * s).collect();
        for (acc_row, out_row) in acc.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
            for (((o, a), s), b) in out_row.iter_mut().zip(acc_row).zip(&scales).zip(&self.bias) {
                *o = *a as f32 * s + b;
            }
        }
        Ok(())
    }
}
