//! Softmax cross-entropy: value against a direct f64 evaluation and gradient against
//! finite differences, including logits large enough to overflow a naive softmax.

mod common;

use common::random;
use lowbit_autograd::softmax_cross_entropy;
use lowbit_tensor::Tensor;

/// The reference loss in f64: `mean(log Σ exp z − z[label])`.
fn reference(z: &[f64], classes: usize, labels: &[usize]) -> f64 {
    let rows = labels.len();
    (0..rows)
        .map(|n| {
            let row = &z[n * classes..(n + 1) * classes];
            let max = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            row.iter().map(|v| (v - max).exp()).sum::<f64>().ln() + max - row[labels[n]]
        })
        .sum::<f64>()
        / rows as f64
}

fn check(logits: Tensor, labels: &[usize]) {
    let classes = logits.shape()[1];
    let out = softmax_cross_entropy(&logits, labels).unwrap();
    let z: Vec<f64> = logits.to_f32_vec().iter().map(|&v| v as f64).collect();
    let expected = reference(&z, classes, labels);
    assert!((out.loss as f64 - expected).abs() < 1e-5 * expected.abs().max(1.0));
    let grad = out.grad.to_f32_vec();
    let eps = 1e-4;
    for i in 0..z.len() {
        let mut zp = z.clone();
        zp[i] += eps;
        let mut zm = z.clone();
        zm[i] -= eps;
        let fd = (reference(&zp, classes, labels) - reference(&zm, classes, labels)) / (2.0 * eps);
        assert!(
            (fd - grad[i] as f64).abs() < 1e-6,
            "d/dz[{i}]: fd {fd}, analytic {}",
            grad[i]
        );
    }
}

#[test]
fn cross_entropy_gradient() {
    check(random(&[4, 5], 80, 3.0), &[0, 4, 2, 2]);
}

#[test]
fn cross_entropy_large_logits_stay_finite() {
    let mut logits = random(&[3, 4], 81, 2.0);
    logits
        .as_mut_slice::<f32>()
        .unwrap()
        .iter_mut()
        .for_each(|v| *v += 500.0);
    let out = softmax_cross_entropy(&logits, &[1, 3, 0]).unwrap();
    assert!(out.loss.is_finite());
    check(logits, &[1, 3, 0]);
}

#[test]
fn cross_entropy_counts_correct_rows() {
    let logits = Tensor::new(vec![2, 3], vec![0.0f32, 5.0, 1.0, 2.0, 0.0, 1.0]).unwrap();
    assert_eq!(softmax_cross_entropy(&logits, &[1, 2]).unwrap().correct, 1);
}

#[test]
fn cross_entropy_rejects_bad_labels() {
    let logits = random(&[2, 3], 82, 1.0);
    assert!(softmax_cross_entropy(&logits, &[0, 3]).is_err());
    assert!(softmax_cross_entropy(&logits, &[0]).is_err());
}
