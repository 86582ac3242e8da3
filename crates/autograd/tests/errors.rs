//! Bad models and bad feeds fail with typed errors that name the node and op.

use lowbit_autograd::{AutogradError, Mode, TrainingExecutor};
use lowbit_graph::builder::GraphBuilder;
use lowbit_graph::Op;
use lowbit_tensor::{DType, Tensor};

#[test]
fn op_without_rule_names_the_node() {
    let mut b = GraphBuilder::new("softmax");
    let x = b.input("x", DType::F32, [2, 3]).unwrap();
    let y = b.op("probs", Op::Softmax { axis: 1 }, &[Some(x)], 1).unwrap()[0];
    b.output(y);
    let graph = b.finish().unwrap();
    let mut exec = TrainingExecutor::new(&graph, 0).unwrap();
    let err = exec
        .forward(&[(x, Tensor::zeros(DType::F32, [2, 3]))], Mode::Train)
        .err()
        .unwrap();
    assert!(matches!(err, AutogradError::Unsupported { .. }));
    assert_eq!(err.to_string(), "node 'probs': op Softmax has no training rule");
}

#[test]
fn missing_feed_names_the_value() {
    let mut b = GraphBuilder::new("relu");
    let x = b.input("x", DType::F32, [2]).unwrap();
    let y = b.relu("act", x).unwrap();
    b.output(y);
    let graph = b.finish().unwrap();
    let mut exec = TrainingExecutor::new(&graph, 0).unwrap();
    let err = exec.forward(&[], Mode::Train).err().unwrap();
    assert_eq!(
        err.to_string(),
        "value 'x' is needed but was neither fed nor computed"
    );
}

#[test]
fn mismatched_shapes_name_the_node_and_op() {
    let mut b = GraphBuilder::new("linear");
    let x = b.input("x", DType::F32, [2, 3]).unwrap();
    let y = b
        .linear("fc", x, Tensor::zeros(DType::F32, [4, 3]), None)
        .unwrap();
    b.output(y);
    let graph = b.finish().unwrap();
    let mut exec = TrainingExecutor::new(&graph, 0).unwrap();
    let err = exec
        .forward(&[(x, Tensor::zeros(DType::F32, [2, 5]))], Mode::Train)
        .err()
        .unwrap();
    let message = err.to_string();
    assert!(
        message.starts_with("node 'fc' (Gemm): inner sizes differ"),
        "{message}"
    );
}
