//! `lowbit_kernels::f32::gemm` against a naive triple loop, over edge shapes and strides.

use lowbit_kernels::f32::gemm;
use proptest::prelude::*;

fn values(len: usize, seed: u32) -> Vec<f32> {
    (0..len)
        .map(|i| ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) % 1000) as f32 / 500.0 - 1.0)
        .collect()
}

/// Checks `gemm` with A and/or B transposed (through strides) against a naive loop.
fn check(m: usize, n: usize, k: usize, alpha: f32, beta: f32, a_t: bool, b_t: bool) {
    let a = values(m * k, 1);
    let b = values(k * n, 2);
    let (rsa, csa) = if a_t { (1, m as isize) } else { (k as isize, 1) };
    let (rsb, csb) = if b_t { (1, k as isize) } else { (n as isize, 1) };
    let c0 = if beta == 0.0 {
        vec![f32::NAN; m * n]
    } else {
        values(m * n, 3)
    };
    let mut c = c0.clone();
    gemm(
        m, n, k, alpha, &a, rsa, csa, &b, rsb, csb, beta, &mut c, n as isize, 1,
    );
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0.0f64;
            for p in 0..k {
                let av = a[(i as isize * rsa + p as isize * csa) as usize];
                let bv = b[(p as isize * rsb + j as isize * csb) as usize];
                acc += av as f64 * bv as f64;
            }
            let prior = if beta == 0.0 {
                0.0
            } else {
                beta as f64 * c0[i * n + j] as f64
            };
            let want = alpha as f64 * acc + prior;
            let got = c[i * n + j] as f64;
            assert!(
                (got - want).abs() <= 1e-5 * (1.0 + want.abs()) + 1e-6 * k as f64,
                "gemm {m}x{n}x{k} a_t={a_t} b_t={b_t} at ({i},{j}): got {got}, want {want}"
            );
        }
    }
}

#[test]
fn edge_shapes() {
    for &(m, n, k) in &[
        (1, 1, 1),
        (1, 7, 3),
        (7, 1, 5),
        (3, 5, 0),
        (17, 33, 9),
        (64, 49, 130),
        (5, 300, 2),
    ] {
        for &(alpha, beta) in &[(1.0, 0.0), (0.5, 1.0), (2.0, -0.25)] {
            for &(a_t, b_t) in &[(false, false), (true, false), (false, true), (true, true)] {
                check(m, n, k, alpha, beta, a_t, b_t);
            }
        }
    }
}

#[test]
fn column_major_output() {
    let (m, n, k) = (4, 6, 3);
    let (a, b) = (values(m * k, 4), values(k * n, 5));
    let mut row_major = vec![0.0; m * n];
    let mut col_major = vec![0.0; m * n];
    gemm(
        m,
        n,
        k,
        1.0,
        &a,
        k as isize,
        1,
        &b,
        n as isize,
        1,
        0.0,
        &mut row_major,
        n as isize,
        1,
    );
    gemm(
        m,
        n,
        k,
        1.0,
        &a,
        k as isize,
        1,
        &b,
        n as isize,
        1,
        0.0,
        &mut col_major,
        1,
        m as isize,
    );
    for i in 0..m {
        for j in 0..n {
            assert_eq!(row_major[i * n + j], col_major[j * m + i], "at ({i},{j})");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn random_shapes(m in 1usize..40, n in 1usize..70, k in 0usize..50, a_t: bool, b_t: bool, beta_on: bool) {
        check(m, n, k, 1.5, if beta_on { 0.75 } else { 0.0 }, a_t, b_t);
    }
}
