//! Models written at old opsets (the attribute forms PyTorch exporters used to emit) import
//! into the same ops as modern ones, and re-exported at opset 17 they compute what the
//! original computes in ONNX Runtime.

mod common;

use common::proto::value_info;
use lowbit_graph::Op;
use lowbit_onnx::pb::attribute_proto::AttributeType;
use lowbit_onnx::pb::tensor_proto::DataType;
use lowbit_onnx::pb::{AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto};
use prost::Message;

fn ints(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Ints as i32,
        ints: values.to_vec(),
        ..Default::default()
    }
}

fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Int as i32,
        i: value,
        ..Default::default()
    }
}

fn float(name: &str, value: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Float as i32,
        f: value,
        ..Default::default()
    }
}

fn node(op: &str, inputs: &[&str], outputs: &[&str], attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        name: format!("{op}_{}", outputs[0]),
        op_type: op.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        attribute,
        ..Default::default()
    }
}

fn f32_tensor(name: &str, dims: &[i64], offset: f32) -> TensorProto {
    let count: i64 = dims.iter().product();
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: DataType::Float as i32,
        float_data: (0..count)
            .map(|i| offset + ((i * 5 % 7) as f32 - 3.0) / 4.0)
            .collect(),
        ..Default::default()
    }
}

/// A small CNN head at opset 9: BatchNorm, Relu, Clip (attributes), MaxPool, Softmax
/// over axis 1 of a 4-D tensor (the pre-13 flattening form), Slice-1 attributes,
/// ReduceMean/Squeeze/Unsqueeze/Split with attributes, Dropout with a ratio attribute,
/// a Constant shape for Reshape, Flatten and Gemm.
fn opset9_model() -> ModelProto {
    let shape = TensorProto {
        dims: vec![2],
        data_type: DataType::Int64 as i32,
        int64_data: vec![1, 2],
        ..Default::default()
    };
    let nodes = vec![
        node(
            "BatchNormalization",
            &["x", "s", "b", "m", "v"],
            &["bn"],
            vec![float("epsilon", 1e-3)],
        ),
        node("Relu", &["bn"], &["r"], vec![]),
        node("Clip", &["r"], &["c"], vec![float("min", 0.0), float("max", 0.5)]),
        node(
            "MaxPool",
            &["c"],
            &["mp"],
            vec![ints("kernel_shape", &[2, 2]), ints("strides", &[2, 2])],
        ),
        node("Softmax", &["mp"], &["sm"], vec![int("axis", 1)]),
        node(
            "Slice",
            &["sm"],
            &["sl"],
            vec![ints("starts", &[0]), ints("ends", &[2]), ints("axes", &[1])],
        ),
        node("ReduceMean", &["sl"], &["rm"], vec![ints("axes", &[2, 3])]),
        node("Squeeze", &["rm"], &["sq"], vec![ints("axes", &[2, 3])]),
        node("Unsqueeze", &["sq"], &["us"], vec![ints("axes", &[0])]),
        node("Dropout", &["us"], &["d"], vec![float("ratio", 0.3)]),
        node(
            "Split",
            &["d"],
            &["sp0", "sp1"],
            vec![int("axis", 2), ints("split", &[1, 1])],
        ),
        node("Concat", &["sp1", "sp0"], &["cat"], vec![int("axis", 2)]),
        NodeProto {
            attribute: vec![AttributeProto {
                name: "value".into(),
                r#type: AttributeType::Tensor as i32,
                t: Some(shape),
                ..Default::default()
            }],
            ..node("Constant", &[], &["shape"], vec![])
        },
        node("Reshape", &["cat", "shape"], &["y"], vec![]),
        node("Flatten", &["mp"], &["fl"], vec![]),
        node("Gemm", &["fl", "w", "gb"], &["z"], vec![int("transB", 1)]),
    ];
    let mut var = f32_tensor("v", &[3], 2.0);
    var.float_data = vec![0.5, 1.0, 2.0];
    ModelProto {
        ir_version: 4,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 9,
        }],
        producer_name: "test".into(),
        graph: Some(GraphProto {
            name: "legacy".into(),
            node: nodes,
            initializer: vec![
                f32_tensor("s", &[3], 1.0),
                f32_tensor("b", &[3], 0.0),
                f32_tensor("m", &[3], 0.1),
                var,
                f32_tensor("w", &[4, 12], 0.0),
                f32_tensor("gb", &[4], 0.5),
            ],
            input: vec![value_info("x", DataType::Float, &[1, 3, 4, 4])],
            output: vec![
                value_info("y", DataType::Float, &[1, 2]),
                value_info("z", DataType::Float, &[1, 4]),
            ],
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[test]
fn opset9_attribute_forms_become_modern_ops() {
    let bytes = opset9_model().encode_to_vec();
    let (graph, info) = lowbit_onnx::from_bytes_with_info(&bytes, "legacy.onnx").unwrap();
    assert_eq!(info.opsets, vec![(String::new(), 9)]);
    let find = |name: &str| {
        graph
            .nodes
            .iter()
            .find(|n| n.name == name)
            .unwrap_or_else(|| panic!("no node {name}"))
    };
    let constant = |id| graph.initializer(id).expect("a constant input").to_f32_vec();
    let clip = find("Clip_c");
    assert_eq!(clip.op, Op::Clip);
    assert_eq!(
        (
            constant(clip.inputs[1].unwrap()),
            constant(clip.inputs[2].unwrap())
        ),
        (vec![0.0], vec![0.5])
    );
    let slice = find("Slice_sl");
    let slice_args: Vec<Vec<f32>> = slice.inputs[1..].iter().map(|i| constant(i.unwrap())).collect();
    assert_eq!(slice_args, [vec![0.0], vec![2.0], vec![1.0]]);
    assert_eq!(
        find("Squeeze_sq").op,
        Op::Squeeze {
            axes: Some(vec![2, 3])
        }
    );
    assert_eq!(find("Dropout_d").op, Op::Dropout { ratio: 0.3 });
    // Softmax over axis 1 of a 4-D tensor flattens the trailing axes first.
    let softmax_parts: Vec<&str> = graph
        .nodes
        .iter()
        .filter(|n| n.name.starts_with("Softmax_sm/"))
        .map(|n| n.op.name())
        .collect();
    assert_eq!(softmax_parts, ["Shape", "Flatten", "Softmax", "Reshape"]);
    // The Constant node became an initializer.
    let shape = graph.find_value("shape").unwrap();
    assert_eq!(graph.initializer(shape).unwrap().to_i64_vec(), [1, 2]);
    assert!(graph.nodes.iter().all(|n| n.op.name() != "Constant"));
}

#[test]
fn opset9_model_reexported_at_opset17_matches_in_onnxruntime() {
    let probe = std::process::Command::new("python3")
        .args(["-c", "import onnxruntime"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("skipping: `python3 -c \"import onnxruntime\"` fails");
        return;
    }
    let dir = common::scratch_dir("legacy");
    let original = dir.join("opset9.onnx");
    let exported = dir.join("opset17.onnx");
    let bytes = opset9_model().encode_to_vec();
    std::fs::write(&original, &bytes).unwrap();
    let graph = lowbit_onnx::from_bytes(&bytes, "opset9.onnx").unwrap();
    lowbit_onnx::save(&graph, &exported).unwrap();
    let out = std::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/check_onnx_loads.py"
        ))
        .arg(&exported)
        .arg(&original)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "OK");
}
