//! KL-divergence (entropy) calibration over `|x|`: TensorRT's INT8 calibration method.

use lowbit_tensor::QuantParams;

use crate::histogram::{finite_extent, RangeHistogram};
use crate::observer::min_max::union;
use crate::observer::Observer;
use crate::{QuantError, QuantScheme, Result};

const NAME: &str = "EntropyObserver";

/// Default histogram resolution over `[0, max|x|]`.
pub const DEFAULT_BINS: usize = 2048;
/// Mass given to empty bins before the divergence is taken, so that a bin the reference
/// has but the candidate lacks costs a large finite amount instead of infinity.
const SMOOTHING: f64 = 1e-4;

/// Histogram of `|x|` over `[0, max|x|]`; `qparams` picks the threshold `T` whose
/// clipped-and-quantized distribution is closest in KL divergence to the clipped one,
/// trying every bin edge from `quantized_bins` to `bins`, then quantizes
/// `[max(-T, min), min(T, max)]` (the observed signed range, clipped).
///
/// - The number of quantized bins is the number of integer levels `[0, T]` really
///   gets: all of the scheme's levels when the data has one sign (u8 codes cover
///   `[0, T]` alone), half of them when it has both. Fixing it at 128 for
///   one-signed data, as TensorRT's symmetric i8 does, asks for half the resolution the
///   u8 scheme has and clips twice as hard. [`EntropyObserver::new`] can fix it.
/// - Bin 0 (values near zero) is given the count of bin 1 before the search, as
///   NVIDIA's pytorch-quantization does: the spike of exact zeros after a ReLU otherwise
///   dominates both distributions and makes every candidate look alike.
/// - Every candidate threshold is a real choice: with 2048 bins and 256 levels that is
///   1793 of them (ONNX Runtime's entropy calibrator defaults to equal numbers of bins
///   and quantized bins, which leaves one).
///
/// Batch order matters only through histogram re-binning when `max|x|` grows, by at
/// most one bin.
#[derive(Debug, Clone)]
pub struct EntropyObserver {
    magnitudes: RangeHistogram,
    /// Quantized bins on `[0, T]`; `None` derives them from the scheme and the sign.
    quantized_bins: Option<usize>,
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
            quantized_bins: Some(quantized_bins),
            signed_range: None,
        })
    }

    /// The chosen clipping threshold on `|x|`, for 8-bit codes.
    pub fn threshold(&self) -> Result<f32> {
        self.threshold_for_levels(256)
    }

    /// The threshold when the quantized range has `levels` integer codes.
    fn threshold_for_levels(&self, levels: usize) -> Result<f32> {
        let (_, amax) = self
            .magnitudes
            .range()
            .ok_or(QuantError::NoData { observer: NAME })?;
        let one_signed = self.signed_range.is_some_and(|(lo, hi)| lo >= 0.0 || hi <= 0.0);
        let per_side = if one_signed { levels } else { levels / 2 };
        let mut counts = self.magnitudes.counts().to_vec();
        let bins = counts.len();
        let quantized_bins = self.quantized_bins.unwrap_or(per_side).clamp(1, bins);
        if bins > 1 {
            counts[0] = counts[1];
        }
        let kept = best_bin_count(&counts, quantized_bins);
        Ok((amax as f64 * kept as f64 / bins as f64) as f32)
    }
}

impl Default for EntropyObserver {
    fn default() -> Self {
        EntropyObserver {
            magnitudes: RangeHistogram::new(DEFAULT_BINS, true),
            quantized_bins: None,
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
        let (qmin, qmax) = scheme.qrange();
        let threshold = self.threshold_for_levels((qmax - qmin + 1) as usize)?;
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

    /// 90% exact zeros (a ReLU output) and an exponential tail whose 99th percentile
    /// is ln(100) ≈ 4.6: without evening out bin 0, the zero spike makes the search
    /// clip inside the bulk of the tail.
    #[test]
    fn zero_spike_does_not_collapse_the_threshold() {
        let mut values = vec![0.0f32; 90_000];
        values.extend((0..10_000).map(|i| -(1.0 - (i as f32 + 0.5) / 10_000.0).ln()));
        let mut obs = EntropyObserver::default();
        obs.observe(&values);
        let threshold = obs.threshold().unwrap();
        assert!(threshold > 4.6, "threshold {threshold}");
    }

    /// u8 codes cover `[0, T]` alone for one-signed data: the default search uses all
    /// 256 levels, and so affords a wider range than with TensorRT's 128.
    #[test]
    fn one_signed_data_gets_every_level() {
        // Pareto (alpha 2) quantiles: a heavy one-sided tail worth clipping.
        let values: Vec<f32> = (0..50_000)
            .map(|i| (1.0 - (i as f32 + 0.5) / 50_000.0).powf(-0.5) - 1.0)
            .collect();
        let mut derived = EntropyObserver::default();
        let mut fixed = EntropyObserver::new(DEFAULT_BINS, 128).unwrap();
        derived.observe(&values);
        fixed.observe(&values);
        let (wide, narrow) = (derived.threshold().unwrap(), fixed.threshold().unwrap());
        assert!(wide > narrow, "256 levels {wide} vs 128 levels {narrow}");
    }

    #[test]
    fn rejects_more_quantized_bins_than_bins() {
        assert!(EntropyObserver::new(64, 128).is_err());
        assert!(EntropyObserver::new(64, 0).is_err());
        assert!(EntropyObserver::new(128, 128).is_ok());
    }
}
