//! A BatchNorm followed by the Relu or ReLU6 that alone reads it runs as one fused step.
//! Its outputs, gradients and running statistics must equal those of the two ops run
//! apart (forced here by asking for the gradient of the BatchNorm's output, which keeps it
//! visible), and its gradients must pass a finite-difference check.

mod common;

use common::{random, GradCheck, SMOOTH};
use lowbit_autograd::{Mode, TrainingExecutor};
use lowbit_graph::builder::{BatchNormWeights, GraphBuilder};
use lowbit_graph::{Graph, ValueId};
use lowbit_tensor::{DType, Tensor};

/// `x → BatchNorm → Relu (or ReLU6)`, the BatchNorm's shift `beta` for every channel.
fn bn_clamp_graph(shape: [usize; 4], relu6: bool, beta: Option<f32>) -> Graph {
    let c = shape[1];
    let mut b = GraphBuilder::new("bn_clamp");
    let x = b.input("x", DType::F32, shape).unwrap();
    let weights = BatchNormWeights {
        weight: random(&[c], 4, 1.0),
        bias: beta.map_or_else(
            || random(&[c], 5, 1.0),
            |v| Tensor::new(vec![c], vec![v; c]).unwrap(),
        ),
        running_mean: random(&[c], 6, 0.5),
        running_var: Tensor::new(vec![c], vec![1.5; c]).unwrap(),
        eps: 1e-5,
    };
    let y = b.batch_norm("bn", x, weights).unwrap();
    let y = if relu6 {
        b.relu6("act", y)
    } else {
        b.relu("act", y)
    }
    .unwrap();
    b.output(y);
    b.finish().unwrap()
}

fn params(graph: &Graph) -> Vec<ValueId> {
    let mut wrt = vec![graph.inputs[0]];
    wrt.extend(["bn.weight", "bn.bias"].map(|n| graph.find_value(n).unwrap()));
    wrt
}

/// The BatchNorm's output value (the clamp's data input).
fn bn_output(graph: &Graph) -> ValueId {
    let bn = graph.nodes.iter().find(|n| n.name == "bn").unwrap();
    bn.outputs[0]
}

/// Output, parameter gradients and new state of one step, fused or kept apart.
fn run(graph: &Graph, x: &Tensor, mode: Mode, fused: bool) -> (Vec<f32>, Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let mut exec = TrainingExecutor::new(graph, 3).unwrap();
    let wrt = params(graph);
    for &id in &wrt {
        exec.set_requires_grad(id, true);
    }
    if !fused {
        exec.set_requires_grad(bn_output(graph), true);
    }
    let tape = exec.forward(&[(graph.inputs[0], x.clone())], mode).unwrap();
    let y = tape.output().unwrap().to_f32_vec();
    let seed = random(&[y.len()], 17, 1.0).to_f32_vec();
    let seed = Tensor::new(tape.output().unwrap().shape().to_vec(), seed).unwrap();
    let state = tape.state_updates().iter().map(|(_, t)| t.to_f32_vec()).collect();
    let grads = tape.backward(&[(graph.outputs[0], seed)]).unwrap();
    let grads = wrt
        .iter()
        .map(|&id| grads.get(id).unwrap().to_f32_vec())
        .collect();
    (y, grads, state)
}

fn assert_close(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-5 * (1.0 + w.abs()),
            "{what}[{i}]: fused {g}, apart {w}"
        );
    }
}

#[test]
fn fused_step_matches_the_two_ops_apart() {
    // Odd planes, a 1×1 plane, a plane wider than a parallel task, both clamps, both modes.
    for (shape, relu6) in [
        ([3, 5, 7, 3], false),
        ([2, 3, 1, 1], true),
        ([4, 2, 9, 11], true),
        ([2, 3, 130, 130], false),
    ] {
        let graph = bn_clamp_graph(shape, relu6, None);
        // Scaled so that ReLU6's upper bound clamps some values too.
        let x = random(&shape, 7, 9.0);
        for mode in [Mode::Train, Mode::Eval] {
            let (y, grads, state) = run(&graph, &x, mode, true);
            let (y_apart, grads_apart, state_apart) = run(&graph, &x, mode, false);
            let case = format!("{shape:?} relu6 {relu6} {mode:?}");
            assert!(y.contains(&0.0), "{case}: no value clamped");
            assert_close(&format!("{case} output"), &y, &y_apart);
            for (k, (g, want)) in grads.iter().zip(&grads_apart).enumerate() {
                assert_close(&format!("{case} gradient {k}"), g, want);
            }
            assert_eq!(state.len(), state_apart.len(), "{case}: state updates");
            for (s, want) in state.iter().zip(&state_apart) {
                assert_close(&format!("{case} state"), s, want);
            }
        }
    }
}

#[test]
fn fused_training_gradients_pass_finite_differences() {
    // A shift of 4 keeps every normalised value inside the clamps' open ranges (ReLU6 with
    // a shift of 3), away from the kinks where finite differences break.
    for (relu6, beta) in [(false, 4.0), (true, 3.0)] {
        let shape = [3, 2, 3, 2];
        let graph = bn_clamp_graph(shape, relu6, Some(beta));
        let x = graph.inputs[0];
        let mut gc = GradCheck::new(&graph, vec![(x, random(&shape, 7, 2.0))], Mode::Train);
        assert_eq!(gc.check(&params(&graph), SMOOTH), 36 + 2 + 2);
    }
}
