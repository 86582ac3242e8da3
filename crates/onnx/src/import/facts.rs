//! Value facts (dtype and maybe-symbolic shape) from ONNX `ValueInfoProto`s.

use lowbit_graph::{Dim, Fact};

use crate::pb::tensor_shape_proto::dimension::Value as DimValue;
use crate::pb::type_proto::Value as TypeValue;
use crate::pb::{TensorShapeProto, ValueInfoProto};
use crate::tensor_proto::{dtype_from_onnx, onnx_dtype_name};
use crate::{OnnxError, Result};

/// Names dimensions that the file leaves anonymous `unk_0`, `unk_1`, ... so that each
/// stays distinct from every other.
#[derive(Default)]
pub(crate) struct DimNamer {
    next: usize,
}

impl DimNamer {
    fn fresh(&mut self) -> Dim {
        let dim = Dim::Sym(format!("unk_{}", self.next));
        self.next += 1;
        dim
    }

    fn shape(&mut self, shape: &TensorShapeProto) -> Vec<Dim> {
        shape
            .dim
            .iter()
            .map(|d| match &d.value {
                Some(DimValue::DimValue(n)) if *n >= 0 => Dim::Known(*n as usize),
                Some(DimValue::DimParam(name)) if !name.is_empty() => Dim::Sym(name.clone()),
                _ => self.fresh(),
            })
            .collect()
    }

    /// The fact a value info declares. Non-tensor types are unsupported; an absent type
    /// gives an unknown fact.
    pub(crate) fn fact(&mut self, info: &ValueInfoProto, origin: &str) -> Result<Fact> {
        let Some(declared) = info.r#type.as_ref() else {
            return Ok(Fact::unknown());
        };
        let unsupported = |kind: &str| OnnxError::UnsupportedType {
            origin: origin.to_string(),
            value: info.name.clone(),
            kind: kind.to_string(),
        };
        let tensor = match &declared.value {
            Some(TypeValue::TensorType(tensor)) => tensor,
            Some(TypeValue::SequenceType(_)) => return Err(unsupported("a sequence")),
            Some(TypeValue::MapType(_)) => return Err(unsupported("a map")),
            // A type whose field the vendored proto does not know (optional and sparse
            // tensor types were added after it).
            None => return Err(unsupported("an optional or sparse value")),
        };
        let dtype = match tensor.elem_type {
            0 => None,
            code => Some(dtype_from_onnx(code).ok_or_else(|| OnnxError::UnsupportedDType {
                origin: origin.to_string(),
                tensor: info.name.clone(),
                dtype: onnx_dtype_name(code),
            })?),
        };
        let shape = tensor.shape.as_ref().map(|s| self.shape(s));
        Ok(Fact { dtype, shape })
    }
}
