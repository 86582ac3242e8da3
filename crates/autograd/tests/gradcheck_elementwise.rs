//! Broadcasting Add, Sub and Mul: the broadcast operand's gradient is the output gradient
//! summed over the axes it was stretched along.

mod common;

use common::{random, GradCheck, LINEAR};
use lowbit_autograd::Mode;
use lowbit_graph::builder::GraphBuilder;
use lowbit_graph::ops::BinaryOp;
use lowbit_graph::Op;
use lowbit_tensor::DType;

fn check(kind: BinaryOp, a_shape: &[usize], b_shape: &[usize]) {
    let mut b = GraphBuilder::new("binary");
    let x = b.input("a", DType::F32, a_shape.iter().copied()).unwrap();
    let y = b.input("b", DType::F32, b_shape.iter().copied()).unwrap();
    let out = b.op("op", Op::Binary(kind), &[Some(x), Some(y)], 1).unwrap()[0];
    b.output(out);
    let graph = b.finish().unwrap();
    let feeds = vec![(x, random(a_shape, 30, 1.0)), (y, random(b_shape, 31, 1.0))];
    let mut gc = GradCheck::new(&graph, feeds, Mode::Train);
    let n: usize = a_shape.iter().product::<usize>() + b_shape.iter().product::<usize>();
    assert_eq!(gc.check(&[x, y], LINEAR), n);
}

#[test]
fn add_same_shape() {
    check(BinaryOp::Add, &[2, 3, 4], &[2, 3, 4]);
}

#[test]
fn add_per_channel_bias() {
    check(BinaryOp::Add, &[2, 3, 4, 5], &[3, 1, 1]);
}

#[test]
fn add_broadcasts_both_sides() {
    check(BinaryOp::Add, &[2, 1, 5], &[3, 1]);
}

#[test]
fn add_scalar() {
    check(BinaryOp::Add, &[3, 4], &[]);
}

#[test]
fn sub_trailing_axis() {
    check(BinaryOp::Sub, &[2, 3, 5], &[5]);
}

#[test]
fn mul_broadcast() {
    check(BinaryOp::Mul, &[2, 3, 4], &[1, 3, 1]);
}
