//! The clipping calibrators (percentile, KL entropy, MSE) on distributions whose answer
//! is known.

use lowbit_quant::{
    fake_quantize, EntropyObserver, MinMaxObserver, MseObserver, Observer, PercentileObserver, QuantError,
    QuantScheme,
};
use rand::{rngs::StdRng, Rng, SeedableRng};
use rand_distr::{Distribution, Normal, StudentT};

fn sample<D: Distribution<f32>>(dist: D, seed: u64, n: usize) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| dist.sample(&mut rng)).collect()
}

/// Mean squared quantize-dequantize error of `values` under the observer's parameters.
fn round_trip_mse(values: &[f32], observer: &impl Observer, scheme: &QuantScheme) -> f64 {
    let q = observer.qparams(scheme).unwrap();
    let (scale, zero_point) = (q.scale[0], q.zero_point[0]);
    let sum: f64 = values
        .iter()
        .map(|&x| {
            let d = (x - fake_quantize(x, scale, zero_point, scheme.qrange())) as f64;
            d * d
        })
        .sum();
    sum / values.len() as f64
}

#[test]
fn percentile_of_an_evenly_spread_ramp() {
    // 0, 1/N, ..., 1 in batches: the p-quantile is p itself.
    let n = 1_000_000;
    let ramp: Vec<f32> = (0..=n).map(|i| i as f32 / n as f32).collect();
    let bin = 1.0 / 2048.0;
    for p in [99.0, 99.99, 99.999] {
        let mut obs = PercentileObserver::new(p, 2048).unwrap();
        for batch in ramp.chunks(4096) {
            obs.observe(batch);
        }
        let (lo, hi) = obs.clip_range().unwrap();
        let q = (p / 100.0) as f32;
        assert!((hi - q).abs() <= bin, "p {p}: upper {hi} vs {q}");
        assert!((lo - (1.0 - q)).abs() <= bin, "p {p}: lower {lo} vs {}", 1.0 - q);
    }
}

#[test]
fn percentile_of_a_normal_distribution() {
    let values = sample(Normal::new(0.0f32, 1.0).unwrap(), 11, 1_000_000);
    let mut obs = PercentileObserver::default();
    obs.observe(&values);
    let (lo, hi) = obs.clip_range().unwrap();
    // The 99.99th percentile of N(0, 1) is 3.719; sampling noise at 1e6 values is ~0.03.
    assert!((hi - 3.719).abs() < 0.08, "upper {hi}");
    assert!((lo + 3.719).abs() < 0.08, "lower {lo}");
    let q = obs.qparams(&QuantScheme::i8_symmetric()).unwrap();
    assert!((q.scale[0] - hi.max(-lo) / 127.5).abs() < 1e-6);
}

#[test]
fn percentile_rejects_bad_configuration() {
    assert!(matches!(
        PercentileObserver::new(40.0, 2048),
        Err(QuantError::Config { .. })
    ));
    assert!(PercentileObserver::new(100.5, 2048).is_err());
    assert!(PercentileObserver::new(99.9, 0).is_err());
}

#[test]
fn entropy_clips_a_heavy_tail_and_keeps_a_uniform_range() {
    let heavy = sample(StudentT::new(2.0f32).unwrap(), 12, 200_000);
    let mut obs = EntropyObserver::default();
    obs.observe(&heavy);
    let amax = heavy.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let threshold = obs.threshold().unwrap();
    println!("student-t(2): max |x| {amax}, KL threshold {threshold}");
    assert!(threshold < 0.5 * amax, "threshold {threshold} vs max {amax}");

    let mut rng = StdRng::seed_from_u64(13);
    let uniform: Vec<f32> = (0..200_000).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
    let mut obs = EntropyObserver::default();
    obs.observe(&uniform);
    let threshold = obs.threshold().unwrap();
    println!("uniform(-1, 1): KL threshold {threshold}");
    assert!(threshold > 0.95, "threshold {threshold}");
}

#[test]
fn entropy_range_respects_the_sign_of_the_data() {
    // Non-negative data: the affine range starts at 0, not at -threshold.
    let relu: Vec<f32> = sample(Normal::new(0.0f32, 1.0).unwrap(), 14, 50_000)
        .into_iter()
        .map(|x| x.max(0.0))
        .collect();
    let mut obs = EntropyObserver::default();
    obs.observe(&relu);
    let threshold = obs.threshold().unwrap();
    let q = obs.qparams(&QuantScheme::u8_affine()).unwrap();
    assert_eq!(q.zero_point[0], 0);
    assert!((q.scale[0] - threshold / 255.0).abs() < 1e-7);
}

#[test]
fn entropy_quantized_bins_are_a_real_parameter() {
    let heavy = sample(StudentT::new(3.0f32).unwrap(), 15, 100_000);
    let thresholds: Vec<f32> = [32, 128, 512]
        .iter()
        .map(|&levels| {
            let mut obs = EntropyObserver::new(2048, levels).unwrap();
            obs.observe(&heavy);
            obs.threshold().unwrap()
        })
        .collect();
    println!("student-t(3) KL thresholds for 32/128/512 levels: {thresholds:?}");
    // More levels afford a wider range at the same resolution.
    assert!(
        thresholds[0] < thresholds[1] && thresholds[1] < thresholds[2],
        "{thresholds:?}"
    );
}

#[test]
fn mse_beats_min_max_on_data_with_outliers() {
    let mut values = sample(Normal::new(0.0f32, 1.0).unwrap(), 16, 100_000);
    values.extend([40.0, -35.0, 55.0, 60.0, -48.0]);
    let scheme = QuantScheme::u8_affine();
    let mut mse = MseObserver::default();
    let mut min_max = MinMaxObserver::new();
    for batch in values.chunks(10_000) {
        mse.observe(batch);
        min_max.observe(batch);
    }
    let (mse_error, min_max_error) = (
        round_trip_mse(&values, &mse, &scheme),
        round_trip_mse(&values, &min_max, &scheme),
    );
    println!(
        "outliers: MSE clip {:?}, round-trip MSE {mse_error:.3e}; MinMax {min_max_error:.3e}",
        mse.clip_range(&scheme).unwrap()
    );
    // The outliers cost a few hundred squared units once clipped, so the gain is bounded.
    assert!(mse_error < 0.9 * min_max_error, "{mse_error} vs {min_max_error}");
}

#[test]
fn mse_keeps_the_full_range_of_uniform_data() {
    let mut rng = StdRng::seed_from_u64(17);
    let uniform: Vec<f32> = (0..100_000).map(|_| rng.gen_range(-2.0f32..2.0)).collect();
    let mut obs = MseObserver::default();
    obs.observe(&uniform);
    let (lo, hi) = obs.clip_range(&QuantScheme::i8_symmetric()).unwrap();
    assert!(lo < -1.9 && hi > 1.9, "[{lo}, {hi}]");
}
