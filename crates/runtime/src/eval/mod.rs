//! Evaluation of every [`Op`] with ONNX semantics, one module per op family.
//!
//! Each evaluator receives the node's inputs (an omitted optional input is `None`) and
//! returns its outputs in order. Errors are plain messages; the executor wraps them with
//! the node's name and op.

/// Runs `$body` with `$v` bound to the typed vector or slice inside a [`Data`](lowbit_tensor::Data)
/// (or a reference to one), wrapping the result back into `Data` of the same dtype.
macro_rules! map_data {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            lowbit_tensor::Data::F32($v) => lowbit_tensor::Data::F32($body),
            lowbit_tensor::Data::I8($v) => lowbit_tensor::Data::I8($body),
            lowbit_tensor::Data::U8($v) => lowbit_tensor::Data::U8($body),
            lowbit_tensor::Data::I32($v) => lowbit_tensor::Data::I32($body),
            lowbit_tensor::Data::I64($v) => lowbit_tensor::Data::I64($body),
            lowbit_tensor::Data::Bool($v) => lowbit_tensor::Data::Bool($body),
        }
    };
}

mod args;
mod broadcast;
mod elementwise;
mod gelu;
mod integer;
mod layout;
mod linalg;
mod movement;
mod nn;
mod norm;
mod qlinear_matmul;
mod quant;
mod reduce;
mod shape;
pub(crate) mod vmath;

use lowbit_graph::Op;
use lowbit_kernels::f32::Activation;
use lowbit_tensor::{Tensor, TensorError};

use crate::buffers::BufferPool;

pub(crate) use args::Inputs;
pub(crate) use gelu::{find_chains as find_gelu_chains, gelu, Gelu};
pub(crate) use nn::{conv, PreparedConv};

/// Why an op could not be evaluated; the executor adds the node and op names.
#[derive(Debug)]
pub(crate) struct EvalError(pub String);

impl From<TensorError> for EvalError {
    fn from(e: TensorError) -> Self {
        EvalError(e.to_string())
    }
}

impl From<String> for EvalError {
    fn from(message: String) -> Self {
        EvalError(message)
    }
}

impl From<&str> for EvalError {
    fn from(message: &str) -> Self {
        EvalError(message.to_string())
    }
}

pub(crate) type EvalResult<T = Vec<Tensor>> = Result<T, EvalError>;

/// Fails with `message` unless `condition` holds.
pub(crate) fn ensure(condition: bool, message: impl FnOnce() -> String) -> EvalResult<()> {
    if condition {
        Ok(())
    } else {
        Err(EvalError(message()))
    }
}

/// Per-run state shared by the evaluators.
pub(crate) struct Cx<'a> {
    pub buffers: &'a mut BufferPool,
}

/// Evaluates `op` on `inputs`, producing `outputs` tensors (the node's output count).
pub(crate) fn eval(op: &Op, inputs: &Inputs, outputs: usize, cx: &mut Cx) -> EvalResult {
    let one = |t: Tensor| Ok(vec![t]);
    match op {
        Op::Conv(attrs) => one(conv(attrs, inputs, Activation::None, None, cx)?),
        Op::BatchNorm(attrs) => one(norm::batch_norm(attrs, inputs, cx)?),
        Op::MaxPool(attrs) => one(nn::max_pool(attrs, inputs, cx)?),
        Op::AveragePool(attrs) => one(nn::average_pool(attrs, inputs, cx)?),
        Op::GlobalAveragePool => one(nn::global_average_pool(inputs, cx)?),
        Op::GlobalMaxPool => one(nn::global_max_pool(inputs)?),
        Op::Softmax { axis } => one(norm::softmax(*axis, false, inputs, cx)?),
        Op::LogSoftmax { axis } => one(norm::softmax(*axis, true, inputs, cx)?),
        Op::LayerNorm(attrs) => norm::layer_norm(attrs, inputs, outputs, cx),
        Op::Dropout { .. } => shape::dropout(inputs, outputs),
        Op::Gemm(attrs) => one(linalg::gemm(attrs, inputs, cx)?),
        Op::MatMul => one(linalg::matmul(inputs, cx)?),
        Op::Unary(u) => one(elementwise::unary(*u, inputs, cx)?),
        Op::Binary(b) => one(elementwise::binary(*b, inputs, cx)?),
        Op::Clip => one(elementwise::clip(inputs)?),
        Op::Where => one(elementwise::where_(inputs)?),
        Op::Reshape { allowzero } => one(shape::reshape(*allowzero, inputs)?),
        Op::Flatten { axis } => one(shape::flatten(*axis, inputs)?),
        Op::Transpose { perm } => one(movement::transpose(perm.as_deref(), inputs)?),
        Op::Squeeze { axes } => one(shape::squeeze(axes.as_deref(), inputs)?),
        Op::Unsqueeze { axes } => one(shape::unsqueeze(axes.as_deref(), inputs)?),
        Op::Concat { axis } => one(movement::concat(*axis, inputs)?),
        Op::Split(attrs) => movement::split(attrs, inputs, outputs),
        Op::Slice(_) => one(movement::slice(inputs)?),
        Op::Gather { axis } => one(movement::gather(*axis, inputs)?),
        Op::Shape { start, end } => one(shape::shape(*start, *end, inputs)?),
        Op::Cast(attrs) => one(inputs.get(0)?.cast(attrs.to)),
        Op::Expand => one(shape::expand(inputs)?),
        Op::ConstantOfShape(attrs) => one(shape::constant_of_shape(attrs, inputs)?),
        Op::Range => one(shape::range(inputs)?),
        Op::Identity => one(inputs.get(0)?.clone()),
        Op::Reduce(attrs) => one(reduce::reduce(attrs, inputs)?),
        Op::ArgMax {
            axis,
            keepdims,
            select_last_index,
        } => one(reduce::arg_max(*axis, *keepdims, *select_last_index, inputs)?),
        Op::QuantizeLinear(attrs) => one(quant::quantize_linear(attrs.axis, inputs)?),
        Op::DequantizeLinear(attrs) => one(quant::dequantize_linear(attrs.axis, inputs)?),
        Op::DynamicQuantizeLinear => quant::dynamic_quantize_linear(inputs),
        Op::QLinearConv(attrs) => one(quant::qlinear_conv(attrs, inputs)?),
        Op::QLinearMatMul => one(qlinear_matmul::qlinear_matmul(inputs)?),
        Op::ConvInteger(attrs) => one(quant::conv_integer(attrs, inputs)?),
        Op::MatMulInteger => one(quant::matmul_integer(inputs)?),
    }
}

/// The number of inputs an op accepts, `(min, max)`, checked when a plan is compiled.
pub(crate) fn arity(op: &Op) -> (usize, usize) {
    match op {
        Op::Conv(_) | Op::ConvInteger(_) => (2, if matches!(op, Op::Conv(_)) { 3 } else { 4 }),
        Op::BatchNorm(_) => (5, 5),
        Op::LayerNorm(_) | Op::Gemm(_) => (2, 3),
        Op::MatMul | Op::Gather { .. } | Op::Expand | Op::Reshape { .. } => (2, 2),
        Op::Binary(_) => (2, 2),
        Op::Clip => (1, 3),
        Op::Where | Op::Range => (3, 3),
        Op::Squeeze { .. } | Op::Unsqueeze { .. } | Op::Split(_) | Op::Reduce(_) => (1, 2),
        Op::Concat { .. } => (1, usize::MAX),
        Op::Slice(_) => (3, 5),
        Op::QuantizeLinear(_) | Op::DequantizeLinear(_) => (2, 3),
        Op::QLinearConv(_) => (8, 9),
        Op::QLinearMatMul => (8, 8),
        Op::MatMulInteger => (2, 4),
        _ => (1, 1),
    }
}
