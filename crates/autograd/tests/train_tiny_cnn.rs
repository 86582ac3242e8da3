//! End to end: a conv-bn-relu-pool-linear CNN built with the builder learns to tell
//! horizontal from vertical stripes with 30 steps of SGD with momentum.

mod common;

use common::random;
use lowbit_autograd::{softmax_cross_entropy, Mode, Sgd, TrainingExecutor};
use lowbit_graph::builder::{BatchNormWeights, Conv2dSpec, GraphBuilder};
use lowbit_graph::{Dim, Graph};
use lowbit_tensor::{DType, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const SIZE: usize = 8;

fn tiny_cnn() -> Graph {
    let mut b = GraphBuilder::new("tiny");
    let x = b
        .input(
            "x",
            DType::F32,
            [Dim::from("N"), 1.into(), SIZE.into(), SIZE.into()],
        )
        .unwrap();
    let spec = Conv2dSpec::default().padding(1);
    let x = b
        .conv2d("conv", x, spec, random(&[6, 1, 3, 3], 100, 0.4), None)
        .unwrap();
    let x = b.batch_norm("bn", x, BatchNormWeights::fresh(6)).unwrap();
    let x = b.relu("relu", x).unwrap();
    let x = b.global_avg_pool("pool", x).unwrap();
    let x = b.flatten(x).unwrap();
    let y = b
        .linear("fc", x, random(&[2, 6], 101, 0.4), Some(random(&[2], 102, 0.1)))
        .unwrap();
    b.output(y);
    b.finish().unwrap()
}

/// `count` images of stripes with a random phase and noise: label 0 horizontal,
/// label 1 vertical.
fn stripes(count: usize, rng: &mut StdRng) -> (Tensor, Vec<usize>) {
    let mut values = Vec::with_capacity(count * SIZE * SIZE);
    let mut labels = Vec::with_capacity(count);
    for _ in 0..count {
        let label = rng.gen_range(0..2);
        let phase = rng.gen_range(0..2);
        for y in 0..SIZE {
            for x in 0..SIZE {
                let along = if label == 0 { y } else { x };
                let stripe = if (along + phase) % 2 == 0 { 1.0 } else { -1.0 };
                values.push(stripe + rng.gen_range(-0.3..0.3));
            }
        }
        labels.push(label);
    }
    (Tensor::new(vec![count, 1, SIZE, SIZE], values).unwrap(), labels)
}

#[test]
fn sgd_drives_the_loss_down_on_separable_data() {
    let graph = tiny_cnn();
    let (input, output) = (graph.inputs[0], graph.outputs[0]);
    let mut exec = TrainingExecutor::new(&graph, 3).unwrap();
    assert_eq!(
        exec.trainable().count(),
        5,
        "conv weight, bn weight and bias, fc weight and bias"
    );
    let mut sgd = Sgd::new(0.1, 0.9, 1e-4);
    let mut rng = StdRng::seed_from_u64(2024);
    let mut losses = Vec::new();
    for _ in 0..30 {
        let (images, labels) = stripes(16, &mut rng);
        let tape = exec.forward(&[(input, images)], Mode::Train).unwrap();
        let ce = softmax_cross_entropy(tape.output().unwrap(), &labels).unwrap();
        losses.push(ce.loss);
        let grads = tape.backward(&[(output, ce.grad)]).unwrap();
        assert_eq!(grads.len(), 5);
        sgd.step(&mut exec, &grads).unwrap();
    }
    let first: f32 = losses[..3].iter().sum::<f32>() / 3.0;
    let last: f32 = losses[27..].iter().sum::<f32>() / 3.0;
    println!("loss: first steps {first:.4}, last steps {last:.4} ({losses:?})");
    assert!(last < 0.35 * first, "loss went from {first} to {last}");

    // Held-out accuracy in evaluation mode, with the running statistics learned above.
    let (images, labels) = stripes(200, &mut rng);
    let tape = exec.forward(&[(input, images)], Mode::Eval).unwrap();
    let ce = softmax_cross_entropy(tape.output().unwrap(), &labels).unwrap();
    println!("held-out accuracy {}/200, loss {:.4}", ce.correct, ce.loss);
    assert!(ce.correct >= 190, "held-out accuracy {}/200", ce.correct);
}
