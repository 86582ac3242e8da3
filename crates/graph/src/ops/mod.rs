//! The op set. Each family's attribute records live in their own module; [`Op`] is the
//! closed enum over them. Attribute semantics follow the ONNX operator of the same name
//! unless a doc comment says otherwise.

mod elementwise;
mod linalg;
mod nn;
mod quant;
mod reduce;
mod shape;

pub use elementwise::{BinaryOp, UnaryOp};
pub use linalg::Gemm;
pub use nn::{BatchNorm, Conv, LayerNorm, Pool};
pub use quant::QuantAxis;
pub use reduce::{Reduce, ReduceKind};
pub use shape::{Cast, ConstantOfShape, Slice, Split};

#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    // --- nn: inputs in ONNX order ---
    /// x, w, b?
    Conv(Conv),
    /// x, scale, bias, mean, var
    BatchNorm(BatchNorm),
    MaxPool(Pool),
    AveragePool(Pool),
    GlobalAveragePool,
    GlobalMaxPool,
    Softmax {
        axis: i64,
    },
    LogSoftmax {
        axis: i64,
    },
    /// x, scale, bias?
    LayerNorm(LayerNorm),
    /// x (ratio and training_mode inputs are dropped on import: inference only).
    Dropout {
        ratio: f32,
    },

    // --- linear algebra ---
    /// a, b, c?
    Gemm(Gemm),
    MatMul,

    // --- elementwise, with numpy broadcasting ---
    Unary(UnaryOp),
    Binary(BinaryOp),
    /// x, min?, max?
    Clip,
    /// cond, x, y
    Where,

    // --- shape and data movement ---
    /// data, shape
    Reshape {
        allowzero: bool,
    },
    Flatten {
        axis: i64,
    },
    /// `None` reverses the axes.
    Transpose {
        perm: Option<Vec<usize>>,
    },
    /// data, axes? (opset 13 input); `axes` holds the attribute of older opsets.
    Squeeze {
        axes: Option<Vec<i64>>,
    },
    /// data, axes? (opset 13 input); `axes` holds the attribute of older opsets.
    Unsqueeze {
        axes: Option<Vec<i64>>,
    },
    Concat {
        axis: i64,
    },
    /// input, split? (opset 13 input)
    Split(Split),
    /// data, starts, ends, axes?, steps?
    Slice(Slice),
    /// data, indices
    Gather {
        axis: i64,
    },
    Shape {
        start: i64,
        end: Option<i64>,
    },
    Cast(Cast),
    /// input, shape
    Expand,
    /// shape
    ConstantOfShape(ConstantOfShape),
    /// start, limit, delta
    Range,
    Identity,

    // --- reductions ---
    /// data, axes? (input since opset 18 for most, 13 for ReduceSum)
    Reduce(Reduce),
    ArgMax {
        axis: i64,
        keepdims: bool,
        select_last_index: bool,
    },

    // --- quantization (ONNX QDQ and QOperator forms) ---
    /// x, y_scale, y_zero_point?
    QuantizeLinear(QuantAxis),
    /// x, x_scale, x_zero_point?
    DequantizeLinear(QuantAxis),
    /// x -> y, y_scale, y_zero_point
    DynamicQuantizeLinear,
    /// x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, b?
    QLinearConv(Conv),
    /// a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp
    QLinearMatMul,
    /// x, w, x_zp?, w_zp?
    ConvInteger(Conv),
    /// a, b, a_zp?, b_zp?
    MatMulInteger,
}

impl Op {
    /// The ONNX-style op type name, used in messages, histograms and export.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Conv(_) => "Conv",
            Op::BatchNorm(_) => "BatchNormalization",
            Op::MaxPool(_) => "MaxPool",
            Op::AveragePool(_) => "AveragePool",
            Op::GlobalAveragePool => "GlobalAveragePool",
            Op::GlobalMaxPool => "GlobalMaxPool",
            Op::Softmax { .. } => "Softmax",
            Op::LogSoftmax { .. } => "LogSoftmax",
            Op::LayerNorm(_) => "LayerNormalization",
            Op::Dropout { .. } => "Dropout",
            Op::Gemm(_) => "Gemm",
            Op::MatMul => "MatMul",
            Op::Unary(u) => u.name(),
            Op::Binary(b) => b.name(),
            Op::Clip => "Clip",
            Op::Where => "Where",
            Op::Reshape { .. } => "Reshape",
            Op::Flatten { .. } => "Flatten",
            Op::Transpose { .. } => "Transpose",
            Op::Squeeze { .. } => "Squeeze",
            Op::Unsqueeze { .. } => "Unsqueeze",
            Op::Concat { .. } => "Concat",
            Op::Split(_) => "Split",
            Op::Slice(_) => "Slice",
            Op::Gather { .. } => "Gather",
            Op::Shape { .. } => "Shape",
            Op::Cast(_) => "Cast",
            Op::Expand => "Expand",
            Op::ConstantOfShape(_) => "ConstantOfShape",
            Op::Range => "Range",
            Op::Identity => "Identity",
            Op::Reduce(r) => r.kind.name(),
            Op::ArgMax { .. } => "ArgMax",
            Op::QuantizeLinear(_) => "QuantizeLinear",
            Op::DequantizeLinear(_) => "DequantizeLinear",
            Op::DynamicQuantizeLinear => "DynamicQuantizeLinear",
            Op::QLinearConv(_) => "QLinearConv",
            Op::QLinearMatMul => "QLinearMatMul",
            Op::ConvInteger(_) => "ConvInteger",
            Op::MatMulInteger => "MatMulInteger",
        }
    }
}
