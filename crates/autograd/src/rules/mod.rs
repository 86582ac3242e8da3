//! Training rules, one module per op family. Each rule is a forward function that returns
//! the node's outputs together with a `Backward` record holding exactly what its gradient
//! needs (candle's backprop keeps the same split: the op records, the walk
//! differentiates).

mod activation;
mod batchnorm;
pub(crate) mod broadcast;
mod buffer;
mod conv;
mod divide;
mod dropout;
mod elementwise;
pub mod fake_quant;
mod linear;
pub mod loss;
mod max_pool;
mod pool;
mod shape;

use std::sync::Arc;

use lowbit_graph::ops::{BinaryOp, UnaryOp};
use lowbit_graph::Op;
use lowbit_tensor::Tensor;

use crate::error::{RuleError, RuleResult};

/// The gradient half of a rule, recorded by its forward pass.
pub(crate) trait Backward: Send + Sync {
    /// `dy` is the gradient of the loss with respect to the node's first output (the only
    /// differentiable one), handed over so that element-wise rules can turn it into their
    /// input gradient in place instead of zero-filling a new buffer. Returns one entry per
    /// node input; entries whose `needed` flag is false may be `None`, and so may inputs
    /// that are not differentiable (shapes, bounds).
    fn backward(&self, dy: Vec<f32>, needed: &[bool]) -> RuleResult<Vec<Option<Tensor>>>;
}

/// One executed node: its outputs, its gradient record, and new values for its state
/// inputs (BatchNorm running statistics), keyed by input slot.
pub(crate) struct Step {
    pub outputs: Vec<Arc<Tensor>>,
    pub backward: Box<dyn Backward>,
    pub state: Vec<(usize, Tensor)>,
}

impl Step {
    pub(crate) fn new(output: Tensor, backward: impl Backward + 'static) -> Step {
        Step {
            outputs: vec![Arc::new(output)],
            backward: Box::new(backward),
            state: Vec::new(),
        }
    }
}

/// How a forward pass runs: training mode uses batch statistics and drops activations.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx {
    pub training: bool,
    /// Seed for this node in this step (dropout masks).
    pub seed: u64,
}

pub(crate) type Inputs<'a> = &'a [Option<Arc<Tensor>>];

/// The input at `slot`, or an error naming what it is.
pub(crate) fn input<'a>(inputs: Inputs<'a>, slot: usize, what: &str) -> RuleResult<&'a Arc<Tensor>> {
    inputs
        .get(slot)
        .and_then(Option::as_ref)
        .ok_or_else(|| RuleError::new(format!("missing input {slot} ({what})")))
}

/// The f32 values of a tensor, or an error naming it.
pub(crate) fn f32s<'a>(t: &'a Tensor, what: &str) -> RuleResult<&'a [f32]> {
    t.as_slice::<f32>()
        .map_err(|e| RuleError::new(format!("{what}: {e}")))
}

/// A gradient tensor with `shape`, checked against its values.
pub(crate) fn grad(shape: &[usize], values: Vec<f32>) -> RuleResult<Option<Tensor>> {
    Ok(Some(Tensor::new(shape.to_vec(), values)?))
}

/// Runs `op`'s forward rule. Ops without a rule return `None`.
pub(crate) fn forward(op: &Op, inputs: Inputs, ctx: Ctx) -> Option<RuleResult<Step>> {
    Some(match op {
        Op::Conv(conv) => conv::forward(conv, inputs),
        Op::BatchNorm(bn) => batchnorm::forward(bn, inputs, ctx),
        Op::Unary(UnaryOp::Relu) => activation::relu(inputs),
        Op::Clip => activation::clip(inputs),
        Op::Binary(kind @ (BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul)) => {
            elementwise::forward(*kind, inputs)
        }
        Op::Binary(BinaryOp::Div) => divide::forward(inputs),
        Op::Gemm(gemm) => linear::gemm_op(gemm, inputs),
        Op::MatMul => linear::matmul(inputs),
        Op::MaxPool(pool) => max_pool::forward(pool, inputs),
        Op::GlobalAveragePool => pool::global_average(inputs),
        Op::Reduce(reduce) => pool::reduce_mean(reduce, inputs),
        Op::Flatten { axis } => shape::flatten(*axis, inputs),
        Op::Reshape { allowzero } => shape::reshape(*allowzero, inputs),
        Op::Identity => shape::identity(inputs),
        Op::Dropout { ratio } => dropout::forward(*ratio, inputs, ctx),
        _ => return None,
    })
}

/// Runs a `BatchNormalization` (`bn`, with `bn_inputs`) and the `Relu` or `Clip`
/// (`clamp`, with `clamp_inputs`) that alone reads its output as one step returning the
/// clamp's output; the BatchNorm's own output is never stored. `None` when `bn` and
/// `clamp` are not such a pair of ops.
pub(crate) fn batch_norm_then_clamp(
    bn: &Op,
    bn_inputs: Inputs,
    clamp: &Op,
    clamp_inputs: Inputs,
    ctx: Ctx,
) -> Option<RuleResult<Step>> {
    let Op::BatchNorm(bn) = bn else {
        return None;
    };
    let bounds = match clamp {
        Op::Unary(UnaryOp::Relu) => Ok([0.0, f32::INFINITY]),
        Op::Clip => activation::clip_bounds(clamp_inputs).map(|(min, max)| [min, max]),
        _ => return None,
    };
    Some(bounds.and_then(|bounds| batchnorm::forward_then_clamp(bn, bn_inputs, ctx, Some(bounds))))
}
