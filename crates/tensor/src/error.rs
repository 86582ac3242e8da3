//! Typed errors of the tensor layer.

use crate::DType;

#[derive(Debug, thiserror::Error)]
pub enum TensorError {
    #[error("shape {shape:?} holds {expected} elements but {got} were given")]
    ElementCount {
        shape: Vec<usize>,
        expected: usize,
        got: usize,
    },
    #[error("expected a {expected} tensor, found {found}")]
    DType { expected: DType, found: DType },
    #[error("cannot reshape {from:?} into {to:?}")]
    Reshape { from: Vec<usize>, to: Vec<usize> },
    #[error("invalid quantization parameters: {0}")]
    Quant(String),
}

pub type Result<T, E = TensorError> = std::result::Result<T, E>;
