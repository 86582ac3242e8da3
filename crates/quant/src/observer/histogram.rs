//! Histogram with an L2-error search for the clipping range: PyTorch's `HistogramObserver`.

use lowbit_tensor::QuantParams;

use crate::histogram::RangeHistogram;
use crate::observer::Observer;
use crate::{QuantError, QuantScheme, Result};

const NAME: &str = "HistogramObserver";

/// PyTorch's default number of histogram bins.
pub const DEFAULT_BINS: usize = 2048;

/// Levels the search assumes the range is quantized into.
///
/// PyTorch sets `dst_nbins = 2 ** bits(dtype)`, which is 256 for both u8 and i8 and does
/// not change with `reduce_range`; we keep that so clipping ranges agree with PyTorch.
pub const SEARCH_LEVELS: usize = 256;

/// Keeps a [`RangeHistogram`] of the values; `qparams` searches the `[min, max]` that
/// minimises the L2 quantization error over it (PyTorch's `_non_linear_param_search`,
/// itself from Caffe2's norm minimization), then applies the scheme's arithmetic.
///
/// Batch order matters slightly: when a batch widens the range, earlier counts are
/// re-binned (see [`RangeHistogram`]), which can move them by one bin. PyTorch behaves
/// the same way. [`Observer::merge`] re-bins both histograms onto the union range.
#[derive(Debug, Clone)]
pub struct HistogramObserver {
    histogram: RangeHistogram,
}

impl HistogramObserver {
    /// `bins` must be at least 1; PyTorch uses [`DEFAULT_BINS`].
    pub fn new(bins: usize) -> Result<Self> {
        if bins == 0 {
            return Err(QuantError::Config {
                observer: NAME,
                reason: "the histogram needs at least one bin".into(),
            });
        }
        Ok(HistogramObserver {
            histogram: RangeHistogram::new(bins, false),
        })
    }

    pub fn histogram(&self) -> &RangeHistogram {
        &self.histogram
    }

    /// The clipping range chosen by the L2 search, before the scheme widens it to zero.
    pub fn search_range(&self) -> Result<(f32, f32)> {
        let (lo, hi) = self
            .histogram
            .range()
            .ok_or(QuantError::NoData { observer: NAME })?;
        let (start, end) = l2_search(self.histogram.counts(), SEARCH_LEVELS);
        // f32 arithmetic as PyTorch does on its min/max tensors.
        let bin_width = (hi - lo) / self.histogram.bins() as f32;
        Ok((lo + bin_width * start as f32, lo + bin_width * (end + 1) as f32))
    }
}

impl Default for HistogramObserver {
    fn default() -> Self {
        HistogramObserver {
            histogram: RangeHistogram::new(DEFAULT_BINS, false),
        }
    }
}

impl Observer for HistogramObserver {
    fn observe(&mut self, values: &[f32]) {
        self.histogram.observe(values);
    }

    fn merge(&mut self, other: &Self) {
        self.histogram.merge(&other.histogram);
    }

    fn qparams(&self, scheme: &QuantScheme) -> Result<QuantParams> {
        let (lo, hi) = self.search_range()?;
        scheme.params_for_range(lo, hi)
    }
}

/// First and last bin (inclusive) of the range kept after trimming outliers.
///
/// Greedy: step a lower and an upper quantile inward by 1e-5 of the mass at a time, move
/// whichever end passes more bins, and stop as soon as the quantization error grows.
fn l2_search(counts: &[f64], levels: usize) -> (usize, usize) {
    const STEP: f64 = 1e-5;
    let bins = counts.len();
    let total: f64 = counts.iter().sum();
    let cumulative: Vec<f64> = counts
        .iter()
        .scan(0.0, |sum, &c| {
            *sum += c;
            Some(*sum)
        })
        .collect();
    let (mut alpha, mut beta) = (0.0f64, 1.0f64);
    let (mut start, mut end) = (0usize, bins - 1);
    let mut best = f64::INFINITY;
    while alpha < beta {
        let next_alpha = alpha + STEP;
        let next_beta = beta - STEP;
        let mut l = start;
        while l < end && cumulative[l] < next_alpha * total {
            l += 1;
        }
        let mut r = end;
        while r > start && cumulative[r] > next_beta * total {
            r -= 1;
        }
        let (mut next_start, mut next_end) = (start, end);
        if l - start > end - r {
            next_start = l;
            alpha = next_alpha;
        } else {
            next_end = r;
            beta = next_beta;
        }
        if (next_start, next_end) == (start, end) {
            continue;
        }
        let error = quantization_error(counts, next_start, next_end, levels);
        if error > best {
            break;
        }
        best = error;
        start = next_start;
        end = next_end;
    }
    (start, end)
}

/// L2 error of quantizing the histogram with `levels` equal steps spanning bins
/// `start..=end`, values spread uniformly inside each bin.
///
/// Lengths are in units of one histogram bin: the argmin does not depend on the unit,
/// and the degenerate zero-width case needs no special handling.
fn quantization_error(counts: &[f64], start: usize, end: usize, levels: usize) -> f64 {
    let step = (end - start + 1) as f64 / levels as f64;
    let last_level = (levels - 1) as f64;
    let half = step / 2.0;
    // Integral of x^2 over [a, b].
    let norm = |a: f64, b: f64| (b * b * b - a * a * a) / 3.0;
    let full_level = norm(-half, half);
    let mut error = 0.0;
    for (i, &density) in counts.iter().enumerate() {
        if density == 0.0 {
            continue;
        }
        let begin = i as f64 - start as f64;
        let end = begin + 1.0;
        let level_of_begin = (begin / step).floor().clamp(0.0, last_level);
        let level_of_end = (end / step).floor().clamp(0.0, last_level);
        let begin_center = (level_of_begin + 0.5) * step;
        let end_center = level_of_end * step + half;
        // Same three terms as PyTorch's `_compute_quantization_error`: the part of the bin
        // in its first level, the whole levels it spans, and the part in its last level.
        // When begin and end share a level the middle term is -1 full level, which makes
        // the sum the integral over [begin, end] around that level's center.
        error += density
            * (norm(begin - begin_center, half)
                + (level_of_end - level_of_begin - 1.0) * full_level
                + norm(-half, end - end_center));
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error of a bin sitting inside one level is the integral of x^2 over it.
    #[test]
    fn error_of_one_bin_inside_one_level() {
        // 4 bins onto 2 levels: step 2 bins. Bin 0 spans [0, 1] of level 0 (center 1).
        let counts = [1.0, 0.0, 0.0, 0.0];
        let expected = (0.0f64.powi(3) - (-1.0f64).powi(3)) / 3.0;
        assert!((quantization_error(&counts, 0, 3, 2) - expected).abs() < 1e-12);
    }

    #[test]
    fn search_trims_a_lone_outlier() {
        let mut counts = vec![0.0; 2048];
        for c in counts.iter_mut().take(200) {
            *c = 100.0;
        }
        counts[2047] = 1.0;
        let (start, end) = l2_search(&counts, SEARCH_LEVELS);
        assert_eq!(start, 0);
        assert!(end < 2047, "end {end}");
        assert!(end >= 199, "end {end}");
    }

    #[test]
    fn no_data_is_an_error() {
        let obs = HistogramObserver::default();
        assert!(matches!(
            obs.qparams(&QuantScheme::u8_affine()),
            Err(QuantError::NoData { .. })
        ));
    }
}
