//! ONNX Runtime's contrib quantized ops (`com.microsoft`), which its quantizer writes in
//! QOperator files: QLinearAdd, QLinearMul, QLinearGlobalAveragePool, QLinearSoftmax and
//! QGemm.
//!
//! Each is lowered to the QDQ form that defines it (DequantizeLinear of every quantized
//! input, the float op, QuantizeLinear of the result), which the runtime fuses back into
//! one integer step like any QDQ pattern, and which the reference evaluators run as
//! written where it does not fuse.

use lowbit_graph::ops::{BinaryOp, Gemm, QuantAxis};
use lowbit_graph::{Op, ValueId};
use lowbit_tensor::Tensor;

use super::{Registry, MICROSOFT_DOMAIN};
use crate::import::context::{Lowered, NodeCtx};
use crate::Result;

pub(super) fn register_all_ops(registry: &mut Registry) {
    registry.register_in(MICROSOFT_DOMAIN, "QLinearAdd", |ctx| {
        qlinear_binary(ctx, BinaryOp::Add)
    });
    registry.register_in(MICROSOFT_DOMAIN, "QLinearMul", |ctx| {
        qlinear_binary(ctx, BinaryOp::Mul)
    });
    registry.register_in(
        MICROSOFT_DOMAIN,
        "QLinearGlobalAveragePool",
        qlinear_global_average_pool,
    );
    registry.register_in(MICROSOFT_DOMAIN, "QLinearSoftmax", qlinear_softmax);
    registry.register_in(MICROSOFT_DOMAIN, "QGemm", qgemm);
}

/// Inputs: A, A_scale, A_zero_point?, B, B_scale, B_zero_point?, C_scale, C_zero_point?
fn qlinear_binary(ctx: &mut NodeCtx, op: BinaryOp) -> Result<Lowered> {
    let a = dequantize(ctx, "a", [0, 1, 2], 1)?;
    let b = dequantize(ctx, "b", [3, 4, 5], 1)?;
    let y = ctx.temp_value("float");
    ctx.emit("float", Op::Binary(op), vec![Some(a), Some(b)], vec![y]);
    quantize_output(ctx, y, [6, 7])?;
    Ok(Lowered::Done)
}

/// Inputs: X, x_scale, x_zero_point, y_scale, y_zero_point; `channels_last` must be 0.
fn qlinear_global_average_pool(ctx: &mut NodeCtx) -> Result<Lowered> {
    if ctx.flag("channels_last", false)? {
        return Err(ctx.unsupported("channels_last = 1 (NHWC input)"));
    }
    let x = dequantize(ctx, "x", [0, 1, 2], 1)?;
    let y = ctx.temp_value("float");
    ctx.emit("float", Op::GlobalAveragePool, vec![Some(x)], vec![y]);
    quantize_output(ctx, y, [3, 4])?;
    Ok(Lowered::Done)
}

/// Inputs: X, X_scale, x_zero_point?, y_scale, y_zero_point?. `opset` names the
/// Softmax it replaces: before 13 an axis other than the last meant "flatten from here",
/// which is not supported.
fn qlinear_softmax(ctx: &mut NodeCtx) -> Result<Lowered> {
    let axis = ctx.int_or("axis", -1)?;
    if ctx.int_or("opset", 13)? < 13 && axis != -1 {
        return Err(ctx.unsupported(format!("opset < 13 semantics with axis {axis} (2-D coercion)")));
    }
    let x = dequantize(ctx, "x", [0, 1, 2], 1)?;
    let y = ctx.temp_value("float");
    ctx.emit("float", Op::Softmax { axis }, vec![Some(x)], vec![y]);
    quantize_output(ctx, y, [3, 4])?;
    Ok(Lowered::Done)
}

/// Inputs: A, a_scale, a_zero_point?, B, b_scale, b_zero_point?, C?, y_scale?,
/// y_zero_point?; `Y = alpha · A' · B' + C`, with C an i32 bias at scale
/// `a_scale · b_scale`. Without y_scale the output is float.
fn qgemm(ctx: &mut NodeCtx) -> Result<Lowered> {
    let trans_b = ctx.flag("transB", false)?;
    let gemm = Gemm {
        alpha: ctx.float_or("alpha", 1.0)?,
        beta: 1.0,
        trans_a: ctx.flag("transA", false)?,
        trans_b,
    };
    let a = dequantize(ctx, "a", [0, 1, 2], 1)?;
    // A per-column b_scale runs along the output's columns: B's rows when transposed.
    let b = dequantize(ctx, "b", [3, 4, 5], if trans_b { 0 } else { 1 })?;
    let c = match ctx.input(6) {
        None => None,
        Some(bias) => {
            let (a_scale, b_scale) = (ctx.require_input(1)?, ctx.require_input(4)?);
            let scale = ctx.temp_value("bias_scale");
            let op = Op::Binary(BinaryOp::Mul);
            ctx.emit("bias_scale", op, vec![Some(a_scale), Some(b_scale)], vec![scale]);
            let c = ctx.temp_value("bias_float");
            let dq = Op::DequantizeLinear(QuantAxis { axis: -1 });
            ctx.emit("bias_float", dq, vec![Some(bias), Some(scale)], vec![c]);
            Some(c)
        }
    };
    let inputs = vec![Some(a), Some(b), c];
    if ctx.input(7).is_none() {
        let y = ctx.outputs[0];
        ctx.emit("float", Op::Gemm(gemm), inputs, vec![y]);
        return Ok(Lowered::Done);
    }
    let y = ctx.temp_value("float");
    ctx.emit("float", Op::Gemm(gemm), inputs, vec![y]);
    quantize_output(ctx, y, [7, 8])?;
    Ok(Lowered::Done)
}

/// `DequantizeLinear` of the quantized input at `indices` = (value, scale, zero point?).
fn dequantize(
    ctx: &mut NodeCtx,
    suffix: &str,
    [x, scale, zero_point]: [usize; 3],
    axis: i64,
) -> Result<ValueId> {
    let inputs = vec![
        Some(ctx.require_input(x)?),
        Some(ctx.require_input(scale)?),
        ctx.input(zero_point),
    ];
    let y = ctx.temp_value(&format!("{suffix}_float"));
    ctx.emit(
        &format!("{suffix}_float"),
        Op::DequantizeLinear(QuantAxis { axis }),
        inputs,
        vec![y],
    );
    Ok(y)
}

/// `QuantizeLinear` of `value` into the node's output, with the scale and zero point at
/// `indices`. An absent output zero point is a zero of the first input's type (the
/// contrib ops' rule; QuantizeLinear alone would default to u8).
fn quantize_output(ctx: &mut NodeCtx, value: ValueId, [scale, zero_point]: [usize; 2]) -> Result<()> {
    let scale = ctx.require_input(scale)?;
    let zero_point = match (ctx.input(zero_point), ctx.const_input(2)) {
        (Some(z), _) => Some(z),
        (None, Some(input_zero_point)) => {
            let zero = Tensor::zeros(input_zero_point.dtype(), vec![]);
            Some(ctx.add_const("zero_point", zero))
        }
        (None, None) => None,
    };
    let y = ctx.outputs[0];
    let op = Op::QuantizeLinear(QuantAxis { axis: 1 });
    ctx.emit(
        "quantize",
        op,
        vec![Some(value), Some(scale), zero_point],
        vec![y],
    );
    Ok(())
}
