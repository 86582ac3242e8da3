//! Flatten and Reshape pass gradients through in the input's shape; checked inside a small
//! chain so the gradient has to flow through them into a Gemm.

mod common;

use common::{random, GradCheck, LINEAR};
use lowbit_autograd::Mode;
use lowbit_graph::builder::GraphBuilder;
use lowbit_graph::ops::BinaryOp;
use lowbit_graph::Op;
use lowbit_tensor::{DType, Tensor};

#[test]
fn flatten_then_linear() {
    let mut b = GraphBuilder::new("flatten");
    let x = b.input("x", DType::F32, [2, 3, 2, 2]).unwrap();
    let f = b.flatten(x).unwrap();
    let y = b.linear("fc", f, random(&[3, 12], 60, 0.5), None).unwrap();
    b.output(y);
    let graph = b.finish().unwrap();
    let w = graph.find_value("fc.weight").unwrap();
    let mut gc = GradCheck::new(&graph, vec![(x, random(&[2, 3, 2, 2], 61, 1.0))], Mode::Train);
    assert_eq!(gc.check(&[x, w], LINEAR), 24 + 36);
}

/// `[2, 3, 4]` → shape `[0, -1, 2]` → `[2, 6, 2]`, then a product with a `[6, 2]` factor so
/// each element of the gradient is distinct.
#[test]
fn reshape_with_inferred_and_copied_sizes() {
    let mut b = GraphBuilder::new("reshape");
    let x = b.input("x", DType::F32, [2, 3, 4]).unwrap();
    let shape = b
        .param("shape", Tensor::new(vec![3], vec![0i64, -1, 2]).unwrap())
        .unwrap();
    let r = b
        .op(
            "reshape",
            Op::Reshape { allowzero: false },
            &[Some(x), Some(shape)],
            1,
        )
        .unwrap()[0];
    let scale = b.param("scale", random(&[6, 2], 63, 1.0)).unwrap();
    let out = b
        .op("mul", Op::Binary(BinaryOp::Mul), &[Some(r), Some(scale)], 1)
        .unwrap()[0];
    b.output(out);
    let graph = b.finish().unwrap();
    let mut gc = GradCheck::new(&graph, vec![(x, random(&[2, 3, 4], 64, 1.0))], Mode::Train);
    assert_eq!(gc.check(&[x], LINEAR), 24);
}
