//! Builders for `AttributeProto`s.

use lowbit_tensor::Tensor;

use crate::pb::attribute_proto::AttributeType;
use crate::pb::AttributeProto;
use crate::tensor_proto::tensor_to_proto;

fn attr(name: &str, kind: AttributeType) -> AttributeProto {
    AttributeProto {
        name: name.to_string(),
        r#type: kind as i32,
        ..Default::default()
    }
}

pub(crate) fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        i: value,
        ..attr(name, AttributeType::Int)
    }
}

pub(crate) fn flag(name: &str, value: bool) -> AttributeProto {
    int(name, value as i64)
}

pub(crate) fn float(name: &str, value: f32) -> AttributeProto {
    AttributeProto {
        f: value,
        ..attr(name, AttributeType::Float)
    }
}

pub(crate) fn ints(name: &str, values: impl IntoIterator<Item = i64>) -> AttributeProto {
    AttributeProto {
        ints: values.into_iter().collect(),
        ..attr(name, AttributeType::Ints)
    }
}

/// Sizes (kernel, strides, pads...) as an `ints` attribute.
pub(crate) fn sizes(name: &str, values: &[usize]) -> AttributeProto {
    ints(name, values.iter().map(|&v| v as i64))
}

pub(crate) fn tensor(name: &str, value: &Tensor) -> AttributeProto {
    AttributeProto {
        t: Some(tensor_to_proto("", value)),
        ..attr(name, AttributeType::Tensor)
    }
}
