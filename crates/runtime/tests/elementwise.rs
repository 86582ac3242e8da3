//! Elementwise ops: broadcasting, dtypes, and accuracy of the transcendental functions.

mod common;

use common::*;
use lowbit_graph::ops::{BinaryOp, UnaryOp};
use lowbit_graph::Op;

#[test]
fn add_broadcasts_numpy_style() {
    let a = f32s(&[2, 1, 3], &[0., 1., 2., 3., 4., 5.]);
    let b = f32s(&[4, 1], &[0., 10., 20., 30.]);
    let y = run(Op::Binary(BinaryOp::Add), vec![a, b]);
    assert_eq!(y.shape(), &[2, 4, 3]);
    let v = values::<f32>(&y);
    assert_eq!(&v[..6], &[0., 1., 2., 10., 11., 12.]);
    assert_eq!(&v[21..], &[33., 34., 35.]);
}

#[test]
fn arithmetic_with_scalars_and_both_sides_broadcast() {
    let a = f32s(&[3, 1], &[1., 2., 3.]);
    let b = f32s(&[1, 2], &[2., 4.]);
    assert_eq!(
        values::<f32>(&run(Op::Binary(BinaryOp::Div), vec![a.clone(), b.clone()])),
        vec![0.5, 0.25, 1., 0.5, 1.5, 0.75]
    );
    assert_eq!(
        values::<f32>(&run(Op::Binary(BinaryOp::Sub), vec![a.clone(), b])),
        vec![-1., -3., 0., -2., 1., -1.]
    );
    let s = f32s(&[], &[10.]);
    assert_eq!(
        values::<f32>(&run(Op::Binary(BinaryOp::Mul), vec![s, a.clone()])),
        vec![10., 20., 30.]
    );
    let m = f32s(&[1], &[2.]);
    assert_eq!(
        values::<f32>(&run(Op::Binary(BinaryOp::Max), vec![a.clone(), m.clone()])),
        vec![2., 2., 3.]
    );
    assert_eq!(
        values::<f32>(&run(Op::Binary(BinaryOp::Min), vec![a, m])),
        vec![1., 2., 2.]
    );
}

#[test]
fn pow_takes_float_or_integer_exponents() {
    let x = f32s(&[3], &[-2., 0.5, 3.]);
    let y = run(Op::Binary(BinaryOp::Pow), vec![x.clone(), f32s(&[], &[2.])]);
    assert_eq!(values::<f32>(&y), vec![4., 0.25, 9.]);
    let y = run(Op::Binary(BinaryOp::Pow), vec![x, t(&[1], vec![3i64])]);
    assert_eq!(values::<f32>(&y), vec![-8., 0.125, 27.]);
    let y = run(
        Op::Binary(BinaryOp::Pow),
        vec![f32s(&[2], &[4., 9.]), f32s(&[], &[0.5])],
    );
    assert_eq!(values::<f32>(&y), vec![2., 3.]);
    let y = run(Op::Binary(BinaryOp::Pow), vec![i64s(&[2, 3]), i64s(&[3])]);
    assert_eq!(values::<i64>(&y), vec![8, 27]);
    // An integer base keeps its type with a float exponent.
    let y = run(
        Op::Binary(BinaryOp::Pow),
        vec![t(&[3], vec![1i32, 2, 3]), f32s(&[3], &[4., 5., 0.5])],
    );
    assert_eq!(values::<i32>(&y), vec![1, 32, 1]);
}

#[test]
fn integer_arithmetic_and_division_by_zero() {
    let a = i64s(&[7, -7, 9]);
    let b = i64s(&[2]);
    assert_eq!(
        values::<i64>(&run(Op::Binary(BinaryOp::Div), vec![a.clone(), b.clone()])),
        vec![3, -3, 4]
    );
    assert_eq!(
        values::<i64>(&run(Op::Binary(BinaryOp::Add), vec![a.clone(), b])),
        vec![9, -5, 11]
    );
    let err = run_op(Op::Binary(BinaryOp::Div), &[Some(a), Some(i64s(&[0]))]).unwrap_err();
    assert!(err.to_string().contains("division by zero"), "{err}");
    let y = run(
        Op::Binary(BinaryOp::Mul),
        vec![t(&[2], vec![3i32, -4]), t(&[], vec![5i32])],
    );
    assert_eq!(values::<i32>(&y), vec![15, -20]);
}

#[test]
fn comparisons_and_logic_give_booleans() {
    let a = f32s(&[3], &[1., 2., 3.]);
    let b = f32s(&[], &[2.]);
    assert_eq!(
        values::<bool>(&run(Op::Binary(BinaryOp::Less), vec![a.clone(), b.clone()])),
        vec![true, false, false]
    );
    assert_eq!(
        values::<bool>(&run(Op::Binary(BinaryOp::Greater), vec![a.clone(), b.clone()])),
        vec![false, false, true]
    );
    assert_eq!(
        values::<bool>(&run(Op::Binary(BinaryOp::Equal), vec![a, b])),
        vec![false, true, false]
    );
    let eq = run(Op::Binary(BinaryOp::Equal), vec![i64s(&[1, 5]), i64s(&[5])]);
    assert_eq!(values::<bool>(&eq), vec![false, true]);
    let p = t(&[2, 1], vec![true, false]);
    let q = t(&[2], vec![true, false]);
    assert_eq!(
        values::<bool>(&run(Op::Binary(BinaryOp::And), vec![p.clone(), q.clone()])),
        vec![true, false, false, false]
    );
    assert_eq!(
        values::<bool>(&run(Op::Binary(BinaryOp::Or), vec![p.clone(), q])),
        vec![true, true, true, false]
    );
    assert_eq!(
        values::<bool>(&run(Op::Unary(UnaryOp::Not), vec![p])),
        vec![false, true]
    );
}

#[test]
fn mixed_operand_types_are_rejected() {
    let err = run_op(
        Op::Binary(BinaryOp::Add),
        &[Some(f32s(&[1], &[1.])), Some(i64s(&[1]))],
    )
    .unwrap_err();
    // Caught by the plan's fact inference, before any kernel runs.
    assert!(err.to_string().contains("must have the same dtype"), "{err}");
}

#[test]
fn erf_is_accurate() {
    // Reference values of erf from a 30-digit evaluation.
    let x = f32s(&[6], &[0.0, 0.5, 1.0, -2.0, 3.0, 1e-3]);
    let want = [
        0.0,
        0.520_499_877_8,
        0.842_700_792_9,
        -0.995_322_265_0,
        0.999_977_909_5,
        0.001_128_378_8,
    ];
    let y = values::<f32>(&run(Op::Unary(UnaryOp::Erf), vec![x]));
    for (g, w) in y.iter().zip(want) {
        assert!((*g as f64 - w).abs() <= 1e-7, "erf: got {g}, want {w}");
    }
}

#[test]
fn float_unary_ops() {
    let x = f32s(&[4], &[-3., -0.5, 0., 2.]);
    let un = |op: UnaryOp| values::<f32>(&run(Op::Unary(op), vec![x.clone()]));
    assert_eq!(un(UnaryOp::Relu), vec![0., 0., 0., 2.]);
    assert_eq!(un(UnaryOp::Abs), vec![3., 0.5, 0., 2.]);
    assert_eq!(un(UnaryOp::Neg), vec![3., 0.5, -0., -2.]);
    assert_eq!(un(UnaryOp::Floor), vec![-3., -1., 0., 2.]);
    assert_eq!(un(UnaryOp::Ceil), vec![-3., -0., 0., 2.]);
    assert_eq!(un(UnaryOp::LeakyRelu { alpha: 0.1 }), vec![-0.3, -0.05, 0., 2.]);
    assert_close(
        &un(UnaryOp::HardSwish),
        &[0., -0.5 * (2.5 / 6.), 0., 2. * (5. / 6.)],
        1e-6,
    );
    assert_eq!(
        un(UnaryOp::HardSigmoid {
            alpha: 0.2,
            beta: 0.5
        }),
        vec![0., 0.4, 0.5, 0.9]
    );
    assert_close(
        &un(UnaryOp::Sigmoid),
        &[0.047_425_87, 0.377_540_67, 0.5, 0.880_797_1],
        1e-7,
    );
    assert_close(
        &un(UnaryOp::Tanh),
        &[-0.995_054_7, -0.462_117_16, 0., 0.964_027_6],
        1e-7,
    );
    assert_close(
        &un(UnaryOp::Elu { alpha: 1.0 }),
        &[-0.950_212_93, -0.393_469_34, 0., 2.],
        1e-7,
    );
    let p = f32s(&[3], &[1., 4., 0.25]);
    let unp = |op: UnaryOp| values::<f32>(&run(Op::Unary(op), vec![p.clone()]));
    assert_eq!(unp(UnaryOp::Sqrt), vec![1., 2., 0.5]);
    assert_eq!(unp(UnaryOp::Reciprocal), vec![1., 0.25, 4.]);
    assert_close(&unp(UnaryOp::Log), &[0., 1.386_294_4, -1.386_294_4], 1e-7);
    assert_close(
        &unp(UnaryOp::Exp),
        &[std::f32::consts::E, 54.598_15, 1.284_025_4],
        1e-5,
    );
}

#[test]
fn integer_unary_ops() {
    let x = i64s(&[-3, 0, 4]);
    assert_eq!(
        values::<i64>(&run(Op::Unary(UnaryOp::Neg), vec![x.clone()])),
        vec![3, 0, -4]
    );
    assert_eq!(
        values::<i64>(&run(Op::Unary(UnaryOp::Abs), vec![x.clone()])),
        vec![3, 0, 4]
    );
    assert_eq!(
        values::<i64>(&run(Op::Unary(UnaryOp::Relu), vec![x.clone()])),
        vec![0, 0, 4]
    );
    assert!(run_op(Op::Unary(UnaryOp::Exp), &[Some(x)]).is_err());
}

#[test]
fn clip_with_optional_bounds() {
    let x = f32s(&[4], &[-2., 0.5, 3., 8.]);
    let y = run_op(Op::Clip, &[Some(x.clone()), None, Some(f32s(&[], &[6.]))]).unwrap();
    assert_eq!(values::<f32>(&y), vec![-2., 0.5, 3., 6.]);
    let y = run(Op::Clip, vec![x.clone(), f32s(&[], &[0.]), f32s(&[], &[1.])]);
    assert_eq!(values::<f32>(&y), vec![0., 0.5, 1., 1.]);
    assert_eq!(values::<f32>(&run(Op::Clip, vec![x])), vec![-2., 0.5, 3., 8.]);
    let y = run(
        Op::Clip,
        vec![i64s(&[-5, 5]), t(&[], vec![-1i64]), t(&[], vec![1i64])],
    );
    assert_eq!(values::<i64>(&y), vec![-1, 1]);
}

#[test]
fn where_broadcasts_three_ways() {
    let cond = t(&[2, 1], vec![true, false]);
    let x = f32s(&[3], &[1., 2., 3.]);
    let y = f32s(&[], &[-1.]);
    let out = run(Op::Where, vec![cond.clone(), x, y]);
    assert_eq!(out.shape(), &[2, 3]);
    assert_eq!(values::<f32>(&out), vec![1., 2., 3., -1., -1., -1.]);
    let out = run(Op::Where, vec![cond, i64s(&[7]), t(&[1, 2], vec![8i64, 9])]);
    assert_eq!(values::<i64>(&out), vec![7, 7, 8, 9]);
}

#[test]
fn large_tensors_split_across_threads_give_the_same_values() {
    let x: Vec<f32> = noise(70_001, 11).into_iter().map(|v| v * 4.0).collect();
    let (g, feeds) = one_node_graph(Op::Unary(UnaryOp::Erf), &[Some(f32s(&[70_001], &x))], 1, false);
    let run_with = |threads: usize| {
        let options = lowbit_runtime::PlanOptions {
            threads,
            optimize: true,
        };
        lowbit_runtime::Plan::new(g.clone(), &options)
            .unwrap()
            .run(&feeds)
            .unwrap()
            .remove(0)
    };
    let (split, whole) = (run_with(2), run_with(1));
    assert_eq!(values::<f32>(&split), values::<f32>(&whole));
    for (&v, &y) in x.iter().zip(&values::<f32>(&split)) {
        let want = libm::erf(f64::from(v));
        assert!(
            (f64::from(y) - want).abs() <= 3e-7 * want.abs(),
            "erf({v}) = {y}, want {want}"
        );
    }
}
