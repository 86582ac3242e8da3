//! A conv bias whose DequantizeLinear scale is computed in the graph as
//! `Mul(x_scale, w_scale)` (how lowbit's QDQ files store it) runs on the same integer
//! kernel, with the same bytes out, as one whose scale is a stored constant.

mod int8_support;

use int8_support::{compare, conv_attrs, Lcg, Qdq};
use lowbit_graph::ops::{BinaryOp, QuantAxis, UnaryOp};
use lowbit_graph::{Graph, Op};
use lowbit_tensor::Tensor;

const X_SCALE: f32 = 0.021;

/// DQ(x) → Conv(DQ(W), DQ(b)) → Relu → Q, with the bias scale stored or computed.
fn conv_graph(computed_bias_scale: bool, group: usize, input: &Tensor) -> Graph {
    let (c, m) = (input.shape()[1], 12);
    let mut rng = Lcg::new(7);
    let weights: Vec<i8> = (0..m * (c / group) * 9)
        .map(|_| rng.int(-127, 127) as i8)
        .collect();
    let w_scales: Vec<f32> = (0..m).map(|_| rng.float(0.002, 0.01)).collect();
    let bias: Vec<i32> = (0..m).map(|_| rng.int(-3000, 3000)).collect();

    let mut b = Qdq::new(1);
    let x = b.input_u8("x", input.shape());
    let x_scale = b.constant(Tensor::scalar(X_SCALE));
    let x_zero_point = b.constant(Tensor::scalar(128u8));
    let xf = b.node(
        Op::DequantizeLinear(QuantAxis::default()),
        &[Some(x), Some(x_scale), Some(x_zero_point)],
    );
    let w = b.constant(Tensor::new(vec![m, c / group, 3, 3], weights).unwrap());
    let w_scale = b.constant(Tensor::new(vec![m], w_scales.clone()).unwrap());
    let wf = b.node(
        Op::DequantizeLinear(QuantAxis { axis: 0 }),
        &[Some(w), Some(w_scale)],
    );
    let bias_scale = if computed_bias_scale {
        b.node(Op::Binary(BinaryOp::Mul), &[Some(x_scale), Some(w_scale)])
    } else {
        let stored: Vec<f32> = w_scales.iter().map(|&s| X_SCALE * s).collect();
        b.constant(Tensor::new(vec![m], stored).unwrap())
    };
    let bq = b.constant(Tensor::new(vec![m], bias).unwrap());
    let bf = b.node(
        Op::DequantizeLinear(QuantAxis { axis: 0 }),
        &[Some(bq), Some(bias_scale)],
    );
    let conv = b.node(
        Op::Conv(conv_attrs(3, 1, [1; 4], group)),
        &[Some(xf), Some(wf), Some(bf)],
    );
    let relu = b.node(Op::Unary(UnaryOp::Relu), &[Some(conv)]);
    let y = b.q(relu, 0.05, 3);
    b.finish(&[y])
}

#[test]
fn computed_bias_scale_runs_on_the_integer_kernel_like_a_stored_one() {
    for group in [1, 12] {
        let shape = [2, 12, 7, 5];
        let input = Tensor::new(shape, Lcg::new(3).bytes(shape.iter().product())).unwrap();
        let stored = compare(conv_graph(false, group, &input), std::slice::from_ref(&input));
        let computed = compare(conv_graph(true, group, &input), std::slice::from_ref(&input));
        stored.assert_within_one_step();
        computed.assert_within_one_step();
        assert_eq!(computed.kernels(), stored.kernels(), "group {group}");
        assert_eq!(computed.kernels().len(), 1, "{:?}", computed.kernels());
        assert!(
            computed.fused.fallbacks().is_empty(),
            "{:?}",
            computed.fused.fallbacks()
        );
        let want = stored.fused.run(std::slice::from_ref(&input)).unwrap();
        let got = computed.fused.run(std::slice::from_ref(&input)).unwrap();
        assert_eq!(
            got[0].as_slice::<u8>().unwrap(),
            want[0].as_slice::<u8>().unwrap(),
            "group {group}"
        );
    }
}
