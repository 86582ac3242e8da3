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

    /// Adds `bias` to every value of `xs`, then applies the activation in place.
    /// The match sits outside the loops so each arm vectorises.
    pub fn bias_in_place(self, xs: &mut [f32], bias: f32) {
        match self {
            Activation::None => xs.iter_mut().for_each(|x| *x += bias),
            Activation::Relu => xs.iter_mut().for_each(|x| *x = (*x + bias).max(0.0)),
            Activation::Clip { min, max } => xs.iter_mut().for_each(|x| *x = (*x + bias).max(min).min(max)),
        }
    }
}
