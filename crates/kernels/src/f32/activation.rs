//! Element-wise activations fused into a kernel's output pass.

/// Activation fused into a kernel's output.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Activation {
    None,
    Relu,
    /// `min(max(x, min), max)`; ReLU6 is `Clip { min: 0.0, max: 6.0 }`.
    Clip {
        min: f32,
        max: f32,
    },
}

impl Activation {
    /// The activation's value at `x`.
    #[inline(always)]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Activation::None => x,
            Activation::Relu => x.max(0.0),
            Activation::Clip { min, max } => x.max(min).min(max),
        }
    }

    /// `[lower, upper]` clamp bounds, or `None` for the identity. [`clamp`] with these bounds
    /// equals [`Activation::apply`], NaN included.
    #[inline(always)]
    pub(crate) fn bounds(self) -> Option<[f32; 2]> {
        match self {
            Activation::None => None,
            Activation::Relu => Some([0.0, f32::INFINITY]),
            Activation::Clip { min, max } => Some([min, max]),
        }
    }

    /// Adds `bias` to every value of `xs`, then applies the activation in place.
    pub fn bias_in_place(self, xs: &mut [f32], bias: f32) {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F (checked just above).
            unsafe { avx512::bias_in_place(self.bounds(), xs, bias) };
            return;
        }
        bias_in_place_body(self.bounds(), xs, bias)
    }
}

/// `max(x, lo)` then `min(_, hi)` written as comparisons, which compile to single vector
/// max/min instructions (`f32::max` needs extra NaN handling); NaN maps to `lo` like
/// `f32::max` does.
#[inline(always)]
pub(crate) fn clamp(x: f32, lo: f32, hi: f32) -> f32 {
    let x = if x > lo { x } else { lo };
    if x < hi {
        x
    } else {
        hi
    }
}

/// The match sits outside the loops so each arm vectorises.
#[inline(always)]
fn bias_in_place_body(bounds: Option<[f32; 2]>, xs: &mut [f32], bias: f32) {
    match bounds {
        None => xs.iter_mut().for_each(|x| *x += bias),
        Some([lo, hi]) => xs.iter_mut().for_each(|x| *x = clamp(*x + bias, lo, hi)),
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    /// # Safety
    /// The CPU must support AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn bias_in_place(bounds: Option<[f32; 2]>, xs: &mut [f32], bias: f32) {
        super::bias_in_place_body(bounds, xs, bias)
    }
}
