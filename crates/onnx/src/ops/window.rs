//! Attributes shared by convolutions and pooling: kernel, strides, pads, dilations and
//! `auto_pad`, which is resolved here to explicit pads.

use lowbit_graph::ops::Conv;

use crate::import::context::NodeCtx;
use crate::Result;

/// A 2-D window. `pads` are `[top, left, bottom, right]`.
pub(crate) struct Window {
    pub kernel: [usize; 2],
    pub strides: [usize; 2],
    pub pads: [usize; 4],
    pub dilations: [usize; 2],
}

impl Window {
    pub fn into_conv(self, group: usize) -> Conv {
        Conv {
            kernel: self.kernel,
            strides: self.strides,
            pads: self.pads,
            dilations: self.dilations,
            group,
        }
    }
}

/// Reads an `ints` attribute that must hold `N` non-negative values.
fn fixed<const N: usize>(ctx: &NodeCtx, name: &str, default: [usize; N]) -> Result<[usize; N]> {
    let Some(values) = ctx.ints(name)? else {
        return Ok(default);
    };
    if values.len() != N {
        return Err(ctx.unsupported(format!(
            "'{name}' has {} values; only 2-D (NCHW) windows are supported",
            values.len()
        )));
    }
    let mut out = [0; N];
    for (slot, &v) in out.iter_mut().zip(&values) {
        *slot = usize::try_from(v).map_err(|_| ctx.bad_attr(name, format!("negative value {v}")))?;
    }
    Ok(out)
}

/// The conv weight's spatial size, from its constant value or its declared shape.
pub(crate) fn kernel_from_weight(ctx: &NodeCtx, weight: usize) -> Result<Option<[usize; 2]>> {
    let shape = match ctx.const_input(weight) {
        Some(t) => Some(t.shape().to_vec()),
        None => ctx.input_fact(weight).and_then(|f| f.concrete_shape()),
    };
    match shape.as_deref() {
        None => Ok(None),
        Some([_, _, kh, kw]) => Ok(Some([*kh, *kw])),
        Some(other) => Err(ctx.unsupported(format!(
            "the weight has rank {}; only 2-D convolutions (rank-4 weights) are supported",
            other.len()
        ))),
    }
}

/// Reads the window attributes. `kernel` is the fallback when `kernel_shape` is absent
/// (convolutions may take it from the weight); `data` is the input whose spatial size
/// `auto_pad` needs.
pub(crate) fn window(ctx: &NodeCtx, kernel: Option<[usize; 2]>, data: usize) -> Result<Window> {
    let kernel = match (ctx.has_attr("kernel_shape"), kernel) {
        (true, _) => fixed(ctx, "kernel_shape", [0, 0])?,
        (false, Some(kernel)) => kernel,
        (false, None) => {
            return Err(ctx.error("'kernel_shape' is absent and the weight's shape is not known"))
        }
    };
    let strides = fixed(ctx, "strides", [1, 1])?;
    let dilations = fixed(ctx, "dilations", [1, 1])?;
    if strides.contains(&0) || dilations.contains(&0) {
        return Err(ctx.bad_attr("strides", "strides and dilations must be positive"));
    }
    let auto_pad = ctx.string("auto_pad")?.unwrap_or_default();
    let pads = match auto_pad.as_str() {
        "" | "NOTSET" => fixed(ctx, "pads", [0; 4])?,
        "VALID" => [0; 4],
        "SAME_UPPER" | "SAME_LOWER" => {
            let mut pads = [0; 4];
            for axis in 0..2 {
                let size = spatial_size(ctx, data, axis);
                let total =
                    same_total_pad(size, kernel[axis], strides[axis], dilations[axis]).ok_or_else(|| {
                        ctx.error(format!(
                            "auto_pad {auto_pad} with stride {} needs the input's spatial size, which the \
                         model does not declare (give the input a static shape or use explicit pads)",
                            strides[axis]
                        ))
                    })?;
                let (small, large) = (total / 2, total - total / 2);
                let (begin, end) = if auto_pad == "SAME_UPPER" {
                    (small, large)
                } else {
                    (large, small)
                };
                pads[axis] = begin;
                pads[axis + 2] = end;
            }
            pads
        }
        other => return Err(ctx.bad_attr("auto_pad", format!("unknown value '{other}'"))),
    };
    Ok(Window {
        kernel,
        strides,
        pads,
        dilations,
    })
}

/// Height (`axis` 0) or width (1) of an NCHW input, when the model declares it.
fn spatial_size(ctx: &NodeCtx, data: usize, axis: usize) -> Option<usize> {
    let shape = ctx.input_fact(data)?.shape.as_ref()?;
    shape.get(2 + axis)?.known()
}

/// Total padding that makes the output `ceil(size / stride)` long. With stride 1 it does
/// not depend on the size, so `size` may be unknown.
fn same_total_pad(size: Option<usize>, kernel: usize, stride: usize, dilation: usize) -> Option<usize> {
    let span = dilation * (kernel.max(1) - 1) + 1;
    if stride == 1 {
        return Some(span - 1);
    }
    let size = size?;
    let out = size.div_ceil(stride);
    Some(((out.max(1) - 1) * stride + span).saturating_sub(size))
}

#[cfg(test)]
mod tests {
    use super::same_total_pad;

    #[test]
    fn same_padding_matches_the_onnx_formula() {
        // 3x3, stride 1: one on each side regardless of size.
        assert_eq!(same_total_pad(None, 3, 1, 1), Some(2));
        // 224 input, 3x3 stride 2: out 112, total pad 1.
        assert_eq!(same_total_pad(Some(224), 3, 2, 1), Some(1));
        // 5 input, 2x2 stride 2: out 3, total pad 1.
        assert_eq!(same_total_pad(Some(5), 2, 2, 1), Some(1));
        // Dilation 2 widens a 3-tap kernel to 5.
        assert_eq!(same_total_pad(None, 3, 1, 2), Some(4));
        assert_eq!(same_total_pad(None, 3, 2, 1), None);
    }
}
