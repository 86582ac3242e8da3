//! Broadcasting Div: `da = dy / b`, `db = −dy·a/b²`, each summed over the axes its operand
//! was stretched along. Divisors are kept in [0.5, 1.5] so finite differences stay smooth.

mod common;

use common::{random, GradCheck, SMOOTH};
use lowbit_autograd::Mode;
use lowbit_graph::builder::GraphBuilder;
use lowbit_graph::ops::BinaryOp;
use lowbit_graph::Op;
use lowbit_tensor::{DType, Tensor};

fn away_from_zero(shape: &[usize], seed: u64) -> Tensor {
    let values = random(shape, seed, 0.5)
        .to_f32_vec()
        .iter()
        .map(|v| v + 1.0)
        .collect();
    Tensor::new(shape.to_vec(), values).unwrap()
}

fn check(a_shape: &[usize], b_shape: &[usize]) {
    let mut b = GraphBuilder::new("div");
    let x = b.input("a", DType::F32, a_shape.iter().copied()).unwrap();
    let y = b.input("b", DType::F32, b_shape.iter().copied()).unwrap();
    let out = b
        .op("div", Op::Binary(BinaryOp::Div), &[Some(x), Some(y)], 1)
        .unwrap()[0];
    b.output(out);
    let graph = b.finish().unwrap();
    let feeds = vec![(x, random(a_shape, 40, 1.0)), (y, away_from_zero(b_shape, 41))];
    let mut gc = GradCheck::new(&graph, feeds, Mode::Train);
    let n: usize = a_shape.iter().product::<usize>() + b_shape.iter().product::<usize>();
    assert_eq!(gc.check(&[x, y], SMOOTH), n);
}

#[test]
fn div_same_shape() {
    check(&[2, 3, 4], &[2, 3, 4]);
}

#[test]
fn div_by_per_channel_factor() {
    check(&[2, 3, 4, 5], &[1, 3, 1, 1]);
}

#[test]
fn div_broadcasts_both_sides() {
    check(&[2, 1, 5], &[3, 1]);
}

#[test]
fn div_by_scalar() {
    check(&[3, 4], &[]);
}
