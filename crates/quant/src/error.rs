//! Typed errors of the quantization layer.

use lowbit_tensor::TensorError;

#[derive(Debug, thiserror::Error)]
pub enum QuantError {
    /// The requested dtype/mode/range combination cannot be represented.
    #[error("unsupported quantization scheme: {0}")]
    Scheme(String),
    /// An observer was built with parameters outside their valid domain.
    #[error("{observer}: invalid configuration: {reason}")]
    Config { observer: &'static str, reason: String },
    /// `qparams` was asked before any finite value was observed.
    #[error("{observer}: no finite values were observed, cannot choose quantization parameters")]
    NoData { observer: &'static str },
    /// A tensor does not fit the observer (rank, channel count, dtype).
    #[error("{observer}: {reason}")]
    Shape { observer: &'static str, reason: String },
    #[error(transparent)]
    Tensor(#[from] TensorError),
}

pub type Result<T, E = QuantError> = std::result::Result<T, E>;
