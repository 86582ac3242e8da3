//! Element types and the trait that maps a Rust scalar to its [`DType`] and storage.

use std::fmt;

use crate::tensor::Data;

/// The element types lowbit computes with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    I8,
    U8,
    I32,
    I64,
    Bool,
}

impl DType {
    /// Size of one element in bytes (as stored in ONNX raw data).
    pub fn size(self) -> usize {
        match self {
            DType::I8 | DType::U8 | DType::Bool => 1,
            DType::F32 | DType::I32 => 4,
            DType::I64 => 8,
        }
    }

    pub fn is_integer(self) -> bool {
        matches!(self, DType::I8 | DType::U8 | DType::I32 | DType::I64)
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            DType::F32 => "f32",
            DType::I8 => "i8",
            DType::U8 => "u8",
            DType::I32 => "i32",
            DType::I64 => "i64",
            DType::Bool => "bool",
        };
        f.write_str(name)
    }
}

/// A Rust scalar type that can be a tensor element.
pub trait Element: Copy + Default + PartialEq + Send + Sync + fmt::Debug + 'static {
    const DTYPE: DType;
    fn slice(data: &Data) -> Option<&[Self]>;
    fn slice_mut(data: &mut Data) -> Option<&mut [Self]>;
    /// Takes the vector out of `data`, or gives `data` back when the dtype differs.
    fn unwrap_vec(data: Data) -> Result<Vec<Self>, Data>;
    fn wrap_vec(values: Vec<Self>) -> Data;
}

macro_rules! element {
    ($ty:ty, $variant:ident) => {
        impl Element for $ty {
            const DTYPE: DType = DType::$variant;
            fn slice(data: &Data) -> Option<&[Self]> {
                match data {
                    Data::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn slice_mut(data: &mut Data) -> Option<&mut [Self]> {
                match data {
                    Data::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn unwrap_vec(data: Data) -> Result<Vec<Self>, Data> {
                match data {
                    Data::$variant(v) => Ok(v),
                    other => Err(other),
                }
            }
            fn wrap_vec(values: Vec<Self>) -> Data {
                Data::$variant(values)
            }
        }
    };
}

element!(f32, F32);
element!(i8, I8);
element!(u8, U8);
element!(i32, I32);
element!(i64, I64);
element!(bool, Bool);
