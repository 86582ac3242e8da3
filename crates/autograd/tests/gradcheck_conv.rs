//! Conv gradients (dX, dW, dB) against finite differences: strided and padded, grouped
//! with dilation, depthwise, pointwise, and odd spatial sizes.

mod common;

use common::{random, GradCheck, LINEAR};
use lowbit_autograd::Mode;
use lowbit_graph::builder::{Conv2dSpec, GraphBuilder};
use lowbit_graph::Graph;
use lowbit_tensor::DType;

/// One conv on an input of `shape` with weight `[out, in/groups, k, k]` and a bias.
fn single_conv(shape: [usize; 4], out: usize, k: usize, spec: Conv2dSpec) -> Graph {
    let mut b = GraphBuilder::new("conv");
    let x = b.input("x", DType::F32, shape).unwrap();
    let weight = random(&[out, shape[1] / spec.groups, k, k], 1, 0.5);
    let bias = random(&[out], 2, 0.5);
    let y = b.conv2d("conv", x, spec, weight, Some(bias)).unwrap();
    b.output(y);
    b.finish().unwrap()
}

fn check(shape: [usize; 4], out: usize, k: usize, spec: Conv2dSpec) {
    let graph = single_conv(shape, out, k, spec);
    let x = graph.inputs[0];
    let wrt = [
        x,
        graph.find_value("conv.weight").unwrap(),
        graph.find_value("conv.bias").unwrap(),
    ];
    let mut gc = GradCheck::new(&graph, vec![(x, random(&shape, 3, 1.0))], Mode::Train);
    let compared = gc.check(&wrt, LINEAR);
    assert!(compared > 0);
}

#[test]
fn conv_stride2_padding1() {
    check([2, 3, 7, 6], 4, 3, Conv2dSpec::default().stride(2).padding(1));
}

#[test]
fn conv_groups2_with_dilation() {
    check(
        [2, 4, 7, 7],
        6,
        3,
        Conv2dSpec::default().groups(2).dilation(2).padding(2),
    );
}

#[test]
fn conv_depthwise_stride2() {
    check(
        [2, 5, 7, 8],
        5,
        3,
        Conv2dSpec::default().groups(5).stride(2).padding(1),
    );
}

#[test]
fn conv_depthwise_stride1() {
    check([1, 3, 5, 5], 3, 3, Conv2dSpec::default().groups(3).padding(1));
}

#[test]
fn conv_pointwise() {
    check([2, 4, 3, 5], 3, 1, Conv2dSpec::default());
}

#[test]
fn conv_without_padding_even_kernel() {
    check([1, 2, 6, 5], 3, 2, Conv2dSpec::default().stride(2));
}
