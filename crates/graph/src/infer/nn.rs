//! Inference rules of convolution, pooling, normalisation and the other `nn` ops.

use super::broadcast::{compatible, format_dims};
use super::ctx::NodeCtx;
use super::normalize_axis;
use crate::ops::{Conv, Pool};
use crate::{Dim, Fact, Op, Result};
use lowbit_tensor::DType;

pub(super) fn infer(ctx: &NodeCtx) -> Result<Vec<Fact>> {
    let x = ctx.required(0, "X")?;
    let same = || vec![x.clone()];
    match &ctx.node.op {
        Op::Conv(conv) => {
            check_same_dtype(ctx, 0, 1)?;
            let shape = conv_shape(
                ctx,
                conv,
                ConvInputs {
                    x: 0,
                    w: 1,
                    bias: Some(2),
                },
            )?;
            Ok(vec![Fact {
                dtype: x.dtype,
                shape,
            }])
        }
        Op::BatchNorm(_) => batch_norm(ctx, x),
        Op::MaxPool(pool) | Op::AveragePool(pool) => {
            let shape = pool_shape(ctx, pool)?;
            // MaxPool's optional second output holds flat indices.
            let indices = Fact {
                dtype: Some(DType::I64),
                shape: shape.clone(),
            };
            Ok(vec![
                Fact {
                    dtype: x.dtype,
                    shape,
                },
                indices,
            ])
        }
        Op::GlobalAveragePool | Op::GlobalMaxPool => {
            let shape = match &x.shape {
                Some(dims) => {
                    require_min_rank(ctx, dims, 3, "N, C and spatial dimensions")?;
                    let spatial = dims.len() - 2;
                    Some(
                        dims[..2]
                            .iter()
                            .cloned()
                            .chain(vec![Dim::Known(1); spatial])
                            .collect(),
                    )
                }
                None => None,
            };
            Ok(vec![Fact {
                dtype: x.dtype,
                shape,
            }])
        }
        Op::Softmax { axis } | Op::LogSoftmax { axis } => {
            if let Some(rank) = ctx.rank(0) {
                normalize_axis(ctx, *axis, rank)?;
            }
            Ok(same())
        }
        Op::LayerNorm(norm) => {
            let Some(dims) = &x.shape else {
                return Ok(same());
            };
            let axis = normalize_axis(ctx, norm.axis, dims.len())?;
            for index in [1, 2] {
                if let Some(param) = ctx.shape(index) {
                    if param.len() > dims.len() - axis {
                        return Err(ctx.error(format!(
                            "{} has more dimensions than the normalised part {} of the input",
                            ctx.describe(index),
                            format_dims(&dims[axis..])
                        )));
                    }
                }
            }
            // Mean and InvStdDev keep the rank, with the normalised axes reduced to 1.
            let stats: Vec<Dim> = (0..dims.len())
                .map(|i| if i < axis { dims[i].clone() } else { Dim::Known(1) })
                .collect();
            let stat = Fact::new(DType::F32, stats);
            Ok(vec![x.clone(), stat.clone(), stat])
        }
        Op::Dropout { .. } => {
            let mask = Fact {
                dtype: Some(DType::Bool),
                shape: x.shape.clone(),
            };
            Ok(vec![x.clone(), mask])
        }
        other => unreachable!("{} is not an nn op", other.name()),
    }
}

/// Where the operands of a convolution sit among the node's inputs (QLinearConv and
/// ConvInteger interleave them with quantization parameters).
pub(super) struct ConvInputs {
    pub x: usize,
    pub w: usize,
    pub bias: Option<usize>,
}

/// Output shape of a 2-D convolution, checking the weight and bias against the input.
pub(super) fn conv_shape(ctx: &NodeCtx, conv: &Conv, at: ConvInputs) -> Result<Option<Vec<Dim>>> {
    check_window(ctx, conv.kernel, conv.strides, conv.dilations)?;
    if conv.group == 0 {
        return Err(ctx.error("group must be at least 1"));
    }
    let group = conv.group;
    let weight = ctx.required(at.w, "W")?.shape.as_deref();
    let mut out_channels = None;
    if let Some(w) = weight {
        if w.len() != 4 {
            return Err(ctx.error(format!(
                "the weight {} must be 4-D [out_channels, in_channels/group, kh, kw]",
                ctx.describe(at.w)
            )));
        }
        let kernel = [Dim::Known(conv.kernel[0]), Dim::Known(conv.kernel[1])];
        if !compatible(&w[2], &kernel[0]) || !compatible(&w[3], &kernel[1]) {
            return Err(ctx.error(format!(
                "the weight {} does not match kernel_shape {:?}",
                ctx.describe(at.w),
                conv.kernel
            )));
        }
        if let Dim::Known(m) = w[0] {
            if m % group != 0 {
                return Err(ctx.error(format!("{m} output channels cannot be split into {group} groups")));
            }
        }
        out_channels = Some(w[0].clone());
    }
    if let (Some(b), Some(m)) = (at.bias, &out_channels) {
        let bad = |bias: &[Dim]| bias.len() != 1 || !compatible(&bias[0], m);
        if ctx.shape(b).is_some_and(bad) {
            return Err(ctx.error(format!(
                "the bias {} must be 1-D with one value per output channel ({m})",
                ctx.describe(b)
            )));
        }
    }
    let Some(x) = ctx.shape(at.x) else {
        return Ok(None);
    };
    if x.len() != 4 {
        return Err(ctx.error(format!("expects a 4-D NCHW input, got {}", ctx.describe(at.x))));
    }
    if let (Dim::Known(c), Some(w)) = (&x[1], weight) {
        if let Dim::Known(per_group) = w[1] {
            if *c != per_group * group {
                return Err(ctx.error(format!(
                    "the input {} has {c} channels but the weight {} with group {group} expects {}",
                    ctx.describe(at.x),
                    ctx.describe(at.w),
                    per_group * group
                )));
            }
        }
    }
    let Some(m) = out_channels else {
        return Ok(None);
    };
    let spans = [0, 1].map(|i| conv.dilations[i] * (conv.kernel[i] - 1) + 1);
    let hw = spatial_out(ctx, &x[2..], spans, conv.strides, conv.pads, |h, w| {
        conv.output_hw(h, w)
    })?;
    Ok(hw.map(|[h, w]| vec![x[0].clone(), m, h, w]))
}

fn pool_shape(ctx: &NodeCtx, pool: &Pool) -> Result<Option<Vec<Dim>>> {
    check_window(ctx, pool.kernel, pool.strides, pool.dilations)?;
    let Some(x) = ctx.shape(0) else {
        return Ok(None);
    };
    if x.len() != 4 {
        return Err(ctx.error(format!("expects a 4-D NCHW input, got {}", ctx.describe(0))));
    }
    let spans = [0, 1].map(|i| pool.dilations[i] * (pool.kernel[i] - 1) + 1);
    let hw = spatial_out(ctx, &x[2..], spans, pool.strides, pool.pads, |h, w| {
        pool.output_hw(h, w)
    })?;
    Ok(hw.map(|[h, w]| vec![x[0].clone(), x[1].clone(), h, w]))
}

fn check_window(ctx: &NodeCtx, kernel: [usize; 2], strides: [usize; 2], dilations: [usize; 2]) -> Result<()> {
    if kernel.contains(&0) || strides.contains(&0) || dilations.contains(&0) {
        return Err(ctx.error(format!(
            "kernel {kernel:?}, strides {strides:?} and dilations {dilations:?} must all be at least 1"
        )));
    }
    Ok(())
}

/// Output height and width of a sliding window. Known sizes go through `output_hw`
/// after checking the window fits; a symbolic size survives only where the window
/// preserves it (stride 1 and padding that covers the span), otherwise `None`.
fn spatial_out(
    ctx: &NodeCtx,
    hw: &[Dim],
    spans: [usize; 2],
    strides: [usize; 2],
    pads: [usize; 4],
    output_hw: impl Fn(usize, usize) -> (usize, usize),
) -> Result<Option<[Dim; 2]>> {
    for axis in 0..2 {
        if let Dim::Known(size) = hw[axis] {
            let padded = size + pads[axis] + pads[axis + 2];
            if padded < spans[axis] {
                return Err(ctx.error(format!(
                    "the input {} is too small: {} {size} plus padding {padded} is less than the window span {}",
                    ctx.describe(0),
                    ["height", "width"][axis],
                    spans[axis]
                )));
            }
        }
    }
    if let (Dim::Known(h), Dim::Known(w)) = (&hw[0], &hw[1]) {
        let (oh, ow) = output_hw(*h, *w);
        return Ok(Some([Dim::Known(oh), Dim::Known(ow)]));
    }
    let preserves = |axis: usize| strides[axis] == 1 && pads[axis] + pads[axis + 2] + 1 == spans[axis];
    if matches!(hw[0], Dim::Sym(_)) && matches!(hw[1], Dim::Sym(_)) && preserves(0) && preserves(1) {
        return Ok(Some([hw[0].clone(), hw[1].clone()]));
    }
    Ok(None)
}

fn batch_norm(ctx: &NodeCtx, x: &Fact) -> Result<Vec<Fact>> {
    let channels = match &x.shape {
        Some(dims) => {
            require_min_rank(ctx, dims, 2, "N and C")?;
            Some(dims[1].clone())
        }
        None => None,
    };
    let names = ["scale", "B", "input_mean", "input_var"];
    for (index, name) in (1..5).zip(names) {
        let param = ctx.required(index, name)?;
        if let (Some(dims), Some(c)) = (&param.shape, &channels) {
            if dims.len() != 1 || !compatible(&dims[0], c) {
                return Err(ctx.error(format!(
                    "{name} {} must be 1-D with one value per channel ({c})",
                    ctx.describe(index)
                )));
            }
        }
    }
    // Training mode's running mean and variance outputs are per channel.
    let stats = Fact {
        dtype: x.dtype,
        shape: channels.map(|c| vec![c]),
    };
    Ok(vec![x.clone(), stats.clone(), stats])
}

fn require_min_rank(ctx: &NodeCtx, dims: &[Dim], rank: usize, what: &str) -> Result<()> {
    if dims.len() < rank {
        return Err(ctx.error(format!(
            "expects an input of rank {rank} or more ({what}), got {}",
            ctx.describe(0)
        )));
    }
    Ok(())
}

/// Two inputs that must hold the same element type.
pub(super) fn check_same_dtype(ctx: &NodeCtx, a: usize, b: usize) -> Result<()> {
    if let (Some(x), Some(y)) = (ctx.dtype(a), ctx.dtype(b)) {
        if x != y {
            return Err(ctx.error(format!(
                "inputs {} and {} must have the same dtype",
                ctx.describe(a),
                ctx.describe(b)
            )));
        }
    }
    Ok(())
}
