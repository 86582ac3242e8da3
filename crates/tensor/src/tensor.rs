//! The dense tensor type.

use crate::{numel, DType, Element, Result, TensorError};

/// Typed storage of a tensor, row-major.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    F32(Vec<f32>),
    I8(Vec<i8>),
    U8(Vec<u8>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    Bool(Vec<bool>),
}

impl Data {
    pub fn dtype(&self) -> DType {
        match self {
            Data::F32(_) => DType::F32,
            Data::I8(_) => DType::I8,
            Data::U8(_) => DType::U8,
            Data::I32(_) => DType::I32,
            Data::I64(_) => DType::I64,
            Data::Bool(_) => DType::Bool,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Data::F32(v) => v.len(),
            Data::I8(v) => v.len(),
            Data::U8(v) => v.len(),
            Data::I32(v) => v.len(),
            Data::I64(v) => v.len(),
            Data::Bool(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn zeros(dtype: DType, len: usize) -> Data {
        match dtype {
            DType::F32 => Data::F32(vec![0.0; len]),
            DType::I8 => Data::I8(vec![0; len]),
            DType::U8 => Data::U8(vec![0; len]),
            DType::I32 => Data::I32(vec![0; len]),
            DType::I64 => Data::I64(vec![0; len]),
            DType::Bool => Data::Bool(vec![false; len]),
        }
    }
}

/// A dense, row-major tensor with a concrete shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    shape: Vec<usize>,
    data: Data,
}

impl Tensor {
    /// Builds a tensor, checking that `shape` matches the number of values.
    pub fn new<T: Element>(shape: impl Into<Vec<usize>>, values: Vec<T>) -> Result<Self> {
        Self::from_data(shape, T::wrap_vec(values))
    }

    pub fn from_data(shape: impl Into<Vec<usize>>, data: Data) -> Result<Self> {
        let shape = shape.into();
        let expected = numel(&shape);
        if expected != data.len() {
            return Err(TensorError::ElementCount {
                shape,
                expected,
                got: data.len(),
            });
        }
        Ok(Tensor { shape, data })
    }

    pub fn zeros(dtype: DType, shape: impl Into<Vec<usize>>) -> Self {
        let shape = shape.into();
        let data = Data::zeros(dtype, numel(&shape));
        Tensor { shape, data }
    }

    /// A rank-0 tensor.
    pub fn scalar<T: Element>(value: T) -> Self {
        Tensor {
            shape: vec![],
            data: T::wrap_vec(vec![value]),
        }
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn data(&self) -> &Data {
        &self.data
    }

    pub fn into_data(self) -> Data {
        self.data
    }

    /// Size of the values in bytes, as they would be stored in a file.
    pub fn byte_size(&self) -> usize {
        self.len() * self.dtype().size()
    }

    pub fn as_slice<T: Element>(&self) -> Result<&[T]> {
        T::slice(&self.data).ok_or(TensorError::DType {
            expected: T::DTYPE,
            found: self.dtype(),
        })
    }

    pub fn as_mut_slice<T: Element>(&mut self) -> Result<&mut [T]> {
        let found = self.dtype();
        T::slice_mut(&mut self.data).ok_or(TensorError::DType {
            expected: T::DTYPE,
            found,
        })
    }

    pub fn into_vec<T: Element>(self) -> Result<Vec<T>> {
        T::unwrap_vec(self.data).map_err(|data| TensorError::DType {
            expected: T::DTYPE,
            found: data.dtype(),
        })
    }

    /// Same values, new shape with the same element count.
    pub fn reshape(self, shape: impl Into<Vec<usize>>) -> Result<Self> {
        let shape = shape.into();
        if numel(&shape) != self.len() {
            return Err(TensorError::Reshape {
                from: self.shape,
                to: shape,
            });
        }
        Ok(Tensor {
            shape,
            data: self.data,
        })
    }

    /// Converts every value to `dtype` with ONNX `Cast` semantics: float to integer
    /// truncates toward zero and saturates, integer to integer wraps.
    pub fn cast(&self, dtype: DType) -> Tensor {
        if dtype == self.dtype() {
            return self.clone();
        }
        let data = match &self.data {
            Data::F32(v) => cast_from(v.iter().map(|&x| x as f64), dtype),
            Data::I8(v) => cast_from(v.iter().map(|&x| x as f64), dtype),
            Data::U8(v) => cast_from(v.iter().map(|&x| x as f64), dtype),
            Data::I32(v) => cast_from(v.iter().map(|&x| x as f64), dtype),
            // i64 beyond 2^53 loses precision through f64; ids and shapes never get there.
            Data::I64(v) => cast_from(v.iter().map(|&x| x as f64), dtype),
            Data::Bool(v) => cast_from(v.iter().map(|&x| x as u8 as f64), dtype),
        };
        Tensor {
            shape: self.shape.clone(),
            data,
        }
    }

    /// The values converted to f32 (a copy).
    pub fn to_f32_vec(&self) -> Vec<f32> {
        self.cast(DType::F32).into_vec().expect("cast to f32 gives f32")
    }

    /// The values converted to i64 (a copy); used for shape and index inputs.
    pub fn to_i64_vec(&self) -> Vec<i64> {
        self.cast(DType::I64).into_vec().expect("cast to i64 gives i64")
    }
}

fn cast_from(values: impl Iterator<Item = f64>, dtype: DType) -> Data {
    match dtype {
        DType::F32 => Data::F32(values.map(|x| x as f32).collect()),
        DType::I8 => Data::I8(values.map(|x| x as i64 as i8).collect()),
        DType::U8 => Data::U8(values.map(|x| x as i64 as u8).collect()),
        DType::I32 => Data::I32(values.map(|x| x as i64 as i32).collect()),
        DType::I64 => Data::I64(values.map(|x| x as i64).collect()),
        DType::Bool => Data::Bool(values.map(|x| x != 0.0).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_checks_element_count() {
        assert!(Tensor::new(vec![2, 3], vec![0f32; 5]).is_err());
        let t = Tensor::new(vec![2, 3], vec![1f32; 6]).unwrap();
        assert_eq!(t.dtype(), DType::F32);
        assert_eq!(t.byte_size(), 24);
    }

    #[test]
    fn typed_access_reports_dtype_mismatch() {
        let t = Tensor::new(vec![2], vec![1i64, 2]).unwrap();
        assert_eq!(t.as_slice::<i64>().unwrap(), &[1, 2]);
        let err = t.as_slice::<f32>().unwrap_err();
        assert!(err.to_string().contains("expected a f32 tensor, found i64"));
    }

    #[test]
    fn reshape_keeps_values() {
        let t = Tensor::new(vec![2, 3], (0..6).map(|x| x as f32).collect()).unwrap();
        let r = t.clone().reshape(vec![3, 2]).unwrap();
        assert_eq!(r.as_slice::<f32>().unwrap(), t.as_slice::<f32>().unwrap());
        assert!(t.reshape(vec![4]).is_err());
    }

    #[test]
    fn cast_follows_onnx_rules() {
        let t = Tensor::new(vec![4], vec![-1.7f32, 0.0, 2.9, 300.0]).unwrap();
        assert_eq!(t.cast(DType::I64).as_slice::<i64>().unwrap(), &[-1, 0, 2, 300]);
        assert_eq!(
            t.cast(DType::Bool).as_slice::<bool>().unwrap(),
            &[true, false, true, true]
        );
        let i = Tensor::new(vec![2], vec![3i64, -2]).unwrap();
        assert_eq!(i.to_f32_vec(), vec![3.0, -2.0]);
    }
}
