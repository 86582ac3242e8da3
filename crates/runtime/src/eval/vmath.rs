//! Vectorisable f32 `exp` and `erf` over slices, for the evaluators that dominate
//! transformer inference once the matrix products are integer (Softmax, GELU's Erf, Exp).
//!
//! Each function is branch-free per element (both sides of a split are computed and one
//! is selected) and calls no library function, so the compiler vectorises the loops.
//! The loops are compiled once per x86 tier inside `#[target_feature]` wrappers and the
//! widest tier the CPU has is picked at run time; every tier computes the same f32
//! operations in the same order (no fused multiply-add), so results do not depend on the
//! CPU.
//!
//! Accuracy (checked by this module's tests against f64 references):
//! - `exp`: relative error below 3e-7 for results in the normal range; results below
//!   `f32::MIN_POSITIVE` are denormals or 0, and `exp(x)` overflows to +inf for x > 88.72.
//! - `erf`: absolute error below 3e-7, relative error below 3e-7.
//!
//! The polynomial coefficients were fitted for this module by least squares on
//! Chebyshev nodes (relative error for `exp`, `erf(x)/x` and `ln(erfc(x)) + x²`).

/// Round-to-nearest by adding 1.5·2²³: exact for |v| < 2²², which the clamped `exp`
/// arguments respect.
const ROUNDING: f32 = 12_582_912.0;
const LOG2_E: f32 = std::f32::consts::LOG2_E;
/// ln 2 split so that `n · LN2_HIGH` is exact for the |n| ≤ 160 used here.
const LN2_HIGH: f32 = 0.693_359_4;
const LN2_LOW: f32 = -2.121_944_4e-4;
/// `e^r` on `[-ln2/2, ln2/2]`, coefficients of r⁰..r⁶.
const EXP_POLY: [f32; 7] = [
    1.0,
    1.0,
    0.499_999_9,
    0.166_664_21,
    0.041_668_36,
    0.008_374_778,
    0.001_382_942_8,
];
/// `erf(x) / x` on `[0, 1]` as a polynomial in x², coefficients of (x²)⁰..(x²)⁶.
const ERF_SMALL: [f32; 7] = [
    std::f32::consts::FRAC_2_SQRT_PI,
    -0.376_126_3,
    0.112_836_12,
    -0.026_854_806,
    0.005_190_049,
    -8.024_312e-4,
    7.898_067e-5,
];
/// `ln(erfc(x)) + x²` on `[1, 4]` as a polynomial in `x − 2.5`.
const ERFC_LOG: [f32; 9] = [
    -1.556_815_3,
    -0.352_680_7,
    0.056_106_36,
    -0.010_858_517,
    0.002_165_160_1,
    -4.201_445_3e-4,
    7.739_448e-5,
    -1.330_940_6e-5,
    1.614_049_3e-6,
];
/// Where `erf` switches from the odd polynomial to `1 − erfc`.
const ERF_SPLIT: f32 = 1.0;
/// Beyond this, `erf(x)` rounds to ±1 in f32.
const ERF_SATURATION: f32 = 4.0;

#[inline(always)]
fn horner<const N: usize>(coefficients: &[f32; N], v: f32) -> f32 {
    let mut r = coefficients[N - 1];
    for &c in coefficients[..N - 1].iter().rev() {
        r = r * v + c;
    }
    r
}

/// `2^n` for `n` in −160..=160, as two normal factors so that neither overflows nor
/// becomes denormal; the caller multiplies by both.
#[inline(always)]
fn power_of_two_factors(n: i32) -> (f32, f32) {
    let half = n >> 1;
    let factor = |e: i32| f32::from_bits(((e + 127) as u32) << 23);
    (factor(half), factor(n - half))
}

/// `e^x`, branch-free; NaN stays NaN.
#[inline(always)]
fn exp_lane(x: f32) -> f32 {
    // Below −110 the result is 0 and above 88.8 it is +inf either way; the clamp keeps
    // the exponent arithmetic in range.
    let x = x.clamp(-110.0, 88.8);
    let shifted = x * LOG2_E + ROUNDING;
    let n = shifted - ROUNDING;
    let n_int = shifted.to_bits() as i32 - ROUNDING.to_bits() as i32;
    let r = (x - n * LN2_HIGH) - n * LN2_LOW;
    let (a, b) = power_of_two_factors(n_int);
    horner(&EXP_POLY, r) * a * b
}

/// `erf(x)`, branch-free; NaN stays NaN.
#[inline(always)]
fn erf_lane(x: f32) -> f32 {
    let magnitude = x.abs();
    let small = x * horner(&ERF_SMALL, x * x);
    let c = if magnitude < ERF_SATURATION {
        magnitude
    } else {
        ERF_SATURATION
    };
    let large = (1.0 - exp_lane(horner(&ERFC_LOG, c - 2.5) - c * c)).copysign(x);
    if magnitude < ERF_SPLIT || x.is_nan() {
        small
    } else {
        large
    }
}

/// Lanes of the independent accumulators in reductions, so that they vectorise.
const LANES: usize = 16;

#[inline(always)]
fn map_generic(src: &[f32], dst: &mut [f32], f: impl Fn(f32) -> f32) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = f(s);
    }
}

/// `dst[i] = e^(src[i] − shift)`, returning the sum of the results.
#[inline(always)]
fn exp_shifted_sum_generic(src: &[f32], dst: &mut [f32], shift: f32) -> f32 {
    let mut sums = [0f32; LANES];
    let mut chunks = dst.chunks_exact_mut(LANES);
    let sources = src.chunks_exact(LANES);
    let tail = sources.remainder();
    for (chunk, source) in (&mut chunks).zip(sources) {
        for ((s, d), &x) in sums.iter_mut().zip(chunk.iter_mut()).zip(source) {
            *d = exp_lane(x - shift);
            *s += *d;
        }
    }
    let mut total: f32 = sums.iter().sum();
    for (d, &x) in chunks.into_remainder().iter_mut().zip(tail) {
        *d = exp_lane(x - shift);
        total += *d;
    }
    total
}

/// The largest value of a row, NaNs ignored (as `f32::max` does); compare-and-select,
/// as `f32::max`'s NaN rule keeps a loop scalar.
#[inline(always)]
fn max_generic(row: &[f32]) -> f32 {
    let larger = |m: f32, v: f32| if v > m { v } else { m };
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let chunks = row.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (m, &v) in lanes.iter_mut().zip(chunk) {
            *m = larger(*m, v);
        }
    }
    tail.iter()
        .chain(&lanes)
        .fold(f32::NEG_INFINITY, |m, &v| larger(m, v))
}

/// Compiles `$generic` once per x86 tier and dispatches on the CPU at run time.
macro_rules! dispatch {
    ($(#[$doc:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)? = $generic:expr;) => {
        $(#[$doc])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                unsafe fn avx512($($arg: $ty),*) $(-> $ret)? {
                    $generic($($arg),*)
                }
                #[target_feature(enable = "avx2")]
                unsafe fn avx2($($arg: $ty),*) $(-> $ret)? {
                    $generic($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU has the feature the function is compiled for.
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: as above.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $generic($($arg),*)
        }
    };
}

pub(crate) use dispatch;

dispatch! {
    /// `dst[i] = e^src[i]`; the slices have the same length.
    pub(crate) fn exp(src: &[f32], dst: &mut [f32]) = |s, d| map_generic(s, d, exp_lane);
}

dispatch! {
    /// `dst[i] = erf(src[i])`; the slices have the same length.
    pub(crate) fn erf(src: &[f32], dst: &mut [f32]) = |s, d| map_generic(s, d, erf_lane);
}

dispatch! {
    /// Softmax of rows of `width` values: `dst = e^(src − max) / Σ e^(src − max)` per row;
    /// the slices have the same length, a multiple of `width` (> 0).
    pub(crate) fn softmax_rows(src: &[f32], dst: &mut [f32], width: usize) = softmax_rows_generic;
}

#[inline(always)]
fn softmax_rows_generic(src: &[f32], dst: &mut [f32], width: usize) {
    for (source, row) in src.chunks_exact(width).zip(dst.chunks_exact_mut(width)) {
        let max = max_generic(source);
        let inverse = 1.0 / exp_shifted_sum_generic(source, row, max);
        for v in row.iter_mut() {
            *v *= inverse;
        }
    }
}

dispatch! {
    /// GELU: `dst = (src · scale) · (erf(src / divisor) + offset)`, the operations of the
    /// unfused ONNX chain in its order, so the result is bit for bit the same.
    pub(crate) fn gelu(src: &[f32], dst: &mut [f32], constants: &super::gelu::Gelu) = gelu_generic;
}

#[inline(always)]
fn gelu_generic(src: &[f32], dst: &mut [f32], g: &super::gelu::Gelu) {
    let (scale, divisor, offset) = (g.scale, g.divisor, g.offset);
    for (y, &x) in dst.iter_mut().zip(src) {
        *y = (x * scale) * (erf_lane(x / divisor) + offset);
    }
}

dispatch! {
    /// LayerNormalization of one row: `dst = (src − mean) / sqrt(var + epsilon) · scale
    /// (+ bias)`, statistics in f32 over independent lanes; returns `(mean, 1 / std)`.
    /// `dst`, `scale` and `bias` have the row's length, which is not 0.
    pub(crate) fn layer_norm_row(
        src: &[f32],
        dst: &mut [f32],
        scale: &[f32],
        bias: Option<&[f32]>,
        epsilon: f32
    ) -> (f32, f32) = layer_norm_row_generic;
}

#[inline(always)]
fn layer_norm_row_generic(
    src: &[f32],
    dst: &mut [f32],
    scale: &[f32],
    bias: Option<&[f32]>,
    epsilon: f32,
) -> (f32, f32) {
    let width = src.len() as f32;
    let mean = lane_sum(src, |x| x) / width;
    let variance = lane_sum(src, |x| (x - mean) * (x - mean)) / width;
    let inv_std = 1.0 / (variance + epsilon).sqrt();
    match bias {
        Some(bias) => {
            for (((y, &x), &s), &b) in dst.iter_mut().zip(src).zip(scale).zip(bias) {
                *y = (x - mean) * inv_std * s + b;
            }
        }
        None => {
            for ((y, &x), &s) in dst.iter_mut().zip(src).zip(scale) {
                *y = (x - mean) * inv_std * s;
            }
        }
    }
    (mean, inv_std)
}

/// `Σ f(v)` over independent lanes, so that it vectorises.
#[inline(always)]
fn lane_sum(values: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut lanes = [0f32; LANES];
    let chunks = values.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (s, &v) in lanes.iter_mut().zip(chunk) {
            *s += f(v);
        }
    }
    lanes.iter().sum::<f32>() + tail.iter().map(|&v| f(v)).sum::<f32>()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values spread over `[lo, hi]`, with the ends and awkward lengths covered by callers.
    fn spread(lo: f32, hi: f32, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| lo + (hi - lo) * i as f32 / (n - 1) as f32)
            .collect()
    }

    #[test]
    fn exp_matches_f64_in_the_normal_range() {
        let x = spread(-87.0, 88.7, 200_003);
        let mut y = vec![0f32; x.len()];
        exp(&x, &mut y);
        for (&x, &y) in x.iter().zip(&y) {
            let want = f64::from(x).exp();
            let rel = (f64::from(y) - want).abs() / want;
            assert!(rel < 3e-7, "exp({x}) = {y}, want {want} (relative error {rel:e})");
        }
    }

    #[test]
    fn exp_edge_values() {
        let x = [
            0.0,
            -0.0,
            1.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            89.0,
            -104.0,
            -200.0,
            -100.0,
        ];
        let mut y = [0f32; 10];
        exp(&x, &mut y);
        assert_eq!(&y[..2], &[1.0, 1.0]);
        assert!((y[2] - std::f32::consts::E).abs() <= f32::EPSILON * 3.0);
        assert_eq!((y[3], y[4]), (f32::INFINITY, 0.0));
        assert!(y[5].is_nan());
        assert_eq!((y[6], y[7], y[8]), (f32::INFINITY, 0.0, 0.0));
        // A denormal: few significant bits remain, so only an absolute bound holds.
        assert!((f64::from(y[9]) - (-100f64).exp()).abs() < 2e-45, "{}", y[9]);
    }

    #[test]
    fn erf_matches_libm_everywhere() {
        let mut x = spread(-6.0, 6.0, 240_007);
        x.extend([0.0, -0.0, 1e-30, -1e-20, 0.999_999_9, 1.0, 3.999_999, 4.0, 1e30]);
        let mut y = vec![0f32; x.len()];
        erf(&x, &mut y);
        for (&x, &y) in x.iter().zip(&y) {
            let want = libm::erf(f64::from(x));
            let error = (f64::from(y) - want).abs();
            assert!(
                error <= 3e-7 * want.abs().max(1e-30) || error < 1e-37,
                "erf({x}) = {y}, want {want} (error {error:e})"
            );
        }
        let mut special = [0f32; 3];
        erf(&[f32::INFINITY, f32::NEG_INFINITY, f32::NAN], &mut special);
        assert_eq!(&special[..2], &[1.0, -1.0]);
        assert!(special[2].is_nan());
    }

    #[test]
    fn every_tier_computes_the_same_bits() {
        let x = spread(-120.0, 90.0, 10_007);
        let (mut fast, mut plain) = (vec![0f32; x.len()], vec![0f32; x.len()]);
        for (dispatched, lane) in [
            (exp as fn(&[f32], &mut [f32]), exp_lane as fn(f32) -> f32),
            (erf, erf_lane),
        ] {
            dispatched(&x, &mut fast);
            map_generic(&x, &mut plain, lane);
            let same = fast.iter().zip(&plain).all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "the selected tier differs from the portable loop");
        }
    }

    #[test]
    fn layer_norm_rows_match_f64() {
        for width in [1, 3, 16, 17, 384, 1001] {
            let src: Vec<f32> = (0..width)
                .map(|i| ((i * 53 % 97) as f32 - 40.0) / 7.0 + 100.0)
                .collect();
            let scale: Vec<f32> = (0..width).map(|i| 0.5 + (i % 5) as f32 / 4.0).collect();
            let bias: Vec<f32> = (0..width).map(|i| (i % 3) as f32 - 1.0).collect();
            let mean = src.iter().map(|&x| f64::from(x)).sum::<f64>() / width as f64;
            let var = src.iter().map(|&x| (f64::from(x) - mean).powi(2)).sum::<f64>() / width as f64;
            let inv_std = 1.0 / (var + 1e-5).sqrt();
            for with_bias in [true, false] {
                let mut dst = vec![0f32; width];
                let b = with_bias.then_some(bias.as_slice());
                let (m, s) = layer_norm_row(&src, &mut dst, &scale, b, 1e-5);
                assert!((f64::from(m) - mean).abs() < 1e-4 && (f64::from(s) / inv_std - 1.0).abs() < 1e-4);
                for i in 0..width {
                    let want = (f64::from(src[i]) - mean) * inv_std * f64::from(scale[i])
                        + if with_bias { f64::from(bias[i]) } else { 0.0 };
                    let got = f64::from(dst[i]);
                    assert!((got - want).abs() < 2e-4, "width {width} at {i}: {got} vs {want}");
                }
            }
        }
    }

    /// The plain f64 reference of a softmax row.
    fn softmax_reference(row: &[f32]) -> Vec<f64> {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let e: Vec<f64> = row.iter().map(|&x| f64::from(x - max).exp()).collect();
        let sum: f64 = e.iter().sum();
        e.iter().map(|v| v / sum).collect()
    }

    #[test]
    fn softmax_rows_of_awkward_lengths() {
        for len in [1, 2, 15, 16, 17, 31, 128, 129, 1000] {
            let mut row: Vec<f32> = (0..len)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 3.0 - if i % 7 == 0 { 1e4 } else { 0.0 })
                .collect();
            let want = softmax_reference(&row);
            let source = row.clone();
            softmax_rows(&source, &mut row, len);
            for (i, (&got, &want)) in row.iter().zip(&want).enumerate() {
                let error = (f64::from(got) - want).abs();
                assert!(error <= 1e-6 * want + 1e-12, "len {len} at {i}: {got} vs {want}");
            }
        }
        let mut empty: [f32; 0] = [];
        softmax_rows(&[], &mut empty, 3);
        // Several rows in one call: each is normalised on its own.
        let mut two = [0f32; 6];
        softmax_rows(&[0.0, 0.0, 0.0, 1.0, 1.0, 1e3], &mut two, 3);
        assert_eq!(two, [1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0, 0.0, 0.0, 1.0]);
    }
}
