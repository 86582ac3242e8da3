//! The ONNX quantization ops, in QDQ form (QuantizeLinear/DequantizeLinear) and
//! QOperator form (QLinearConv, QLinearMatMul, ConvInteger, MatMulInteger).

use lowbit_graph::ops::QuantAxis;
use lowbit_graph::Op;
use lowbit_tensor::Tensor;

use super::window::{kernel_from_weight, window};
use super::Registry;
use crate::import::context::{Lowered, NodeCtx};
use crate::tensor_proto::{dtype_from_onnx, onnx_dtype_name};
use crate::Result;

pub(super) fn register_all_ops(registry: &mut Registry) {
    registry.register("QuantizeLinear", quantize_linear);
    registry.register("DequantizeLinear", dequantize_linear);
    registry.register("DynamicQuantizeLinear", |_| {
        Ok(Lowered::Op(Op::DynamicQuantizeLinear))
    });
    registry.register("QLinearConv", qlinear_conv);
    registry.register("QLinearMatMul", |_| Ok(Lowered::Op(Op::QLinearMatMul)));
    registry.register("ConvInteger", conv_integer);
    registry.register("MatMulInteger", |_| Ok(Lowered::Op(Op::MatMulInteger)));
}

/// `axis` (default 1) selects the channel of per-channel parameters. Opset 21 blocked
/// quantization is not supported.
fn quant_axis(ctx: &NodeCtx) -> Result<QuantAxis> {
    if ctx.int_or("block_size", 0)? != 0 {
        return Err(ctx.unsupported("blocked quantization (block_size)"));
    }
    Ok(QuantAxis {
        axis: ctx.int_or("axis", 1)?,
    })
}

/// Opset 21 may name the output type with `output_dtype` instead of a zero point; it
/// becomes a zero zero-point of that type, which means the same.
fn quantize_linear(ctx: &mut NodeCtx) -> Result<Lowered> {
    let axis = quant_axis(ctx)?;
    let code = ctx.int_or("output_dtype", 0)? as i32;
    if code != 0 && ctx.input(2).is_none() {
        let dtype = dtype_from_onnx(code)
            .filter(|d| d.is_integer())
            .ok_or_else(|| ctx.unsupported(format!("output_dtype {}", onnx_dtype_name(code))))?;
        ctx.set_const_input(2, "zero_point", Tensor::zeros(dtype, vec![]));
    }
    Ok(Lowered::Op(Op::QuantizeLinear(axis)))
}

fn dequantize_linear(ctx: &mut NodeCtx) -> Result<Lowered> {
    Ok(Lowered::Op(Op::DequantizeLinear(quant_axis(ctx)?)))
}

/// Inputs: x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, b?
fn qlinear_conv(ctx: &mut NodeCtx) -> Result<Lowered> {
    let kernel = kernel_from_weight(ctx, 3)?;
    let group = ctx.usize_or("group", 1)?;
    Ok(Lowered::Op(Op::QLinearConv(
        window(ctx, kernel, 0)?.into_conv(group.max(1)),
    )))
}

/// Inputs: x, w, x_zp?, w_zp?
fn conv_integer(ctx: &mut NodeCtx) -> Result<Lowered> {
    let kernel = kernel_from_weight(ctx, 1)?;
    let group = ctx.usize_or("group", 1)?;
    Ok(Lowered::Op(Op::ConvInteger(
        window(ctx, kernel, 0)?.into_conv(group.max(1)),
    )))
}
