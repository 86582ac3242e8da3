//! The zoo's MobileNetV2 (both the tutorial's and torchvision's head and activation) runs
//! forward and backward in training mode: every learnable parameter gets a finite gradient,
//! and spot checks against finite differences agree in evaluation mode.

mod common;

use common::random;
use lowbit_autograd::{softmax_cross_entropy, Mode, TrainingExecutor};
use lowbit_graph::Graph;
use lowbit_tensor::Tensor;
use lowbit_zoo::{learnable_parameter_count, mobilenet_v2, Activation, GlobalPooling, MobileNetV2Config};

fn small(activation: Activation, pooling: GlobalPooling) -> Graph {
    let config = MobileNetV2Config {
        num_classes: 4,
        width_mult: 0.25,
        input_size: [32, 32],
        activation,
        pooling,
        ..MobileNetV2Config::default()
    };
    mobilenet_v2(&config).unwrap()
}

const LABELS: [usize; 2] = [1, 3];

fn loss(exec: &mut TrainingExecutor, x: &Tensor, mode: Mode) -> (f32, Tensor) {
    let input = exec.graph().inputs[0];
    let tape = exec.forward(&[(input, x.clone())], mode).unwrap();
    let ce = softmax_cross_entropy(tape.output().unwrap(), &LABELS).unwrap();
    (ce.loss, ce.grad)
}

fn every_parameter_gets_a_gradient(graph: &Graph) {
    let x = random(&[2, 3, 32, 32], 110, 1.0);
    let mut exec = TrainingExecutor::new(graph, 0).unwrap();
    let tape = exec.forward(&[(graph.inputs[0], x)], Mode::Train).unwrap();
    let ce = softmax_cross_entropy(tape.output().unwrap(), &LABELS).unwrap();
    let grads = tape.backward(&[(graph.outputs[0], ce.grad)]).unwrap();
    let trainable: Vec<_> = exec.trainable().collect();
    assert_eq!(grads.len(), trainable.len());
    let mut scalars = 0;
    for id in trainable {
        let g = grads.get(id).unwrap().to_f32_vec();
        assert!(g.iter().all(|v| v.is_finite()), "{}", graph.value(id).name);
        scalars += g.len();
    }
    assert_eq!(scalars, learnable_parameter_count(graph));
}

#[test]
fn tutorial_model_backward() {
    every_parameter_gets_a_gradient(&small(Activation::Relu, GlobalPooling::Mean));
}

#[test]
fn torchvision_model_backward() {
    every_parameter_gets_a_gradient(&small(Activation::Relu6, GlobalPooling::AvgPoolFlatten));
}

#[test]
fn spot_checks_match_finite_differences() {
    let graph = small(Activation::Relu, GlobalPooling::Mean);
    let x = random(&[2, 3, 32, 32], 111, 1.0);
    let mut exec = TrainingExecutor::new(&graph, 0).unwrap();
    let (_, seed) = loss(&mut exec, &x, Mode::Eval);
    let tape = exec.forward(&[(graph.inputs[0], x.clone())], Mode::Eval).unwrap();
    let grads = tape.backward(&[(graph.outputs[0], seed)]).unwrap();
    let eps = 1e-2;
    for (name, index) in [
        ("classifier.1.bias", 2),
        ("classifier.1.weight", 17),
        ("features.18.1.weight", 5),
        ("features.0.0.weight", 4),
        ("features.0.0.weight", 20),
    ] {
        let id = graph.find_value(name).unwrap();
        let analytic = grads.get(id).unwrap().to_f32_vec()[index] as f64;
        let original = exec.state(id).unwrap().to_f32_vec()[index];
        let mut at = |v: f32| {
            exec.state_mut(id).unwrap().as_mut_slice::<f32>().unwrap()[index] = v;
            loss(&mut exec, &x, Mode::Eval).0 as f64
        };
        let fd = (at(original + eps) - at(original - eps)) / (2.0 * eps as f64);
        at(original);
        let err = (fd - analytic).abs();
        assert!(
            err <= 1e-3 + 0.05 * fd.abs(),
            "{name}[{index}]: fd {fd:.6}, analytic {analytic:.6}"
        );
    }
}
