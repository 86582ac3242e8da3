//! Post-training quantization for lowbit: calibration observers and the arithmetic that
//! turns observed ranges into scales and zero points.
//!
//! Design choices:
//! - The vocabulary and the numbers follow PyTorch's `torch.ao.quantization` observers
//!   (`MinMaxObserver`, `HistogramObserver`, ...), so calibrations can be compared with
//!   PyTorch's directly; TensorRT's entropy method, percentile and MSE clipping are
//!   added as they are found in other toolkits.
//! - Observers stream: each keeps a few numbers or one fixed-size histogram
//!   ([`RangeHistogram`]), never the data, so calibration memory does not grow with the
//!   dataset. They can be merged, to calibrate batches on several threads.
//! - Observing is the calibration hot loop: a histogram update is one pass over the
//!   values with no allocation unless the batch widens the range.
//! - The scheme (dtype, affine or symmetric, reduced range) is given when parameters are
//!   asked for, not when observing, so one calibration run serves several schemes.

pub mod dynamic;
mod error;
pub mod histogram;
pub mod observer;
pub mod qparams;
pub mod static_ptq;
pub mod tuning;

pub use error::{QuantError, Result};
pub use histogram::RangeHistogram;
pub use observer::{
    ChannelObserver, EntropyObserver, HistogramObserver, MinMaxObserver, MovingAverageMinMaxObserver,
    MseObserver, Observer, PerChannelMinMaxObserver, PercentileObserver,
};
pub use qparams::{fake_quantize, QuantMode, QuantScheme};
