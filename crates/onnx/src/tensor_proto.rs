//! Conversion between ONNX `TensorProto` messages and lowbit tensors.
//!
//! Reading accepts both `raw_data` (little-endian, fixed width) and the typed fields
//! (`float_data`; `int32_data` which ONNX also uses for i8, u8 and bool; `int64_data`).
//! Writing always uses `raw_data`, the compact form every ONNX reader accepts.

use lowbit_tensor::{DType, Data, Tensor};

use crate::pb::tensor_proto::{DataLocation, DataType};
use crate::pb::TensorProto;
use crate::{OnnxError, Result};

/// The lowbit dtype of an ONNX `TensorProto.DataType` code, if lowbit has one.
pub(crate) fn dtype_from_onnx(code: i32) -> Option<DType> {
    match DataType::try_from(code).ok()? {
        DataType::Float => Some(DType::F32),
        DataType::Uint8 => Some(DType::U8),
        DataType::Int8 => Some(DType::I8),
        DataType::Int32 => Some(DType::I32),
        DataType::Int64 => Some(DType::I64),
        DataType::Bool => Some(DType::Bool),
        _ => None,
    }
}

pub(crate) fn dtype_to_onnx(dtype: DType) -> i32 {
    let code = match dtype {
        DType::F32 => DataType::Float,
        DType::U8 => DataType::Uint8,
        DType::I8 => DataType::Int8,
        DType::I32 => DataType::Int32,
        DType::I64 => DataType::Int64,
        DType::Bool => DataType::Bool,
    };
    code as i32
}

/// A readable name for an ONNX data type code, for error messages.
pub(crate) fn onnx_dtype_name(code: i32) -> String {
    match DataType::try_from(code) {
        Ok(t) => t.as_str_name().to_string(),
        Err(_) => format!("code {code}"),
    }
}

/// Decodes a tensor. `origin` names the file for error messages.
pub(crate) fn tensor_from_proto(proto: &TensorProto, origin: &str) -> Result<Tensor> {
    let name = if proto.name.is_empty() {
        "<unnamed>"
    } else {
        &proto.name
    };
    let err = |message: String| OnnxError::tensor(origin, name, message);
    if proto.data_location == DataLocation::External as i32 || !proto.external_data.is_empty() {
        let location = proto
            .external_data
            .iter()
            .find(|e| e.key == "location")
            .map_or("?", |e| e.value.as_str());
        return Err(err(format!(
            "its data is stored outside the model (external data in '{location}'); lowbit reads only \
             self-contained .onnx files (re-save the model with its tensors embedded)"
        )));
    }
    let dtype = dtype_from_onnx(proto.data_type).ok_or_else(|| OnnxError::UnsupportedDType {
        origin: origin.to_string(),
        tensor: name.to_string(),
        dtype: onnx_dtype_name(proto.data_type),
    })?;
    let shape = proto
        .dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| err(format!("negative dimension {d}"))))
        .collect::<Result<Vec<usize>>>()?;
    let count = shape.iter().product::<usize>();
    let data = if !proto.raw_data.is_empty() || count == 0 {
        from_raw(&proto.raw_data, dtype, count).map_err(err)?
    } else {
        from_typed_fields(proto, dtype, count).map_err(err)?
    };
    Tensor::from_data(shape, data).map_err(|e| err(e.to_string()))
}

fn from_raw(raw: &[u8], dtype: DType, count: usize) -> std::result::Result<Data, String> {
    let expected = count * dtype.size();
    if raw.len() != expected {
        return Err(format!(
            "raw_data holds {} bytes but {count} {dtype} values need {expected}",
            raw.len()
        ));
    }
    Ok(match dtype {
        DType::F32 => Data::F32(
            raw.chunks_exact(4)
                .map(|b| f32::from_le_bytes(le_bytes(b)))
                .collect(),
        ),
        DType::I32 => Data::I32(
            raw.chunks_exact(4)
                .map(|b| i32::from_le_bytes(le_bytes(b)))
                .collect(),
        ),
        DType::I64 => Data::I64(
            raw.chunks_exact(8)
                .map(|b| i64::from_le_bytes(le_bytes(b)))
                .collect(),
        ),
        DType::I8 => Data::I8(raw.iter().map(|&b| b as i8).collect()),
        DType::U8 => Data::U8(raw.to_vec()),
        DType::Bool => Data::Bool(raw.iter().map(|&b| b != 0).collect()),
    })
}

/// `chunks_exact` hands out slices of exactly `N` bytes; this turns one into an array.
fn le_bytes<const N: usize>(chunk: &[u8]) -> [u8; N] {
    let mut bytes = [0; N];
    bytes.copy_from_slice(chunk);
    bytes
}

fn from_typed_fields(proto: &TensorProto, dtype: DType, count: usize) -> std::result::Result<Data, String> {
    let found = match dtype {
        DType::F32 => proto.float_data.len(),
        DType::I64 => proto.int64_data.len(),
        _ => proto.int32_data.len(),
    };
    if found != count {
        return Err(format!("holds {found} values but its shape needs {count}"));
    }
    let ints = &proto.int32_data;
    Ok(match dtype {
        DType::F32 => Data::F32(proto.float_data.clone()),
        DType::I64 => Data::I64(proto.int64_data.clone()),
        DType::I32 => Data::I32(ints.clone()),
        // ONNX stores 8-bit and boolean values widened to int32.
        DType::I8 => Data::I8(ints.iter().map(|&v| v as i8).collect()),
        DType::U8 => Data::U8(ints.iter().map(|&v| v as u8).collect()),
        DType::Bool => Data::Bool(ints.iter().map(|&v| v != 0).collect()),
    })
}

/// Encodes a tensor as `raw_data`.
pub(crate) fn tensor_to_proto(name: &str, tensor: &Tensor) -> TensorProto {
    let raw_data = match tensor.data() {
        Data::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        Data::I32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        Data::I64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        Data::I8(v) => v.iter().map(|&x| x as u8).collect(),
        Data::U8(v) => v.clone(),
        Data::Bool(v) => v.iter().map(|&x| x as u8).collect(),
    };
    TensorProto {
        name: name.to_string(),
        dims: tensor.shape().iter().map(|&d| d as i64).collect(),
        data_type: dtype_to_onnx(tensor.dtype()),
        raw_data,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(tensor: Tensor) {
        let proto = tensor_to_proto("t", &tensor);
        assert_eq!(tensor_from_proto(&proto, "test").unwrap(), tensor);
    }

    #[test]
    fn raw_data_round_trips_every_dtype() {
        round_trip(Tensor::new(vec![2, 3], vec![1.5f32, -2.0, 0.0, f32::MAX, f32::MIN, 1e-30]).unwrap());
        round_trip(Tensor::new(vec![3], vec![-128i8, 0, 127]).unwrap());
        round_trip(Tensor::new(vec![3], vec![0u8, 128, 255]).unwrap());
        round_trip(Tensor::new(vec![2], vec![i32::MIN, i32::MAX]).unwrap());
        round_trip(Tensor::new(vec![2], vec![i64::MIN, 7]).unwrap());
        round_trip(Tensor::new(vec![3], vec![true, false, true]).unwrap());
        round_trip(Tensor::scalar(3.25f32));
        round_trip(Tensor::zeros(DType::F32, vec![0, 4]));
    }

    #[test]
    fn typed_fields_are_read() {
        let proto = TensorProto {
            dims: vec![3],
            data_type: DataType::Int8 as i32,
            int32_data: vec![-1, 5, 127],
            ..Default::default()
        };
        let t = tensor_from_proto(&proto, "m.onnx").unwrap();
        assert_eq!(t.as_slice::<i8>().unwrap(), &[-1, 5, 127]);
        let proto = TensorProto {
            dims: vec![2],
            data_type: DataType::Bool as i32,
            int32_data: vec![0, 1],
            ..Default::default()
        };
        let t = tensor_from_proto(&proto, "m.onnx").unwrap();
        assert_eq!(t.as_slice::<bool>().unwrap(), &[false, true]);
    }

    #[test]
    fn size_mismatch_and_external_data_are_errors() {
        let short = TensorProto {
            name: "w".into(),
            dims: vec![4],
            data_type: DataType::Float as i32,
            raw_data: vec![0; 12],
            ..Default::default()
        };
        let msg = tensor_from_proto(&short, "m.onnx").unwrap_err().to_string();
        assert!(
            msg.contains("m.onnx") && msg.contains("'w'") && msg.contains("12 bytes"),
            "{msg}"
        );
        let external = TensorProto {
            name: "w".into(),
            dims: vec![4],
            data_type: DataType::Float as i32,
            data_location: DataLocation::External as i32,
            ..Default::default()
        };
        let msg = tensor_from_proto(&external, "m.onnx").unwrap_err().to_string();
        assert!(msg.contains("external data"), "{msg}");
        let double = TensorProto {
            dims: vec![1],
            data_type: DataType::Double as i32,
            ..Default::default()
        };
        assert!(tensor_from_proto(&double, "m.onnx").unwrap_err().is_unsupported());
    }
}
