//! Convolution, pooling, normalisation, softmax and dropout.

use lowbit_graph::ops::{BatchNorm, BinaryOp, ConstantOfShape, LayerNorm, Pool, Reduce, ReduceKind, UnaryOp};
use lowbit_graph::Op;
use lowbit_tensor::Tensor;

use super::window::{kernel_from_weight, window};
use super::Registry;
use crate::import::context::{Lowered, NodeCtx};
use crate::Result;

pub(super) fn register_all_ops(registry: &mut Registry) {
    registry.register("Conv", conv);
    registry.register("BatchNormalization", batch_norm);
    registry.register("MaxPool", max_pool);
    registry.register("AveragePool", average_pool);
    registry.register("GlobalAveragePool", |_| Ok(Lowered::Op(Op::GlobalAveragePool)));
    registry.register("GlobalMaxPool", |_| Ok(Lowered::Op(Op::GlobalMaxPool)));
    registry.register("Softmax", softmax);
    registry.register("LogSoftmax", softmax);
    registry.register("LayerNormalization", layer_norm);
    registry.register("Dropout", dropout);
}

fn conv(ctx: &mut NodeCtx) -> Result<Lowered> {
    let kernel = kernel_from_weight(ctx, 1)?;
    let group = ctx.usize_or("group", 1)?;
    let conv = window(ctx, kernel, 0)?.into_conv(group.max(1));
    Ok(Lowered::Op(Op::Conv(conv)))
}

/// Fails when the node asks for outputs lowbit does not produce (training statistics,
/// pooling indices).
fn single_output(ctx: &NodeCtx, what: &str) -> Result<()> {
    if ctx.outputs.len() > 1 {
        return Err(ctx.unsupported(format!("the optional {what} output")));
    }
    Ok(())
}

fn batch_norm(ctx: &mut NodeCtx) -> Result<Lowered> {
    // Opsets before 9 could normalise per element instead of per channel.
    if ctx.opset < 9 && !ctx.flag("spatial", true)? {
        return Err(ctx.unsupported("spatial=0 (per-element statistics)"));
    }
    if ctx.flag("training_mode", false)? {
        return Err(ctx.unsupported("training_mode=1"));
    }
    single_output(ctx, "running statistics")?;
    Ok(Lowered::Op(Op::BatchNorm(BatchNorm {
        epsilon: ctx.float_or("epsilon", 1e-5)?,
        momentum: ctx.float_or("momentum", 0.9)?,
    })))
}

fn pool(ctx: &NodeCtx) -> Result<Pool> {
    let window = window(ctx, None, 0)?;
    Ok(Pool {
        kernel: window.kernel,
        strides: window.strides,
        pads: window.pads,
        dilations: window.dilations,
        ceil_mode: ctx.flag("ceil_mode", false)?,
        count_include_pad: ctx.flag("count_include_pad", false)?,
    })
}

fn max_pool(ctx: &mut NodeCtx) -> Result<Lowered> {
    single_output(ctx, "Indices")?;
    Ok(Lowered::Op(Op::MaxPool(pool(ctx)?)))
}

fn average_pool(ctx: &mut NodeCtx) -> Result<Lowered> {
    Ok(Lowered::Op(Op::AveragePool(pool(ctx)?)))
}

/// Softmax and LogSoftmax. Since opset 13 `axis` (default -1) is the one reduced axis.
/// Before, the input was flattened to 2-D at `axis` (default 1) and normalised over
/// the second part; when that is not simply the last axis, the node becomes
/// Flatten → Softmax → Reshape back to the input's shape.
fn softmax(ctx: &mut NodeCtx) -> Result<Lowered> {
    let make = |axis: i64, log: bool| {
        if log {
            Op::LogSoftmax { axis }
        } else {
            Op::Softmax { axis }
        }
    };
    let log = ctx.op_type() == "LogSoftmax";
    if ctx.opset >= 13 {
        return Ok(Lowered::Op(make(ctx.int_or("axis", -1)?, log)));
    }
    let axis = ctx.int_or("axis", 1)?;
    let rank = ctx
        .input_fact(0)
        .and_then(|f| f.shape.as_ref())
        .map(|s| s.len() as i64);
    if axis == -1 || rank == Some(axis + 1) {
        return Ok(Lowered::Op(make(-1, log)));
    }
    let x = ctx.require_input(0)?;
    let y = ctx.outputs[0];
    let shape = ctx.temp_value("shape");
    let flat = ctx.temp_value("flat");
    let normalised = ctx.temp_value("normalised");
    ctx.emit(
        "shape",
        Op::Shape { start: 0, end: None },
        vec![Some(x)],
        vec![shape],
    );
    ctx.emit("flatten", Op::Flatten { axis }, vec![Some(x)], vec![flat]);
    ctx.emit("softmax", make(1, log), vec![Some(flat)], vec![normalised]);
    ctx.emit(
        "reshape",
        Op::Reshape { allowzero: false },
        vec![Some(normalised), Some(shape)],
        vec![y],
    );
    Ok(Lowered::Done)
}

/// The optional Mean and InvStdDev outputs are computed by helper nodes
/// (ReduceMean, and 1/sqrt(mean((x - mean)^2) + epsilon)), which needs the input's rank.
fn layer_norm(ctx: &mut NodeCtx) -> Result<Lowered> {
    let norm = LayerNorm {
        axis: ctx.int_or("axis", -1)?,
        epsilon: ctx.float_or("epsilon", 1e-5)?,
    };
    if ctx.outputs.len() > 1 {
        statistics_outputs(ctx, &norm)?;
        ctx.outputs.truncate(1);
    }
    Ok(Lowered::Op(Op::LayerNorm(norm)))
}

fn statistics_outputs(ctx: &mut NodeCtx, norm: &LayerNorm) -> Result<()> {
    let rank = ctx
        .input_fact(0)
        .and_then(|f| f.shape.as_ref())
        .map(|s| s.len() as i64)
        .ok_or_else(|| ctx.unsupported("the Mean/InvStdDev outputs of an input of unknown rank"))?;
    let axis = if norm.axis < 0 {
        norm.axis + rank
    } else {
        norm.axis
    };
    if !(0..rank).contains(&axis) {
        return Err(ctx.bad_attr("axis", format!("{} is out of range for rank {rank}", norm.axis)));
    }
    let mean_over = |axes: Vec<i64>| {
        Op::Reduce(Reduce {
            kind: ReduceKind::Mean,
            axes: Some(axes),
            keepdims: true,
            noop_with_empty_axes: false,
        })
    };
    let axes: Vec<i64> = (axis..rank).collect();
    let x = ctx.require_input(0)?;
    let mean = match ctx.outputs.get(1) {
        Some(&mean) => mean,
        None => ctx.temp_value("mean"),
    };
    ctx.emit("mean", mean_over(axes.clone()), vec![Some(x)], vec![mean]);
    let Some(&inv_std_dev) = ctx.outputs.get(2) else {
        return Ok(());
    };
    let centred = ctx.temp_value("centred");
    let squared = ctx.temp_value("squared");
    let variance = ctx.temp_value("variance");
    let shifted = ctx.temp_value("shifted");
    let std_dev = ctx.temp_value("std_dev");
    let epsilon = ctx.add_const("epsilon", Tensor::scalar(norm.epsilon));
    let steps = [
        ("centred", Op::Binary(BinaryOp::Sub), vec![x, mean], centred),
        (
            "squared",
            Op::Binary(BinaryOp::Mul),
            vec![centred, centred],
            squared,
        ),
        ("variance", mean_over(axes), vec![squared], variance),
        (
            "shifted",
            Op::Binary(BinaryOp::Add),
            vec![variance, epsilon],
            shifted,
        ),
        ("std_dev", Op::Unary(UnaryOp::Sqrt), vec![shifted], std_dev),
        (
            "inv_std_dev",
            Op::Unary(UnaryOp::Reciprocal),
            vec![std_dev],
            inv_std_dev,
        ),
    ];
    for (suffix, op, inputs, output) in steps {
        ctx.emit(suffix, op, inputs.into_iter().map(Some).collect(), vec![output]);
    }
    Ok(())
}

/// Inference-only Dropout: the identity. The ratio moved from an attribute to an input
/// at opset 12; the optional mask output is all `true` and is built from the input's shape.
fn dropout(ctx: &mut NodeCtx) -> Result<Lowered> {
    let ratio = if ctx.opset < 12 {
        ctx.float_or("ratio", 0.5)?
    } else {
        ctx.const_input(1)
            .map_or(0.5, |t| t.to_f32_vec().first().copied().unwrap_or(0.5))
    };
    if ctx
        .const_input(2)
        .is_some_and(|t| t.to_f32_vec().first() == Some(&1.0))
    {
        return Err(ctx.unsupported("training_mode=true"));
    }
    if ctx.input(2).is_some() && ctx.const_input(2).is_none() {
        return Err(ctx.unsupported("a training_mode input computed at run time"));
    }
    ctx.truncate_inputs(1);
    if let Some(&mask) = ctx.outputs.get(1) {
        let x = ctx.require_input(0)?;
        let shape = ctx.temp_value("shape");
        ctx.emit(
            "shape",
            Op::Shape { start: 0, end: None },
            vec![Some(x)],
            vec![shape],
        );
        let value = Tensor::new(vec![1], vec![true]).map_err(|e| ctx.error(e.to_string()))?;
        ctx.emit(
            "mask",
            Op::ConstantOfShape(ConstantOfShape { value }),
            vec![Some(shape)],
            vec![mask],
        );
        ctx.outputs.truncate(1);
    }
    Ok(Lowered::Op(Op::Dropout { ratio }))
}
