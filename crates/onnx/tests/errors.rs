//! Broken or unsupported files give errors that name the file, the node and the op.

mod common;

use lowbit_onnx::pb::attribute_proto::AttributeType;
use lowbit_onnx::pb::tensor_proto::DataType;
use lowbit_onnx::pb::type_proto::{Tensor as TensorType, Value as TypeValue};
use lowbit_onnx::pb::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TypeProto,
    ValueInfoProto,
};
use lowbit_onnx::{from_bytes, OnnxError};
use prost::Message;

fn float_info(name: &str) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(TypeValue::TensorType(TensorType {
                elem_type: DataType::Float as i32,
                shape: None,
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A model `x -> node -> y` at opset 17.
fn single_node_model(node: NodeProto) -> Vec<u8> {
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 17,
        }],
        graph: Some(GraphProto {
            name: "g".into(),
            node: vec![node],
            input: vec![float_info("x")],
            output: vec![float_info("y")],
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

fn node(op_type: &str, inputs: &[&str]) -> NodeProto {
    NodeProto {
        name: "the_node".into(),
        op_type: op_type.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec!["y".into()],
        ..Default::default()
    }
}

#[test]
fn unknown_op_names_the_node_and_op() {
    let bytes = single_node_model(node("FancyOp", &["x"]));
    let err = from_bytes(&bytes, "fancy.onnx").unwrap_err();
    assert!(err.is_unsupported());
    let msg = err.to_string();
    assert!(
        msg.contains("fancy.onnx") && msg.contains("the_node") && msg.contains("FancyOp"),
        "{msg}"
    );
}

#[test]
fn op_of_another_domain_is_unsupported() {
    let mut custom = node("Relu", &["x"]);
    custom.domain = "com.example".into();
    let err = from_bytes(&single_node_model(custom), "m.onnx").unwrap_err();
    assert!(matches!(err, OnnxError::UnsupportedOp { .. }));
    assert!(err.to_string().contains("com.example"), "{err}");
}

#[test]
fn truncated_file_is_a_decode_error() {
    let bytes = single_node_model(node("Relu", &["x"]));
    let err = from_bytes(&bytes[..bytes.len() - 3], "cut.onnx").unwrap_err();
    assert!(matches!(err, OnnxError::Decode { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with("cut.onnx: not a valid ONNX protobuf"),
        "{err}"
    );
}

#[test]
fn garbage_bytes_are_a_decode_error() {
    let garbage: Vec<u8> = (0..64u32).map(|i| (i * 37 + 11) as u8 | 0x80).collect();
    let err = from_bytes(&garbage, "garbage.onnx").unwrap_err();
    assert!(matches!(err, OnnxError::Decode { .. }), "{err:?}");
}

#[test]
fn missing_input_names_the_value() {
    let err = from_bytes(&single_node_model(node("Add", &["x", "nowhere"])), "m.onnx").unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, OnnxError::MissingInput { .. }));
    assert!(
        msg.contains("'nowhere'") && msg.contains("the_node") && msg.contains("(Add)"),
        "{msg}"
    );
}

#[test]
fn attribute_of_the_wrong_type_is_reported() {
    let mut softmax = node("Softmax", &["x"]);
    softmax.attribute.push(AttributeProto {
        name: "axis".into(),
        r#type: AttributeType::Float as i32,
        f: 1.0,
        ..Default::default()
    });
    let err = from_bytes(&single_node_model(softmax), "m.onnx").unwrap_err();
    assert!(matches!(err, OnnxError::BadAttribute { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("'axis'") && msg.contains("expected INT, found FLOAT"),
        "{msg}"
    );
}

#[test]
fn same_auto_pad_with_stride_needs_a_known_size() {
    let mut conv = node("Conv", &["x", "w"]);
    conv.attribute.push(AttributeProto {
        name: "auto_pad".into(),
        r#type: AttributeType::String as i32,
        s: b"SAME_UPPER".to_vec(),
        ..Default::default()
    });
    conv.attribute.push(AttributeProto {
        name: "strides".into(),
        r#type: AttributeType::Ints as i32,
        ints: vec![2, 2],
        ..Default::default()
    });
    let mut model = ModelProto::decode(&single_node_model(conv)[..]).unwrap();
    let graph = model.graph.as_mut().unwrap();
    graph.initializer.push(TensorProto {
        name: "w".into(),
        dims: vec![1, 1, 3, 3],
        data_type: DataType::Float as i32,
        float_data: vec![0.0; 9],
        ..Default::default()
    });
    let err = from_bytes(&model.encode_to_vec(), "m.onnx").unwrap_err();
    assert!(
        err.to_string().contains("needs the input's spatial size"),
        "{err}"
    );
}

#[test]
fn missing_file_names_the_path() {
    let dir = common::scratch_dir("missing");
    let path = dir.join("absent.onnx");
    let err = lowbit_onnx::load(&path).unwrap_err();
    assert!(matches!(err, OnnxError::Io { .. }));
    assert!(err.to_string().contains("absent.onnx"), "{err}");
}
