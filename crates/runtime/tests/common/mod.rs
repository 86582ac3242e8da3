//! Helpers shared by the runtime's integration tests.
#![allow(dead_code)]

use lowbit_graph::{Fact, Graph, Node, Op, ValueId};
use lowbit_runtime::{Plan, PlanOptions, RuntimeError};
use lowbit_tensor::{Element, Tensor};

pub fn t<T: Element>(shape: &[usize], values: Vec<T>) -> Tensor {
    Tensor::new(shape, values).unwrap()
}

pub fn f32s(shape: &[usize], values: &[f32]) -> Tensor {
    t(shape, values.to_vec())
}

pub fn i64s(values: &[i64]) -> Tensor {
    t(&[values.len()], values.to_vec())
}

pub fn single_thread() -> PlanOptions {
    PlanOptions {
        threads: 1,
        optimize: true,
    }
}

/// A one-node graph; each `Some` input becomes a graph input (`constant == false`) or an
/// initializer (`constant == true`).
pub fn one_node_graph(
    op: Op,
    inputs: &[Option<Tensor>],
    outputs: usize,
    constant: bool,
) -> (Graph, Vec<Tensor>) {
    let mut g = Graph::new("test");
    let mut ids: Vec<Option<ValueId>> = Vec::new();
    let mut feeds = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        ids.push(input.as_ref().map(|tensor| {
            if constant {
                g.add_const(format!("in{i}"), tensor.clone()).unwrap()
            } else {
                feeds.push(tensor.clone());
                g.add_input(format!("in{i}"), Fact::known(tensor.dtype(), tensor.shape()))
                    .unwrap()
            }
        }));
    }
    let outs: Vec<ValueId> = (0..outputs)
        .map(|i| g.add_value(format!("out{i}"), Fact::unknown()).unwrap())
        .collect();
    g.add_node(Node {
        name: "node".into(),
        op,
        inputs: ids,
        outputs: outs.clone(),
    });
    g.outputs = outs;
    (g, feeds)
}

/// Runs `op` once on graph inputs and once on constants (through constant folding),
/// checks that both agree, and returns the outputs.
pub fn run_op_n(op: Op, inputs: &[Option<Tensor>], outputs: usize) -> Result<Vec<Tensor>, RuntimeError> {
    let (g, feeds) = one_node_graph(op.clone(), inputs, outputs, false);
    let live = Plan::new(g, &single_thread())?.run(&feeds)?;
    let (g, _) = one_node_graph(op, inputs, outputs, true);
    let folded = Plan::new(g, &single_thread())?;
    assert!(
        folded.graph().nodes.is_empty(),
        "a node on constants folds at plan time"
    );
    assert_eq!(folded.run(&[])?, live, "folded and live results differ");
    Ok(live)
}

pub fn run_op(op: Op, inputs: &[Option<Tensor>]) -> Result<Tensor, RuntimeError> {
    Ok(run_op_n(op, inputs, 1)?.remove(0))
}

/// Shorthand for an op whose inputs are all present.
pub fn run(op: Op, inputs: Vec<Tensor>) -> Tensor {
    run_op(op, &inputs.into_iter().map(Some).collect::<Vec<_>>()).unwrap()
}

pub fn values<T: Element>(t: &Tensor) -> Vec<T> {
    t.as_slice::<T>().unwrap().to_vec()
}

/// Asserts two f32 slices agree within `tol` (absolute), reporting the first mismatch.
pub fn assert_close(got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "lengths differ");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol, "element {i}: got {g}, want {w} (tol {tol})");
    }
}

/// A deterministic pseudo-random sequence in [-1, 1).
pub fn noise(len: usize, seed: u64) -> Vec<f32> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}
