//! The zoo's graphs run on the lowbit runtime: shapes match inference, values are finite,
//! and the optimised plan (BN folding, fusion) agrees with the graph as built.

use lowbit_runtime::{Plan, PlanOptions};
use lowbit_tensor::Tensor;
use lowbit_zoo::{mobilenet_v2, resnet18, Activation, GlobalPooling, MobileNetV2Config, ResNetConfig};

/// A deterministic, varied image batch.
fn image(shape: [usize; 4]) -> Tensor {
    let n: usize = shape.iter().product();
    let values = (0..n).map(|i| ((i * 7919) % 255) as f32 / 255.0 - 0.5).collect();
    Tensor::new(shape.to_vec(), values).unwrap()
}

fn run(graph: lowbit_graph::Graph, input: &Tensor, optimize: bool) -> Tensor {
    let options = PlanOptions { threads: 1, optimize };
    let plan = Plan::new(graph, &options).unwrap();
    plan.run(std::slice::from_ref(input)).unwrap().remove(0)
}

fn assert_close(a: &[f32], b: &[f32]) {
    let scale = a.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-4 * scale,
            "logit {i}: {x} vs {y} (scale {scale})"
        );
    }
}

#[test]
fn mobilenet_v2_half_width_runs_on_fashion_mnist_input() {
    for (activation, pooling) in [
        (Activation::Relu, GlobalPooling::Mean),
        (Activation::Relu6, GlobalPooling::AvgPoolFlatten),
    ] {
        let mut config = MobileNetV2Config {
            in_channels: 1,
            input_size: [28, 28],
            num_classes: 10,
            width_mult: 0.5,
            stem_stride: 1,
            batch: 1.into(),
            activation,
            pooling,
            ..MobileNetV2Config::default()
        };
        config.set_stage_strides(&[1, 1, 2, 2, 1, 2, 1]).unwrap();
        let graph = mobilenet_v2(&config).unwrap();
        let input = image([1, 1, 28, 28]);
        let plain = run(graph.clone(), &input, false);
        let optimized = run(graph, &input, true);
        assert_eq!(plain.shape(), [1, 10]);
        assert_eq!(optimized.shape(), [1, 10]);
        let logits = plain.to_f32_vec();
        assert!(logits.iter().all(|v| v.is_finite()), "{logits:?}");
        assert!(
            logits.iter().any(|&v| v != logits[0]),
            "degenerate logits {logits:?}"
        );
        assert_close(&logits, &optimized.to_f32_vec());
    }
}

#[test]
fn resnet18_runs_on_a_small_image() {
    let config = ResNetConfig {
        num_classes: 10,
        batch: 2.into(),
        input_size: [32, 32],
        ..ResNetConfig::default()
    };
    let graph = resnet18(&config).unwrap();
    let input = image([2, 3, 32, 32]);
    let plain = run(graph.clone(), &input, false);
    assert_eq!(plain.shape(), [2, 10]);
    assert!(plain.to_f32_vec().iter().all(|v| v.is_finite()));
    assert_close(&plain.to_f32_vec(), &run(graph, &input, true).to_f32_vec());
}
