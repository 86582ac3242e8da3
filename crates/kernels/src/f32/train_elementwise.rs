//! Element-wise passes of training (BatchNorm statistics and gradients, clamp gradients),
//! over contiguous slices such as one channel plane.
//!
//! Each body is written so it vectorises, and runs through an AVX-512 copy when the CPU has
//! it (the workspace builds for baseline x86-64, which would leave these loops on SSE).
//! Sums keep independent f32 lanes, fold them pairwise and return the total in f64, so
//! callers summing many planes lose little precision.

/// Independent partial sums per reduction: two AVX-512 vectors, enough to hide add latency.
const LANES: usize = 32;

/// Lanes of the second, narrower block loop of a reduction: one AVX-512 vector, so that
/// small planes (7×7, 4×4) are not left mostly to the scalar tail.
const HALF: usize = LANES / 2;

/// Defines `pub fn $name` that runs `$body` through an AVX-512F-compiled copy when the CPU
/// supports it.
macro_rules! dispatched {
    ($(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)? => $body:ident) => {
        $(#[$doc])*
        pub fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            if std::is_x86_feature_detected!("avx512f") {
                #[target_feature(enable = "avx512f")]
                unsafe fn avx512($($arg: $ty),*) $(-> $ret)? {
                    $body($($arg),*)
                }
                // SAFETY: the CPU supports AVX-512F (checked just above).
                return unsafe { avx512($($arg),*) };
            }
            $body($($arg),*)
        }
    };
}

dispatched! {
    /// `Σ x`.
    fn sum(x: &[f32]) -> f64 => sum_body
}

dispatched! {
    /// `Σ (x − mean)²`.
    fn sum_squared_deviation(x: &[f32], mean: f32) -> f64 => sum_squared_deviation_body
}

dispatched! {
    /// `(Σ a, Σ a·(x − mean))` over the common length of `a` and `x`, in one pass: the
    /// BatchNorm backward sums of one plane.
    fn sum_and_centered_product(a: &[f32], x: &[f32], mean: f32) -> (f64, f64)
        => sum_and_centered_product_body
}

dispatched! {
    /// `out = scale·x + shift`, over the common length.
    fn scale_shift(x: &[f32], scale: f32, shift: f32, out: &mut [f32]) => scale_shift_body
}

dispatched! {
    /// `g = a·g + b·x + k`, over the common length: turns dY into the BatchNorm input
    /// gradient in place (per-channel coefficients folded), so training needs no scratch copy
    /// of dY and no new buffer.
    fn batch_norm_input_grad(g: &mut [f32], x: &[f32], coefficients: [f32; 3])
        => batch_norm_input_grad_body
}

dispatched! {
    /// `g = 0` where `y` is not strictly inside `(lo, hi)` (NaN included), over the common
    /// length: turns dY into the gradient of a clamp in place, read from its output `y` (the
    /// input is strictly inside the bounds exactly where the output is).
    fn clamp_grad(y: &[f32], g: &mut [f32], lo: f32, hi: f32) => clamp_grad_body
}

dispatched! {
    /// `out = min(max(x, lo), hi)` over the common length, NaN mapping to `lo`
    /// ([`crate::f32::Activation::apply`] of `Clip`).
    fn clamp_into(x: &[f32], lo: f32, hi: f32, out: &mut [f32]) => clamp_into_body
}

/// Adds `f(a[i], b[i])` (two terms) into the two accumulators over whole blocks of `N`
/// lanes, returning the values of `a` and `b` left after the last block.
#[inline(always)]
fn block_sums<'a, const N: usize>(
    a: &'a [f32],
    b: &'a [f32],
    acc: &mut [[f32; N]; 2],
    f: &impl Fn(f32, f32) -> [f32; 2],
) -> (&'a [f32], &'a [f32]) {
    // Fixed-size arrays let the compiler see every lane in bounds and vectorise the body.
    let ((a_chunks, a_tail), (b_chunks, b_tail)) = (a.as_chunks::<N>(), b.as_chunks::<N>());
    for (ca, cb) in a_chunks.iter().zip(b_chunks) {
        for i in 0..N {
            let [first, second] = f(ca[i], cb[i]);
            acc[0][i] += first;
            acc[1][i] += second;
        }
    }
    (a_tail, b_tail)
}

/// `(Σ f(a[i], b[i])[0], Σ f(a[i], b[i])[1])` over the common length, in one pass: blocks
/// of [`LANES`] independent f32 partial sums, then one block of [`HALF`] lanes, then a
/// scalar tail. A reduction that needs one sum leaves the second term 0 (the compiler drops
/// it).
#[inline(always)]
fn lane_sums(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> [f32; 2]) -> (f64, f64) {
    let len = a.len().min(b.len());
    let mut wide = [[0f32; LANES]; 2];
    let (a, b) = block_sums(&a[..len], &b[..len], &mut wide, &f);
    let mut narrow = [[0f32; HALF]; 2];
    let (a, b) = block_sums(a, b, &mut narrow, &f);
    let tail = a.iter().zip(b).fold([0f32; 2], |[s, t], (&x, &y)| {
        let [first, second] = f(x, y);
        [s + first, t + second]
    });
    let total = |k: usize| reduce_lanes(&wide[k], &narrow[k]) + tail[k] as f64;
    (total(0), total(1))
}

/// The sum of all lanes, folded pairwise in f32 vector adds of fixed widths (a per-lane
/// f64 sum is a chain of dependent scalar adds that costs more than a whole 4×4 plane's
/// loads).
#[inline(always)]
fn reduce_lanes(wide: &[f32; LANES], narrow: &[f32; HALF]) -> f64 {
    let mut lanes = *narrow;
    for i in 0..HALF {
        lanes[i] += wide[i] + wide[i + HALF];
    }
    let half = fold::<HALF, 8>(&lanes);
    let quarter = fold::<8, 4>(&half);
    let eighth = fold::<4, 2>(&quarter);
    (eighth[0] + eighth[1]) as f64
}

/// `out[i] = v[i] + v[i + M]`: one pairwise step of [`reduce_lanes`] (`N = 2·M`).
#[inline(always)]
fn fold<const N: usize, const M: usize>(v: &[f32; N]) -> [f32; M] {
    std::array::from_fn(|i| v[i] + v[i + M])
}

#[inline(always)]
fn sum_body(x: &[f32]) -> f64 {
    lane_sums(x, x, |v, _| [v, 0.0]).0
}

#[inline(always)]
fn sum_squared_deviation_body(x: &[f32], mean: f32) -> f64 {
    lane_sums(x, x, |v, _| [(v - mean) * (v - mean), 0.0]).0
}

#[inline(always)]
fn sum_and_centered_product_body(a: &[f32], x: &[f32], mean: f32) -> (f64, f64) {
    lane_sums(a, x, |a, v| [a, a * (v - mean)])
}

#[inline(always)]
fn scale_shift_body(x: &[f32], scale: f32, shift: f32, out: &mut [f32]) {
    out.iter_mut().zip(x).for_each(|(o, &v)| *o = scale * v + shift);
}

#[inline(always)]
fn batch_norm_input_grad_body(g: &mut [f32], x: &[f32], [a, b, k]: [f32; 3]) {
    for (d, &v) in g.iter_mut().zip(x) {
        *d = a * *d + b * v + k;
    }
}

#[inline(always)]
fn clamp_grad_body(y: &[f32], g: &mut [f32], lo: f32, hi: f32) {
    // An unconditional store of a select vectorises; a conditional store does not.
    for (d, &y) in g.iter_mut().zip(y) {
        *d = if y > lo && y < hi { *d } else { 0.0 };
    }
}

#[inline(always)]
fn clamp_into_body(x: &[f32], lo: f32, hi: f32, out: &mut [f32]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = super::activation::clamp(v, lo, hi);
    }
}
