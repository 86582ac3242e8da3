//! Checks and derived sizes of a [`ConvGeometry`] for the quantized convolution; the
//! checks shared with the FP32 convolution live on `ConvGeometry` itself.

use super::super::error::{QOpError, Result};
use crate::f32::{ConvGeometry, KernelError};

pub(super) fn validate(g: &ConvGeometry) -> Result<()> {
    g.validate().map_err(|e| QOpError::InvalidGeometry {
        op: "QConv2d",
        why: match e {
            KernelError::InvalidGeometry(why) => why,
            other => other.to_string(),
        },
    })
}

/// 1×1, stride 1, unpadded: the patch matrix is the transposed input. Unlike the FP32
/// test, groups are allowed: the GEMM path runs each group on its own.
pub(super) fn is_pointwise(g: &ConvGeometry) -> bool {
    g.kernel == [1, 1] && g.strides == [1, 1] && g.pads == [0; 4]
}
