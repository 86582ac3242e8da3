//! Builders of the ONNX protobuf pieces that hand-written test models need.

use lowbit_onnx::pb::tensor_proto::DataType;
use lowbit_onnx::pb::tensor_shape_proto::dimension::Value as DimValue;
use lowbit_onnx::pb::tensor_shape_proto::Dimension;
use lowbit_onnx::pb::type_proto::{Tensor as TensorType, Value as TypeValue};
use lowbit_onnx::pb::{TensorShapeProto, TypeProto, ValueInfoProto};

/// A tensor value of `elem_type` with the known shape `dims`.
pub fn value_info(name: &str, elem_type: DataType, dims: &[i64]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|&d| Dimension {
            value: Some(DimValue::DimValue(d)),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(TypeValue::TensorType(TensorType {
                elem_type: elem_type as i32,
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}
