//! Gemm and MatMul against a plain triple loop.

mod common;

use common::*;
use lowbit_graph::ops::Gemm;
use lowbit_graph::Op;

/// `[m, k] x [k, n]` in f64.
fn reference(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
    let mut out = vec![0f32; m * n];
    for i in 0..m {
        for j in 0..n {
            out[i * n + j] = (0..k)
                .map(|p| a[i * k + p] as f64 * b[p * n + j] as f64)
                .sum::<f64>() as f32;
        }
    }
    out
}

fn transposed(v: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    (0..cols)
        .flat_map(|c| (0..rows).map(move |r| v[r * cols + c]))
        .collect()
}

#[test]
fn gemm_with_transposes_alpha_beta_and_broadcast_c() {
    let (m, k, n) = (5, 7, 3);
    let a = noise(m * k, 1);
    let b = noise(k * n, 2);
    let c = noise(n, 3);
    let ab = reference(&a, &b, m, k, n);
    for (trans_a, trans_b) in [(false, false), (true, false), (false, true), (true, true)] {
        let at = if trans_a { transposed(&a, m, k) } else { a.clone() };
        let bt = if trans_b { transposed(&b, k, n) } else { b.clone() };
        let a_shape = if trans_a { [k, m] } else { [m, k] };
        let b_shape = if trans_b { [n, k] } else { [k, n] };
        let op = Op::Gemm(Gemm {
            alpha: 0.5,
            beta: 2.0,
            trans_a,
            trans_b,
        });
        let y = run(op, vec![f32s(&a_shape, &at), f32s(&b_shape, &bt), f32s(&[n], &c)]);
        assert_eq!(y.shape(), &[m, n]);
        let want: Vec<f32> = ab
            .iter()
            .enumerate()
            .map(|(i, v)| 0.5 * v + 2.0 * c[i % n])
            .collect();
        assert_close(&values::<f32>(&y), &want, 1e-5);
    }
    // No C; a [m, 1] C broadcasts along columns.
    let y = run(
        Op::Gemm(Gemm::default()),
        vec![f32s(&[m, k], &a), f32s(&[k, n], &b)],
    );
    assert_close(&values::<f32>(&y), &ab, 1e-5);
    let col = noise(m, 4);
    let y = run(
        Op::Gemm(Gemm::default()),
        vec![f32s(&[m, k], &a), f32s(&[k, n], &b), f32s(&[m, 1], &col)],
    );
    let want: Vec<f32> = ab.iter().enumerate().map(|(i, v)| v + col[i / n]).collect();
    assert_close(&values::<f32>(&y), &want, 1e-5);
}

#[test]
fn matmul_broadcasts_batch_dims() {
    // [2, 1, 3, 4] x [5, 4, 2] -> [2, 5, 3, 2]
    let a = noise(2 * 3 * 4, 5);
    let b = noise(5 * 4 * 2, 6);
    let y = run(Op::MatMul, vec![f32s(&[2, 1, 3, 4], &a), f32s(&[5, 4, 2], &b)]);
    assert_eq!(y.shape(), &[2, 5, 3, 2]);
    let v = values::<f32>(&y);
    for i in 0..2 {
        for j in 0..5 {
            let want = reference(&a[i * 12..(i + 1) * 12], &b[j * 8..(j + 1) * 8], 3, 4, 2);
            assert_close(&v[(i * 5 + j) * 6..(i * 5 + j + 1) * 6], &want, 1e-5);
        }
    }
}

#[test]
fn matmul_shared_weights_and_rank_one_operands() {
    // [2, 3, 4] x [4, 5]: one GEMM over 6 rows.
    let a = noise(24, 7);
    let b = noise(20, 8);
    let y = run(Op::MatMul, vec![f32s(&[2, 3, 4], &a), f32s(&[4, 5], &b)]);
    assert_eq!(y.shape(), &[2, 3, 5]);
    assert_close(&values::<f32>(&y), &reference(&a, &b, 6, 4, 5), 1e-5);
    // [4] x [4, 5] -> [5]; [2, 3, 4] x [4] -> [2, 3]; [4] x [4] -> []
    let y = run(Op::MatMul, vec![f32s(&[4], &a[..4]), f32s(&[4, 5], &b)]);
    assert_eq!(y.shape(), &[5]);
    assert_close(&values::<f32>(&y), &reference(&a[..4], &b, 1, 4, 5), 1e-5);
    let y = run(Op::MatMul, vec![f32s(&[2, 3, 4], &a), f32s(&[4], &b[..4])]);
    assert_eq!(y.shape(), &[2, 3]);
    assert_close(&values::<f32>(&y), &reference(&a, &b[..4], 6, 4, 1), 1e-5);
    let y = run(Op::MatMul, vec![f32s(&[4], &a[..4]), f32s(&[4], &b[..4])]);
    assert_eq!(y.shape(), &[] as &[usize]);
    let err = run_op(
        Op::MatMul,
        &[Some(f32s(&[2, 3], &a[..6])), Some(f32s(&[4, 1], &b[..4]))],
    )
    .unwrap_err();
    assert!(err.to_string().contains("inner dimensions"), "{err}");
}

#[test]
fn empty_inner_dimension_gives_zeros_or_c() {
    let y = run(Op::MatMul, vec![f32s(&[2, 0], &[]), f32s(&[0, 3], &[])]);
    assert_eq!(y.shape(), &[2, 3]);
    assert_eq!(values::<f32>(&y), vec![0.; 6]);
    let op = Op::Gemm(Gemm {
        alpha: 1.0,
        beta: 2.0,
        trans_a: false,
        trans_b: false,
    });
    let y = run(
        op,
        vec![f32s(&[1, 0], &[]), f32s(&[0, 2], &[]), f32s(&[2], &[1., 3.])],
    );
    assert_eq!(values::<f32>(&y), vec![2., 6.]);
}
