//! `prepare_qat` on a small MobileNetV2: the fake-quantize sites are static PTQ's
//! quantization points and weights, the Conv+BN units train exactly like the FP32 pairs
//! when fake quantization is off, and `freeze_bn_stats` switches BatchNorm to its running
//! statistics.

mod qat_common;

use lowbit_autograd::{softmax_cross_entropy, Gradients, Mode, TrainingExecutor};
use lowbit_graph::builder::{BatchNormWeights, Conv2dSpec, GraphBuilder};
use lowbit_graph::{Dim, Graph, Op, ValueId};
use lowbit_quant::static_ptq::{prepare, Preset};
use lowbit_tensor::{DType, Tensor};
use lowbit_train::qat::{prepare_qat, qat_qconfig};
use qat_common::{relative_max_diff, small_mobilenet, synthetic, CLASSES};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn batch_norm_buffers(graph: &Graph) -> Vec<(ValueId, ValueId)> {
    graph
        .nodes
        .iter()
        .filter(|n| matches!(n.op, Op::BatchNorm(_)))
        .map(|n| (n.input(3).unwrap(), n.input(4).unwrap()))
        .collect()
}

#[test]
fn sites_are_the_ptq_quantization_points_and_weights() {
    let graph = small_mobilenet(CLASSES, 0.2);
    let qconfig = qat_qconfig(Preset::X86);
    let model = prepare_qat(&graph, &qconfig).unwrap();
    let ptq = prepare(graph.clone(), &qconfig).unwrap();
    let mut expected: Vec<String> = ptq.quantization_points().iter().map(|s| s.to_string()).collect();
    let mut points = model.activation_points();
    expected.sort();
    points.sort();
    assert_eq!(points, expected);
    let mut expected: Vec<String> = ptq.weight_sites().into_iter().map(|w| w.node).collect();
    let mut weights = model.weight_nodes();
    expected.sort();
    weights.sort();
    assert_eq!(weights, expected);
    assert_eq!(model.conv_bn_units(), batch_norm_buffers(&graph).len());
    println!(
        "{} activation points, {} quantized weights, {} Conv+BN units",
        points.len(),
        weights.len(),
        model.conv_bn_units()
    );
}

/// The FP32 and QAT (fake quantization off) forward and backward of one training step.
fn fp32_and_qat_step(graph: &Graph, x: &Tensor, seed: &Tensor) -> (Tensor, Tensor, Gradients, Gradients) {
    let (input, output) = (graph.inputs[0], graph.outputs[0]);
    let mut fp32 = TrainingExecutor::new(graph, 0).unwrap();
    let tape = fp32.forward(&[(input, x.clone())], Mode::Train).unwrap();
    let fp32_logits = tape.output().unwrap().clone();
    let fp32_grads = tape.backward(&[(output, seed.clone())]).unwrap();
    let mut qat = prepare_qat(graph, &qat_qconfig(Preset::X86)).unwrap();
    qat.disable_fake_quant();
    let tape = qat.forward(x.clone(), Mode::Train).unwrap();
    let qat_logits = tape.output().unwrap().clone();
    let qat_grads = tape.backward(&[(output, seed.clone())]).unwrap();
    // Both updated the running statistics the same way.
    let (trained, fp32_after) = (qat.trained_graph(), fp32.to_graph());
    for (mean, var) in batch_norm_buffers(graph) {
        for id in [mean, var] {
            let diff = relative_max_diff(
                fp32_after.initializer(id).unwrap(),
                trained.initializer(id).unwrap(),
            );
            assert!(diff < 1e-5, "'{}' differs by {diff}", graph.value(id).name);
        }
    }
    (fp32_logits, qat_logits, fp32_grads, qat_grads)
}

#[test]
fn without_fake_quant_the_qat_forward_is_the_fp32_training_forward() {
    // No dropout: the two graphs number their nodes differently, hence their masks.
    let graph = small_mobilenet(CLASSES, 0.0);
    let (x, labels) = synthetic(8, 1);
    let mut probe = TrainingExecutor::new(&graph, 0).unwrap();
    let logits = probe
        .forward(&[(graph.inputs[0], x.clone())], Mode::Train)
        .unwrap();
    let seed = softmax_cross_entropy(logits.output().unwrap(), &labels)
        .unwrap()
        .grad;
    let (fp32, qat, _, _) = fp32_and_qat_step(&graph, &x, &seed);
    let scale = fp32.to_f32_vec().iter().fold(0f32, |m, v| m.max(v.abs()));
    let diff = fp32
        .to_f32_vec()
        .iter()
        .zip(qat.to_f32_vec())
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(
        diff <= 1e-4 * scale,
        "logits differ by {diff} (largest logit {scale})"
    );
}

#[test]
fn without_fake_quant_a_conv_bn_relu_unit_gets_the_fp32_gradients() {
    let mut b = GraphBuilder::new("unit");
    let x = b
        .input("x", DType::F32, [Dim::from("N"), 2.into(), 7.into(), 7.into()])
        .unwrap();
    let weight = random(&[3, 2, 3, 3], 1, 0.5);
    let spec = Conv2dSpec::default().padding(1).stride(2);
    let y = b
        .conv2d("conv", x, spec, weight, Some(random(&[3], 4, 0.5)))
        .unwrap();
    let y = b.batch_norm("bn", y, BatchNormWeights::fresh(3)).unwrap();
    let y = b.relu("relu", y).unwrap();
    let y = b.global_avg_pool("pool", y).unwrap();
    let y = b.flatten(y).unwrap();
    b.output(y);
    let graph = b.finish().unwrap();
    let x = random(&[4, 2, 7, 7], 2, 1.0);
    let seed = random(&[4, 3], 3, 1.0);
    let (fp32, qat, fp32_grads, qat_grads) = fp32_and_qat_step(&graph, &x, &seed);
    assert!(relative_max_diff(&fp32, &qat) < 1e-5);
    assert_eq!(fp32_grads.len(), 4, "conv weight and bias, BN scale and shift");
    for (id, g) in fp32_grads.iter() {
        let name = &graph.value(id).name;
        let q = qat_grads
            .get(id)
            .unwrap_or_else(|| panic!("no QAT gradient for '{name}'"));
        let diff = relative_max_diff(g, q);
        assert!(diff < 1e-5, "gradient of '{name}' differs by {diff} (relative)");
    }
}

fn random(shape: &[usize], seed: u64, scale: f32) -> Tensor {
    let mut rng = StdRng::seed_from_u64(seed);
    let values = (0..shape.iter().product())
        .map(|_| rng.gen_range(-scale..=scale))
        .collect();
    Tensor::new(shape.to_vec(), values).unwrap()
}

#[test]
fn frozen_batch_norm_uses_and_keeps_running_statistics() {
    let graph = small_mobilenet(CLASSES, 0.0);
    let mut model = prepare_qat(&graph, &qat_qconfig(Preset::X86)).unwrap();
    for seed in 0..2 {
        model.forward(synthetic(8, 10 + seed).0, Mode::Train).unwrap();
    }
    model.freeze_bn_stats().unwrap();
    assert!(model.bn_frozen());
    let buffers = batch_norm_buffers(&graph);
    let before = model.trained_graph();
    let (x, _) = synthetic(8, 20);
    let train = model
        .forward(x.clone(), Mode::Train)
        .unwrap()
        .output()
        .unwrap()
        .clone();
    let eval = model.eval_logits(x).unwrap();
    // Without dropout, a frozen model's training pass is its evaluation pass.
    let diff = relative_max_diff(&eval, &train);
    assert!(diff < 1e-5, "train and eval differ by {diff} after freezing");
    let after = model.trained_graph();
    for (mean, var) in buffers {
        for id in [mean, var] {
            assert_eq!(
                before.initializer(id).unwrap().to_f32_vec(),
                after.initializer(id).unwrap().to_f32_vec(),
                "'{}' moved after freezing",
                graph.value(id).name
            );
        }
    }
}
