//! The integer steps: each reads u8 tensors and writes one u8 (or, for conv and linear,
//! i8) tensor, with kernel objects built once at plan time.
//!
//! i8 activations (a model that quantizes them signed) reach the kernels in their u8
//! view: each byte with its top bit flipped, which adds 128 to the value, as the
//! matcher added 128 to their zero points. Kernels that write u8 only compute an i8
//! result in that view and [`Int8Kernel::Signed`] flips it back.

use std::borrow::Cow;

use lowbit_graph::ops::BinaryOp;
use lowbit_graph::Op;
use lowbit_kernels::int8::ops::{
    convert_layout, i8_view, qadd, qavg_pool2d, qconcat, qglobal_avg_pool, qglobal_avg_pool_nhwc,
    qmax_pool2d, quantize_linear_f32_to_u8, u8_view, AxisShape, ChannelQuant, Layout, OutputType,
    PoolGeometry, PoolQuant, QConv2d, QInput, QLinear, QLinearDequantized, QParams,
};
use lowbit_kernels::int8::Tier;
use lowbit_tensor::Tensor;

use crate::buffers::BufferPool;
use crate::eval::{self, ensure, Cx, EvalError, EvalResult, Inputs};

/// What an integer step computes. Inputs are the step's inputs in order. Layouts are
/// NCHW until [`super::layouts`] says otherwise; an NHWC tensor has the shape
/// `[N, H, W, C]`.
pub(crate) enum Int8Kernel {
    /// Input 0: u8 `[N, C, H, W]` (or NHWC), output as `layouts.1`.
    Conv {
        kernel: QConv2d,
        output: OutputType,
        layouts: (Layout, Layout),
    },
    /// Input 0: u8 `[..., K]`; the output is `[..., N]`.
    Linear {
        kernel: QLinear,
        k: usize,
        n: usize,
        output: OutputType,
    },
    /// Inputs 0 and 1: u8 tensors of one shape, in one layout (the output's).
    Add {
        tier: Tier,
        a: QParams,
        b: QParams,
        y: QParams,
        range: (i32, i32),
    },
    /// Input 0: u8 `[N, C, spatial...]`, or NHWC `[N, H, W, C]`; the output is NCHW
    /// `[N, C, 1, ...]`.
    GlobalAveragePool {
        tier: Tier,
        quant: PoolQuant,
        input: Layout,
    },
    /// Input 0: u8 `[N, C, H, W]`.
    Pool {
        max: bool,
        geometry: PoolGeometry,
        quant: PoolQuant,
    },
    /// Every input: u8, concatenated along `axis`.
    Concat {
        axis: i64,
        inputs: Vec<QParams>,
        y: QParams,
        range: (i32, i32),
    },
    /// Input 0: f32, quantized per tensor to u8 (an NCHW 4-D input may be written NHWC).
    Quantize { tier: Tier, y: QParams, output: Layout },
    /// A shape-only op (Reshape, Flatten) applied to the quantized bytes: its input and
    /// output parameters are equal, so the bytes are the result.
    Relayout(Op),
    /// A u8 kernel whose result, in the u8 view of an i8 output, is stored as i8.
    Signed(Box<Int8Kernel>),
    /// Input 0: u8 `[N, C, H, W]` (or NHWC) into a 1×1 conv whose output, f32 NCHW, is
    /// read by f32 ops.
    PointwiseToFloat {
        kernel: QLinearDequantized,
        x: QParams,
        /// `(in, out)` channels.
        channels: (usize, usize),
        input: Layout,
    },
}

impl Int8Kernel {
    /// A short name for logs and the `lowbit inspect` listing.
    pub(crate) fn describe(&self) -> String {
        match self {
            Int8Kernel::Conv {
                kernel,
                layouts: (Layout::Nhwc, _) | (_, Layout::Nhwc),
                ..
            } => format!("QConv2d[{}]", kernel.nhwc_kernel_name()),
            Int8Kernel::Conv { kernel, .. } => format!("QConv2d[{}]", kernel.kernel_name()),
            Int8Kernel::Linear { .. } => "QLinear".into(),
            Int8Kernel::Add { .. } => "qadd".into(),
            Int8Kernel::GlobalAveragePool { .. } => "qglobal_avg_pool".into(),
            Int8Kernel::Pool { max: true, .. } => "qmax_pool2d".into(),
            Int8Kernel::Pool { max: false, .. } => "qavg_pool2d".into(),
            Int8Kernel::Concat { .. } => "qconcat".into(),
            Int8Kernel::Quantize { .. } => "quantize".into(),
            Int8Kernel::Relayout(op) => format!("{} (u8)", op.name()),
            Int8Kernel::Signed(kernel) => format!("{} (i8)", kernel.describe()),
            Int8Kernel::PointwiseToFloat { .. } => "QConv2d 1×1 to f32".into(),
        }
    }

    pub(crate) fn run(&self, inputs: &Inputs, buffers: &mut BufferPool) -> EvalResult {
        let one = |t: Tensor| Ok(vec![t]);
        match self {
            Int8Kernel::Conv {
                kernel,
                output,
                layouts,
            } => one(conv(kernel, *output, *layouts, inputs, buffers)?),
            Int8Kernel::Linear { kernel, k, n, output } => one(linear(kernel, (*k, *n), *output, inputs)?),
            Int8Kernel::Add { tier, a, b, y, range } => {
                one(add(*tier, [*a, *b, *y], *range, inputs, buffers)?)
            }
            Int8Kernel::GlobalAveragePool { tier, quant, input } => {
                one(global_average_pool(*tier, quant, *input, inputs)?)
            }
            Int8Kernel::Pool { max, geometry, quant } => one(pool(*max, geometry, quant, inputs)?),
            Int8Kernel::Concat {
                axis,
                inputs: params,
                y,
                range,
            } => one(concat(*axis, params, *y, *range, inputs)?),
            Int8Kernel::Quantize { tier, y, output } => one(quantize(*tier, *y, *output, inputs, buffers)?),
            Int8Kernel::Relayout(op) => {
                let mut cx = Cx { buffers };
                eval::eval(op, inputs, 1, &mut cx)
            }
            Int8Kernel::PointwiseToFloat {
                kernel,
                x,
                channels,
                input,
            } => one(pointwise_to_float(kernel, *x, *channels, *input, inputs)?),
            Int8Kernel::Signed(kernel) => {
                let mut outputs = kernel.run(inputs, buffers)?;
                for t in &mut outputs {
                    *t = Tensor::new(t.shape(), i8_view(&bytes(t, 0)?))?;
                }
                Ok(outputs)
            }
        }
    }
}

fn kernel_error(e: impl std::fmt::Display) -> EvalError {
    EvalError(e.to_string())
}

/// The u8 view of input `index`: its bytes, or for an i8 tensor its bytes with the top
/// bit flipped (see the module comment).
fn bytes(t: &Tensor, index: usize) -> EvalResult<Cow<'_, [u8]>> {
    if let Ok(signed) = t.as_slice::<i8>() {
        return Ok(Cow::Owned(u8_view(signed)));
    }
    t.as_slice::<u8>()
        .map(Cow::Borrowed)
        .map_err(|_| EvalError(format!("input {index} must be u8 or i8, got {}", t.dtype())))
}

/// The output buffer as a tensor of `output`'s type.
fn typed_output(shape: Vec<usize>, out: Vec<u8>, output: OutputType) -> EvalResult<Tensor> {
    Ok(match output {
        OutputType::U8 => Tensor::new(shape, out)?,
        OutputType::I8 => Tensor::new(shape, out.into_iter().map(|b| b as i8).collect::<Vec<i8>>())?,
    })
}

fn conv(
    kernel: &QConv2d,
    output: OutputType,
    layouts: (Layout, Layout),
    inputs: &Inputs,
    buffers: &mut BufferPool,
) -> EvalResult<Tensor> {
    let x = inputs.get(0)?;
    let v = bytes(x, 0)?;
    let v: &[u8] = &v;
    let g = kernel.geometry();
    let s = x.shape();
    let (channel_axis, h_axis) = image_axes(layouts.0);
    ensure(
        s.len() == 4 && s[channel_axis] == g.in_channels && s[h_axis] > 0 && s[h_axis + 1] > 0,
        || {
            format!(
                "input must be {:?} [N, C={}, H, W] with H, W > 0, got {s:?}",
                layouts.0, g.in_channels
            )
        },
    )?;
    let (n, h, w) = (s[0], s[h_axis], s[h_axis + 1]);
    let span = |axis: usize| g.dilations[axis] * (g.kernel[axis] - 1) + 1;
    ensure(
        h + g.pads[0] + g.pads[2] >= span(0) && w + g.pads[1] + g.pads[3] >= span(1),
        || {
            format!(
                "input {s:?} is smaller than the {:?} kernel after padding",
                g.kernel
            )
        },
    )?;
    let (oh, ow) = g.output_hw(h, w);
    let shape = match layouts.1 {
        Layout::Nchw => vec![n, g.out_channels, oh, ow],
        Layout::Nhwc => vec![n, oh, ow, g.out_channels],
    };
    let mut out = buffers.take_u8(shape.iter().product());
    kernel
        .run_layout(v, (n, h, w), layouts, &mut out)
        .map_err(kernel_error)?;
    typed_output(shape, out, output)
}

/// The channel axis and the height axis (width follows) of a 4-D image in `layout`.
fn image_axes(layout: Layout) -> (usize, usize) {
    match layout {
        Layout::Nchw => (1, 2),
        Layout::Nhwc => (3, 1),
    }
}

fn pointwise_to_float(
    kernel: &QLinearDequantized,
    xp: QParams,
    (in_channels, out_channels): (usize, usize),
    layout: Layout,
    inputs: &Inputs,
) -> EvalResult<Tensor> {
    let x = inputs.get(0)?;
    let v = bytes(x, 0)?;
    let s = x.shape();
    let (channel_axis, h_axis) = image_axes(layout);
    ensure(s.len() == 4 && s[channel_axis] == in_channels, || {
        format!("input must be {layout:?} [N, C={in_channels}, H, W], got {s:?}")
    })?;
    let (n, h, w) = (s[0], s[h_axis], s[h_axis + 1]);
    let pixels = h * w;
    let rows_u8 = match layout {
        Layout::Nhwc => v,
        Layout::Nchw => {
            let mut nhwc = vec![0u8; v.len()];
            convert_layout(&v, (n, in_channels, pixels), Layout::Nchw, &mut nhwc);
            Cow::Owned(nhwc)
        }
    };
    let zero_point = u8::try_from(xp.zero_point).map_err(kernel_error)?;
    let mut rows = vec![0f32; n * pixels * out_channels];
    kernel
        .run_with_scale(n * pixels, &rows_u8, xp.scale, zero_point, &mut rows)
        .map_err(kernel_error)?;
    // Pixel-major rows to the f32 engine's NCHW planes.
    let mut planes = vec![0f32; rows.len()];
    for (image_rows, image_planes) in rows
        .chunks_exact(pixels * out_channels)
        .zip(planes.chunks_exact_mut(pixels * out_channels))
    {
        for (p, row) in image_rows.chunks_exact(out_channels).enumerate() {
            for (c, &value) in row.iter().enumerate() {
                image_planes[c * pixels + p] = value;
            }
        }
    }
    Ok(Tensor::new([n, out_channels, h, w], planes)?)
}

fn linear(
    kernel: &QLinear,
    (k, n): (usize, usize),
    output: OutputType,
    inputs: &Inputs,
) -> EvalResult<Tensor> {
    let x = inputs.get(0)?;
    let v = bytes(x, 0)?;
    let v: &[u8] = &v;
    let s = x.shape();
    ensure(s.last() == Some(&k), || {
        format!("input must be [..., {k}], got {s:?}")
    })?;
    let m = v.len() / k.max(1);
    let mut shape = s.to_vec();
    *shape.last_mut().expect("rank checked above") = n;
    let mut out = vec![0u8; m * n];
    match output {
        OutputType::U8 => kernel.run(m, v, &mut out).map_err(kernel_error)?,
        OutputType::I8 => {
            let mut signed = vec![0i8; out.len()];
            kernel.run_i8(m, v, &mut signed).map_err(kernel_error)?;
            out.iter_mut().zip(&signed).for_each(|(o, s)| *o = *s as u8);
        }
    }
    typed_output(shape, out, output)
}

/// qadd on same-shape inputs; broadcasting inputs take the reference path (dequantize,
/// add, quantize), which is the definition the kernel reproduces.
fn add(
    tier: Tier,
    [a, b, y]: [QParams; 3],
    range: (i32, i32),
    inputs: &Inputs,
    buffers: &mut BufferPool,
) -> EvalResult<Tensor> {
    let (x0, x1) = (inputs.get(0)?, inputs.get(1)?);
    let (v0, v1) = (bytes(x0, 0)?, bytes(x1, 1)?);
    if x0.shape() == x1.shape() {
        let mut out = buffers.take_u8(v0.len());
        qadd(tier, &v0, a, &v1, b, y, range, &mut out).map_err(kernel_error)?;
        return Ok(Tensor::new(x0.shape(), out)?);
    }
    let mut cx = Cx { buffers };
    // The u8 views, which the parameters describe.
    let fa = dequantize(&Tensor::new(x0.shape(), v0.into_owned())?, a, &mut cx)?;
    let fb = dequantize(&Tensor::new(x1.shape(), v1.into_owned())?, b, &mut cx)?;
    let sum = eval::eval(
        &Op::Binary(BinaryOp::Add),
        &Inputs::new(&[Some(&fa), Some(&fb)]),
        1,
        &mut cx,
    )?;
    let sum = sum.into_iter().next().ok_or("Add produced no output")?;
    let values = sum.as_slice::<f32>()?;
    let mut q = vec![0u8; values.len()];
    let params = ChannelQuant {
        scales: &[y.scale],
        zero_points: &[y.zero_point],
    };
    quantize_linear_f32_to_u8(tier, values, AxisShape::per_tensor(values.len()), params, &mut q)
        .map_err(kernel_error)?;
    // The range is within u8 (the matcher's): a fused ReLU's clamp on the bytes.
    let (lo, hi) = (range.0 as u8, range.1 as u8);
    q.iter_mut().for_each(|v| *v = (*v).clamp(lo, hi));
    Ok(Tensor::new(sum.shape(), q)?)
}

fn dequantize(x: &Tensor, q: QParams, cx: &mut Cx) -> EvalResult<Tensor> {
    let (scale, zp) = (Tensor::scalar(q.scale), Tensor::scalar(q.zero_point as u8));
    let op = Op::DequantizeLinear(Default::default());
    let out = eval::eval(&op, &Inputs::new(&[Some(x), Some(&scale), Some(&zp)]), 1, cx)?;
    out.into_iter()
        .next()
        .ok_or_else(|| EvalError("DequantizeLinear produced no output".into()))
}

fn global_average_pool(tier: Tier, quant: &PoolQuant, layout: Layout, inputs: &Inputs) -> EvalResult<Tensor> {
    let x = inputs.get(0)?;
    let v = bytes(x, 0)?;
    let v: &[u8] = &v;
    let s = x.shape();
    ensure(s.len() >= 3 && s[1..].iter().product::<usize>() > 0, || {
        format!("input must be [N, C, spatial...] with a non-empty plane, got {s:?}")
    })?;
    let (channels, pixels) = match layout {
        Layout::Nchw => (s[1], s[2..].iter().product()),
        Layout::Nhwc => (s[s.len() - 1], s[1..s.len() - 1].iter().product()),
    };
    let mut shape = vec![1; s.len()];
    (shape[0], shape[1]) = (s[0], channels);
    let mut out = vec![0u8; s[0] * channels];
    match layout {
        Layout::Nchw => qglobal_avg_pool(tier, v, s[0] * channels, pixels, quant, &mut out),
        Layout::Nhwc => qglobal_avg_pool_nhwc(tier, v, (s[0], pixels, channels), quant, &mut out),
    }
    .map_err(kernel_error)?;
    Ok(Tensor::new(shape, out)?)
}

fn quantize(
    tier: Tier,
    y: QParams,
    layout: Layout,
    inputs: &Inputs,
    buffers: &mut BufferPool,
) -> EvalResult<Tensor> {
    let x = inputs.get(0)?;
    let v = x.as_slice::<f32>()?;
    let mut out = buffers.take_u8(v.len());
    let q = ChannelQuant {
        scales: &[y.scale],
        zero_points: &[y.zero_point],
    };
    quantize_linear_f32_to_u8(tier, v, AxisShape::per_tensor(v.len()), q, &mut out).map_err(kernel_error)?;
    let s = x.shape();
    if layout == Layout::Nchw {
        return Ok(Tensor::new(s, out)?);
    }
    ensure(s.len() == 4, || {
        format!("input planned as 4-D for an NHWC output, got {s:?}")
    })?;
    let mut nhwc = buffers.take_u8(v.len());
    convert_layout(&out, (s[0], s[1], s[2] * s[3]), Layout::Nchw, &mut nhwc);
    buffers.recycle(Tensor::new(s, out)?);
    Ok(Tensor::new([s[0], s[2], s[3], s[1]], nhwc)?)
}

fn pool(max: bool, g: &PoolGeometry, quant: &PoolQuant, inputs: &Inputs) -> EvalResult<Tensor> {
    let x = inputs.get(0)?;
    let v = bytes(x, 0)?;
    let v: &[u8] = &v;
    let s = x.shape();
    ensure(s.len() == 4 && s[2] > 0 && s[3] > 0, || {
        format!("input must be [N, C, H, W] with H, W > 0, got {s:?}")
    })?;
    for (axis, size) in [s[2], s[3]].into_iter().enumerate() {
        let span = g.dilations[axis] * (g.kernel[axis] - 1) + 1;
        ensure(size + g.pads[axis] + g.pads[axis + 2] >= span, || {
            format!(
                "input {s:?} is smaller than the {:?} window after padding",
                g.kernel
            )
        })?;
    }
    let (oh, ow) = g.output_hw(s[2], s[3]);
    let planes = s[0] * s[1];
    let mut out = vec![0u8; planes * oh * ow];
    let run = if max { qmax_pool2d } else { qavg_pool2d };
    run(g, v, planes, (s[2], s[3]), quant, &mut out).map_err(kernel_error)?;
    Ok(Tensor::new(vec![s[0], s[1], oh, ow], out)?)
}

fn concat(
    axis: i64,
    params: &[QParams],
    y: QParams,
    range: (i32, i32),
    inputs: &Inputs,
) -> EvalResult<Tensor> {
    ensure(inputs.len() == params.len(), || {
        format!("expected {} inputs, got {}", params.len(), inputs.len())
    })?;
    let first = inputs.get(0)?;
    let rank = first.rank();
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    ensure((0..r).contains(&a), || {
        format!("axis {axis} is out of range for rank {rank}")
    })?;
    let a = a as usize;
    let mut shape = first.shape().to_vec();
    shape[a] = 0;
    let views = (0..params.len())
        .map(|i| bytes(inputs.get(i)?, i))
        .collect::<EvalResult<Vec<_>>>()?;
    let mut parts = Vec::with_capacity(params.len());
    for (i, p) in params.iter().enumerate() {
        let t = inputs.get(i)?;
        let s = t.shape();
        ensure(
            s.len() == rank
                && s.iter()
                    .zip(first.shape())
                    .enumerate()
                    .all(|(d, (x, f))| d == a || x == f),
            || {
                format!(
                    "input {i} {s:?} does not match input 0 {:?} off axis {a}",
                    first.shape()
                )
            },
        )?;
        shape[a] += s[a];
        parts.push(QInput {
            data: views[i].as_ref(),
            params: *p,
        });
    }
    let outer: usize = shape[..a].iter().product();
    let mut out = vec![0u8; shape.iter().product()];
    if !out.is_empty() {
        qconcat(&parts, outer, y, range, &mut out).map_err(kernel_error)?;
    }
    Ok(Tensor::new(shape, out)?)
}
