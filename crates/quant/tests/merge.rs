//! Merging observers of two halves of the data versus one observer of all of it.

use lowbit_quant::{
    ChannelObserver, EntropyObserver, HistogramObserver, MinMaxObserver, MseObserver, Observer,
    PerChannelMinMaxObserver, PercentileObserver, QuantScheme, RangeHistogram,
};
use lowbit_tensor::Tensor;
use rand::{rngs::StdRng, SeedableRng};
use rand_distr::{Distribution, Normal};

fn normal(seed: u64, n: usize, mean: f32, std: f32) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    let dist = Normal::new(mean, std).unwrap();
    (0..n).map(|_| dist.sample(&mut rng)).collect()
}

/// Two halves with different ranges, so merging has to re-bin.
fn halves() -> (Vec<f32>, Vec<f32>) {
    (normal(1, 20_000, -0.5, 1.0), normal(2, 30_000, 1.0, 2.0))
}

fn all(a: &[f32], b: &[f32]) -> Vec<f32> {
    [a, b].concat()
}

fn merged<O: Observer + Clone>(empty: &O, a: &[f32], b: &[f32]) -> (O, O) {
    let (mut left, mut right, mut whole) = (empty.clone(), empty.clone(), empty.clone());
    left.observe(a);
    right.observe(b);
    left.merge(&right);
    whole.observe(&all(a, b));
    (left, whole)
}

#[test]
fn min_max_merge_is_exact() {
    let (a, b) = halves();
    let (merged, whole) = merged(&MinMaxObserver::new(), &a, &b);
    assert_eq!(merged.range(), whole.range());
    let scheme = QuantScheme::u8_affine();
    assert_eq!(merged.qparams(&scheme).unwrap(), whole.qparams(&scheme).unwrap());
    // Merging into an empty observer copies.
    let mut empty = MinMaxObserver::new();
    empty.merge(&whole);
    assert_eq!(empty.range(), whole.range());
}

#[test]
fn per_channel_merge_is_exact() {
    let first = Tensor::new(vec![4, 3, 5], normal(3, 60, 0.0, 1.0)).unwrap();
    let second = Tensor::new(vec![2, 3, 5], normal(4, 30, 0.5, 3.0)).unwrap();
    let (mut left, mut right, mut whole) = (
        PerChannelMinMaxObserver::new(1),
        PerChannelMinMaxObserver::new(1),
        PerChannelMinMaxObserver::new(1),
    );
    left.observe_tensor(&first).unwrap();
    right.observe_tensor(&second).unwrap();
    left.merge(&right).unwrap();
    whole.observe_tensor(&first).unwrap();
    whole.observe_tensor(&second).unwrap();
    assert_eq!(left.ranges(), whole.ranges());
    let scheme = QuantScheme::i8_symmetric();
    assert_eq!(left.qparams(&scheme).unwrap(), whole.qparams(&scheme).unwrap());
    let other_channels = PerChannelMinMaxObserver::new(0);
    let mut four = PerChannelMinMaxObserver::new(0);
    four.observe_tensor(&first).unwrap();
    assert!(left.merge(&four).is_err());
    assert!(left.merge(&other_channels).is_ok());
}

/// Every count of the merged histogram is within one bin of where the single pass put
/// it: the merged cumulative count at bin `i` lies between the single-pass ones at
/// `i - 1` and `i + 1`.
#[test]
fn merged_histogram_moves_mass_by_at_most_one_bin() {
    let (a, b) = halves();
    let (mut left, mut right, mut whole) = (
        RangeHistogram::new(2048, false),
        RangeHistogram::new(2048, false),
        RangeHistogram::new(2048, false),
    );
    left.observe(&a);
    right.observe(&b);
    left.merge(&right);
    whole.observe(&all(&a, &b));
    assert_eq!(left.range(), whole.range());
    assert!((left.total() - whole.total()).abs() < 1e-6);
    let cumulative = |h: &RangeHistogram| {
        h.counts()
            .iter()
            .scan(0.0, |s, &c| {
                *s += c;
                Some(*s)
            })
            .collect::<Vec<f64>>()
    };
    let (m, w) = (cumulative(&left), cumulative(&whole));
    for i in 0..m.len() {
        let below = if i == 0 { 0.0 } else { w[i - 1] };
        let above = w[(i + 1).min(w.len() - 1)];
        assert!(
            m[i] >= below - 1e-6 && m[i] <= above + 1e-6,
            "bin {i}: merged cumulative {} outside [{below}, {above}]",
            m[i]
        );
    }
}

/// Width of one of 2048 bins over the whole data's range.
fn data_bin(a: &[f32], b: &[f32]) -> f32 {
    let mut extent = MinMaxObserver::new();
    extent.observe(&all(a, b));
    let (lo, hi) = extent.range().unwrap();
    (hi - lo) / 2048.0
}

#[test]
fn histogram_observer_merge_within_one_bin() {
    let (a, b) = halves();
    let (merged, whole) = merged(&HistogramObserver::default(), &a, &b);
    let bin = data_bin(&a, &b);
    let (m, w) = (merged.search_range().unwrap(), whole.search_range().unwrap());
    assert!(
        (m.0 - w.0).abs() <= bin && (m.1 - w.1).abs() <= bin,
        "{m:?} vs {w:?}"
    );
}

#[test]
fn percentile_merge_within_one_bin() {
    let (a, b) = halves();
    let (merged, whole) = merged(&PercentileObserver::default(), &a, &b);
    let bin = data_bin(&a, &b);
    let (m, w) = (merged.clip_range().unwrap(), whole.clip_range().unwrap());
    assert!(
        (m.0 - w.0).abs() <= bin && (m.1 - w.1).abs() <= bin,
        "{m:?} vs {w:?}"
    );
}

#[test]
fn mse_and_entropy_merge_within_one_bin() {
    let (a, b) = halves();
    let scheme = QuantScheme::u8_affine();
    let (merged_mse, whole_mse) = merged(&MseObserver::default(), &a, &b);
    let (m, w) = (
        merged_mse.clip_range(&scheme).unwrap(),
        whole_mse.clip_range(&scheme).unwrap(),
    );
    // The MSE grid steps by 1 % of the range, far coarser than a bin: same choice expected.
    assert_eq!(m, w);

    let bin = data_bin(&a, &b);
    let (merged_kl, whole_kl) = merged(&EntropyObserver::default(), &a, &b);
    let (m, w) = (merged_kl.threshold().unwrap(), whole_kl.threshold().unwrap());
    assert!((m - w).abs() <= bin, "threshold {m} vs {w} (bin {bin})");
}

/// Re-binning makes histogram observers depend on batch order; the effect stays within
/// one bin (batches of growing spread, fed forwards and backwards).
#[test]
fn batch_order_moves_histogram_results_by_at_most_one_bin() {
    let batches: Vec<Vec<f32>> = (0..8)
        .map(|k| normal(20 + k, 5_000, 0.1 * k as f32, 0.5 + 0.4 * k as f32))
        .collect();
    let (mut forward, mut backward) = (HistogramObserver::default(), HistogramObserver::default());
    let (mut forward_p, mut backward_p) = (PercentileObserver::default(), PercentileObserver::default());
    for batch in &batches {
        forward.observe(batch);
        forward_p.observe(batch);
    }
    for batch in batches.iter().rev() {
        backward.observe(batch);
        backward_p.observe(batch);
    }
    let everything = batches.concat();
    let bin = data_bin(&everything, &[]);
    let (f, b) = (forward.search_range().unwrap(), backward.search_range().unwrap());
    assert!(
        (f.0 - b.0).abs() <= bin && (f.1 - b.1).abs() <= bin,
        "{f:?} vs {b:?}"
    );
    let (f, b) = (forward_p.clip_range().unwrap(), backward_p.clip_range().unwrap());
    assert!(
        (f.0 - b.0).abs() <= bin && (f.1 - b.1).abs() <= bin,
        "{f:?} vs {b:?}"
    );
}
