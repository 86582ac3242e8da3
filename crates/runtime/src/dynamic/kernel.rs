//! The fused dynamic-int8 product: range → u8 quantization → INT8 GEMM → f32 rescale.
//!
//! Per-tensor mode reproduces the unfused ONNX ops bit for bit:
//! - the range is `[min(0, min x), max(0, max x)]`, `scale = (max − min) / 255`,
//!   `zero_point = round_half_even(clamp(−min / scale, 0, 255))`, as DynamicQuantizeLinear;
//! - `q = saturate(round_half_even(x / scale) + zero_point)` with a true division;
//! - the i32 accumulators are exact integers whatever the kernel tier;
//! - `y = f32(acc) · (x_scale · w_scale[c])`, then `+ bias[c]`: the same f32 operations,
//!   in the same order, as Cast, Mul(x_scale, w_scale), Mul and Add.
//!
//! Per-row mode applies the same rule to each row of the flattened `[M, K]` input. The
//! GEMM takes one activation zero point, so it runs with zero point 0 and each row's
//! `zp_i · Σ_k (w[k][j] − w_zp[j])` is subtracted afterwards (exact in i32).

use std::cell::Cell;

use lowbit_kernels::int8::ops::{quantize_linear_f32_to_u8, AxisShape, ChannelQuant};
use lowbit_kernels::int8::{gemm_u8i8_i32, selected_tier, BZeroPoints, PackedWeights, Tier, WeightLayout};
use lowbit_tensor::Tensor;

use crate::buffers::BufferPool;
use crate::eval::{ensure, vmath, EvalError, EvalResult};

/// The constants of a chain, as found in the graph.
pub(crate) struct DynamicWeights<'g> {
    /// i8 `[K, N]`.
    pub w: &'g Tensor,
    /// i8, one value or N.
    pub w_zero_points: Option<&'g Tensor>,
    /// f32, one value or N.
    pub w_scales: &'g Tensor,
    /// f32 `[N]`.
    pub bias: Option<&'g Tensor>,
}

pub(crate) struct DynamicMatMul {
    packed: PackedWeights,
    tier: Tier,
    /// N weight zero points.
    w_zero_points: Vec<i32>,
    /// `Σ_k (w[k][j] − w_zp[j])` per column, for the per-row correction.
    centered_column_sums: Vec<i32>,
    /// N weight scales.
    w_scales: Vec<f32>,
    bias: Option<Vec<f32>>,
    per_row: bool,
}

impl DynamicMatMul {
    /// Packs the weights for the selected INT8 tier; errors say which constant is wrong.
    pub(crate) fn new(weights: DynamicWeights<'_>, per_row: bool) -> Result<Self, String> {
        let (k, n) = (weights.w.shape()[0], weights.w.shape()[1]);
        let w = weights.w.as_slice::<i8>().map_err(|e| e.to_string())?;
        let per_column = |values: Vec<i32>, what: &str| match values.len() {
            1 => Ok(vec![values[0]; n]),
            len if len == n => Ok(values),
            len => Err(format!("{what} has {len} values, expected 1 or {n}")),
        };
        let w_zero_points = match weights.w_zero_points {
            None => vec![0; n],
            Some(t) => {
                let values = t.as_slice::<i8>().map_err(|e| e.to_string())?;
                per_column(
                    values.iter().map(|&v| i32::from(v)).collect(),
                    "the weight zero point",
                )?
            }
        };
        let scales = weights
            .w_scales
            .as_slice::<f32>()
            .map_err(|_| format!("the weight scale must be f32, got {}", weights.w_scales.dtype()))?;
        let w_scales = match scales.len() {
            1 => vec![scales[0]; n],
            len if len == n => scales.to_vec(),
            len => return Err(format!("the weight scale has {len} values, expected 1 or {n}")),
        };
        let bias = match weights.bias {
            None => None,
            Some(b) => {
                let values = b.as_slice::<f32>().map_err(|e| e.to_string())?;
                if values.len() != n {
                    return Err(format!("the bias has {} values, expected {n}", values.len()));
                }
                Some(values.to_vec())
            }
        };
        let tier = selected_tier();
        let packed = PackedWeights::pack(tier, WeightLayout::KByN, k, n, w).map_err(|e| e.to_string())?;
        let centered_column_sums = packed
            .column_sums()
            .iter()
            .zip(&w_zero_points)
            .map(|(&s, &z)| s.wrapping_sub(z.wrapping_mul(k as i32)))
            .collect();
        Ok(DynamicMatMul {
            packed,
            tier,
            w_zero_points,
            centered_column_sums,
            w_scales,
            bias,
            per_row,
        })
    }

    /// `x` is f32 `[..., K]`; the result is f32 `[..., N]`.
    pub(crate) fn run(&self, x: &Tensor, buffers: &mut BufferPool) -> EvalResult<Tensor> {
        let (k, n) = (self.packed.k(), self.packed.n());
        let values = x
            .as_slice::<f32>()
            .map_err(|_| EvalError(format!("input must be f32, got {}", x.dtype())))?;
        ensure(x.rank() >= 1 && x.shape()[x.rank() - 1] == k, || {
            format!("input {:?} does not end in the weight's depth {k}", x.shape())
        })?;
        let leading = &x.shape()[..x.rank() - 1];
        let m: usize = leading.iter().product();
        // With K = 0 there are no values to range over: per-tensor is the same.
        let per_row = self.per_row && k > 0;
        let rows: Vec<RowRange> = if per_row {
            values.chunks_exact(k).map(RowRange::of).collect()
        } else {
            vec![RowRange::of(values)]
        };
        let mut q = QUANTIZED.take();
        q.resize(values.len(), 0);
        let scales: Vec<f32> = rows.iter().map(RowRange::divisor).collect();
        let zero_points: Vec<i32> = rows.iter().map(|r| r.zero_point).collect();
        let shape = AxisShape {
            outer: 1,
            channels: rows.len(),
            inner: if per_row { k } else { values.len() },
        };
        if !values.is_empty() {
            let params = ChannelQuant {
                scales: &scales,
                zero_points: &zero_points,
            };
            quantize_linear_f32_to_u8(self.tier, values, shape, params, &mut q)
                .map_err(|e| EvalError(e.to_string()))?;
        }
        let mut acc = ACCUMULATORS.take();
        acc.resize(m * n, 0);
        let a_zero_point = if per_row { 0 } else { zero_points[0] };
        let zb = BZeroPoints::PerColumn(&self.w_zero_points);
        let product = gemm_u8i8_i32(m, &q, k, a_zero_point, &self.packed, zb, &mut acc);
        QUANTIZED.set(q);
        product.map_err(|e| EvalError(e.to_string()))?;
        let mut out = buffers.take_f32(m * n);
        let parts = Rescale {
            rows: &rows,
            per_row,
            w_scales: &self.w_scales,
            centered_column_sums: &self.centered_column_sums,
            bias: self.bias.as_deref(),
        };
        rescale(&acc, &mut out, &parts);
        ACCUMULATORS.set(acc);
        let mut out_shape = leading.to_vec();
        out_shape.push(n);
        Ok(Tensor::new(out_shape, out)?)
    }
}

thread_local! {
    /// Scratch buffers of the quantized input and the accumulators, reused across runs.
    /// They are taken out while in use, so a nested run on the same thread (rayon work
    /// stealing) finds them empty and allocates its own.
    static QUANTIZED: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
    static ACCUMULATORS: Cell<Vec<i32>> = const { Cell::new(Vec::new()) };
}

/// What turns the i32 accumulators into f32 outputs.
struct Rescale<'a> {
    /// One range, or one per row when `per_row`.
    rows: &'a [RowRange],
    per_row: bool,
    w_scales: &'a [f32],
    centered_column_sums: &'a [i32],
    bias: Option<&'a [f32]>,
}

vmath::dispatch! {
    /// `out[i][j] = f32(acc[i][j] − zp_i · Σ_k w_c[k][j]) · (x_scale_i · w_scale[j]) (+ bias[j])`,
    /// the correction only for per-row ranges with a zero point.
    fn rescale(acc: &[i32], out: &mut [f32], parts: &Rescale<'_>) = rescale_generic;
}

#[inline(always)]
fn rescale_generic(acc: &[i32], out: &mut [f32], parts: &Rescale<'_>) {
    let n = parts.w_scales.len();
    let mut column_scales = vec![0f32; n];
    for (i, (acc_row, out_row)) in acc
        .chunks_exact(n.max(1))
        .zip(out.chunks_exact_mut(n.max(1)))
        .enumerate()
    {
        let range = &parts.rows[if parts.per_row { i } else { 0 }];
        if parts.per_row || i == 0 {
            for (s, w) in column_scales.iter_mut().zip(parts.w_scales) {
                *s = range.scale * w;
            }
        }
        if parts.per_row && range.zero_point != 0 {
            let zp = range.zero_point;
            let sums = parts.centered_column_sums;
            for (((o, &a), s), &c) in out_row.iter_mut().zip(acc_row).zip(&column_scales).zip(sums) {
                *o = a.wrapping_sub(zp.wrapping_mul(c)) as f32 * s;
            }
        } else {
            for ((o, &a), s) in out_row.iter_mut().zip(acc_row).zip(&column_scales) {
                *o = a as f32 * s;
            }
        }
        if let Some(bias) = parts.bias {
            out_row.iter_mut().zip(bias).for_each(|(o, b)| *o += b);
        }
    }
}

/// DynamicQuantizeLinear's parameters for one range of values.
struct RowRange {
    /// `(max − min) / 255`; 0 when every value is 0.
    scale: f32,
    zero_point: i32,
}

impl RowRange {
    fn of(values: &[f32]) -> RowRange {
        let (min, max) = min_max_with_zero(values);
        let scale = (max - min) / 255.0;
        let zero_point = if scale == 0.0 {
            0
        } else {
            (-min / scale).clamp(0.0, 255.0).round_ties_even() as i32
        };
        RowRange { scale, zero_point }
    }

    /// The divisor used to quantize: an all-zero range quantizes with 1 (every value is 0
    /// and maps to zero point 0, as DynamicQuantizeLinear's output is then all zeros).
    fn divisor(&self) -> f32 {
        if self.scale == 0.0 {
            1.0
        } else {
            self.scale
        }
    }
}

vmath::dispatch! {
    /// `(min(0, min values), max(0, max values))`, in independent lanes so that it
    /// vectorizes; min and max are exact, so the lane order does not change the result.
    fn min_max_with_zero(values: &[f32]) -> (f32, f32) = min_max_with_zero_generic;
}

#[inline(always)]
fn min_max_with_zero_generic(values: &[f32]) -> (f32, f32) {
    const LANES: usize = 16;
    let mut lo = [0f32; LANES];
    let mut hi = [0f32; LANES];
    let chunks = values.chunks_exact(LANES);
    let tail = chunks.remainder();
    // Compare-and-select rather than `f32::min`, whose NaN rule keeps the loop scalar;
    // both ignore a NaN value, as the accumulators themselves are never NaN.
    for chunk in chunks {
        for ((l, h), &v) in lo.iter_mut().zip(hi.iter_mut()).zip(chunk) {
            *l = if v < *l { v } else { *l };
            *h = if v > *h { v } else { *h };
        }
    }
    let fold = |acc: (f32, f32), &v: &f32| (acc.0.min(v), acc.1.max(v));
    let (lo, hi) = lo
        .iter()
        .zip(&hi)
        .fold((0f32, 0f32), |(a, b), (&l, &h)| (a.min(l), b.max(h)));
    tail.iter().fold((lo, hi), fold)
}
