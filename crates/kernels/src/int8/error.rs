//! Errors raised when an INT8 kernel is called with inconsistent inputs.

use thiserror::Error;

use super::isa::Tier;

/// An INT8 kernel could not run: its shapes, zero points or tier disagree with the data.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum Int8Error {
    #[error("{what} has {actual} values, expected {expected}")]
    LengthMismatch {
        what: &'static str,
        expected: usize,
        actual: usize,
    },
    #[error("{what} = {value} is outside the allowed range {lo}..={hi}")]
    OutOfRange {
        what: &'static str,
        value: i64,
        lo: i64,
        hi: i64,
    },
    #[error("the {tier} kernel tier is not available on this CPU")]
    TierUnavailable { tier: Tier },
    #[error("weights were packed for the {packed} tier but the GEMM was asked to run on {requested}")]
    TierMismatch { packed: Tier, requested: Tier },
    #[error("invalid requantization parameters: {0}")]
    Requant(String),
    #[error("could not build a thread pool: {0}")]
    ThreadPool(String),
}

pub type Result<T, E = Int8Error> = std::result::Result<T, E>;
