//! Gemm (as `nn.Linear` exports it, and with transposes, α, β and a broadcast C) and
//! MatMul gradients.

mod common;

use common::{random, GradCheck, LINEAR};
use lowbit_autograd::Mode;
use lowbit_graph::builder::GraphBuilder;
use lowbit_graph::ops::Gemm;
use lowbit_graph::Op;
use lowbit_tensor::DType;

#[test]
fn linear_trans_b_with_bias() {
    let mut b = GraphBuilder::new("linear");
    let x = b.input("x", DType::F32, [3, 5]).unwrap();
    let y = b
        .linear("fc", x, random(&[4, 5], 40, 0.5), Some(random(&[4], 41, 0.5)))
        .unwrap();
    b.output(y);
    let graph = b.finish().unwrap();
    let wrt = [
        x,
        graph.find_value("fc.weight").unwrap(),
        graph.find_value("fc.bias").unwrap(),
    ];
    let mut gc = GradCheck::new(&graph, vec![(x, random(&[3, 5], 42, 1.0))], Mode::Train);
    assert_eq!(gc.check(&wrt, LINEAR), 15 + 20 + 4);
}

#[test]
fn gemm_trans_a_alpha_beta_row_bias() {
    let mut b = GraphBuilder::new("gemm");
    let a = b.input("a", DType::F32, [4, 3]).unwrap();
    let w = b.param("w", random(&[4, 2], 43, 0.5)).unwrap();
    let c = b.param("c", random(&[1, 2], 44, 0.5)).unwrap();
    let spec = Gemm {
        alpha: 0.7,
        beta: 1.5,
        trans_a: true,
        trans_b: false,
    };
    let y = b
        .op("gemm", Op::Gemm(spec), &[Some(a), Some(w), Some(c)], 1)
        .unwrap()[0];
    b.output(y);
    let graph = b.finish().unwrap();
    let mut gc = GradCheck::new(&graph, vec![(a, random(&[4, 3], 45, 1.0))], Mode::Train);
    assert_eq!(gc.check(&[a, w, c], LINEAR), 12 + 8 + 2);
}

#[test]
fn matmul_two_matrices() {
    let mut b = GraphBuilder::new("matmul");
    let a = b.input("a", DType::F32, [3, 4]).unwrap();
    let m = b.input("m", DType::F32, [4, 2]).unwrap();
    let y = b.op("mm", Op::MatMul, &[Some(a), Some(m)], 1).unwrap()[0];
    b.output(y);
    let graph = b.finish().unwrap();
    let feeds = vec![(a, random(&[3, 4], 46, 1.0)), (m, random(&[4, 2], 47, 1.0))];
    let mut gc = GradCheck::new(&graph, feeds, Mode::Train);
    assert_eq!(gc.check(&[a, m], LINEAR), 12 + 8);
}
