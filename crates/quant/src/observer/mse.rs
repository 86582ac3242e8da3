//! Grid search of the clipping range minimising quantize-dequantize MSE.

use lowbit_tensor::QuantParams;

use crate::histogram::RangeHistogram;
use crate::observer::Observer;
use crate::qparams::fake_quantize;
use crate::{QuantError, QuantScheme, Result};

const NAME: &str = "MseObserver";

/// Default histogram resolution.
pub const DEFAULT_BINS: usize = 2048;
/// Default number of clipping factors tried: `alpha = k / steps` for `k = 1..=steps`.
pub const DEFAULT_STEPS: usize = 100;

/// Points per bin at which the round-trip error is sampled (midpoint rule). One point
/// would alias once a clipped quantization step gets close to the bin width.
const SAMPLES_PER_BIN: usize = 8;

/// Tries the clipping ranges `[alpha * min, alpha * max]` (with min and max widened to
/// contain zero) for `alpha` on a uniform grid in `(0, 1]`, and keeps the one whose
/// quantize-dequantize mean squared error, measured on the histogram with the scheme's
/// own scale and zero point, is smallest. The search runs per scheme, in `qparams`.
/// Batch order matters only through re-binning when the range grows, by at most one bin.
#[derive(Debug, Clone)]
pub struct MseObserver {
    histogram: RangeHistogram,
    steps: usize,
}

impl MseObserver {
    /// `bins` and `steps` must be at least 1.
    pub fn new(bins: usize, steps: usize) -> Result<Self> {
        if bins == 0 || steps == 0 {
            return Err(QuantError::Config {
                observer: NAME,
                reason: format!("bins ({bins}) and steps ({steps}) must be at least 1"),
            });
        }
        Ok(MseObserver {
            histogram: RangeHistogram::new(bins, false),
            steps,
        })
    }

    /// The clipping range with the smallest error under `scheme`.
    pub fn clip_range(&self, scheme: &QuantScheme) -> Result<(f32, f32)> {
        let (lo, hi) = self
            .histogram
            .range()
            .ok_or(QuantError::NoData { observer: NAME })?;
        let (min_neg, max_pos) = (lo.min(0.0), hi.max(0.0));
        let mut best = (f64::INFINITY, (min_neg, max_pos));
        for k in 1..=self.steps {
            let alpha = k as f32 / self.steps as f32;
            let clip = (alpha * min_neg, alpha * max_pos);
            let error = self.round_trip_error(scheme, clip);
            // `<=` prefers the wider range on ties, so no clipping is the fallback.
            if error <= best.0 {
                best = (error, clip);
            }
        }
        Ok(best.1)
    }

    /// Sum over histogram samples of `count * (x - fake_quantize(x))^2`.
    fn round_trip_error(&self, scheme: &QuantScheme, clip: (f32, f32)) -> f64 {
        let Some((lo, hi)) = self.histogram.range() else {
            return 0.0;
        };
        let (scale, zero_point) = scheme.scale_zero_point(clip.0, clip.1);
        let qrange = scheme.qrange();
        let counts = self.histogram.counts();
        let sample_width = (hi as f64 - lo as f64) / (counts.len() * SAMPLES_PER_BIN) as f64;
        let mut error = 0.0;
        for (i, &count) in counts.iter().enumerate() {
            if count == 0.0 {
                continue;
            }
            let weight = count / SAMPLES_PER_BIN as f64;
            for s in 0..SAMPLES_PER_BIN {
                let x = (lo as f64 + ((i * SAMPLES_PER_BIN + s) as f64 + 0.5) * sample_width) as f32;
                let diff = (x - fake_quantize(x, scale, zero_point, qrange)) as f64;
                error += weight * diff * diff;
            }
        }
        error
    }
}

impl Default for MseObserver {
    fn default() -> Self {
        MseObserver {
            histogram: RangeHistogram::new(DEFAULT_BINS, false),
            steps: DEFAULT_STEPS,
        }
    }
}

impl Observer for MseObserver {
    fn observe(&mut self, values: &[f32]) {
        self.histogram.observe(values);
    }

    fn merge(&mut self, other: &Self) {
        self.histogram.merge(&other.histogram);
    }

    fn qparams(&self, scheme: &QuantScheme) -> Result<QuantParams> {
        let (lo, hi) = self.clip_range(scheme)?;
        scheme.params_for_range(lo, hi)
    }
}
