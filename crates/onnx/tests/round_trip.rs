//! Export then import gives the same graph; exported files load in ONNX Runtime.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use lowbit_graph::ops::{BatchNorm, Conv, Gemm, Pool, QuantAxis, Reduce, ReduceKind, Split, UnaryOp};
use lowbit_graph::{Dim, Fact, Graph, Node, Op, ValueId};
use lowbit_tensor::{DType, Tensor};

/// Everything that must survive a round trip, keyed by names rather than ids.
#[derive(Debug, PartialEq)]
struct Summary {
    nodes: Vec<(Op, Vec<String>, Vec<String>)>,
    initializers: BTreeMap<String, Tensor>,
    inputs: Vec<(String, Fact)>,
    outputs: Vec<String>,
    metadata: BTreeMap<String, String>,
}

fn summary(graph: &Graph) -> Summary {
    let name = |id: ValueId| graph.value(id).name.clone();
    Summary {
        nodes: graph
            .nodes
            .iter()
            .map(|n| {
                let inputs = n.inputs.iter().map(|i| i.map(name).unwrap_or_default()).collect();
                (n.op.clone(), inputs, n.outputs.iter().map(|&o| name(o)).collect())
            })
            .collect(),
        initializers: graph
            .initializers
            .iter()
            .map(|(&id, t)| (name(id), (**t).clone()))
            .collect(),
        inputs: graph
            .inputs
            .iter()
            .map(|&id| (name(id), graph.value(id).fact.clone()))
            .collect(),
        outputs: graph.outputs.iter().map(|&id| name(id)).collect(),
        metadata: graph.metadata.clone(),
    }
}

fn round_trip(graph: &Graph) -> Graph {
    let bytes = lowbit_onnx::to_bytes(graph).unwrap();
    lowbit_onnx::from_bytes(&bytes, "round-trip").unwrap()
}

fn f32_const(g: &mut Graph, name: &str, shape: &[usize]) -> ValueId {
    let count: usize = shape.iter().product();
    let values = (0..count).map(|i| ((i * 7 % 11) as f32 - 5.0) / 10.0).collect();
    g.add_const(name, Tensor::new(shape.to_vec(), values).unwrap())
        .unwrap()
}

fn add(g: &mut Graph, op: Op, inputs: &[Option<ValueId>], output: &str) -> ValueId {
    let out = g.add_value(output, Fact::unknown()).unwrap();
    let name = format!("{output}_node");
    g.add_node(Node {
        name,
        op,
        inputs: inputs.to_vec(),
        outputs: vec![out],
    });
    out
}

/// A small but complete CNN-plus-head graph touching the attribute forms that changed
/// across opsets (Clip bounds, Squeeze/ReduceSum axes and Split sizes as inputs).
fn hand_built_graph() -> Graph {
    let mut g = Graph::new("hand_built");
    let n = Dim::Sym("batch".into());
    let x = g
        .add_input(
            "x",
            Fact::new(DType::F32, [n.clone(), 3.into(), 8.into(), 8.into()]),
        )
        .unwrap();
    let w = f32_const(&mut g, "w", &[4, 3, 3, 3]);
    let b = f32_const(&mut g, "b", &[4]);
    let conv = Conv {
        kernel: [3, 3],
        strides: [2, 2],
        pads: [1, 1, 0, 0],
        dilations: [1, 1],
        group: 1,
    };
    let c = add(&mut g, Op::Conv(conv), &[Some(x), Some(w), Some(b)], "conv");
    let bn_params: Vec<_> = ["scale", "bias", "mean"]
        .iter()
        .map(|p| f32_const(&mut g, p, &[4]))
        .collect();
    let var = g
        .add_const("var", Tensor::new(vec![4], vec![1.0f32, 0.5, 2.0, 1.5]).unwrap())
        .unwrap();
    let bn = BatchNorm {
        epsilon: 1e-3,
        momentum: 0.9,
    };
    let bn_out = add(
        &mut g,
        Op::BatchNorm(bn),
        &[
            Some(c),
            Some(bn_params[0]),
            Some(bn_params[1]),
            Some(bn_params[2]),
            Some(var),
        ],
        "bn",
    );
    let relu = add(&mut g, Op::Unary(UnaryOp::Relu), &[Some(bn_out)], "relu");
    let lo = g.add_const("lo", Tensor::scalar(0.0f32)).unwrap();
    let hi = g.add_const("hi", Tensor::scalar(6.0f32)).unwrap();
    let clip = add(&mut g, Op::Clip, &[Some(relu), Some(lo), Some(hi)], "clip");
    let max_pool = Pool {
        kernel: [2, 2],
        strides: [1, 1],
        pads: [0; 4],
        dilations: [1, 1],
        ceil_mode: true,
        count_include_pad: false,
    };
    let mp = add(&mut g, Op::MaxPool(max_pool), &[Some(clip)], "maxpool");
    let avg_pool = Pool {
        kernel: [2, 2],
        strides: [1, 1],
        pads: [0, 0, 0, 0],
        dilations: [1, 1],
        ceil_mode: false,
        count_include_pad: true,
    };
    let ap = add(&mut g, Op::AveragePool(avg_pool), &[Some(clip)], "avgpool");
    let sum = add(
        &mut g,
        Op::Binary(lowbit_graph::ops::BinaryOp::Add),
        &[Some(mp), Some(ap)],
        "sum",
    );
    let mean = Reduce {
        kind: ReduceKind::Mean,
        axes: Some(vec![2, 3]),
        keepdims: true,
        noop_with_empty_axes: false,
    };
    let pooled = add(&mut g, Op::Reduce(mean), &[Some(sum)], "pooled");
    let squeezed = add(
        &mut g,
        Op::Squeeze {
            axes: Some(vec![2, 3]),
        },
        &[Some(pooled)],
        "squeezed",
    );
    let fc_w = f32_const(&mut g, "fc_w", &[5, 4]);
    let fc_b = f32_const(&mut g, "fc_b", &[5]);
    let gemm = Gemm {
        trans_b: true,
        alpha: 0.5,
        ..Gemm::default()
    };
    let logits = add(
        &mut g,
        Op::Gemm(gemm),
        &[Some(squeezed), Some(fc_w), Some(fc_b)],
        "logits",
    );
    let left = g.add_value("left", Fact::unknown()).unwrap();
    let right = g.add_value("right", Fact::unknown()).unwrap();
    let split = Split {
        axis: 1,
        split: Some(vec![2, 3]),
        num_outputs: None,
    };
    g.add_node(Node {
        name: "split".into(),
        op: Op::Split(split),
        inputs: vec![Some(logits)],
        outputs: vec![left, right],
    });
    let swapped = add(
        &mut g,
        Op::Concat { axis: 1 },
        &[Some(right), Some(left)],
        "swapped",
    );
    let probs = add(&mut g, Op::Softmax { axis: -1 }, &[Some(swapped)], "probs");
    let scale = g.add_const("q_scale", Tensor::scalar(0.01f32)).unwrap();
    let zero = g.add_const("q_zero", Tensor::scalar(128u8)).unwrap();
    let q = add(
        &mut g,
        Op::QuantizeLinear(QuantAxis::default()),
        &[Some(probs), Some(scale), Some(zero)],
        "q",
    );
    let dq = add(
        &mut g,
        Op::DequantizeLinear(QuantAxis::default()),
        &[Some(q), Some(scale), Some(zero)],
        "dq",
    );
    let total = Reduce {
        kind: ReduceKind::Sum,
        axes: Some(vec![1]),
        keepdims: false,
        noop_with_empty_axes: false,
    };
    let total = add(&mut g, Op::Reduce(total), &[Some(dq)], "total");
    g.value_mut(probs).fact = Fact::new(DType::F32, [n.clone(), 5.into()]);
    g.value_mut(total).fact = Fact::new(DType::F32, [n]);
    g.outputs = vec![probs, total];
    g.metadata.insert("lowbit.note".into(), "hand built".into());
    g.metadata.insert("author".into(), "tests".into());
    g
}

#[test]
fn hand_built_graph_round_trips() {
    let original = hand_built_graph();
    let once = round_trip(&original);
    let twice = round_trip(&once);
    // The first trip moves opset-13 attributes to constant inputs; after that the
    // graph is a fixed point.
    assert_eq!(summary(&once), summary(&twice));
    assert_eq!(once.metadata, original.metadata);
    assert_eq!(summary(&once).inputs, summary(&original).inputs);
    assert_eq!(once.op_histogram(), original.op_histogram());
    let nodes = &summary(&once).nodes;
    let inits = summary(&once).initializers;
    for (op, inputs, outputs) in nodes {
        let second = || inits[&inputs[1]].to_i64_vec();
        match op {
            Op::Squeeze { axes } => {
                assert_eq!(axes, &None);
                assert_eq!(second(), [2, 3]);
            }
            Op::Split(split) => {
                assert_eq!(split.split, None);
                assert_eq!(second(), [2, 3]);
                assert_eq!(outputs, &["left", "right"]);
            }
            Op::Reduce(r) if r.kind == ReduceKind::Sum => {
                assert_eq!(r.axes, None);
                assert_eq!(second(), [1]);
            }
            // ReduceMean keeps its attribute at opset 17.
            Op::Reduce(r) => assert_eq!(r.axes, Some(vec![2, 3])),
            Op::Clip => assert_eq!(inputs[1..], ["lo", "hi"]),
            Op::Conv(c) => assert_eq!(c.pads, [1, 1, 0, 0]),
            _ => {}
        }
    }
}

#[test]
fn efficientnet_lite0_round_trips() {
    let Some(path) = common::asset("efficientnet-lite0/model.onnx") else {
        return;
    };
    let graph = lowbit_onnx::load(&path).unwrap();
    let again = round_trip(&graph);
    assert_eq!(summary(&graph), summary(&again));
    assert_eq!(
        again.value(again.outputs[0]).fact,
        graph.value(graph.outputs[0]).fact
    );
}

#[test]
fn save_writes_atomically_and_reloads() {
    let dir = common::scratch_dir("save");
    let path = dir.join("model.onnx");
    std::fs::write(&path, b"old contents").unwrap();
    let graph = hand_built_graph();
    lowbit_onnx::save(&graph, &path).unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, ["model.onnx"]);
    let loaded = lowbit_onnx::load(&path).unwrap();
    assert_eq!(summary(&loaded), summary(&round_trip(&graph)));
    let err = lowbit_onnx::save(&graph, &dir.join("no-such-dir/model.onnx")).unwrap_err();
    assert!(err.to_string().contains("no-such-dir"), "{err}");
}

/// Runs `scripts/check_onnx_loads.py`, or returns `None` when python3 with
/// onnxruntime is not available.
fn check_with_onnxruntime(model: &Path, reference: Option<&Path>) -> Option<String> {
    let probe = Command::new("python3")
        .args(["-c", "import onnxruntime"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("skipping the ONNX Runtime check: `python3 -c \"import onnxruntime\"` fails");
        return None;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/check_onnx_loads.py");
    let mut command = Command::new("python3");
    command.arg(script).arg(model);
    command.args(reference);
    let out = command.output().expect("run python3");
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[test]
fn exported_files_run_in_onnxruntime() {
    let dir = common::scratch_dir("ort");
    let hand = dir.join("hand_built.onnx");
    lowbit_onnx::save(&hand_built_graph(), &hand).unwrap();
    let Some(verdict) = check_with_onnxruntime(&hand, None) else {
        return;
    };
    assert_eq!(verdict, "OK");

    let Some(original) = common::asset("efficientnet-lite0/model.onnx") else {
        return;
    };
    let exported = dir.join("efficientnet.onnx");
    lowbit_onnx::save(&lowbit_onnx::load(&original).unwrap(), &exported).unwrap();
    assert_eq!(check_with_onnxruntime(&exported, Some(&original)).unwrap(), "OK");

    let Some(original) = common::asset("all-minilm-l6-v2/model.onnx") else {
        return;
    };
    let exported = dir.join("minilm.onnx");
    lowbit_onnx::save(&lowbit_onnx::load(&original).unwrap(), &exported).unwrap();
    assert_eq!(check_with_onnxruntime(&exported, Some(&original)).unwrap(), "OK");
}
