//! The training element-wise passes against plain f64 loops, for lengths around the lane
//! block (empty, shorter than a block, exact multiples and ragged tails).

use lowbit_kernels::f32::{
    batch_norm_input_grad, clamp_grad, clamp_into, scale_shift, sum, sum_and_centered_product,
    sum_squared_deviation, Activation,
};

const LENGTHS: [usize; 13] = [0, 1, 7, 15, 16, 17, 31, 32, 33, 49, 64, 100, 785];

fn values(len: usize, seed: u32) -> Vec<f32> {
    (0..len)
        .map(|i| ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) % 1000) as f32 / 250.0 - 2.0)
        .collect()
}

fn assert_sum(what: &str, len: usize, got: f64, want: f64) {
    assert!(
        (got - want).abs() <= 1e-4 * (1.0 + want.abs()),
        "{what}, len {len}: got {got}, want {want}"
    );
}

fn assert_slices(what: &str, got: &[f32], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g as f64 - w).abs() <= 1e-5 * (1.0 + w.abs()),
            "{what}[{i}]: got {g}, want {w}"
        );
    }
}

#[test]
fn sums_match_f64_loops() {
    for len in LENGTHS {
        let (a, x) = (values(len, 1), values(len, 2));
        let mean = 0.3f32;
        assert_sum("sum", len, sum(&a), a.iter().map(|&v| v as f64).sum());
        let squared: f64 = a.iter().map(|&v| (v as f64 - mean as f64).powi(2)).sum();
        assert_sum(
            "sum_squared_deviation",
            len,
            sum_squared_deviation(&a, mean),
            squared,
        );
        let (s, p) = sum_and_centered_product(&a, &x, mean);
        assert_sum(
            "sum_and_centered_product.0",
            len,
            s,
            a.iter().map(|&v| v as f64).sum(),
        );
        let product: f64 = a
            .iter()
            .zip(&x)
            .map(|(&a, &v)| a as f64 * (v as f64 - mean as f64))
            .sum();
        assert_sum("sum_and_centered_product.1", len, p, product);
    }
}

#[test]
fn affine_passes_match_f64_loops() {
    for len in LENGTHS {
        let (dy, x) = (values(len, 3), values(len, 4));
        let mut out = vec![f32::NAN; len];
        scale_shift(&x, 1.5, -0.25, &mut out);
        let want: Vec<f64> = x.iter().map(|&v| 1.5 * v as f64 - 0.25).collect();
        assert_slices("scale_shift", &out, &want);
        let [a, b, k] = [0.75f32, -0.5, 0.125];
        out.copy_from_slice(&dy);
        batch_norm_input_grad(&mut out, &x, [a, b, k]);
        let want: Vec<f64> = dy
            .iter()
            .zip(&x)
            .map(|(&d, &v)| a as f64 * d as f64 + b as f64 * v as f64 + k as f64)
            .collect();
        assert_slices("batch_norm_input_grad", &out, &want);
    }
}

#[test]
fn clamp_grad_passes_strictly_inside_the_bounds() {
    let y = [0.0, 0.5, 6.0, 5.999, -1.0, f32::NAN, 3.0];
    let mut g = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0];
    clamp_grad(&y, &mut g, 0.0, 6.0);
    assert_eq!(g, [0.0, 2.0, 0.0, 4.0, 0.0, 0.0, 7.0]);
    for len in LENGTHS {
        let (y, dy) = (values(len, 5), values(len, 6));
        let mut g = dy.clone();
        clamp_grad(&y, &mut g, 0.0, f32::INFINITY);
        let want: Vec<f64> = y
            .iter()
            .zip(&dy)
            .map(|(&y, &d)| if y > 0.0 { d as f64 } else { 0.0 })
            .collect();
        assert_slices("clamp_grad", &g, &want);
    }
}

#[test]
fn clamp_into_matches_the_activation() {
    let x = [
        -1.0,
        0.0,
        0.5,
        6.0,
        7.5,
        f32::NAN,
        f32::NEG_INFINITY,
        f32::INFINITY,
    ];
    let mut out = [f32::NAN; 8];
    clamp_into(&x, 0.0, 6.0, &mut out);
    assert_eq!(out, [0.0, 0.0, 0.5, 6.0, 6.0, 0.0, 0.0, 6.0]);
    for len in LENGTHS {
        let x = values(len, 7);
        for (lo, hi) in [(0.0, f32::INFINITY), (-0.25, 0.3), (f32::NEG_INFINITY, 0.1)] {
            let mut out = vec![f32::NAN; len];
            clamp_into(&x, lo, hi, &mut out);
            let clip = Activation::Clip { min: lo, max: hi };
            let want: Vec<f64> = x.iter().map(|&v| clip.apply(v) as f64).collect();
            assert_slices("clamp_into", &out, &want);
        }
    }
}
