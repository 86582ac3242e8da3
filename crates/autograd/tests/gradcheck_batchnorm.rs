//! BatchNormalization gradients in training mode (batch statistics) and evaluation mode,
//! and the running-statistics update (PyTorch momentum 0.1, unbiased running variance).

mod common;

use common::{random, GradCheck, LINEAR, SMOOTH};
use lowbit_autograd::{Mode, TrainingExecutor};
use lowbit_graph::builder::{BatchNormWeights, GraphBuilder};
use lowbit_graph::Graph;
use lowbit_tensor::{DType, Tensor};

fn bn_graph(shape: [usize; 4]) -> Graph {
    let c = shape[1];
    let mut b = GraphBuilder::new("bn");
    let x = b.input("x", DType::F32, shape).unwrap();
    let weights = BatchNormWeights {
        weight: random(&[c], 4, 1.0),
        bias: random(&[c], 5, 1.0),
        running_mean: random(&[c], 6, 0.5),
        running_var: Tensor::new(vec![c], vec![1.5; c]).unwrap(),
        eps: 1e-5,
    };
    let y = b.batch_norm("bn", x, weights).unwrap();
    b.output(y);
    b.finish().unwrap()
}

fn params(graph: &Graph) -> Vec<lowbit_graph::ValueId> {
    let mut wrt = vec![graph.inputs[0]];
    wrt.extend(["bn.weight", "bn.bias"].map(|n| graph.find_value(n).unwrap()));
    wrt
}

#[test]
fn batchnorm_training_mode_gradients() {
    let shape = [3, 2, 3, 2];
    let graph = bn_graph(shape);
    let x = graph.inputs[0];
    let mut gc = GradCheck::new(&graph, vec![(x, random(&shape, 7, 2.0))], Mode::Train);
    assert_eq!(gc.check(&params(&graph), SMOOTH), 36 + 2 + 2);
}

#[test]
fn batchnorm_eval_mode_gradients() {
    let shape = [2, 3, 2, 3];
    let graph = bn_graph(shape);
    let x = graph.inputs[0];
    let mut gc = GradCheck::new(&graph, vec![(x, random(&shape, 8, 2.0))], Mode::Eval);
    assert_eq!(gc.check(&params(&graph), LINEAR), 36 + 3 + 3);
}

#[test]
fn batchnorm_training_updates_running_statistics() {
    let shape = [4, 2, 3, 3];
    let graph = bn_graph(shape);
    let input = random(&shape, 9, 3.0);
    let mut exec = TrainingExecutor::new(&graph, 0).unwrap();
    let tape = exec
        .forward(&[(graph.inputs[0], input.clone())], Mode::Train)
        .unwrap();
    let xs = input.as_slice::<f32>().unwrap();
    let old_mean = random(&[2], 6, 0.5).to_f32_vec();
    let mean_id = graph.find_value("bn.running_mean").unwrap();
    let var_id = graph.find_value("bn.running_var").unwrap();
    assert_eq!(tape.state_updates().len(), 2);
    for c in 0..2 {
        let values: Vec<f64> = (0..4)
            .flat_map(|n| xs[(n * 2 + c) * 9..(n * 2 + c + 1) * 9].iter().map(|&v| v as f64))
            .collect();
        let count = values.len() as f64;
        let mean = values.iter().sum::<f64>() / count;
        let unbiased = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (count - 1.0);
        let expected_mean = 0.9 * old_mean[c] as f64 + 0.1 * mean;
        let expected_var = 0.9 * 1.5 + 0.1 * unbiased;
        let got_mean = exec.state(mean_id).unwrap().to_f32_vec()[c] as f64;
        let got_var = exec.state(var_id).unwrap().to_f32_vec()[c] as f64;
        assert!(
            (got_mean - expected_mean).abs() < 1e-5,
            "mean[{c}]: {got_mean} vs {expected_mean}"
        );
        assert!(
            (got_var - expected_var).abs() < 1e-4,
            "var[{c}]: {got_var} vs {expected_var}"
        );
    }
    // Evaluation leaves the buffers alone and uses them.
    let before = exec.state(var_id).unwrap().clone();
    let tape = exec.forward(&[(graph.inputs[0], input)], Mode::Eval).unwrap();
    assert!(tape.state_updates().is_empty());
    assert_eq!(exec.state(var_id).unwrap(), &before);
    // The exported graph carries the updated buffers.
    assert_eq!(exec.to_graph().initializer(var_id).unwrap().as_ref(), &before);
}
