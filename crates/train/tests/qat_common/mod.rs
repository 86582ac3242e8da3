//! Models and data shared by the QAT tests: a small MobileNetV2 for 28×28 grey images and
//! a synthetic four-class task that needs no assets.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use lowbit_graph::Graph;
use lowbit_tensor::Tensor;
use lowbit_zoo::{mobilenet_v2, MobileNetV2Config};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub const CLASSES: usize = 4;
pub const SIDE: usize = 28;

/// MobileNetV2 at width 0.25 for `[N, 1, 28, 28]` (the tutorial's ReLU and mean head).
/// Downsampling 2·2·2·2 = 16 takes 28×28 to 2×2 and keeps the tests fast.
pub fn small_mobilenet(num_classes: usize, dropout: f32) -> Graph {
    mobilenet(0.25, num_classes, dropout)
}

/// [`small_mobilenet`] at another width.
pub fn mobilenet(width_mult: f64, num_classes: usize, dropout: f32) -> Graph {
    let mut config = MobileNetV2Config {
        num_classes,
        width_mult,
        in_channels: 1,
        input_size: [SIDE, SIDE],
        stem_stride: 2,
        dropout,
        seed: 7,
        ..MobileNetV2Config::default()
    };
    config.set_stage_strides(&[1, 2, 2, 1, 1, 2, 1]).unwrap();
    mobilenet_v2(&config).unwrap()
}

/// `count` images of class `k` in `0..4`: a bright 10×10 patch in quadrant `k`, jittered
/// by up to 3 pixels, over uniform noise; values are roughly standardised.
pub fn synthetic(count: usize, seed: u64) -> (Tensor, Vec<usize>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut values = Vec::with_capacity(count * SIDE * SIDE);
    let mut labels = Vec::with_capacity(count);
    for _ in 0..count {
        let label = rng.gen_range(0..CLASSES);
        let (top, left) = (2 + 14 * (label / 2), 2 + 14 * (label % 2));
        let (dy, dx) = (rng.gen_range(0..=3), rng.gen_range(0..=3));
        for y in 0..SIDE {
            for x in 0..SIDE {
                let inside =
                    (top + dy..top + dy + 10).contains(&y) && (left + dx..left + dx + 10).contains(&x);
                let base = if inside { 2.0 } else { -0.5 };
                values.push(base + rng.gen_range(-0.5..0.5));
            }
        }
        labels.push(label);
    }
    (Tensor::new(vec![count, 1, SIDE, SIDE], values).unwrap(), labels)
}

/// The largest absolute difference between two tensors, relative to the reference's
/// largest magnitude (at least 1).
pub fn relative_max_diff(reference: &Tensor, test: &Tensor) -> f32 {
    let (r, t) = (reference.to_f32_vec(), test.to_f32_vec());
    assert_eq!(r.len(), t.len());
    let scale = r.iter().fold(1f32, |m, v| m.max(v.abs()));
    r.iter().zip(&t).fold(0f32, |m, (a, b)| m.max((a - b).abs())) / scale
}

pub fn argmax_rows(logits: &Tensor) -> Vec<usize> {
    let classes = *logits.shape().last().unwrap();
    logits
        .to_f32_vec()
        .chunks(classes)
        // The first index of the largest value, as NumPy and PyTorch break ties.
        .map(|row| {
            (0..classes)
                .rev()
                .max_by(|&a, &b| row[a].total_cmp(&row[b]))
                .unwrap()
        })
        .collect()
}

/// SQNR in dB of `test` against `reference`.
pub fn sqnr_db(reference: &Tensor, test: &Tensor) -> f64 {
    let (r, t) = (reference.to_f32_vec(), test.to_f32_vec());
    let signal: f64 = r.iter().map(|&v| (v as f64).powi(2)).sum();
    let noise: f64 = r.iter().zip(&t).map(|(&a, &b)| ((a - b) as f64).powi(2)).sum();
    10.0 * (signal / noise.max(1e-30)).log10()
}

/// The Fashion-MNIST directory, or `None` (with the reason printed) when it is absent and
/// `LOWBIT_REQUIRE_ASSETS` is not 1.
pub fn fashion_mnist_dir() -> Option<PathBuf> {
    let dir = Path::new("/usr/share/datasets/fashion-mnist");
    if dir.join("train-images-idx3-ubyte.gz").exists() {
        return Some(dir.to_path_buf());
    }
    let reason = format!("Fashion-MNIST is not installed at {}", dir.display());
    if std::env::var("LOWBIT_REQUIRE_ASSETS").as_deref() == Ok("1") {
        panic!("{reason} and LOWBIT_REQUIRE_ASSETS=1");
    }
    println!("skipped: {reason}");
    None
}
