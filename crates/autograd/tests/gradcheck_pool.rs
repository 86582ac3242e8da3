//! GlobalAveragePool and ReduceMean (the tutorial MobileNetV2's `x.mean([2, 3])`, and a
//! negative axis with keepdims) gradients.

mod common;

use common::{random, GradCheck, LINEAR};
use lowbit_autograd::Mode;
use lowbit_graph::builder::GraphBuilder;
use lowbit_graph::ValueId;
use lowbit_tensor::DType;

fn check(shape: [usize; 4], build: impl FnOnce(&mut GraphBuilder, ValueId) -> ValueId) {
    let mut b = GraphBuilder::new("pool");
    let x = b.input("x", DType::F32, shape).unwrap();
    let y = build(&mut b, x);
    b.output(y);
    let graph = b.finish().unwrap();
    let mut gc = GradCheck::new(&graph, vec![(x, random(&shape, 50, 1.0))], Mode::Train);
    assert_eq!(gc.check(&[x], LINEAR), shape.iter().product::<usize>());
}

#[test]
fn global_average_pool() {
    check([2, 3, 5, 4], |b, x| b.global_avg_pool("gap", x).unwrap());
}

#[test]
fn reduce_mean_spatial_without_keepdims() {
    check([2, 3, 4, 3], |b, x| b.mean(x, &[2, 3], false).unwrap());
}

#[test]
fn reduce_mean_last_axis_keepdims() {
    check([2, 3, 2, 5], |b, x| b.mean(x, &[-1], true).unwrap());
}

/// Distinct values spaced well beyond the finite-difference step, so no window's winner
/// changes when one input moves by ±eps.
fn spaced(shape: [usize; 4]) -> lowbit_tensor::Tensor {
    let n: usize = shape.iter().product();
    let mut order: Vec<usize> = (0..n).collect();
    // A fixed permutation (multiplicative, 37 coprime with n) spreads large and small values.
    order.iter_mut().for_each(|v| *v = (*v * 37 + 11) % n);
    let values = order.iter().map(|&v| v as f32 * 0.5 - n as f32 * 0.25).collect();
    lowbit_tensor::Tensor::new(shape.to_vec(), values).unwrap()
}

fn check_max(shape: [usize; 4], kernel: usize, stride: usize, padding: usize) {
    let mut b = GraphBuilder::new("maxpool");
    let x = b.input("x", DType::F32, shape).unwrap();
    let y = b.max_pool2d("pool", x, kernel, stride, padding).unwrap();
    b.output(y);
    let graph = b.finish().unwrap();
    let mut gc = GradCheck::new(&graph, vec![(x, spaced(shape))], Mode::Train);
    assert_eq!(gc.check(&[x], LINEAR), shape.iter().product::<usize>());
}

#[test]
fn max_pool_3x3_stride2_padded() {
    check_max([2, 2, 7, 6], 3, 2, 1);
}

#[test]
fn max_pool_2x2() {
    check_max([1, 3, 4, 5], 2, 2, 0);
}
