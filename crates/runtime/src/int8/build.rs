//! Builds the conv and linear kernels of matched patterns from their constants: i8 (or u8)
//! weights, per-channel scales, bias, and the requantization multipliers
//! `x_scale · w_scale[c] / y_scale`.

use std::borrow::Cow;

use lowbit_graph::ops::Conv as ConvAttrs;
use lowbit_graph::{Node, Op, ValueId};
use lowbit_kernels::int8::ops::{
    i8_view, ConvGeometry, Layout, LinearWeights, OutputType, QConv2d, QConvParams, QLinear,
    QLinearDequantized, QLinearParams, QParams, SIGN_FLIP_SHIFT,
};
use lowbit_kernels::int8::requant::PerChannel;
use lowbit_kernels::int8::WeightLayout;
use lowbit_tensor::{DType, Tensor};

use super::kernel::Int8Kernel;
use super::matching::Matcher;
use super::params::{integers, NodeQuant};

type Built = (Vec<Option<ValueId>>, Int8Kernel);

/// i8 weights with one scale and zero point per output channel.
struct Weights<'g> {
    values: Cow<'g, [i8]>,
    shape: &'g [usize],
    scales: Vec<f32>,
    zero_points: Vec<i32>,
}

/// `DequantizeLinear(W_i8)` whose parameters are per-tensor or per-channel on
/// `channel_axis`, the output-channel axis of the weights.
fn qdq_weights<'g>(m: &Matcher<'g>, v: ValueId, channel_axis: usize) -> Option<Weights<'g>> {
    let (w, wq) = m.constant(v)?;
    weights(w, &wq, channel_axis)
}

fn weights<'g>(w: &'g Tensor, wq: &NodeQuant, channel_axis: usize) -> Option<Weights<'g>> {
    let shape = w.shape();
    let channels = *shape.get(channel_axis)?;
    let (scales, mut zero_points) = wq.per_channel(channel_axis, shape.len(), channels)?;
    let values = match w.dtype() {
        DType::I8 => Cow::Borrowed(w.as_slice::<i8>().ok()?),
        // u8 weights (ONNX Runtime's `QUInt8`) in their i8 view: the top bit flipped
        // subtracts 128 from values and zero points alike.
        DType::U8 => {
            zero_points.iter_mut().for_each(|z| *z -= SIGN_FLIP_SHIFT);
            Cow::Owned(i8_view(w.as_slice::<u8>().ok()?))
        }
        _ => return None,
    };
    Some(Weights {
        values,
        shape,
        scales,
        zero_points,
    })
}

/// The bias as i32 at scale `x_scale · w_scale[c]`: a DequantizeLinear'd i32 constant
/// whose scale already is that product is used as is; any other bias (an f32 constant,
/// or an i32 one at another scale) is quantized with round-half-even.
fn bias(m: &Matcher, v: Option<ValueId>, x_scale: f32, w_scales: &[f32]) -> Option<Option<Vec<i32>>> {
    let Some(v) = v else { return Some(None) };
    let n = w_scales.len();
    let target: Vec<f32> = w_scales.iter().map(|&ws| x_scale * ws).collect();
    let real: Vec<f32> = if let Some(t) = m.graph.initializer(v) {
        t.as_slice::<f32>().ok()?.to_vec()
    } else {
        let (t, bq) = m.constant(v)?;
        let values = integers(t).filter(|_| t.dtype() == DType::I32)?;
        let (scales, zps) = bq.per_channel(0, 1, values.len())?;
        if zps.iter().any(|&z| z != 0) || values.len() != n {
            return None;
        }
        let exact = scales.iter().zip(&target).all(|(s, t)| (s - t).abs() <= t * 1e-6);
        if exact {
            return Some(Some(values));
        }
        values.iter().zip(&scales).map(|(&b, &s)| b as f32 * s).collect()
    };
    if real.len() != n {
        return None;
    }
    let q = real
        .iter()
        .zip(&target)
        .map(|(&b, &t)| {
            (f64::from(b) / f64::from(t))
                .round_ties_even()
                .clamp(i32::MIN.into(), i32::MAX.into()) as i32
        })
        .collect();
    Some(Some(q))
}

fn multipliers(x_scale: f32, w_scales: &[f32], y_scale: f32) -> Vec<f32> {
    w_scales.iter().map(|&ws| x_scale * ws / y_scale).collect()
}

/// Logs why a matched pattern stays in f32 when its kernel rejects the constants.
fn built<T, E: std::fmt::Display>(node: &Node, r: Result<T, E>) -> Option<T> {
    r.map_err(|e| log::warn!("node '{}' ({}) stays in f32: {e}", node.name, node.op.name()))
        .ok()
}

#[allow(clippy::too_many_arguments)]
fn conv_kernel(
    m: &Matcher,
    node: &Node,
    attrs: &ConvAttrs,
    x: QParams,
    w: &Weights,
    bias: Option<Vec<i32>>,
    y: QParams,
    range: (i32, i32),
    output_type: OutputType,
) -> Option<Int8Kernel> {
    if w.shape.len() != 4 || !(attrs.kernel == [w.shape[2], w.shape[3]] || attrs.kernel == [0, 0]) {
        return None;
    }
    let geometry = ConvGeometry {
        in_channels: w.shape[1] * attrs.group,
        out_channels: w.shape[0],
        kernel: [w.shape[2], w.shape[3]],
        strides: attrs.strides,
        pads: attrs.pads,
        dilations: attrs.dilations,
        group: attrs.group,
    };
    let multiplier = multipliers(x.scale, &w.scales, y.scale);
    let params = QConvParams {
        weights: &w.values,
        weight_zero_points: PerChannel::Each(&w.zero_points),
        input_zero_point: u8::try_from(x.zero_point).ok()?,
        bias: bias.as_deref(),
        multiplier: PerChannel::Each(&multiplier),
        output_zero_point: y.zero_point,
        output_range: range,
        output_type,
    };
    let kernel = built(node, QConv2d::new(m.tier, geometry, &params))?;
    Some(Int8Kernel::Conv {
        kernel,
        output: output_type,
        layouts: (Layout::Nchw, Layout::Nchw),
    })
}

/// DQ(x) → Conv(·, DQ(W_i8), bias?) ⇒ QConv2d.
pub(super) fn conv(
    m: &Matcher,
    node: &Node,
    attrs: &ConvAttrs,
    y: QParams,
    range: (i32, i32),
    output_type: OutputType,
) -> Option<Built> {
    let (x, xp) = m.activation(node.input(0)?)?;
    let w = qdq_weights(m, node.input(1)?, 0)?;
    let b = bias(m, node.input(2), xp.scale, &w.scales)?;
    let kernel = conv_kernel(m, node, attrs, xp, &w, b, y, range, output_type)?;
    Some((vec![Some(x)], kernel))
}

/// DQ(x_q) → 1×1 Conv(DQ(W), bias?) whose float output f32 ops read (the producer of
/// an FP32 fallback, whose output lowbit leaves unrounded): the integer product,
/// dequantized per output channel, so that only the fallback itself runs in f32.
pub(super) fn pointwise_to_float(m: &Matcher, node: &Node, attrs: &ConvAttrs) -> Option<Built> {
    let pointwise = attrs.kernel == [1, 1] && attrs.strides == [1, 1] && attrs.pads == [0; 4];
    if !pointwise || attrs.dilations != [1, 1] || attrs.group != 1 {
        return None;
    }
    let (x, xp) = m.activation(node.input(0)?)?;
    let w = qdq_weights(m, node.input(1)?, 0).filter(|w| w.shape.len() == 4)?;
    let (out_channels, in_channels) = (w.shape[0], w.shape[1]);
    // The i32 bias at `x_scale · w_scale[c]`, back in float: the file's own values.
    let bias = bias(m, node.input(2), xp.scale, &w.scales)?.map(|b| {
        b.iter()
            .zip(&w.scales)
            .map(|(&v, &s)| v as f32 * (xp.scale * s))
            .collect::<Vec<f32>>()
    });
    let weights = LinearWeights {
        k: in_channels,
        n: out_channels,
        layout: WeightLayout::NByK,
        values: &w.values,
        zero_points: PerChannel::Each(&w.zero_points),
    };
    let kernel =
        QLinearDequantized::new(m.tier, weights, PerChannel::Each(&w.scales), bias.as_deref()).ok()?;
    let kernel = Int8Kernel::PointwiseToFloat {
        kernel,
        x: xp,
        channels: (in_channels, out_channels),
        input: Layout::Nchw,
    };
    Some((vec![Some(x)], kernel))
}

#[allow(clippy::too_many_arguments)]
fn linear_kernel(
    m: &Matcher,
    node: &Node,
    x: QParams,
    w: &Weights,
    layout: WeightLayout,
    bias: Option<Vec<i32>>,
    y: QParams,
    range: (i32, i32),
    output_type: OutputType,
) -> Option<Int8Kernel> {
    let (k, n) = match layout {
        WeightLayout::KByN => (w.shape[0], w.shape[1]),
        WeightLayout::NByK => (w.shape[1], w.shape[0]),
    };
    let multiplier = multipliers(x.scale, &w.scales, y.scale);
    let params = QLinearParams {
        weights: LinearWeights {
            k,
            n,
            layout,
            values: &w.values,
            zero_points: PerChannel::Each(&w.zero_points),
        },
        input_zero_point: u8::try_from(x.zero_point).ok()?,
        bias: bias.as_deref(),
        multiplier: PerChannel::Each(&multiplier),
        output_zero_point: y.zero_point,
        output_range: range,
        output_type,
    };
    let kernel = built(node, QLinear::new(m.tier, &params))?;
    Some(Int8Kernel::Linear {
        kernel,
        k,
        n,
        output: output_type,
    })
}

/// DQ(x) → Gemm(·, DQ(B_i8), C?) or MatMul(·, DQ(B_i8)) ⇒ QLinear. Gemm must be a plain
/// product (alpha = beta = 1, A not transposed); B is 2-D.
pub(super) fn linear(
    m: &Matcher,
    node: &Node,
    y: QParams,
    range: (i32, i32),
    output_type: OutputType,
) -> Option<Built> {
    let (x, xp) = m.activation(node.input(0)?)?;
    let (layout, bias_input) = match &node.op {
        Op::Gemm(g) if g.alpha == 1.0 && g.beta == 1.0 && !g.trans_a => (
            if g.trans_b {
                WeightLayout::NByK
            } else {
                WeightLayout::KByN
            },
            node.input(2),
        ),
        Op::MatMul => (WeightLayout::KByN, None),
        _ => return None,
    };
    let channel_axis = if layout == WeightLayout::NByK { 0 } else { 1 };
    let w = qdq_weights(m, node.input(1)?, channel_axis).filter(|w| w.shape.len() == 2)?;
    let b = bias(m, bias_input, xp.scale, &w.scales)?;
    let kernel = linear_kernel(m, node, xp, &w, layout, b, y, range, output_type)?;
    Some((vec![Some(x)], kernel))
}

/// The constant parameters of a QOperator node: `(x params, weights' NodeQuant, y params,
/// output type)`, read from inputs `x_s, x_zp` at 1, 2, `w, w_s, w_zp` at 3, 4, 5 and
/// `y_s, y_zp` at 6, 7.
fn qoperator_params<'g>(
    m: &Matcher<'g>,
    node: &Node,
) -> Option<(QParams, &'g Tensor, NodeQuant, QParams, OutputType)> {
    let constant = |i: usize| node.input(i).and_then(|v| m.graph.initializer(v));
    let scalar = |i: usize| -> Option<f32> {
        let s = constant(i)?.as_slice::<f32>().ok()?;
        (s.len() == 1).then(|| s[0])
    };
    let zero_point = |i: usize| -> Option<(i32, DType)> {
        match constant(i) {
            None if node.input(i).is_none() => Some((0, DType::U8)),
            None => None,
            Some(t) => {
                let v = integers(t)?;
                (v.len() == 1).then(|| (v[0], t.dtype()))
            }
        }
    };
    let (x_zp, x_type) = zero_point(2)?;
    let (y_zp, y_type) = zero_point(7)?;
    let output_type = match y_type {
        DType::U8 => OutputType::U8,
        DType::I8 => OutputType::I8,
        _ => return None,
    };
    let w = constant(3)?;
    let w_scales = constant(4)?.as_slice::<f32>().ok()?.to_vec();
    let w_zps = match node.input(5) {
        None => vec![0; w_scales.len()],
        Some(v) => integers(m.graph.initializer(v)?)?,
    };
    let w_zps = if w_zps.len() == 1 {
        vec![w_zps[0]; w_scales.len()]
    } else {
        w_zps
    };
    let wq = NodeQuant {
        scales: w_scales,
        zero_points: w_zps,
        dtype: w.dtype(),
        axis: 0,
    };
    // An i8 input is read in its u8 view (see `kernel.rs`), its zero point moved with it.
    let x_shift = match x_type {
        DType::U8 => 0,
        DType::I8 => SIGN_FLIP_SHIFT,
        _ => return None,
    };
    if !matches!(w.dtype(), DType::I8 | DType::U8) || wq.zero_points.len() != wq.scales.len() {
        return None;
    }
    Some((
        QParams::new(scalar(1)?, x_zp + x_shift),
        w,
        wq,
        QParams::new(scalar(6)?, y_zp),
        output_type,
    ))
}

/// QLinearConv with constant weights, scales, zero points and bias ⇒ QConv2d.
pub(super) fn qlinear_conv(m: &Matcher, node: &Node, attrs: &ConvAttrs) -> Option<Built> {
    let (xp, w, wq, yp, output_type) = qoperator_params(m, node)?;
    let w = weights(w, &wq, 0)?;
    let bias = match node.input(8) {
        None => None,
        Some(v) => Some(m.graph.initializer(v)?.as_slice::<i32>().ok()?.to_vec()),
    };
    let range = output_type.range();
    let kernel = conv_kernel(m, node, attrs, xp, &w, bias, yp, range, output_type)?;
    Some((vec![node.input(0)], kernel))
}

/// QLinearMatMul with a constant 2-D `B [K, N]` ⇒ QLinear.
pub(super) fn qlinear_matmul(m: &Matcher, node: &Node) -> Option<Built> {
    let (xp, w, mut wq, yp, output_type) = qoperator_params(m, node)?;
    wq.axis = 1;
    let w = weights(w, &wq, 1).filter(|w| w.shape.len() == 2)?;
    let range = output_type.range();
    let kernel = linear_kernel(m, node, xp, &w, WeightLayout::KByN, None, yp, range, output_type)?;
    Some((vec![node.input(0)], kernel))
}
