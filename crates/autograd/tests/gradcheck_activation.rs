//! Relu and Clip (ReLU6) gradients, with inputs kept away from the kinks where the
//! derivative jumps; plus the zero gradient on the clamped side.

mod common;

use common::{random, GradCheck, LINEAR};
use lowbit_autograd::{Mode, TrainingExecutor};
use lowbit_graph::builder::GraphBuilder;
use lowbit_graph::{Graph, ValueId};
use lowbit_tensor::{DType, Tensor};

fn graph(relu6: bool, shape: &[usize]) -> Graph {
    let mut b = GraphBuilder::new("act");
    let x = b.input("x", DType::F32, shape.iter().copied()).unwrap();
    let y = if relu6 {
        b.relu6("act", x)
    } else {
        b.relu("act", x)
    }
    .unwrap();
    b.output(y);
    b.finish().unwrap()
}

/// Values in [-8, 8] moved at least 0.3 away from every kink in `kinks`.
fn away_from(kinks: &[f32], shape: &[usize]) -> Tensor {
    let mut t = random(shape, 21, 8.0);
    for v in t.as_mut_slice::<f32>().unwrap() {
        for &k in kinks {
            if (*v - k).abs() < 0.3 {
                *v = k + 0.3_f32.copysign(*v - k);
            }
        }
    }
    t
}

fn check(relu6: bool, kinks: &[f32]) {
    let shape = [2, 3, 4, 3];
    let g = graph(relu6, &shape);
    let x = g.inputs[0];
    let input = away_from(kinks, &shape);
    let mut gc = GradCheck::new(&g, vec![(x, input)], Mode::Train);
    assert_eq!(gc.check(&[x], LINEAR), 72);
}

#[test]
fn relu_gradient() {
    check(false, &[0.0]);
}

#[test]
fn clip_relu6_gradient() {
    check(true, &[0.0, 6.0]);
}

#[test]
fn clamped_inputs_get_zero_gradient() {
    let g = graph(true, &[5]);
    let x: ValueId = g.inputs[0];
    let mut exec = TrainingExecutor::new(&g, 0).unwrap();
    exec.set_requires_grad(x, true);
    let input = Tensor::new(vec![5], vec![-1.0f32, 0.5, 3.0, 5.9, 7.0]).unwrap();
    let tape = exec.forward(&[(x, input)], Mode::Train).unwrap();
    assert_eq!(tape.output().unwrap().to_f32_vec(), vec![0.0, 0.5, 3.0, 5.9, 6.0]);
    let seed = Tensor::new(vec![5], vec![1.0f32, 2.0, 3.0, 4.0, 5.0]).unwrap();
    let grads = tape.backward(&[(g.outputs[0], seed)]).unwrap();
    assert_eq!(grads.get(x).unwrap().to_f32_vec(), vec![0.0, 2.0, 3.0, 4.0, 0.0]);
}
