//! Errors raised when an integer op is prepared or called with inconsistent inputs.

use thiserror::Error;

use super::super::error::Int8Error;

/// An integer op could not be prepared or run.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum QOpError {
    /// Lengths, tiers or requantization parameters rejected by the GEMM/requant layer.
    #[error(transparent)]
    Kernel(#[from] Int8Error),
    #[error("invalid geometry for {op}: {why}")]
    InvalidGeometry { op: &'static str, why: String },
    #[error("invalid quantization parameters for {op}: {why}")]
    InvalidQuant { op: &'static str, why: String },
}

pub type Result<T, E = QOpError> = std::result::Result<T, E>;

/// Fails unless `actual == expected`.
pub(crate) fn check_len(what: &'static str, expected: usize, actual: usize) -> Result<()> {
    if expected == actual {
        Ok(())
    } else {
        Err(Int8Error::LengthMismatch {
            what,
            expected,
            actual,
        }
        .into())
    }
}
