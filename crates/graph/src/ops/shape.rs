//! Attributes of shape and data-movement ops.

use lowbit_tensor::{DType, Tensor};

#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub axis: i64,
    /// Attribute of older opsets; opset 13 passes it as the second input.
    pub split: Option<Vec<i64>>,
    /// Opset 18: the number of outputs when no split sizes are given.
    pub num_outputs: Option<usize>,
}

/// Slice with opset-10 inputs; opset-1 attributes are turned into constant inputs on import.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Slice;

#[derive(Debug, Clone, PartialEq)]
pub struct Cast {
    pub to: DType,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConstantOfShape {
    /// A one-element tensor; f32 zero when the attribute is absent.
    pub value: Tensor,
}
