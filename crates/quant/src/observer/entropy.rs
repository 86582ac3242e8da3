//! KL-divergence (entropy) calibration over `|x|`: TensorRT's INT8 calibration method.

use lowbit_tensor::QuantParams;

use crate::histogram::{finite_extent, RangeHistogram};
use crate::observer::min_max::union;
use crate::observer::Observer;
use crate::{QuantError, QuantScheme, Result};

const NAME: &str = "EntropyObserver";

/// Default histogram resolution over `[0, max|x|]`.
pub const DEFAULT_BINS: usize = 2048;
/// Default number of quantized levels on one side of zero (8-bit symmetric).
pub const DEFAULT_QUANTIZED_BINS: usize = 128;

/// Mass given to empty bins before the divergence is taken, so that a bin the reference
/// has but the candidate lacks costs a large finite amount instead of infinity.
const SMOOTHING: f64 = 1e-4;

/// Histogram of `|x|` over `[0, max|x|]`; `qparams` picks the threshold `T` whose
/// clipped-and-quantized distribution is closest in KL divergence to the clipped one,
/// trying every bin edge from `quantized_bins` to `bins`, then quantizes
/// `[max(-T, min), min(T, max)]` (the observed signed range, clipped).
///
/// Every candidate threshold is a real choice: with the defaults that is 1921 of them
/// (ONNX Runtime's entropy calibrator defaults to equal numbers of bins and quantized
/// bins, which leaves one). Batch order matters only through histogram re-binning when
/// `max|x|` grows, by at most one bin.
#[derive(Debug, Clone)]
pub struct EntropyObserver {
    magnitudes: RangeHistogram,
    quantized_bins: usize,
    signed_range: Option<(f32, f32)>,
}

impl EntropyObserver {
    /// `quantized_bins` must be at least 1 and at most `bins`.
    pub fn new(bins: usize, quantized_bins: usize) -> Result<Self> {
        if quantized_bins == 0 || quantized_bins > bins {
            return Err(QuantError::Config {
                observer: NAME,
                reason: format!("{quantized_bins} quantized bins must be in 1..={bins} (the histogram bins)"),
            });
        }
        Ok(EntropyObserver {
            magnitudes: RangeHistogram::new(bins, true),
            quantized_bins,
            signed_range: None,
        })
    }

    /// The chosen clipping threshold on `|x|`.
    pub fn threshold(&self) -> Result<f32> {
        let (_, amax) = self
            .magnitudes
            .range()
            .ok_or(QuantError::NoData { observer: NAME })?;
        let counts = self.magnitudes.counts();
        let kept = best_bin_count(counts, self.quantized_bins);
        Ok((amax as f64 * kept as f64 / counts.len() as f64) as f32)
    }
}

impl Default for EntropyObserver {
    fn default() -> Self {
        EntropyObserver {
            magnitudes: RangeHistogram::new(DEFAULT_BINS, true),
            quantized_bins: DEFAULT_QUANTIZED_BINS,
            signed_range: None,
        }
    }
}

impl Observer for EntropyObserver {
    fn observe(&mut self, values: &[f32]) {
        self.magnitudes.observe_magnitudes(values);
        self.signed_range = union(self.signed_range, finite_extent(values, |x| x));
    }

    fn merge(&mut self, other: &Self) {
        self.magnitudes.merge(&other.magnitudes);
        self.signed_range = union(self.signed_range, other.signed_range);
    }

    fn qparams(&self, scheme: &QuantScheme) -> Result<QuantParams> {
        let threshold = self.threshold()?;
        let (lo, hi) = self.signed_range.ok_or(QuantError::NoData { observer: NAME })?;
        scheme.params_for_range(lo.max(-threshold), hi.min(threshold))
    }
}

/// The number of leading bins `i` (in `quantized_bins..=bins`) minimising
/// `KL(P_i || Q_i)`, where `P_i` is the first `i` bins with the mass beyond them added to
/// bin `i - 1`, and `Q_i` is those `i` bins (without the outliers) merged into
/// `quantized_bins` groups and spread back evenly over each group's non-empty bins.
fn best_bin_count(counts: &[f64], quantized_bins: usize) -> usize {
    let bins = counts.len();
    let mut beyond: f64 = counts[quantized_bins..].iter().sum();
    let mut best = (f64::INFINITY, bins);
    let mut reference = Vec::with_capacity(bins);
    let mut candidate = Vec::with_capacity(bins);
    for kept in quantized_bins..=bins {
        let sliced = &counts[..kept];
        reference.clear();
        reference.extend_from_slice(sliced);
        reference[kept - 1] += beyond;
        if kept < bins {
            beyond -= counts[kept];
        }
        expand_quantized(sliced, quantized_bins, &mut candidate);
        let divergence = kl_divergence(&mut reference, &mut candidate);
        // Ties keep the smallest threshold, as TensorRT's argmin does.
        if divergence < best.0 {
            best = (divergence, kept);
        }
    }
    best.1
}

/// Merges `sliced` into `groups` groups (the remainder goes to the last one) and writes,
/// for each bin, its group's mass shared among the group's non-empty bins.
fn expand_quantized(sliced: &[f64], groups: usize, out: &mut Vec<f64>) {
    out.clear();
    out.resize(sliced.len(), 0.0);
    let per_group = sliced.len() / groups;
    for g in 0..groups {
        let begin = g * per_group;
        let end = if g == groups - 1 {
            sliced.len()
        } else {
            begin + per_group
        };
        let group = &sliced[begin..end];
        let nonzero = group.iter().filter(|&&c| c != 0.0).count();
        if nonzero == 0 {
            continue;
        }
        let share = group.iter().sum::<f64>() / nonzero as f64;
        for (o, &c) in out[begin..end].iter_mut().zip(group) {
            if c != 0.0 {
                *o = share;
            }
        }
    }
}

/// `KL(p || q)` after normalising both and smoothing empty bins; `inf` if either is empty.
fn kl_divergence(p: &mut [f64], q: &mut [f64]) -> f64 {
    if !(smooth(p) && smooth(q)) {
        return f64::INFINITY;
    }
    p.iter()
        .zip(q.iter())
        .filter(|(&pi, _)| pi > 0.0)
        .map(|(&pi, &qi)| pi * (pi / qi).ln())
        .sum()
}

/// Normalises to a probability distribution in which each empty bin gets a small mass
/// `eps` taken proportionally from the others (so every bin stays positive). Returns
/// false for an all-zero input.
fn smooth(dist: &mut [f64]) -> bool {
    let total: f64 = dist.iter().sum();
    if total <= 0.0 {
        return false;
    }
    let zeros = dist.iter().filter(|&&c| c == 0.0).count();
    // At most half of the mass moves to empty bins, whatever the bin count.
    let eps = SMOOTHING.min(0.5 / dist.len() as f64);
    let kept = 1.0 - eps * zeros as f64;
    for c in dist.iter_mut() {
        *c = if *c == 0.0 { eps } else { *c / total * kept };
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expand_shares_group_mass_over_nonempty_bins() {
        let mut out = Vec::new();
        expand_quantized(&[2.0, 0.0, 1.0, 3.0, 5.0], 2, &mut out);
        // Groups [2, 0] and [1, 3, 5] (the remainder joins the last group).
        assert_eq!(out, vec![2.0, 0.0, 3.0, 3.0, 3.0]);
    }

    #[test]
    fn identical_distributions_have_zero_divergence() {
        let mut p = vec![1.0, 2.0, 3.0];
        let mut q = vec![2.0, 4.0, 6.0];
        assert!(kl_divergence(&mut p, &mut q).abs() < 1e-12);
    }

    #[test]
    fn rejects_more_quantized_bins_than_bins() {
        assert!(EntropyObserver::new(64, 128).is_err());
        assert!(EntropyObserver::new(64, 0).is_err());
        assert!(EntropyObserver::new(128, 128).is_ok());
    }
}
