//! Running min and max: PyTorch's `MinMaxObserver`.

use lowbit_tensor::QuantParams;

use crate::histogram::finite_extent;
use crate::observer::Observer;
use crate::{QuantError, QuantScheme, Result};

/// Tracks the smallest and largest value seen. Order- and batch-independent:
/// merging observers of any split of the data equals observing all of it.
#[derive(Debug, Clone, Default)]
pub struct MinMaxObserver {
    range: Option<(f32, f32)>,
}

impl MinMaxObserver {
    pub fn new() -> Self {
        Self::default()
    }

    /// `(min, max)` of the finite values seen so far.
    pub fn range(&self) -> Option<(f32, f32)> {
        self.range
    }
}

pub(crate) fn union(a: Option<(f32, f32)>, b: Option<(f32, f32)>) -> Option<(f32, f32)> {
    match (a, b) {
        (Some((a_lo, a_hi)), Some((b_lo, b_hi))) => Some((a_lo.min(b_lo), a_hi.max(b_hi))),
        (a, b) => a.or(b),
    }
}

impl Observer for MinMaxObserver {
    fn observe(&mut self, values: &[f32]) {
        self.range = union(self.range, finite_extent(values, |x| x));
    }

    fn merge(&mut self, other: &Self) {
        self.range = union(self.range, other.range);
    }

    fn qparams(&self, scheme: &QuantScheme) -> Result<QuantParams> {
        let (lo, hi) = self.range.ok_or(QuantError::NoData {
            observer: "MinMaxObserver",
        })?;
        scheme.params_for_range(lo, hi)
    }
}
