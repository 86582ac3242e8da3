//! Attributes of convolution, pooling and normalisation ops (2-D, NCHW).

/// A 2-D convolution. `pads` are `[top, left, bottom, right]`, as ONNX orders them
/// (begins then ends); `auto_pad` is resolved to explicit pads on import.
#[derive(Debug, Clone, PartialEq)]
pub struct Conv {
    /// `[kh, kw]`; the weight's shape is `[out_channels, in_channels / group, kh, kw]`.
    pub kernel: [usize; 2],
    pub strides: [usize; 2],
    pub pads: [usize; 4],
    pub dilations: [usize; 2],
    pub group: usize,
}

impl Conv {
    /// Output height and width for an input of `h`×`w`.
    pub fn output_hw(&self, h: usize, w: usize) -> (usize, usize) {
        let span = |k: usize, d: usize| d * (k - 1) + 1;
        let oh =
            (h + self.pads[0] + self.pads[2] - span(self.kernel[0], self.dilations[0])) / self.strides[0] + 1;
        let ow =
            (w + self.pads[1] + self.pads[3] - span(self.kernel[1], self.dilations[1])) / self.strides[1] + 1;
        (oh, ow)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct BatchNorm {
    pub epsilon: f32,
    /// Running-statistics momentum as ONNX defines it (weight of the old value, 0.9).
    pub momentum: f32,
}

/// Max or average pooling over a 2-D window. `pads` as in [`Conv`].
#[derive(Debug, Clone, PartialEq)]
pub struct Pool {
    pub kernel: [usize; 2],
    pub strides: [usize; 2],
    pub pads: [usize; 4],
    pub dilations: [usize; 2],
    pub ceil_mode: bool,
    /// AveragePool only: whether padded cells count in the divisor.
    pub count_include_pad: bool,
}

impl Pool {
    /// Output height and width for an input of `h`×`w`.
    pub fn output_hw(&self, h: usize, w: usize) -> (usize, usize) {
        let out = |size: usize, k: usize, s: usize, d: usize, pb: usize, pe: usize| {
            let span = d * (k - 1) + 1;
            let padded = size + pb + pe - span;
            let mut o = if self.ceil_mode {
                padded.div_ceil(s)
            } else {
                padded / s
            } + 1;
            // With ceil mode, the last window must start inside the input or left pad.
            if self.ceil_mode && (o - 1) * s >= size + pb {
                o -= 1;
            }
            o
        };
        (
            out(
                h,
                self.kernel[0],
                self.strides[0],
                self.dilations[0],
                self.pads[0],
                self.pads[2],
            ),
            out(
                w,
                self.kernel[1],
                self.strides[1],
                self.dilations[1],
                self.pads[1],
                self.pads[3],
            ),
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LayerNorm {
    pub axis: i64,
    pub epsilon: f32,
}
