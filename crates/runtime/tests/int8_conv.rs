//! QDQ convolutions compiled into integer steps agree with the f32 reference plan.

mod int8_support;

use int8_support::{compare, conv_attrs, Qdq};
use lowbit_graph::ops::{BinaryOp, QuantAxis, UnaryOp};
use lowbit_graph::Op;
use lowbit_tensor::Tensor;

const X_SCALE: f32 = 0.02;
const X_ZP: u8 = 128;

/// An output scale that spans about four standard deviations of a conv output with
/// `k` products of the builders' random activations and weights.
fn y_scale(k: usize) -> f32 {
    0.01 * (k as f32).sqrt()
}

fn input(b: &mut Qdq, shape: &[usize]) -> (lowbit_graph::ValueId, Tensor) {
    let x = b.input_u8("x", shape);
    let data = b.rng.bytes(shape.iter().product());
    (x, Tensor::new(shape, data).unwrap())
}

#[test]
fn pointwise_conv_with_relu() {
    let mut b = Qdq::new(1);
    let (x, feed) = input(&mut b, &[2, 16, 7, 5]);
    let xf = b.dq(x, X_SCALE, X_ZP);
    let conv = b.conv(xf, X_SCALE, 16, 24, conv_attrs(1, 1, [0; 4], 1));
    let relu = b.node(Op::Unary(UnaryOp::Relu), &[Some(conv)]);
    // A nonzero output zero point makes the fused ReLU a real clamp at 20.
    let y = b.q(relu, y_scale(16), 20);
    let c = compare(b.finish(&[y]), &[feed]);
    c.assert_within_one_step();
    assert_eq!(c.kernels().len(), 1);
    assert!(c.kernels()[0].starts_with("QConv2d"), "{:?}", c.kernels());
    assert!(c.fused.fallbacks().is_empty(), "{:?}", c.fused.fallbacks());
}

#[test]
fn strided_3x3_conv_with_asymmetric_pads_and_clip() {
    let mut b = Qdq::new(2);
    let (x, feed) = input(&mut b, &[1, 5, 11, 8]);
    let xf = b.dq(x, X_SCALE, X_ZP);
    let conv = b.conv(xf, X_SCALE, 5, 7, conv_attrs(3, 2, [1, 0, 0, 1], 1));
    let lo = b.constant(Tensor::scalar(0f32));
    let hi = b.constant(Tensor::scalar(1.5f32));
    let clip = b.node(Op::Clip, &[Some(conv), Some(lo), Some(hi)]);
    let y = b.q(clip, 1.5 / 255.0, 0);
    let c = compare(b.finish(&[y]), &[feed]);
    c.assert_within_one_step();
    assert_eq!(c.kernels().len(), 1, "{:?}", c.kernels());
    assert!(c.fused.fallbacks().is_empty());
}

#[test]
fn depthwise_conv_without_activation() {
    let mut b = Qdq::new(3);
    let (x, feed) = input(&mut b, &[1, 12, 9, 10]);
    let xf = b.dq(x, X_SCALE, X_ZP);
    let conv = b.conv(xf, X_SCALE, 12, 12, conv_attrs(3, 1, [1, 1, 1, 1], 12));
    let y = b.q(conv, y_scale(9), 128);
    let c = compare(b.finish(&[y]), &[feed]);
    c.assert_within_one_step();
    assert!(c.kernels()[0].contains("dwconv"), "{:?}", c.kernels());
}

#[test]
fn grouped_conv_with_float_bias() {
    let mut b = Qdq::new(4);
    let (x, feed) = input(&mut b, &[1, 8, 6, 6]);
    let xf = b.dq(x, X_SCALE, X_ZP);
    let (w, _) = b.weights(&[6, 4, 3, 3], 0);
    let bias = b.constant(Tensor::new(vec![6], vec![0.3f32, -0.2, 0.05, 1.0, -1.25, 0.0]).unwrap());
    let conv = b.node(
        Op::Conv(conv_attrs(3, 1, [0, 1, 2, 1], 2)),
        &[Some(xf), Some(w), Some(bias)],
    );
    let y = b.q(conv, y_scale(36), 120);
    let c = compare(b.finish(&[y]), &[feed]);
    c.assert_within_one_step();
    assert_eq!(c.kernels().len(), 1);
}

#[test]
fn conv_whose_float_output_is_also_a_graph_output_keeps_it_float() {
    let mut b = Qdq::new(5);
    let (x, feed) = input(&mut b, &[1, 4, 5, 5]);
    let xf = b.dq(x, X_SCALE, X_ZP);
    let conv = b.conv(xf, X_SCALE, 4, 4, conv_attrs(1, 1, [0; 4], 1));
    let y = b.q(conv, y_scale(4), 128);
    let plan = lowbit_runtime::Plan::new(b.finish(&[y, conv]), &Default::default()).unwrap();
    // The 1×1 conv runs on the integer product with a float output, which the graph
    // output and the QuantizeLinear both read.
    let steps: Vec<String> = plan.integer_steps().into_iter().map(|(_, k)| k).collect();
    assert_eq!(steps, ["QConv2d 1×1 to f32", "quantize"]);
    assert!(plan.fallbacks().is_empty(), "{:?}", plan.fallbacks());
    let outputs = plan.run(&[feed]).unwrap();
    assert_eq!(outputs.len(), 2);
    assert_eq!(outputs[1].dtype(), lowbit_tensor::DType::F32);
}

/// The producer of an FP32 fallback: a 1×1 conv whose float output only f32 ops read
/// runs on the integer product, from an NCHW input (the model's entry) and from an NHWC
/// one (another integer conv's output), and agrees with the f32 reference.
#[test]
fn pointwise_conv_with_a_float_output() {
    let mut b = Qdq::new(8);
    let (x, feed) = input(&mut b, &[2, 16, 7, 5]);
    let xf = b.dq(x, X_SCALE, X_ZP);
    let first = b.conv(xf, X_SCALE, 16, 12, conv_attrs(1, 1, [0; 4], 1));
    let first_relu = b.node(Op::Unary(UnaryOp::Relu), &[Some(first)]);
    let inner = b.conv(xf, X_SCALE, 16, 8, conv_attrs(3, 1, [1; 4], 1));
    let inner_scale = y_scale(144);
    let q = b.q(inner, inner_scale, 128);
    let qf = b.dq(q, inner_scale, 128);
    let second = b.conv(qf, inner_scale, 8, 24, conv_attrs(1, 1, [0; 4], 1));
    let second_relu = b.node(Op::Unary(UnaryOp::Relu), &[Some(second)]);
    let graph = b.finish(&[first_relu, second_relu]);
    let options = |optimize| lowbit_runtime::PlanOptions { threads: 1, optimize };
    let fused = lowbit_runtime::Plan::new(graph.clone(), &options(true)).unwrap();
    let reference = lowbit_runtime::Plan::new(graph, &options(false)).unwrap();
    let steps: Vec<String> = fused.integer_steps().into_iter().map(|(_, k)| k).collect();
    assert_eq!(steps.len(), 3, "{steps:?}");
    assert_eq!([&steps[0], &steps[2]], ["QConv2d 1×1 to f32"; 2], "{steps:?}");
    assert!(fused.fallbacks().is_empty(), "{:?}", fused.fallbacks());
    let (got, want) = (
        fused.run(std::slice::from_ref(&feed)).unwrap(),
        reference.run(&[feed]).unwrap(),
    );
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g.shape(), w.shape());
        let (g, w) = (g.as_slice::<f32>().unwrap(), w.as_slice::<f32>().unwrap());
        let peak = w.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(peak > 0.1, "a degenerate output proves nothing");
        for (a, b) in g.iter().zip(w) {
            assert!((a - b).abs() <= 1e-4 * peak, "{a} vs {b}");
        }
    }
}

#[test]
fn quantize_after_an_fp32_conv_runs_on_the_vector_kernel() {
    // What a recipe's FP32 override leaves: a float conv (f32 weights, no dtype facts on
    // its outputs, as in an imported file) whose ReLU6 output is quantized for an
    // integer conv.
    let mut b = Qdq::new(6);
    let (x, feed) = input(&mut b, &[1, 4, 9, 7]);
    let xf = b.dq(x, X_SCALE, X_ZP);
    let w = b
        .rng
        .bytes(4 * 4 * 9)
        .into_iter()
        .map(|v| (v as f32 - 128.0) / 512.0)
        .collect();
    let w = b.constant(Tensor::new([4usize, 4, 3, 3], w).unwrap());
    let conv = b.node(Op::Conv(conv_attrs(3, 1, [1; 4], 1)), &[Some(xf), Some(w), None]);
    let lo = b.constant(Tensor::scalar(0f32));
    let hi = b.constant(Tensor::scalar(6f32));
    let clip = b.node(Op::Clip, &[Some(conv), Some(lo), Some(hi)]);
    let q = b.q(clip, 6.0 / 255.0, 0);
    let qf = b.dq(q, 6.0 / 255.0, 0);
    let conv2 = b.conv(qf, 6.0 / 255.0, 4, 8, conv_attrs(1, 1, [0; 4], 1));
    let y = b.q(conv2, y_scale(4) * 4.0, 128);
    let c = compare(b.finish(&[q, y]), &[feed]);
    c.assert_within_one_step();
    assert_eq!(c.kernels()[0], "quantize", "{:?}", c.kernels());
    assert!(c.kernels()[1].starts_with("QConv2d"), "{:?}", c.kernels());
}

#[test]
fn quantize_after_an_fp32_add_runs_on_the_vector_kernel() {
    // What a fallback of a residual block leaves: a float conv and a float Add whose sum
    // is quantized again. No op-specific rule knows an Add's output is f32; the plan's
    // fact inference does.
    let mut b = Qdq::new(7);
    let (x, feed) = input(&mut b, &[1, 4, 6, 5]);
    let xf = b.dq(x, X_SCALE, X_ZP);
    let w = (0..16).map(|i| (i as f32 - 7.5) / 16.0).collect();
    let w = b.constant(Tensor::new([4usize, 4, 1, 1], w).unwrap());
    let conv = b.node(Op::Conv(conv_attrs(1, 1, [0; 4], 1)), &[Some(xf), Some(w), None]);
    let sum = b.node(Op::Binary(BinaryOp::Add), &[Some(conv), Some(xf)]);
    let y = b.q(sum, 0.05, 128);
    let c = compare(b.finish(&[y]), &[feed]);
    c.assert_within_one_step();
    assert_eq!(c.kernels(), ["quantize"]);
}

#[test]
fn u8_weights_with_per_channel_zero_points() {
    // ONNX Runtime's `QUInt8` weights: u8 values with a zero point per output channel,
    // which the kernels take in their i8 view.
    let mut b = Qdq::new(41);
    let (x, feed) = input(&mut b, &[1, 6, 7, 7]);
    let xf = b.dq(x, X_SCALE, X_ZP);
    let (m, c) = (4, 6);
    let values = b.rng.bytes(m * c * 9);
    let scales: Vec<f32> = (0..m).map(|_| b.rng.float(0.002, 0.01)).collect();
    let zero_points: Vec<u8> = (0..m).map(|_| b.rng.int(100, 156) as u8).collect();
    let w = b.constant(Tensor::new([m, c, 3, 3], values).unwrap());
    let s = b.constant(Tensor::new(vec![m], scales.clone()).unwrap());
    let z = b.constant(Tensor::new(vec![m], zero_points).unwrap());
    let wf = b.node(
        Op::DequantizeLinear(QuantAxis { axis: 0 }),
        &[Some(w), Some(s), Some(z)],
    );
    let bias = b.bias(X_SCALE, &scales);
    let conv = b.node(
        Op::Conv(conv_attrs(3, 1, [1; 4], 1)),
        &[Some(xf), Some(wf), Some(bias)],
    );
    let y = b.q(conv, y_scale(c * 9), 128);
    let c = compare(b.finish(&[y]), &[feed]);
    c.assert_within_one_step();
    assert_eq!(c.kernels().len(), 1, "{:?}", c.kernels());
    assert!(c.kernels()[0].starts_with("QConv2d"), "{:?}", c.kernels());
}
