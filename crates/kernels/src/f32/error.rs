//! Errors raised when a kernel is planned with inconsistent inputs.

use thiserror::Error;

/// A kernel could not be prepared: its geometry or the data handed to it disagree.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum KernelError {
    #[error("invalid convolution geometry: {0}")]
    InvalidGeometry(String),
    #[error("{what} has {actual} values, expected {expected}")]
    LengthMismatch {
        what: &'static str,
        expected: usize,
        actual: usize,
    },
}
