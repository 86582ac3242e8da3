//! Convolution and pooling (2-D, NCHW, f32) on the `lowbit_kernels::f32` kernels; 8-bit
//! MaxPool on the INT8 one.
//!
//! The kernels assert on short slices instead of returning errors, so every shape is
//! checked here first and a bad model gets an error, not a panic.

use lowbit_graph::ops::{Conv, Pool};
use lowbit_kernels::f32::{self as kernels, Activation, Conv2d, ConvGeometry, PoolGeometry};
use lowbit_kernels::int8::ops::{i8_view, qmax_pool2d, u8_view, PoolQuant, QParams};
use lowbit_tensor::{Data, Tensor};

use super::{ensure, Cx, EvalError, EvalResult, Inputs};

/// A convolution whose weights are prepared (packed) once, with its fused activation.
pub(crate) struct PreparedConv {
    kernel: Conv2d,
}

impl PreparedConv {
    /// Prepares `weights` `[M, C/group, kh, kw]` and the optional `bias` `[M]`.
    pub(crate) fn new(
        attrs: &Conv,
        weights: &Tensor,
        bias: Option<&Tensor>,
        activation: Activation,
    ) -> EvalResult<Self> {
        let w = weights
            .as_slice::<f32>()
            .map_err(|_| EvalError(format!("weights must be f32, got {}", weights.dtype())))?;
        let shape = weights.shape();
        ensure(shape.len() == 4, || {
            format!("weights must be [M, C/group, kh, kw], got {shape:?}")
        })?;
        let kernel = [shape[2], shape[3]];
        ensure(attrs.kernel == kernel || attrs.kernel == [0, 0], || {
            format!("kernel_shape {:?} disagrees with weights {shape:?}", attrs.kernel)
        })?;
        let b = match bias {
            Some(t) => Some(
                t.as_slice::<f32>()
                    .map_err(|_| EvalError(format!("bias must be f32, got {}", t.dtype())))?,
            ),
            None => None,
        };
        let geometry = ConvGeometry {
            in_channels: shape[1] * attrs.group,
            out_channels: shape[0],
            kernel,
            strides: attrs.strides,
            pads: attrs.pads,
            dilations: attrs.dilations,
            group: attrs.group,
        };
        let kernel = Conv2d::new(geometry, w, b, activation).map_err(|e| EvalError(e.to_string()))?;
        Ok(PreparedConv { kernel })
    }

    /// Runs on `x` `[N, C, H, W]`.
    fn run(&self, x: &Tensor, cx: &mut Cx) -> EvalResult<Tensor> {
        let g = self.kernel.geometry();
        let v = x
            .as_slice::<f32>()
            .map_err(|_| EvalError(format!("input must be f32, got {}", x.dtype())))?;
        let s = x.shape();
        ensure(
            s.len() == 4 && s[1] == g.in_channels && s[2] > 0 && s[3] > 0,
            || {
                format!(
                    "input must be [N, {}, H, W] with H, W > 0, got {s:?}",
                    g.in_channels
                )
            },
        )?;
        let (oh, ow) = g.output_hw(s[2], s[3]);
        ensure(oh > 0 && ow > 0, || {
            format!(
                "input {s:?} is smaller than the {:?} kernel after padding",
                g.kernel
            )
        })?;
        let shape = vec![s[0], g.out_channels, oh, ow];
        let mut out = cx.buffers.take_f32(shape.iter().product());
        self.kernel.run(v, s[0], s[2], s[3], &mut out);
        Ok(Tensor::new(shape, out)?)
    }
}

/// Conv: x, w, b?. Uses `prepared` when the plan built it from constant weights,
/// otherwise prepares the weights for this call.
pub(crate) fn conv(
    attrs: &Conv,
    inputs: &Inputs,
    activation: Activation,
    prepared: Option<&PreparedConv>,
    cx: &mut Cx,
) -> EvalResult<Tensor> {
    let x = inputs.get(0)?;
    match prepared {
        Some(p) => p.run(x, cx),
        None => PreparedConv::new(attrs, inputs.get(1)?, inputs.opt(2), activation)?.run(x, cx),
    }
}

/// The input as `(values, n, c, h, w)`, checked to be a non-empty f32 NCHW tensor.
fn nchw<'a>(inputs: &Inputs<'a>) -> EvalResult<(&'a [f32], [usize; 4])> {
    let (v, s) = inputs.f32_of_rank(0, 4)?;
    ensure(s[2] > 0 && s[3] > 0, || {
        format!("input has an empty plane: {s:?}")
    })?;
    Ok((v, [s[0], s[1], s[2], s[3]]))
}

fn pool_geometry(attrs: &Pool, h: usize, w: usize) -> EvalResult<PoolGeometry> {
    ensure(
        [attrs.kernel, attrs.strides, attrs.dilations]
            .iter()
            .all(|a| !a.contains(&0)),
        || format!("zero kernel, stride or dilation in {attrs:?}"),
    )?;
    for (axis, size) in [h, w].into_iter().enumerate() {
        let span = attrs.dilations[axis] * (attrs.kernel[axis] - 1) + 1;
        ensure(size + attrs.pads[axis] + attrs.pads[axis + 2] >= span, || {
            format!(
                "input {h}x{w} is smaller than the {:?} window after padding",
                attrs.kernel
            )
        })?;
    }
    Ok(PoolGeometry {
        kernel: attrs.kernel,
        strides: attrs.strides,
        pads: attrs.pads,
        dilations: attrs.dilations,
        ceil_mode: attrs.ceil_mode,
        count_include_pad: attrs.count_include_pad,
    })
}

type PoolKernel = fn(&PoolGeometry, &[f32], usize, usize, usize, &mut [f32]);

fn pool(attrs: &Pool, inputs: &Inputs, cx: &mut Cx, kernel: PoolKernel) -> EvalResult<Tensor> {
    let (v, [n, c, h, w]) = nchw(inputs)?;
    let g = pool_geometry(attrs, h, w)?;
    let (oh, ow) = g.output_hw(h, w);
    let mut out = cx.buffers.take_f32(n * c * oh * ow);
    kernel(&g, v, n * c, h, w, &mut out);
    Ok(Tensor::new(vec![n, c, oh, ow], out)?)
}

/// MaxPool on f32, or on u8/i8 bytes (what a QOperator model feeds it).
pub(crate) fn max_pool(attrs: &Pool, inputs: &Inputs, cx: &mut Cx) -> EvalResult<Tensor> {
    let x = inputs.get(0)?;
    match x.data() {
        Data::U8(v) => {
            let (shape, y) = max_pool_bytes(attrs, x.shape(), v)?;
            Ok(Tensor::new(shape, y)?)
        }
        Data::I8(v) => {
            // The u8 view (top bit flipped) keeps the order, so its max is the max.
            let (shape, y) = max_pool_bytes(attrs, x.shape(), &u8_view(v))?;
            Ok(Tensor::new(shape, i8_view(&y))?)
        }
        _ => pool(attrs, inputs, cx, kernels::max_pool2d),
    }
}

/// u8 max pooling of an NCHW tensor of shape `s` on the INT8 kernel, with equal input and
/// output parameters: a pure maximum (a window wholly in padding gives 0, where f32 would
/// give −∞). Returns the output shape and values.
fn max_pool_bytes(attrs: &Pool, s: &[usize], bytes: &[u8]) -> EvalResult<(Vec<usize>, Vec<u8>)> {
    ensure(s.len() == 4 && s[2] > 0 && s[3] > 0, || {
        format!("input must be [N, C, H, W] with a non-empty plane, got {s:?}")
    })?;
    let g = pool_geometry(attrs, s[2], s[3])?;
    let (oh, ow) = g.output_hw(s[2], s[3]);
    let unit = QParams::new(1.0, 0);
    let q = PoolQuant {
        input: unit,
        output: unit,
        range: (0, 255),
    };
    let mut out = vec![0u8; s[0] * s[1] * oh * ow];
    qmax_pool2d(&g, bytes, s[0] * s[1], (s[2], s[3]), &q, &mut out).map_err(|e| EvalError(e.to_string()))?;
    Ok((vec![s[0], s[1], oh, ow], out))
}

pub(crate) fn average_pool(attrs: &Pool, inputs: &Inputs, cx: &mut Cx) -> EvalResult<Tensor> {
    pool(attrs, inputs, cx, kernels::avg_pool2d)
}

/// The input's `(values, planes N·C, plane size, output shape [N, C, 1, …])` for global
/// pooling of any spatial rank ≥ 1.
fn global_planes<'a>(inputs: &Inputs<'a>) -> EvalResult<(&'a [f32], usize, usize, Vec<usize>)> {
    let x = inputs.get(0)?;
    let v = inputs.slice::<f32>(0)?;
    let s = x.shape();
    ensure(s.len() >= 3, || {
        format!("input must be [N, C, spatial...], got {s:?}")
    })?;
    let plane: usize = s[2..].iter().product();
    ensure(plane > 0, || format!("input has an empty plane: {s:?}"))?;
    let mut shape = s.to_vec();
    shape[2..].iter_mut().for_each(|d| *d = 1);
    Ok((v, s[0] * s[1], plane, shape))
}

pub(crate) fn global_average_pool(inputs: &Inputs, cx: &mut Cx) -> EvalResult<Tensor> {
    let (v, planes, plane, shape) = global_planes(inputs)?;
    let mut out = cx.buffers.take_f32(planes);
    kernels::global_avg_pool(v, planes, plane, &mut out);
    Ok(Tensor::new(shape, out)?)
}

pub(crate) fn global_max_pool(inputs: &Inputs) -> EvalResult<Tensor> {
    let (v, _, plane, shape) = global_planes(inputs)?;
    let out = v
        .chunks(plane)
        .map(|p| p.iter().copied().fold(f32::NEG_INFINITY, f32::max))
        .collect::<Vec<_>>();
    Ok(Tensor::new(shape, out)?)
}
