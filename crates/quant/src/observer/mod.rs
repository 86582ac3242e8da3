//! Calibration observers, one per file, behind the [`Observer`] and [`ChannelObserver`]
//! traits.

mod base;
pub mod entropy;
pub mod histogram;
pub mod min_max;
pub mod moving_average;
pub mod mse;
pub mod per_channel;
pub mod percentile;

pub use base::{ChannelObserver, Observer};
pub use entropy::EntropyObserver;
pub use histogram::HistogramObserver;
pub use min_max::MinMaxObserver;
pub use moving_average::MovingAverageMinMaxObserver;
pub use mse::MseObserver;
pub use per_channel::PerChannelMinMaxObserver;
pub use percentile::PercentileObserver;
