//! Depthwise gradients computed over whole planes as flat vectors.
//!
//! A plane is copied into a zero-bordered buffer whose row pitch `pitch` leaves room for
//! the kernel's reach, so every tap becomes one shift of the flat buffer: position `t`
//! reads `t + offset(tap)` and never wraps into the wrong row. The gradients are then
//! `kh·kw` long axpys (dX) or dot products (dW) over `rows·pitch` values instead of many
//! short rows, which keeps the vector units full on 28- and 14-wide planes. The junk
//! columns a border adds are computed and dropped (dX) or multiply zeros (dW).
//!
//! A stride `s > 1` is handled by spreading dY out `s` apart with zeros between (dY
//! "dilated" to the input's resolution), which turns both gradients into the stride-1
//! case: more multiplications by zero, but all of them full-width.

use crate::f32::ConvGeometry;

use super::ConvInput;

/// Independent partial sums per dot product: two AVX-512 vectors.
pub(super) const LANES: usize = 32;

/// Partial sums of one weight-gradient tap.
pub(super) type Lanes = [f32; LANES];

/// The geometry of a depthwise convolution whose pads stay within the kernel's reach, the
/// case this module handles.
#[derive(Debug, Clone, Copy)]
pub(super) struct FlatPlanes {
    kernel: [usize; 2],
    strides: [usize; 2],
    dilations: [usize; 2],
    /// `[top, left, bottom, right]`.
    pads: [usize; 4],
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
}

impl FlatPlanes {
    /// `None` unless the output is non-empty and no pad exceeds the dilated kernel's reach
    /// `(k − 1)·d` (larger pads only add outputs that read nothing but padding).
    pub(super) fn new(g: &ConvGeometry, input: ConvInput) -> Option<FlatPlanes> {
        let (oh, ow) = g.output_hw(input.h, input.w);
        let reach = |axis: usize| (g.kernel[axis] - 1) * g.dilations[axis];
        let pads_ok = g.pads[0].max(g.pads[2]) <= reach(0) && g.pads[1].max(g.pads[3]) <= reach(1);
        (oh > 0 && ow > 0 && pads_ok).then_some(FlatPlanes {
            kernel: g.kernel,
            strides: g.strides,
            dilations: g.dilations,
            pads: g.pads,
            h: input.h,
            w: input.w,
            oh,
            ow,
        })
    }

    fn reach(&self, axis: usize) -> usize {
        (self.kernel[axis] - 1) * self.dilations[axis]
    }

    /// Rows and columns of dY spread `stride` apart: `(o − 1)·s + 1` along each axis.
    fn dilated_output(&self) -> (usize, usize) {
        (
            (self.oh - 1) * self.strides[0] + 1,
            (self.ow - 1) * self.strides[1] + 1,
        )
    }

    /// Copies `dy_plane` into `buffer` with output `(oy, ox)` at
    /// `(top + oy·sh)·pitch + left + ox·sw`, leaving every other value as it is (zero).
    #[inline(always)]
    fn spread_dy(&self, dy_plane: &[f32], buffer: &mut [f32], pitch: usize, [top, left]: [usize; 2]) {
        let [sh, sw] = self.strides;
        for (oy, row) in dy_plane.chunks_exact(self.ow).enumerate() {
            let target = &mut buffer[(top + oy * sh) * pitch + left..];
            if sw == 1 {
                target[..self.ow].copy_from_slice(row);
            } else {
                target.iter_mut().step_by(sw).zip(row).for_each(|(t, &v)| *t = v);
            }
        }
    }

    fn taps(&self) -> impl Iterator<Item = (usize, usize)> {
        let kw = self.kernel[1];
        (0..self.kernel[0] * kw).map(move |tap| (tap / kw, tap % kw))
    }

    /// Row pitch of the dX buffers: the input width plus the kernel's reach.
    fn input_grad_pitch(&self) -> usize {
        self.w + self.reach(1)
    }

    /// Zeroed scratch for [`Self::input_grad_plane`]: the bordered dY and the pitched dX.
    pub(super) fn input_grad_scratch(&self) -> (Vec<f32>, Vec<f32>) {
        let pitch = self.input_grad_pitch();
        let bordered = (self.h + self.reach(0)) * pitch + self.reach(1);
        (vec![0.0; bordered], vec![0.0; self.h * pitch])
    }

    /// `dx[i] = Σ_k w[k]·dyd[i + pad − k·d]` with `dyd` the dilated dY: it is placed
    /// `reach − pad` rows and columns in, so tap `k` reads the bordered buffer at
    /// `t + (K − 1 − k)·d` along each axis.
    /// `bordered` and `pitched` come from [`Self::input_grad_scratch`] for this geometry and
    /// keep their zero borders between calls.
    #[inline(always)]
    pub(super) fn input_grad_plane(
        &self,
        filter: &[f32],
        dy_plane: &[f32],
        bordered: &mut [f32],
        pitched: &mut [f32],
        dx_plane: &mut [f32],
    ) {
        let pitch = self.input_grad_pitch();
        let corner = [self.reach(0) - self.pads[0], self.reach(1) - self.pads[1]];
        self.spread_dy(dy_plane, bordered, pitch, corner);
        let [kh, kw] = self.kernel;
        let [dh, dw] = self.dilations;
        for (tap, (ky, kx)) in self.taps().enumerate() {
            let offset = (kh - 1 - ky) * dh * pitch + (kw - 1 - kx) * dw;
            let source = &bordered[offset..offset + pitched.len()];
            let weight = filter[tap];
            if tap == 0 {
                pitched.iter_mut().zip(source).for_each(|(o, &v)| *o = weight * v);
            } else {
                pitched
                    .iter_mut()
                    .zip(source)
                    .for_each(|(o, &v)| *o += weight * v);
            }
        }
        for (row, pitched_row) in dx_plane.chunks_exact_mut(self.w).zip(pitched.chunks_exact(pitch)) {
            row.copy_from_slice(&pitched_row[..self.w]);
        }
    }

    /// Row pitch of the dW buffers: the padded input width.
    fn weight_grad_pitch(&self) -> usize {
        self.w + self.pads[1] + self.pads[3]
    }

    /// Values of the pitched, dilated dY that the dot products run over: whole `LANES`
    /// blocks, the extra ones zero.
    fn weight_grad_len(&self) -> usize {
        (self.dilated_output().0 * self.weight_grad_pitch()).next_multiple_of(LANES)
    }

    /// Zeroed scratch for [`Self::weight_grad_plane`]: the padded X and the pitched dY.
    pub(super) fn weight_grad_scratch(&self) -> (Vec<f32>, Vec<f32>) {
        let pitch = self.weight_grad_pitch();
        let last_offset = self.reach(0) * pitch + self.reach(1);
        (
            vec![0.0; last_offset + self.weight_grad_len()],
            vec![0.0; self.weight_grad_len()],
        )
    }

    /// Adds `dy[o]·x[o·s + k·d − pad]` over the plane into `lanes[k]`: with X padded and
    /// the dilated dY at the same pitch, tap `k` is the dot product of the dilated dY with
    /// X shifted by `k·d`.
    /// `padded` and `pitched` come from [`Self::weight_grad_scratch`] for this geometry and
    /// keep their zero borders between calls.
    #[inline(always)]
    pub(super) fn weight_grad_plane(
        &self,
        x_plane: &[f32],
        dy_plane: &[f32],
        padded: &mut [f32],
        pitched: &mut [f32],
        lanes: &mut [Lanes],
    ) {
        let pitch = self.weight_grad_pitch();
        for (iy, row) in x_plane.chunks_exact(self.w).enumerate() {
            padded[(iy + self.pads[0]) * pitch + self.pads[1]..][..self.w].copy_from_slice(row);
        }
        self.spread_dy(dy_plane, pitched, pitch, [0, 0]);
        let [dh, dw] = self.dilations;
        let (dy_blocks, _) = pitched.as_chunks::<LANES>();
        for ((ky, kx), acc) in self.taps().zip(lanes.iter_mut()) {
            let offset = ky * dh * pitch + kx * dw;
            let (x_blocks, _) = padded[offset..offset + pitched.len()].as_chunks::<LANES>();
            // A local copy keeps the partial sums in vector registers through the loop.
            let mut sums = *acc;
            for (d, x) in dy_blocks.iter().zip(x_blocks) {
                for i in 0..LANES {
                    sums[i] += d[i] * x[i];
                }
            }
            *acc = sums;
        }
    }
}
