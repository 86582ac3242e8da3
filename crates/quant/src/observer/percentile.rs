//! Percentile clipping over a histogram of the values.

use lowbit_tensor::QuantParams;

use crate::histogram::RangeHistogram;
use crate::observer::Observer;
use crate::{QuantError, QuantScheme, Result};

const NAME: &str = "PercentileObserver";

/// Default histogram resolution.
pub const DEFAULT_BINS: usize = 2048;
/// The usual percentiles: keep 99.99 % or 99.999 % of the values.
pub const PERCENTILE_9999: f64 = 99.99;
pub const PERCENTILE_99999: f64 = 99.999;

/// Clips to `[q(1 - p), q(p)]`, the quantiles of the observed values for percentile `p`,
/// read from a [`RangeHistogram`] (so memory does not grow with the data, and quantiles
/// are exact to within one bin). Batch order matters only through re-binning when the
/// range grows, by at most one bin.
#[derive(Debug, Clone)]
pub struct PercentileObserver {
    histogram: RangeHistogram,
    percentile: f64,
}

impl PercentileObserver {
    /// `percentile` in `(50, 100]` (100 keeps the full range); `bins` at least 1.
    pub fn new(percentile: f64, bins: usize) -> Result<Self> {
        if !(percentile > 50.0 && percentile <= 100.0) {
            return Err(QuantError::Config {
                observer: NAME,
                reason: format!("percentile {percentile} is not in (50, 100]"),
            });
        }
        if bins == 0 {
            return Err(QuantError::Config {
                observer: NAME,
                reason: "the histogram needs at least one bin".into(),
            });
        }
        Ok(PercentileObserver {
            histogram: RangeHistogram::new(bins, false),
            percentile,
        })
    }

    /// The clipping range, before the scheme widens it to contain zero.
    pub fn clip_range(&self) -> Result<(f32, f32)> {
        let upper = self.percentile / 100.0;
        let lo = self.histogram.quantile(1.0 - upper);
        let hi = self.histogram.quantile(upper);
        lo.zip(hi).ok_or(QuantError::NoData { observer: NAME })
    }
}

impl Default for PercentileObserver {
    fn default() -> Self {
        PercentileObserver {
            histogram: RangeHistogram::new(DEFAULT_BINS, false),
            percentile: PERCENTILE_9999,
        }
    }
}

impl Observer for PercentileObserver {
    fn observe(&mut self, values: &[f32]) {
        self.histogram.observe(values);
    }

    fn merge(&mut self, other: &Self) {
        self.histogram.merge(&other.histogram);
    }

    fn qparams(&self, scheme: &QuantScheme) -> Result<QuantParams> {
        let (lo, hi) = self.clip_range()?;
        scheme.params_for_range(lo, hi)
    }
}
