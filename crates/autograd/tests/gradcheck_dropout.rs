//! Dropout in training mode: an inverted, seeded mask whose gradient is the same mask.
//! (A finite-difference check does not apply: every forward draws a new mask.)

mod common;

use common::random;
use lowbit_autograd::{Mode, TrainingExecutor};
use lowbit_graph::builder::GraphBuilder;
use lowbit_graph::Graph;
use lowbit_tensor::DType;

fn graph(p: f32) -> Graph {
    let mut b = GraphBuilder::new("dropout");
    let x = b.input("x", DType::F32, [40, 50]).unwrap();
    let y = b.dropout("drop", x, p).unwrap();
    b.output(y);
    b.finish().unwrap()
}

#[test]
fn training_mask_scales_kept_values_and_gradient() {
    let p = 0.25;
    let g = graph(p);
    let x = g.inputs[0];
    let input = random(&[40, 50], 70, 1.0);
    let mut exec = TrainingExecutor::new(&g, 5).unwrap();
    exec.set_requires_grad(x, true);
    let tape = exec.forward(&[(x, input.clone())], Mode::Train).unwrap();
    let y = tape.output().unwrap().to_f32_vec();
    let seed = random(&[40, 50], 71, 1.0);
    let dx = tape.backward(&[(g.outputs[0], seed.clone())]).unwrap();
    let dx = dx.get(x).unwrap().to_f32_vec();
    let (xs, dy) = (input.to_f32_vec(), seed.to_f32_vec());
    let mut dropped = 0;
    for i in 0..xs.len() {
        let kept = y[i] != 0.0;
        let multiplier = if kept { 1.0 / (1.0 - p) } else { 0.0 };
        dropped += usize::from(!kept);
        assert!((y[i] - xs[i] * multiplier).abs() < 1e-6, "y[{i}]");
        assert!((dx[i] - dy[i] * multiplier).abs() < 1e-6, "dx[{i}]");
    }
    let rate = dropped as f64 / xs.len() as f64;
    assert!((rate - 0.25).abs() < 0.04, "dropped {rate}");
}

#[test]
fn masks_are_reproducible_per_seed_and_differ_per_step() {
    let g = graph(0.5);
    let x = g.inputs[0];
    let input = random(&[40, 50], 72, 1.0);
    let run = |seed: u64, steps: usize| {
        let mut exec = TrainingExecutor::new(&g, seed).unwrap();
        (0..steps)
            .map(|_| {
                let tape = exec.forward(&[(x, input.clone())], Mode::Train).unwrap();
                tape.output().unwrap().to_f32_vec()
            })
            .collect::<Vec<_>>()
    };
    let (a, b) = (run(1, 2), run(1, 2));
    assert_eq!(a, b);
    assert_ne!(a[0], a[1]);
}

#[test]
fn evaluation_is_identity() {
    let g = graph(0.5);
    let x = g.inputs[0];
    let input = random(&[40, 50], 73, 1.0);
    let mut exec = TrainingExecutor::new(&g, 1).unwrap();
    let tape = exec.forward(&[(x, input.clone())], Mode::Eval).unwrap();
    assert_eq!(tape.output().unwrap(), &input);
}
