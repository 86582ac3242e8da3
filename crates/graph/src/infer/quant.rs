//! Inference rules of the quantization ops, QDQ (QuantizeLinear, DequantizeLinear) and
//! QOperator (QLinearConv, QLinearMatMul, ConvInteger, MatMulInteger) forms.

use lowbit_tensor::DType;

use super::ctx::NodeCtx;
use super::linalg::matmul_shape;
use super::nn::{conv_shape, ConvInputs};
use super::normalize_axis;
use crate::ops::QuantAxis;
use crate::{Dim, Fact, Op, Result};

pub(super) fn infer(ctx: &NodeCtx) -> Result<Vec<Fact>> {
    let x = ctx.required(0, "x")?;
    match &ctx.node.op {
        Op::QuantizeLinear(axis) => {
            ctx.required(1, "y_scale")?;
            check_params(ctx, *axis, &[1, 2])?;
            // The output type is the zero point's; u8 when the zero point is omitted.
            let dtype = ctx.dtype(2).or(Some(DType::U8));
            Ok(vec![Fact {
                dtype,
                shape: x.shape.clone(),
            }])
        }
        Op::DequantizeLinear(axis) => {
            ctx.required(1, "x_scale")?;
            check_params(ctx, *axis, &[1, 2])?;
            Ok(vec![Fact {
                dtype: Some(DType::F32),
                shape: x.shape.clone(),
            }])
        }
        Op::DynamicQuantizeLinear => {
            let y = Fact {
                dtype: Some(DType::U8),
                shape: x.shape.clone(),
            };
            Ok(vec![y, Fact::known(DType::F32, &[]), Fact::known(DType::U8, &[])])
        }
        Op::QLinearConv(conv) => {
            let at = ConvInputs {
                x: 0,
                w: 3,
                bias: Some(8),
            };
            let shape = conv_shape(ctx, conv, at)?;
            Ok(vec![Fact {
                dtype: ctx.required(7, "y_zero_point")?.dtype,
                shape,
            }])
        }
        Op::QLinearMatMul => Ok(vec![Fact {
            dtype: ctx.required(7, "y_zero_point")?.dtype,
            shape: matmul_shape(ctx, 0, 3)?,
        }]),
        Op::ConvInteger(conv) => {
            let at = ConvInputs {
                x: 0,
                w: 1,
                bias: None,
            };
            Ok(vec![Fact {
                dtype: Some(DType::I32),
                shape: conv_shape(ctx, conv, at)?,
            }])
        }
        Op::MatMulInteger => {
            ctx.required(1, "B")?;
            Ok(vec![Fact {
                dtype: Some(DType::I32),
                shape: matmul_shape(ctx, 0, 1)?,
            }])
        }
        other => unreachable!("{} is not a quantization op", other.name()),
    }
}

/// Scale and zero point are scalars (per tensor) or 1-D with one entry per channel of
/// `axis`; both must agree.
fn check_params(ctx: &NodeCtx, axis: QuantAxis, params: &[usize]) -> Result<()> {
    let data = ctx.shape(0);
    let mut lengths = Vec::new();
    for &index in params {
        let Some(dims) = ctx.shape(index) else {
            continue;
        };
        match dims {
            [] => lengths.push(None),
            // One entry is per tensor, as ONNX Runtime reads it, and the axis is then
            // unused: its quantizer writes `[1]` scales for 1-D biases with the default
            // axis 1.
            [Dim::Known(1)] => lengths.push(None),
            [len] => {
                if let (Some(data), Dim::Known(len)) = (data, len) {
                    let axis = normalize_axis(ctx, axis.axis, data.len())?;
                    if data[axis].known().is_some_and(|c| c != *len) {
                        return Err(ctx.error(format!(
                            "{} has {len} entries but axis {axis} of {} has {}",
                            ctx.describe(index),
                            ctx.describe(0),
                            data[axis]
                        )));
                    }
                }
                lengths.push(len.known());
            }
            _ => {
                return Err(ctx.error(format!(
                    "{} must be a scalar or a 1-D per-channel vector",
                    ctx.describe(index)
                )));
            }
        }
    }
    if lengths.windows(2).any(|w| w[0] != w[1]) {
        return Err(ctx.error("scale and zero point have different shapes"));
    }
    Ok(())
}
