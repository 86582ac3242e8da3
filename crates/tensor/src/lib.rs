//! Tensors for lowbit: a dense row-major buffer of one dtype plus its shape.
//!
//! Design choices:
//! - Storage is an enum of typed `Vec`s ([`Data`]), not bytes plus a tag, so kernels
//!   receive properly aligned, typed slices without `unsafe` casts.
//! - Shapes here are always concrete; symbolic dimensions live in the graph layer.
//! - Quantization parameters ([`QuantParams`]) are plain data that travels with
//!   integer tensors and ops; the arithmetic that uses them lives in the kernels.

mod alloc;
mod dtype;
mod error;
mod quant;
mod tensor;

pub use alloc::CacheAligned;
pub use dtype::{DType, Element};
pub use error::{Result, TensorError};
pub use quant::QuantParams;
pub use tensor::{Data, Tensor};

/// Number of elements of a shape (1 for a scalar).
pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// Row-major strides, in elements, of a shape.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * shape[i + 1];
    }
    strides
}
