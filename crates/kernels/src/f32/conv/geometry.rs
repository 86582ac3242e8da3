//! Static description of a 2-D convolution and its derived sizes.

use crate::f32::KernelError;

/// Static description of a 2-D convolution, NCHW. `pads` are `[top, left, bottom, right]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvGeometry {
    pub in_channels: usize,
    pub out_channels: usize,
    /// `[kh, kw]`.
    pub kernel: [usize; 2],
    pub strides: [usize; 2],
    pub pads: [usize; 4],
    pub dilations: [usize; 2],
    pub group: usize,
}

impl ConvGeometry {
    /// Output height and width for an input of `h`×`w`. Returns 0 along an axis where the
    /// padded input is smaller than the dilated kernel.
    pub fn output_hw(&self, h: usize, w: usize) -> (usize, usize) {
        let out = |size: usize, axis: usize| {
            let padded = size + self.pads[axis] + self.pads[axis + 2];
            let span = self.dilations[axis] * (self.kernel[axis] - 1) + 1;
            if padded < span {
                0
            } else {
                (padded - span) / self.strides[axis] + 1
            }
        };
        (out(h, 0), out(w, 1))
    }

    pub(crate) fn validate(&self) -> Result<(), KernelError> {
        let fail = |why: String| Err(KernelError::InvalidGeometry(why));
        if self.group == 0 || self.in_channels == 0 || self.out_channels == 0 {
            return fail(format!("zero channels or group in {self:?}"));
        }
        if !self.in_channels.is_multiple_of(self.group) || !self.out_channels.is_multiple_of(self.group) {
            return fail(format!(
                "channels {} -> {} not divisible by group {}",
                self.in_channels, self.out_channels, self.group
            ));
        }
        if self.kernel.contains(&0) || self.strides.contains(&0) || self.dilations.contains(&0) {
            return fail(format!("zero kernel, stride or dilation in {self:?}"));
        }
        Ok(())
    }

    /// Input channels seen by each output channel.
    pub(super) fn in_per_group(&self) -> usize {
        self.in_channels / self.group
    }

    pub(super) fn out_per_group(&self) -> usize {
        self.out_channels / self.group
    }

    pub(crate) fn weight_len(&self) -> usize {
        self.out_channels * self.in_per_group() * self.kernel[0] * self.kernel[1]
    }

    pub(crate) fn is_depthwise(&self) -> bool {
        self.group > 1 && self.group == self.in_channels && self.group == self.out_channels
    }

    pub(super) fn is_pointwise(&self) -> bool {
        self.group == 1 && self.kernel == [1, 1] && self.strides == [1, 1] && self.pads == [0; 4]
    }
}

/// Outputs `o < count` whose tap `o * stride + offset` lands inside `0..size`, as a range
/// (taps are monotonic in `o`, so the valid ones are contiguous).
pub(super) fn valid_outputs(
    count: usize,
    stride: usize,
    offset: isize,
    size: usize,
) -> std::ops::Range<usize> {
    let (s, size) = (stride as isize, size as isize);
    let lo = if offset >= 0 { 0 } else { (-offset + s - 1) / s };
    let hi = if size - offset > 0 {
        (size - offset - 1) / s + 1
    } else {
        0
    };
    let hi = (hi as usize).min(count);
    (lo as usize).min(hi)..hi
}
