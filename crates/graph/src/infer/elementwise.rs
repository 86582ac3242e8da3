//! Inference rules of elementwise ops: numpy broadcasting, predicates give booleans.

use lowbit_tensor::DType;

use super::broadcast::broadcast;
use super::ctx::NodeCtx;
use super::nn::check_same_dtype;
use crate::ops::{BinaryOp, UnaryOp};
use crate::{Fact, Op, Result};

pub(super) fn infer(ctx: &NodeCtx) -> Result<Vec<Fact>> {
    let x = ctx.required(0, "X")?;
    match &ctx.node.op {
        Op::Unary(UnaryOp::Not) => {
            if x.dtype.is_some_and(|t| t != DType::Bool) {
                return Err(ctx.error(format!("expects a bool input, got {}", ctx.describe(0))));
            }
            Ok(vec![x.clone()])
        }
        Op::Unary(_) => Ok(vec![x.clone()]),
        Op::Binary(op) => {
            ctx.required(1, "B")?;
            // Pow's exponent may have its own type; every other op needs matching operands.
            if *op != BinaryOp::Pow {
                check_same_dtype(ctx, 0, 1)?;
            }
            let dtype = if op.is_predicate() {
                Some(DType::Bool)
            } else {
                x.dtype
            };
            Ok(vec![Fact {
                dtype,
                shape: broadcast_inputs(ctx, &[0, 1])?,
            }])
        }
        Op::Clip => {
            for (index, name) in [(1, "min"), (2, "max")] {
                // ONNX wants scalars; exporters also write one-element vectors.
                let not_scalar = |dims: &[crate::Dim]| dims.iter().any(|d| d.known().is_some_and(|n| n != 1));
                if ctx.shape(index).is_some_and(not_scalar) {
                    return Err(ctx.error(format!("{name} {} must be a scalar", ctx.describe(index))));
                }
            }
            Ok(vec![x.clone()])
        }
        Op::Where => {
            if x.dtype.is_some_and(|t| t != DType::Bool) {
                return Err(ctx.error(format!("the condition {} must be bool", ctx.describe(0))));
            }
            let then = ctx.required(1, "X")?;
            ctx.required(2, "Y")?;
            check_same_dtype(ctx, 1, 2)?;
            Ok(vec![Fact {
                dtype: then.dtype,
                shape: broadcast_inputs(ctx, &[0, 1, 2])?,
            }])
        }
        other => unreachable!("{} is not an elementwise op", other.name()),
    }
}

/// The broadcast shape of the given inputs, when all their shapes are known.
fn broadcast_inputs(ctx: &NodeCtx, inputs: &[usize]) -> Result<Option<Vec<crate::Dim>>> {
    let shapes: Option<Vec<_>> = inputs.iter().map(|&i| ctx.shape(i)).collect();
    match shapes {
        Some(shapes) => broadcast(ctx, &shapes),
        None => Ok(None),
    }
}
