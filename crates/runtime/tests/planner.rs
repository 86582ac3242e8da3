//! Planner behaviour: passes are numerical no-ops, fusion, folding, observers, errors.

mod common;

use std::sync::Arc;

use common::*;
use lowbit_graph::ops::{BatchNorm, Conv, UnaryOp};
use lowbit_graph::{Dim, Fact, Graph, Node, Op, ValueId};
use lowbit_runtime::{Plan, PlanOptions, RuntimeError};
use lowbit_tensor::{DType, Tensor};

fn node(name: &str, op: Op, inputs: &[Option<ValueId>], outputs: &[ValueId]) -> Node {
    Node {
        name: name.into(),
        op,
        inputs: inputs.to_vec(),
        outputs: outputs.to_vec(),
    }
}

fn constant(g: &mut Graph, name: &str, shape: &[usize], seed: u64, offset: f32) -> ValueId {
    let n = shape.iter().product();
    let v: Vec<f32> = noise(n, seed).into_iter().map(|x| x + offset).collect();
    g.add_const(name, Tensor::new(shape, v).unwrap()).unwrap()
}

/// x -> Conv(3x3, pad 1) -> BN -> Relu -> Conv(1x1, no bias) -> BN -> Clip(0, 6) -> y
fn conv_bn_act_graph() -> Graph {
    let mut g = Graph::new("convnet");
    let x = g
        .add_input(
            "x",
            Fact::new(DType::F32, [Dim::from("batch"), 3.into(), 6.into(), 5.into()]),
        )
        .unwrap();
    let mut current = x;
    let mut channels = 3;
    for (i, (out_c, k, act)) in [(4usize, 3usize, "relu"), (5, 1, "clip")].into_iter().enumerate() {
        let w = constant(
            &mut g,
            &format!("w{i}"),
            &[out_c, channels, k, k],
            10 + i as u64,
            0.0,
        );
        let b = (i == 0).then(|| constant(&mut g, &format!("b{i}"), &[out_c], 20, 0.0));
        let p = k / 2;
        let conv = Conv {
            kernel: [k, k],
            strides: [1, 1],
            pads: [p; 4],
            dilations: [1, 1],
            group: 1,
        };
        let c = g.add_value(format!("conv{i}"), Fact::unknown()).unwrap();
        g.add_node(node(
            &format!("conv{i}"),
            Op::Conv(conv),
            &[Some(current), Some(w), b],
            &[c],
        ));
        let gamma = constant(&mut g, &format!("gamma{i}"), &[out_c], 30 + i as u64, 1.5);
        let beta = constant(&mut g, &format!("beta{i}"), &[out_c], 40 + i as u64, 0.0);
        let mean = constant(&mut g, &format!("mean{i}"), &[out_c], 50 + i as u64, 0.0);
        let var = constant(&mut g, &format!("var{i}"), &[out_c], 60 + i as u64, 1.5);
        let bn = g.add_value(format!("bn{i}"), Fact::unknown()).unwrap();
        let attrs = BatchNorm {
            epsilon: 1e-5,
            momentum: 0.9,
        };
        g.add_node(node(
            &format!("bn{i}"),
            Op::BatchNorm(attrs),
            &[c, gamma, beta, mean, var].map(Some),
            &[bn],
        ));
        let a = g.add_value(format!("act{i}"), Fact::unknown()).unwrap();
        if act == "relu" {
            g.add_node(node("relu", Op::Unary(UnaryOp::Relu), &[Some(bn)], &[a]));
        } else {
            let lo = g.add_const("lo", Tensor::scalar(0f32)).unwrap();
            let hi = g.add_const("hi", Tensor::scalar(6f32)).unwrap();
            g.add_node(node("clip", Op::Clip, &[Some(bn), Some(lo), Some(hi)], &[a]));
        }
        current = a;
        channels = out_c;
    }
    g.outputs.push(current);
    g
}

fn input(batch: usize, seed: u64) -> Tensor {
    let v: Vec<f32> = noise(batch * 3 * 6 * 5, seed)
        .into_iter()
        .map(|x| x * 3.0)
        .collect();
    Tensor::new(vec![batch, 3, 6, 5], v).unwrap()
}

#[test]
fn batchnorm_folding_and_activation_fusion_are_numerical_no_ops() {
    let plain = Plan::new(
        conv_bn_act_graph(),
        &PlanOptions {
            threads: 1,
            optimize: false,
        },
    )
    .unwrap();
    let optimized = Plan::new(conv_bn_act_graph(), &single_thread()).unwrap();
    assert_eq!(plain.graph().op_histogram().get("BatchNormalization"), Some(&2));
    assert_eq!(optimized.graph().op_histogram().get("BatchNormalization"), None);
    let x = input(2, 7);
    let want = plain.run(std::slice::from_ref(&x)).unwrap();
    let got = optimized.run(&[x]).unwrap();
    let (w, g) = (values::<f32>(&want[0]), values::<f32>(&got[0]));
    assert!(
        w.contains(&0.0) && w.contains(&6.0),
        "activations clamp somewhere"
    );
    assert_close(&g, &w, 1e-5);
}

#[test]
fn multithreaded_runs_match_single_threaded() {
    let one = Plan::new(conv_bn_act_graph(), &single_thread()).unwrap();
    let many = Plan::new(
        conv_bn_act_graph(),
        &PlanOptions {
            threads: 2,
            optimize: true,
        },
    )
    .unwrap();
    assert_eq!(one.threads(), 1);
    let x = input(3, 9);
    assert_close(
        &values::<f32>(&many.run(std::slice::from_ref(&x)).unwrap()[0]),
        &values::<f32>(&one.run(&[x]).unwrap()[0]),
        1e-6,
    );
}

#[test]
fn observer_sees_inputs_and_every_node_output_in_order() {
    let plan = Plan::new(
        conv_bn_act_graph(),
        &PlanOptions {
            threads: 1,
            optimize: false,
        },
    )
    .unwrap();
    let mut seen: Vec<(String, Vec<usize>)> = Vec::new();
    let mut observer = |name: &str, _: ValueId, t: &Tensor| seen.push((name.to_string(), t.shape().to_vec()));
    let out = plan.run_observed(&[input(1, 3)], &mut observer).unwrap();
    let names: Vec<&str> = seen.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["x", "conv0", "bn0", "act0", "conv1", "bn1", "act1"]);
    assert_eq!(seen[6].1, out[0].shape());
    // The observed run returns what a plain run returns.
    assert_eq!(out, plan.run(&[input(1, 3)]).unwrap());
}

#[test]
fn observer_on_optimized_plan_sees_fused_outputs() {
    let plan = Plan::new(conv_bn_act_graph(), &single_thread()).unwrap();
    let mut names = Vec::new();
    let mut observer = |name: &str, _: ValueId, _: &Tensor| names.push(name.to_string());
    plan.run_observed(&[input(1, 3)], &mut observer).unwrap();
    // BN folded into the convs, Relu and Clip fused: one value per fused conv.
    assert_eq!(names, ["x", "act0", "act1"]);
}

#[test]
fn constant_subgraphs_and_static_shapes_fold() {
    // y = Reshape(x, Shape(x) ++ [1]) + (c * 2): everything but the final Add folds
    // when x's shape is static.
    let mut g = Graph::new("fold");
    let x = g.add_input("x", Fact::known(DType::F32, &[2, 3])).unwrap();
    let c = g
        .add_const("c", Tensor::new(vec![3, 1], vec![1f32, 2., 3.]).unwrap())
        .unwrap();
    let two = g.add_const("two", Tensor::scalar(2f32)).unwrap();
    let one = g
        .add_const("one", Tensor::new(vec![1], vec![1i64]).unwrap())
        .unwrap();
    let [s, s1, r, c2, y] = ["s", "s1", "r", "c2", "y"].map(|n| g.add_value(n, Fact::unknown()).unwrap());
    g.add_node(node("shape", Op::Shape { start: 0, end: None }, &[Some(x)], &[s]));
    g.add_node(node("cat", Op::Concat { axis: 0 }, &[Some(s), Some(one)], &[s1]));
    g.add_node(node(
        "reshape",
        Op::Reshape { allowzero: false },
        &[Some(x), Some(s1)],
        &[r],
    ));
    g.add_node(node(
        "double",
        Op::Binary(lowbit_graph::ops::BinaryOp::Mul),
        &[Some(c), Some(two)],
        &[c2],
    ));
    g.add_node(node(
        "add",
        Op::Binary(lowbit_graph::ops::BinaryOp::Add),
        &[Some(r), Some(c2)],
        &[y],
    ));
    g.outputs.push(y);
    let plan = Plan::new(g, &single_thread()).unwrap();
    let ops: Vec<&str> = plan.graph().nodes.iter().map(|n| n.op.name()).collect();
    assert_eq!(ops, ["Reshape", "Add"]);
    let out = plan.run(&[f32s(&[2, 3], &[0., 1., 2., 3., 4., 5.])]).unwrap();
    assert_eq!(out[0].shape(), &[2, 3, 1]);
    assert_eq!(values::<f32>(&out[0]), vec![2., 5., 8., 5., 8., 11.]);
}

#[test]
fn outputs_that_are_inputs_or_constants_are_returned() {
    let mut g = Graph::new("passthrough");
    let x = g.add_input("x", Fact::known(DType::I64, &[2])).unwrap();
    let c = g
        .add_const("c", Tensor::new(vec![1], vec![5f32]).unwrap())
        .unwrap();
    g.outputs = vec![x, c, x];
    let plan = Plan::new(g, &single_thread()).unwrap();
    let out = plan.run(&[i64s(&[1, 2])]).unwrap();
    assert_eq!(out, vec![i64s(&[1, 2]), f32s(&[1], &[5.]), i64s(&[1, 2])]);
}

#[test]
fn input_mismatches_name_the_input() {
    let plan = Plan::new(conv_bn_act_graph(), &single_thread()).unwrap();
    let err = plan.run(&[]).unwrap_err();
    assert!(
        matches!(err, RuntimeError::InputCount { expected: 1, got: 0 }),
        "{err}"
    );
    let err = plan
        .run(&[Tensor::zeros(DType::I64, vec![1, 3, 6, 5])])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "input 'x': expected f32[batch,3,6,5], got i64[1,3,6,5]"
    );
    let err = plan.run(&[Tensor::zeros(DType::F32, vec![1, 3, 6])]).unwrap_err();
    assert!(err.to_string().starts_with("input 'x'"), "{err}");
}

#[test]
fn node_errors_name_the_node_and_op() {
    // A Softmax fed an i64 tensor, and a Conv fed a rank-3 input.
    let mut g = Graph::new("bad");
    let x = g.add_input("ids", Fact::unknown()).unwrap();
    let y = g.add_value("probs", Fact::unknown()).unwrap();
    g.add_node(node("softmax_1", Op::Softmax { axis: -1 }, &[Some(x)], &[y]));
    g.outputs.push(y);
    let plan = Plan::new(g, &single_thread()).unwrap();
    let err = plan.run(&[i64s(&[1, 2])]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "node 'softmax_1' (Softmax): input 0 must be f32, got i64"
    );

    let mut g = conv_bn_act_graph();
    g.value_mut(ValueId(0)).fact = Fact::unknown();
    let plan = Plan::new(g, &single_thread()).unwrap();
    let err = plan.run(&[Tensor::zeros(DType::F32, vec![3, 6, 5])]).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("node 'conv0+relu' (Conv): input must be [N, 3, H, W]"),
        "{err}"
    );
}

#[test]
fn bad_arity_and_bad_constant_weights_fail_at_plan_time() {
    let mut g = Graph::new("bad");
    let x = g.add_input("x", Fact::unknown()).unwrap();
    let y = g.add_value("y", Fact::unknown()).unwrap();
    g.add_node(node("mm", Op::MatMul, &[Some(x)], &[y]));
    g.outputs.push(y);
    let err = Plan::new(g, &single_thread()).err().unwrap();
    assert_eq!(err.to_string(), "node 'mm' (MatMul): input 1 (B) is missing");

    let mut g = Graph::new("bad");
    let x = g.add_input("x", Fact::unknown()).unwrap();
    let w = g
        .add_const("w", Tensor::new(vec![2, 2], vec![0f32; 4]).unwrap())
        .unwrap();
    let y = g.add_value("y", Fact::unknown()).unwrap();
    let conv = Conv {
        kernel: [1, 1],
        strides: [1, 1],
        pads: [0; 4],
        dilations: [1, 1],
        group: 1,
    };
    g.add_node(node("c", Op::Conv(conv), &[Some(x), Some(w)], &[y]));
    g.outputs.push(y);
    let err = Plan::new(g, &single_thread()).err().unwrap();
    assert!(
        err.to_string()
            .starts_with("node 'c' (Conv): the weight 'w' f32[2,2] must be 4-D"),
        "{err}"
    );
}

#[test]
fn plans_are_shared_across_threads() {
    let plan = Arc::new(
        Plan::new(
            conv_bn_act_graph(),
            &PlanOptions {
                threads: 2,
                optimize: true,
            },
        )
        .unwrap(),
    );
    let want = plan.run(&[input(1, 5)]).unwrap();
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let plan = Arc::clone(&plan);
            std::thread::spawn(move || plan.run(&[input(1, 5)]).unwrap())
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), want);
    }
}

/// x -> Conv(1x1) -> c; c -> Relu -> r; outputs [r, c] when `expose_conv`, else r is
/// also read by an Identity and a Dropout on the way out.
fn conv_relu_graph(expose_conv: bool) -> Graph {
    let mut g = Graph::new("shared");
    let x = g.add_input("x", Fact::known(DType::F32, &[1, 2, 3, 3])).unwrap();
    let w = constant(&mut g, "w", &[2, 2, 1, 1], 3, 0.0);
    let conv = Conv {
        kernel: [1, 1],
        strides: [1, 1],
        pads: [0; 4],
        dilations: [1, 1],
        group: 1,
    };
    let [c, r, i, y] = ["c", "r", "i", "y"].map(|n| g.add_value(n, Fact::unknown()).unwrap());
    g.add_node(node("conv", Op::Conv(conv), &[Some(x), Some(w)], &[c]));
    g.add_node(node("relu", Op::Unary(UnaryOp::Relu), &[Some(c)], &[r]));
    if expose_conv {
        g.outputs = vec![r, c];
    } else {
        g.add_node(node("identity", Op::Identity, &[Some(r)], &[i]));
        g.add_node(node("dropout", Op::Dropout { ratio: 0.1 }, &[Some(i)], &[y]));
        g.outputs = vec![y];
    }
    g
}

#[test]
fn conv_output_that_is_also_a_graph_output_is_not_fused() {
    let plan = Plan::new(conv_relu_graph(true), &single_thread()).unwrap();
    let mut names = Vec::new();
    let mut observer = |name: &str, _: ValueId, _: &Tensor| names.push(name.to_string());
    let x = f32s(&[1, 2, 3, 3], &noise(18, 4));
    let out = plan
        .run_observed(std::slice::from_ref(&x), &mut observer)
        .unwrap();
    assert_eq!(names, ["x", "c", "r"]);
    let relu: Vec<f32> = values::<f32>(&out[1]).iter().map(|v| v.max(0.0)).collect();
    assert_eq!(values::<f32>(&out[0]), relu);
}

#[test]
fn identity_and_dropout_removal_is_a_no_op_and_keeps_output_names() {
    let x = f32s(&[1, 2, 3, 3], &noise(18, 5));
    let plain = Plan::new(
        conv_relu_graph(false),
        &PlanOptions {
            threads: 1,
            optimize: false,
        },
    )
    .unwrap();
    let optimized = Plan::new(conv_relu_graph(false), &single_thread()).unwrap();
    assert_eq!(optimized.graph().nodes.len(), 2, "Identity and Dropout are gone");
    let out = optimized.graph().outputs[0];
    assert_eq!(optimized.graph().value(out).name, "y");
    assert_eq!(
        optimized.run(std::slice::from_ref(&x)).unwrap(),
        plain.run(std::slice::from_ref(&x)).unwrap()
    );
}
