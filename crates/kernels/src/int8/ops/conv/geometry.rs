//! Checks and derived sizes of a [`ConvGeometry`] for the quantized convolution.

use super::super::error::{QOpError, Result};
use crate::f32::ConvGeometry;

pub(super) fn validate(g: &ConvGeometry) -> Result<()> {
    let fail = |why: String| Err(QOpError::InvalidGeometry { op: "QConv2d", why });
    if g.group == 0 || g.in_channels == 0 || g.out_channels == 0 {
        return fail(format!("zero channels or group in {g:?}"));
    }
    if !g.in_channels.is_multiple_of(g.group) || !g.out_channels.is_multiple_of(g.group) {
        return fail(format!(
            "channels {} -> {} not divisible by group {}",
            g.in_channels, g.out_channels, g.group
        ));
    }
    if g.kernel.contains(&0) || g.strides.contains(&0) || g.dilations.contains(&0) {
        return fail(format!("zero kernel, stride or dilation in {g:?}"));
    }
    Ok(())
}

pub(super) fn weight_len(g: &ConvGeometry) -> usize {
    g.out_channels * (g.in_channels / g.group) * g.kernel[0] * g.kernel[1]
}

/// One filter per channel (channel multiplier 1).
pub(super) fn is_depthwise(g: &ConvGeometry) -> bool {
    g.group > 1 && g.group == g.in_channels && g.group == g.out_channels
}

/// 1×1, stride 1, unpadded: the patch matrix is the transposed input.
pub(super) fn is_pointwise(g: &ConvGeometry) -> bool {
    g.kernel == [1, 1] && g.strides == [1, 1] && g.pads == [0; 4]
}
