//! Element-wise passes of training (BatchNorm statistics and gradients, clamp gradients),
//! over contiguous slices such as one channel plane.
//!
//! Each body is written so it vectorises, and runs through an AVX-512 copy when the CPU has
//! it (the workspace builds for baseline x86-64, which would leave these loops on SSE).
//! Sums keep independent f32 lanes and return their total in f64, so callers summing many
//! planes lose little precision.

/// Independent partial sums per reduction: two AVX-512 vectors, enough to hide add latency.
const LANES: usize = 32;

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
    /// `out = a·dy + b·x + k`, over the common length: the BatchNorm input gradient with
    /// its per-channel coefficients folded.
    fn batch_norm_input_grad(dy: &[f32], x: &[f32], coefficients: [f32; 3], out: &mut [f32])
        => batch_norm_input_grad_body
}

dispatched! {
    /// `out = dy` where `lo < y < hi`, else 0, over the common length: the gradient of a
    /// clamp read from its output `y` (the input is strictly inside the bounds exactly where
    /// the output is).
    fn clamp_grad(y: &[f32], dy: &[f32], lo: f32, hi: f32, out: &mut [f32]) => clamp_grad_body
}

/// `Σ f(a[i], b[i])` in [`LANES`] independent f32 partial sums.
#[inline(always)]
fn lane_sum(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f64 {
    let len = a.len().min(b.len());
    let (a, b) = (&a[..len], &b[..len]);
    // Fixed-size arrays let the compiler see every lane in bounds and vectorise the body.
    let ((a_chunks, a_tail), (b_chunks, b_tail)) = (a.as_chunks::<LANES>(), b.as_chunks::<LANES>());
    let mut acc = [0f32; LANES];
    for (ca, cb) in a_chunks.iter().zip(b_chunks) {
        for i in 0..LANES {
            acc[i] += f(ca[i], cb[i]);
        }
    }
    let tail: f32 = a_tail.iter().zip(b_tail).map(|(&x, &y)| f(x, y)).sum();
    acc.iter().map(|&v| v as f64).sum::<f64>() + tail as f64
}

#[inline(always)]
fn sum_body(x: &[f32]) -> f64 {
    lane_sum(x, x, |v, _| v)
}

#[inline(always)]
fn sum_squared_deviation_body(x: &[f32], mean: f32) -> f64 {
    lane_sum(x, x, |v, _| (v - mean) * (v - mean))
}

#[inline(always)]
fn sum_and_centered_product_body(a: &[f32], x: &[f32], mean: f32) -> (f64, f64) {
    let len = a.len().min(x.len());
    let ((a_chunks, a_tail), (x_chunks, x_tail)) =
        (a[..len].as_chunks::<LANES>(), x[..len].as_chunks::<LANES>());
    let (mut sum, mut product) = ([0f32; LANES], [0f32; LANES]);
    for (ca, cx) in a_chunks.iter().zip(x_chunks) {
        for i in 0..LANES {
            sum[i] += ca[i];
            product[i] += ca[i] * (cx[i] - mean);
        }
    }
    let (tail_sum, tail_product) = a_tail
        .iter()
        .zip(x_tail)
        .fold((0f32, 0f32), |(s, p), (&a, &v)| (s + a, p + a * (v - mean)));
    let total = |lanes: [f32; LANES], tail: f32| lanes.iter().map(|&v| v as f64).sum::<f64>() + tail as f64;
    (total(sum, tail_sum), total(product, tail_product))
}

#[inline(always)]
fn scale_shift_body(x: &[f32], scale: f32, shift: f32, out: &mut [f32]) {
    out.iter_mut().zip(x).for_each(|(o, &v)| *o = scale * v + shift);
}

#[inline(always)]
fn batch_norm_input_grad_body(dy: &[f32], x: &[f32], [a, b, k]: [f32; 3], out: &mut [f32]) {
    for ((o, &d), &v) in out.iter_mut().zip(dy).zip(x) {
        *o = a * d + b * v + k;
    }
}

#[inline(always)]
fn clamp_grad_body(y: &[f32], dy: &[f32], lo: f32, hi: f32, out: &mut [f32]) {
    for ((o, &d), &y) in out.iter_mut().zip(dy).zip(y) {
        *o = if y > lo && y < hi { d } else { 0.0 };
    }
}
