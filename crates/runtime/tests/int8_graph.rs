//! Multi-node QDQ graphs: residual blocks, classifier heads, pooling, concatenation,
//! QOperator nodes and f32 fallbacks.

mod int8_support;

use int8_support::{compare, conv_attrs, Qdq};
use lowbit_graph::ops::{BinaryOp, Conv, Gemm, Pool, UnaryOp};
use lowbit_graph::{Fact, Op, ValueId};
use lowbit_tensor::{DType, Tensor};

fn input(b: &mut Qdq, shape: &[usize]) -> (ValueId, Tensor) {
    let x = b.input_u8("x", shape);
    let data = b.rng.bytes(shape.iter().product());
    (x, Tensor::new(shape, data).unwrap())
}

/// conv → Q → DQ, which feeds both a second conv and the skip input of an Add.
#[test]
fn residual_block_reads_one_u8_tensor_twice() {
    let mut b = Qdq::new(11);
    let (x, feed) = input(&mut b, &[1, 8, 6, 6]);
    let xf = b.dq(x, 0.02, 128);
    let c1 = b.conv(xf, 0.02, 8, 8, conv_attrs(3, 1, [1; 4], 1));
    let r1 = b.node(Op::Unary(UnaryOp::Relu), &[Some(c1)]);
    let h = b.q(r1, 0.03, 0);
    let hf = b.dq(h, 0.03, 0);
    let c2 = b.conv(hf, 0.03, 8, 8, conv_attrs(1, 1, [0; 4], 1));
    let c2q = b.q(c2, 0.04, 128);
    let c2f = b.dq(c2q, 0.04, 128);
    let sum = b.node(Op::Binary(BinaryOp::Add), &[Some(c2f), Some(hf)]);
    let y = b.q(sum, 0.05, 100);
    let c = compare(b.finish(&[y]), &[feed]);
    c.assert_within_one_step();
    assert_eq!(c.kernels().len(), 3, "{:?}", c.kernels());
    assert_eq!(c.kernels()[2], "qadd");
    assert!(c.fused.fallbacks().is_empty(), "{:?}", c.fused.fallbacks());
    // Every DequantizeLinear and QuantizeLinear is gone: the values stay in u8.
    assert_eq!(c.fused.integer_steps().len(), 3);
}

/// Adding two already-quantized tensors follows the f32 definition exactly.
#[test]
fn quantized_add_is_exact() {
    let mut b = Qdq::new(12);
    let a = b.input_u8("a", &[2, 3, 5, 7]);
    let c = b.input_u8("c", &[2, 3, 5, 7]);
    let feeds = vec![
        Tensor::new(vec![2, 3, 5, 7], b.rng.bytes(210)).unwrap(),
        Tensor::new(vec![2, 3, 5, 7], b.rng.bytes(210)).unwrap(),
    ];
    let af = b.dq(a, 0.013, 120);
    let cf = b.dq(c, 0.021, 7);
    let sum = b.node(Op::Binary(BinaryOp::Add), &[Some(af), Some(cf)]);
    let relu = b.node(Op::Unary(UnaryOp::Relu), &[Some(sum)]);
    let y = b.q(relu, 0.03, 30);
    let cmp = compare(b.finish(&[y]), &feeds);
    cmp.assert_exact();
    assert_eq!(cmp.kernels(), ["qadd"]);
}

/// GlobalAveragePool → Flatten → Gemm(transB, bias): a classifier head. Two rounded
/// steps in a row: a pooled feature one step off moves its row's logits by
/// `w · 0.04 / 0.02` (under one step for these weights), so the logits may differ by one
/// step on more elements than a single op's would.
#[test]
fn classifier_head() {
    let mut b = Qdq::new(13);
    let (x, feed) = input(&mut b, &[8, 32, 7, 7]);
    let xf = b.dq(x, 0.05, 0);
    let gap = b.node(Op::GlobalAveragePool, &[Some(xf)]);
    let gq = b.q(gap, 0.04, 0);
    let gf = b.dq(gq, 0.04, 0);
    let flat = b.node(Op::Flatten { axis: 1 }, &[Some(gf)]);
    let fq = b.q(flat, 0.04, 0);
    let ff = b.dq(fq, 0.04, 0);
    let (w, scales) = b.weights(&[10, 32], 0);
    let bias = b.bias(0.04, &scales);
    let gemm = Op::Gemm(Gemm {
        trans_b: true,
        ..Default::default()
    });
    let logits = b.node(gemm, &[Some(ff), Some(w), Some(bias)]);
    let y = b.q(logits, 0.02, 128);
    let c = compare(b.finish(&[y]), &[feed]);
    c.assert_close(1, 10);
    assert_eq!(c.kernels(), ["qglobal_avg_pool", "Flatten (u8)", "QLinear"]);
    assert!(c.fused.fallbacks().is_empty(), "{:?}", c.fused.fallbacks());
}

/// MatMul with `[K, N]` weights, per-column scales, on a 3-D input.
#[test]
fn matmul_on_batched_rows() {
    let mut b = Qdq::new(14);
    let (x, feed) = input(&mut b, &[2, 5, 24]);
    let xf = b.dq(x, 0.02, 128);
    let (w, _) = b.weights(&[24, 9], 1);
    let mm = b.node(Op::MatMul, &[Some(xf), Some(w)]);
    let y = b.q(mm, 0.05, 128);
    let c = compare(b.finish(&[y]), &[feed]);
    c.assert_within_one_step();
    assert_eq!(c.kernels(), ["QLinear"]);
}

fn pool(kernel: usize, stride: usize, pads: [usize; 4]) -> Pool {
    Pool {
        kernel: [kernel, kernel],
        strides: [stride, stride],
        pads,
        dilations: [1, 1],
        ceil_mode: false,
        count_include_pad: false,
    }
}

/// MaxPool and a Concat with equal parameters are exact on u8; so is a requantizing
/// MaxPool (quantization is monotonic).
#[test]
fn max_pool_and_concat_are_exact() {
    let mut b = Qdq::new(15);
    let (x, feed) = input(&mut b, &[1, 4, 9, 9]);
    let xf = b.dq(x, 0.02, 128);
    let m1 = b.node(Op::MaxPool(pool(3, 2, [1, 1, 1, 1])), &[Some(xf)]);
    let m1q = b.q(m1, 0.02, 128);
    let m2 = b.node(Op::MaxPool(pool(2, 2, [0, 0, 1, 1])), &[Some(xf)]);
    let m2q = b.q(m2, 0.03, 100);
    let (a, c2) = (b.dq(m1q, 0.02, 128), b.dq(m2q, 0.03, 100));
    let cat = b.node(Op::Concat { axis: 1 }, &[Some(a), Some(c2)]);
    let y = b.q(cat, 0.03, 100);
    let c = compare(b.finish(&[y]), &[feed]);
    c.assert_exact();
    assert_eq!(c.kernels(), ["qmax_pool2d", "qmax_pool2d", "qconcat"]);
}

#[test]
fn average_pool_within_one_step() {
    let mut b = Qdq::new(16);
    let (x, feed) = input(&mut b, &[2, 3, 8, 7]);
    let xf = b.dq(x, 0.02, 128);
    let avg = b.node(Op::AveragePool(pool(3, 2, [1, 0, 1, 1])), &[Some(xf)]);
    let y = b.q(avg, 0.015, 128);
    let c = compare(b.finish(&[y]), &[feed]);
    c.assert_within_one_step();
    assert_eq!(c.kernels(), ["qavg_pool2d"]);
}

/// An op with no integer kernel runs in f32 and is listed; the DequantizeLinear that
/// feeds it stays, while its other reader (a conv) still takes the u8 tensor, and the
/// QuantizeLinear of its float output is an integer step.
#[test]
fn unsupported_op_is_a_listed_fallback() {
    let mut b = Qdq::new(17);
    let (x, feed) = input(&mut b, &[1, 4, 5, 5]);
    let xf = b.dq(x, 0.02, 128);
    let sig = b.node(Op::Unary(UnaryOp::Sigmoid), &[Some(xf)]);
    let sq = b.q(sig, 1.0 / 255.0, 0);
    let conv = b.conv(xf, 0.02, 4, 4, conv_attrs(1, 1, [0; 4], 1));
    let cq = b.q(conv, 0.02, 128);
    let c = compare(b.finish(&[sq, cq]), &[feed]);
    c.assert_within_one_step();
    let kernels = c.kernels();
    assert_eq!(kernels.len(), 2, "{kernels:?}");
    assert_eq!(kernels[0], "quantize", "{kernels:?}");
    assert!(kernels[1].starts_with("QConv2d"), "{kernels:?}");
    let ops: Vec<&str> = c.fused.fallbacks().iter().map(|(_, op)| op.as_str()).collect();
    assert_eq!(ops, ["Sigmoid"]);
}

/// QLinearConv with constant weights runs on QConv2d and matches its reference evaluator
/// bit for bit: both requantize the exact i32 sum with the same f32 multiplier.
#[test]
fn qlinear_conv_is_exact() {
    let mut b = Qdq::new(18);
    let (x, feed) = input(&mut b, &[1, 6, 7, 7]);
    let w: Vec<i8> = (0..6 * 3 * 9).map(|_| b.rng.int(-127, 127) as i8).collect();
    let w_scales: Vec<f32> = (0..6).map(|_| b.rng.float(0.002, 0.01)).collect();
    let bias: Vec<i32> = (0..6).map(|_| b.rng.int(-2000, 2000)).collect();
    let consts = [
        Tensor::scalar(0.02f32),
        Tensor::scalar(128u8),
        Tensor::new(vec![6, 3, 3, 3], w).unwrap(),
        Tensor::new(vec![6], w_scales).unwrap(),
        Tensor::new(vec![6], vec![0i8; 6]).unwrap(),
        Tensor::scalar(0.05f32),
        Tensor::scalar(128u8),
        Tensor::new(vec![6], bias).unwrap(),
    ];
    let mut inputs = vec![Some(x)];
    inputs.extend(consts.into_iter().map(|t| Some(b.constant(t))));
    let attrs = Conv {
        strides: [2, 1],
        ..conv_attrs(3, 1, [1, 0, 1, 2], 2)
    };
    let y = b.node(Op::QLinearConv(attrs), &inputs);
    let c = compare(b.finish(&[y]), &[feed]);
    c.assert_exact();
    assert_eq!(c.kernels().len(), 1);
}

/// An i8 activation feeding a conv with a u8 output: the conv reads it in its u8 view.
#[test]
fn i8_input_feeds_an_integer_conv() {
    let mut b = Qdq::new(19);
    let shape = [1, 2, 5, 5];
    let x = b.g.add_input("x", Fact::known(DType::I8, &shape)).unwrap();
    let values: Vec<i8> = (0..50).map(|_| b.rng.int(-128, 127) as i8).collect();
    let feed = Tensor::new(shape, values).unwrap();
    let s = b.constant(Tensor::scalar(0.02f32));
    let z = b.constant(Tensor::scalar(-7i8));
    let xf = b.node(
        Op::DequantizeLinear(Default::default()),
        &[Some(x), Some(s), Some(z)],
    );
    let conv = b.conv(xf, 0.02, 2, 2, conv_attrs(1, 1, [0; 4], 1));
    let y = b.q(conv, 0.02, 128);
    let c = compare(b.finish(&[y]), &[feed]);
    c.assert_within_one_step();
    let kernels = c.kernels();
    assert_eq!(kernels.len(), 1, "{kernels:?}");
    assert!(kernels[0].starts_with("QConv2d"), "{kernels:?}");
}

/// QLinearMatMul with a constant `B` runs on QLinear, bit for bit like its evaluator.
#[test]
fn qlinear_matmul_is_exact() {
    let mut b = Qdq::new(20);
    let (x, feed) = input(&mut b, &[3, 40]);
    let w: Vec<i8> = (0..40 * 7).map(|_| b.rng.int(-127, 127) as i8).collect();
    let w_scales: Vec<f32> = (0..7).map(|_| b.rng.float(0.002, 0.01)).collect();
    let consts = [
        Tensor::scalar(0.02f32),
        Tensor::scalar(128u8),
        Tensor::new(vec![40, 7], w).unwrap(),
        Tensor::new(vec![7], w_scales).unwrap(),
        Tensor::scalar(0i8),
        Tensor::scalar(0.04f32),
        Tensor::scalar(128u8),
    ];
    let mut inputs = vec![Some(x)];
    inputs.extend(consts.into_iter().map(|t| Some(b.constant(t))));
    let y = b.node(Op::QLinearMatMul, &inputs);
    let c = compare(b.finish(&[y]), &[feed]);
    c.assert_exact();
    assert_eq!(c.kernels(), ["QLinear"]);
}

/// A model that quantizes its activations to i8 (ONNX Runtime's `QInt8` activations):
/// every pattern still runs on the integer kernels, which read i8 values in their u8
/// view and store i8 results.
#[test]
fn signed_activations_run_on_integer_steps() {
    let mut b = Qdq::new(31);
    let shape = [1, 8, 7, 6];
    let x = b.input_f32("x", &shape);
    let noise: Vec<f32> = (0..shape.iter().product::<usize>())
        .map(|_| b.rng.float(-2.0, 2.0))
        .collect();
    let feed = Tensor::new(shape, noise).unwrap();
    let xq = b.q_i8(x, 0.02, -3);
    let xd = b.dq_i8(xq, 0.02, -3);
    let conv = b.conv(xd, 0.02, 8, 8, conv_attrs(3, 1, [1; 4], 1));
    let y_scale = 0.01 * 72f32.sqrt();
    let y = b.q_i8(conv, y_scale, 5);
    let yd = b.dq_i8(y, y_scale, 5);
    let sum = b.node(Op::Binary(BinaryOp::Add), &[Some(yd), Some(xd)]);
    let s = b.q_i8(sum, 0.05, 0);
    let sd = b.dq_i8(s, 0.05, 0);
    let pool = b.node(Op::GlobalAveragePool, &[Some(sd)]);
    let p = b.q_i8(pool, 0.01, -10);
    let c = compare(b.finish(&[y, s, p]), &[feed]);
    c.assert_within_one_step();
    let kernels = c.kernels();
    assert_eq!(kernels.len(), 4, "{kernels:?}");
    assert_eq!(kernels[0], "quantize (i8)");
    assert!(kernels[1].starts_with("QConv2d"), "{kernels:?}");
    assert_eq!(kernels[2..], ["qadd (i8)", "qglobal_avg_pool (i8)"]);
    assert!(c.fused.fallbacks().is_empty(), "{:?}", c.fused.fallbacks());
}

/// A qadd whose operands broadcast (a bias-like `[1, C, 1, 1]` term): computed through
/// float and requantized by the vector quantize kernel, with a fused ReLU's clamp.
#[test]
fn broadcasting_add_with_relu() {
    let mut b = Qdq::new(33);
    let (x, feed_x) = input(&mut b, &[2, 4, 5, 6]);
    let c = b.input_u8("c", &[1, 4, 1, 1]);
    let feed_c = Tensor::new([1usize, 4, 1, 1], b.rng.bytes(4)).unwrap();
    let xf = b.dq(x, 0.03, 120);
    let cf = b.dq(c, 0.05, 128);
    let sum = b.node(Op::Binary(BinaryOp::Add), &[Some(xf), Some(cf)]);
    let relu = b.node(Op::Unary(UnaryOp::Relu), &[Some(sum)]);
    // A nonzero output zero point makes the ReLU a real clamp at 30.
    let y = b.q(relu, 0.04, 30);
    let c = compare(b.finish(&[y]), &[feed_x, feed_c]);
    c.assert_within_one_step();
    assert_eq!(c.kernels(), ["qadd"]);
}
