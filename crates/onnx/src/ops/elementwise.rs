//! Elementwise ops: activations, arithmetic and comparisons (numpy broadcasting), the
//! variadic Max/Min/Sum/Mean, Clip and Where.

use lowbit_graph::ops::{BinaryOp, UnaryOp};
use lowbit_graph::{Op, ValueId};
use lowbit_tensor::Tensor;

use super::Registry;
use crate::import::context::{Lowered, NodeCtx};
use crate::Result;

pub(super) fn register_all_ops(registry: &mut Registry) {
    registry.register("Relu", |_| unary(UnaryOp::Relu));
    registry.register("Sigmoid", |_| unary(UnaryOp::Sigmoid));
    registry.register("Tanh", |_| unary(UnaryOp::Tanh));
    registry.register("Erf", |_| unary(UnaryOp::Erf));
    registry.register("Sqrt", |_| unary(UnaryOp::Sqrt));
    registry.register("Exp", |_| unary(UnaryOp::Exp));
    registry.register("Log", |_| unary(UnaryOp::Log));
    registry.register("Neg", |_| unary(UnaryOp::Neg));
    registry.register("Abs", |_| unary(UnaryOp::Abs));
    registry.register("Reciprocal", |_| unary(UnaryOp::Reciprocal));
    registry.register("Floor", |_| unary(UnaryOp::Floor));
    registry.register("Ceil", |_| unary(UnaryOp::Ceil));
    registry.register("Not", |_| unary(UnaryOp::Not));
    registry.register("HardSwish", |_| unary(UnaryOp::HardSwish));
    registry.register("Elu", elu);
    registry.register("LeakyRelu", leaky_relu);
    registry.register("HardSigmoid", hard_sigmoid);

    registry.register("Add", |ctx| binary(ctx, BinaryOp::Add));
    registry.register("Sub", |ctx| binary(ctx, BinaryOp::Sub));
    registry.register("Mul", |ctx| binary(ctx, BinaryOp::Mul));
    registry.register("Div", |ctx| binary(ctx, BinaryOp::Div));
    registry.register("Pow", |ctx| binary(ctx, BinaryOp::Pow));
    registry.register("Equal", |ctx| binary(ctx, BinaryOp::Equal));
    registry.register("Less", |ctx| binary(ctx, BinaryOp::Less));
    registry.register("Greater", |ctx| binary(ctx, BinaryOp::Greater));
    registry.register("And", |ctx| binary(ctx, BinaryOp::And));
    registry.register("Or", |ctx| binary(ctx, BinaryOp::Or));

    registry.register("GreaterOrEqual", |ctx| or_equal(ctx, BinaryOp::Greater));
    registry.register("LessOrEqual", |ctx| or_equal(ctx, BinaryOp::Less));

    registry.register("Max", |ctx| variadic(ctx, BinaryOp::Max));
    registry.register("Min", |ctx| variadic(ctx, BinaryOp::Min));
    registry.register("Sum", |ctx| variadic(ctx, BinaryOp::Add));
    registry.register("Mean", mean);

    registry.register("Clip", clip);
    registry.register("Where", |_| Ok(Lowered::Op(Op::Where)));
}

fn unary(op: UnaryOp) -> Result<Lowered> {
    Ok(Lowered::Op(Op::Unary(op)))
}

fn elu(ctx: &mut NodeCtx) -> Result<Lowered> {
    unary(UnaryOp::Elu {
        alpha: ctx.float_or("alpha", 1.0)?,
    })
}

fn leaky_relu(ctx: &mut NodeCtx) -> Result<Lowered> {
    unary(UnaryOp::LeakyRelu {
        alpha: ctx.float_or("alpha", 0.01)?,
    })
}

fn hard_sigmoid(ctx: &mut NodeCtx) -> Result<Lowered> {
    unary(UnaryOp::HardSigmoid {
        alpha: ctx.float_or("alpha", 0.2)?,
        beta: ctx.float_or("beta", 0.5)?,
    })
}

/// Before opset 7, binary ops broadcast only when asked, and then by aligning the
/// second input at `axis`. Without `axis` that is numpy's trailing alignment; with it,
/// the semantics differ and are not supported.
fn binary(ctx: &mut NodeCtx, op: BinaryOp) -> Result<Lowered> {
    if ctx.opset < 7 && ctx.has_attr("axis") {
        return Err(ctx.unsupported("legacy broadcasting with an 'axis' attribute (opset < 7)"));
    }
    Ok(Lowered::Op(Op::Binary(op)))
}

/// `a >= b` as `(a > b) or (a == b)`, which keeps NaN comparisons false.
fn or_equal(ctx: &mut NodeCtx, strict: BinaryOp) -> Result<Lowered> {
    let (a, b) = (ctx.require_input(0)?, ctx.require_input(1)?);
    let strictly = ctx.temp_value("strict");
    let equal = ctx.temp_value("equal");
    ctx.emit(
        "strict",
        Op::Binary(strict),
        vec![Some(a), Some(b)],
        vec![strictly],
    );
    ctx.emit(
        "equal",
        Op::Binary(BinaryOp::Equal),
        vec![Some(a), Some(b)],
        vec![equal],
    );
    ctx.inputs = vec![Some(strictly), Some(equal)];
    Ok(Lowered::Op(Op::Binary(BinaryOp::Or)))
}

/// Max, Min and Sum take any number of inputs: a chain of binary nodes.
fn variadic(ctx: &mut NodeCtx, op: BinaryOp) -> Result<Lowered> {
    Ok(Lowered::Op(fold(ctx, op)?))
}

/// Chains `op` over the inputs, adding helper nodes for all steps but the last; the
/// last step's op is returned and its two inputs are left in `ctx.inputs`. A single
/// input gives the identity.
fn fold(ctx: &mut NodeCtx, op: BinaryOp) -> Result<Op> {
    let inputs: Vec<ValueId> = ctx.inputs.iter().flatten().copied().collect();
    let Some((&first, rest)) = inputs.split_first() else {
        return Err(ctx.error("needs at least one input"));
    };
    let Some((&last, middle)) = rest.split_last() else {
        ctx.inputs = vec![Some(first)];
        return Ok(Op::Identity);
    };
    let mut acc = first;
    for (step, &next) in middle.iter().enumerate() {
        let partial = ctx.temp_value(&format!("partial{step}"));
        ctx.emit(
            &format!("step{step}"),
            Op::Binary(op),
            vec![Some(acc), Some(next)],
            vec![partial],
        );
        acc = partial;
    }
    ctx.inputs = vec![Some(acc), Some(last)];
    Ok(Op::Binary(op))
}

/// Mean = Sum / count.
fn mean(ctx: &mut NodeCtx) -> Result<Lowered> {
    let count = ctx.inputs.iter().flatten().count();
    let sum_op = fold(ctx, BinaryOp::Add)?;
    let sum = ctx.temp_value("sum");
    let sum_inputs = std::mem::take(&mut ctx.inputs);
    ctx.emit("sum", sum_op, sum_inputs, vec![sum]);
    let divisor = ctx.add_const("count", Tensor::scalar(count as f32));
    ctx.inputs = vec![Some(sum), Some(divisor)];
    Ok(Lowered::Op(Op::Binary(BinaryOp::Div)))
}

/// Clip's bounds were attributes before opset 11 and are optional inputs since.
fn clip(ctx: &mut NodeCtx) -> Result<Lowered> {
    if ctx.opset < 11 {
        ctx.truncate_inputs(1);
        if let Some(min) = ctx.float("min")? {
            ctx.set_const_input(1, "min", Tensor::scalar(min));
        }
        if let Some(max) = ctx.float("max")? {
            ctx.set_const_input(2, "max", Tensor::scalar(max));
        }
    }
    Ok(Lowered::Op(Op::Clip))
}
