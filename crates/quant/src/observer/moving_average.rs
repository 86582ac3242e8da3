//! Exponential moving average of batch min and max: PyTorch's `MovingAverageMinMaxObserver`.

use lowbit_tensor::QuantParams;

use crate::histogram::finite_extent;
use crate::observer::Observer;
use crate::{QuantError, QuantScheme, Result};

/// PyTorch's default weight of the newest batch.
pub const DEFAULT_AVERAGING_CONSTANT: f32 = 0.01;

/// `min += c * (batch_min - min)` (same for max) for each batch; the first batch sets
/// the range.
///
/// Unlike the other observers this one depends on how the data is cut into batches and
/// in which order they come: that is what a moving average is for (QAT, where ranges
/// drift). [`Observer::merge`] can therefore only approximate: it averages the two
/// running ranges weighted by their batch counts.
#[derive(Debug, Clone)]
pub struct MovingAverageMinMaxObserver {
    averaging_constant: f32,
    range: Option<(f32, f32)>,
    batches: u64,
}

impl MovingAverageMinMaxObserver {
    /// `averaging_constant` must be in `(0, 1]`; 1 keeps only the last batch.
    pub fn new(averaging_constant: f32) -> Result<Self> {
        if !(averaging_constant > 0.0 && averaging_constant <= 1.0) {
            return Err(QuantError::Config {
                observer: "MovingAverageMinMaxObserver",
                reason: format!("averaging constant {averaging_constant} is not in (0, 1]"),
            });
        }
        Ok(MovingAverageMinMaxObserver {
            averaging_constant,
            range: None,
            batches: 0,
        })
    }

    pub fn range(&self) -> Option<(f32, f32)> {
        self.range
    }
}

impl Default for MovingAverageMinMaxObserver {
    fn default() -> Self {
        MovingAverageMinMaxObserver {
            averaging_constant: DEFAULT_AVERAGING_CONSTANT,
            range: None,
            batches: 0,
        }
    }
}

impl Observer for MovingAverageMinMaxObserver {
    fn observe(&mut self, values: &[f32]) {
        let Some((lo, hi)) = finite_extent(values, |x| x) else {
            return;
        };
        let c = self.averaging_constant;
        self.range = Some(match self.range {
            None => (lo, hi),
            Some((min, max)) => (min + c * (lo - min), max + c * (hi - max)),
        });
        self.batches += 1;
    }

    fn merge(&mut self, other: &Self) {
        self.range = match (self.range, other.range) {
            (Some((a_lo, a_hi)), Some((b_lo, b_hi))) => {
                let total = (self.batches + other.batches) as f64;
                let (wa, wb) = (self.batches as f64 / total, other.batches as f64 / total);
                let mix = |a: f32, b: f32| (wa * a as f64 + wb * b as f64) as f32;
                Some((mix(a_lo, b_lo), mix(a_hi, b_hi)))
            }
            (a, b) => a.or(b),
        };
        self.batches += other.batches;
    }

    fn qparams(&self, scheme: &QuantScheme) -> Result<QuantParams> {
        let (lo, hi) = self.range.ok_or(QuantError::NoData {
            observer: "MovingAverageMinMaxObserver",
        })?;
        scheme.params_for_range(lo, hi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_batch_sets_range_then_averages() {
        let mut obs = MovingAverageMinMaxObserver::new(0.5).unwrap();
        obs.observe(&[-1.0, 3.0]);
        assert_eq!(obs.range(), Some((-1.0, 3.0)));
        obs.observe(&[-3.0, 1.0]);
        assert_eq!(obs.range(), Some((-2.0, 2.0)));
        obs.observe(&[f32::NAN]);
        assert_eq!(obs.range(), Some((-2.0, 2.0)));
    }

    #[test]
    fn default_constant_is_pytorchs() {
        let mut obs = MovingAverageMinMaxObserver::default();
        obs.observe(&[0.0, 1.0]);
        obs.observe(&[0.0, 2.0]);
        assert_eq!(obs.range(), Some((0.0, 1.0 + 0.01 * (2.0 - 1.0))));
    }

    #[test]
    fn merge_weights_by_batch_count() {
        let mut a = MovingAverageMinMaxObserver::default();
        a.observe(&[0.0, 1.0]);
        a.observe(&[0.0, 1.0]);
        a.observe(&[0.0, 1.0]);
        let mut b = MovingAverageMinMaxObserver::default();
        b.observe(&[-4.0, 5.0]);
        a.merge(&b);
        assert_eq!(a.range(), Some((-1.0, 2.0)));
    }

    #[test]
    fn rejects_bad_constant() {
        assert!(MovingAverageMinMaxObserver::new(0.0).is_err());
        assert!(MovingAverageMinMaxObserver::new(1.5).is_err());
        assert!(MovingAverageMinMaxObserver::new(f32::NAN).is_err());
        assert!(MovingAverageMinMaxObserver::new(1.0).is_ok());
    }
}
