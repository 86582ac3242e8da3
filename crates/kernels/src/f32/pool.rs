//! Max, average and global-average pooling over NCHW planes, with ONNX semantics.

use rayon::prelude::*;

/// Max/average pooling geometry, NCHW. `pads` are `[top, left, bottom, right]`.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolGeometry {
    pub kernel: [usize; 2],
    pub strides: [usize; 2],
    pub pads: [usize; 4],
    pub dilations: [usize; 2],
    pub ceil_mode: bool,
    /// Average pooling only: whether padded cells count in the divisor. Cells a ceil-mode
    /// window reaches beyond the end padding never count.
    pub count_include_pad: bool,
}

impl PoolGeometry {
    /// Output height and width for an input of `h`×`w`. With `ceil_mode`, a last window
    /// that would start inside the end padding is dropped (ONNX, PyTorch).
    pub fn output_hw(&self, h: usize, w: usize) -> (usize, usize) {
        (self.axis(0, h).output, self.axis(1, w).output)
    }

    fn axis(&self, axis: usize, size: usize) -> Axis {
        let (k, s, d) = (self.kernel[axis], self.strides[axis], self.dilations[axis]);
        let (pad_begin, pad_end) = (self.pads[axis], self.pads[axis + 2]);
        let span = d * (k - 1) + 1;
        let room = (size + pad_begin + pad_end).saturating_sub(span);
        let mut output = if self.ceil_mode {
            room.div_ceil(s)
        } else {
            room / s
        } + 1;
        if self.ceil_mode && (output - 1) * s >= size + pad_begin {
            output -= 1;
        }
        Axis {
            size,
            kernel: k,
            stride: s,
            dilation: d,
            pad_begin,
            pad_end,
            output,
        }
    }
}

/// One spatial axis of a pooling window.
#[derive(Clone, Copy)]
struct Axis {
    size: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
    pad_begin: usize,
    pad_end: usize,
    output: usize,
}

impl Axis {
    /// Window taps of output `o` that fall inside the input, as `(first input index, count)`
    /// stepping by the dilation, and how many taps fall inside input or padding.
    fn window(&self, o: usize) -> (usize, usize, usize) {
        let start = (o * self.stride) as isize - self.pad_begin as isize;
        let d = self.dilation as isize;
        let mut first = None;
        let (mut inside, mut padded) = (0, 0);
        for t in 0..self.kernel as isize {
            let p = start + t * d;
            if p >= 0 && p < self.size as isize {
                first.get_or_insert(p as usize);
                inside += 1;
            }
            if p < (self.size + self.pad_end) as isize {
                padded += 1;
            }
        }
        (first.unwrap_or(0), inside, padded)
    }
}

/// Max pooling. `planes = batch * channels`; `x` is `[planes, h, w]` and `out` is
/// `[planes, oh, ow]` (see [`PoolGeometry::output_hw`]). Padding never wins the max; a window
/// entirely in padding yields `-inf`. Panics (assert) when a slice is too short.
pub fn max_pool2d(g: &PoolGeometry, x: &[f32], planes: usize, h: usize, w: usize, out: &mut [f32]) {
    pool(g, x, planes, h, w, out, |xs, rows, cols, _| {
        let mut best = f32::NEG_INFINITY;
        for r in rows {
            for c in cols.clone() {
                best = best.max(xs[r + c]);
            }
        }
        best
    });
}

/// Average pooling, same layout as [`max_pool2d`]. The divisor counts the taps inside the
/// input, plus those in the padding when `count_include_pad`; a window without any counted
/// tap (possible with dilation) yields 0.
pub fn avg_pool2d(g: &PoolGeometry, x: &[f32], planes: usize, h: usize, w: usize, out: &mut [f32]) {
    let include_pad = g.count_include_pad;
    pool(g, x, planes, h, w, out, |xs, rows, cols, (inside, padded)| {
        let mut sum = 0.0;
        for r in rows {
            for c in cols.clone() {
                sum += xs[r + c];
            }
        }
        let divisor = if include_pad { padded } else { inside };
        if divisor == 0 {
            0.0
        } else {
            sum / divisor as f32
        }
    });
}

/// Indices of a window's taps along one axis (row offsets or column indices).
type Taps = std::iter::StepBy<std::ops::Range<usize>>;

/// Runs `reduce` over every output window. It gets the plane, the row offsets and column
/// indices of the window's taps inside the input, and the tap counts (inside, inside+padding).
fn pool<F>(g: &PoolGeometry, x: &[f32], planes: usize, h: usize, w: usize, out: &mut [f32], reduce: F)
where
    F: Fn(&[f32], Taps, Taps, (usize, usize)) -> f32 + Sync,
{
    let (ya, xa) = (g.axis(0, h), g.axis(1, w));
    let (oh, ow) = (ya.output, xa.output);
    assert!(x.len() >= planes * h * w, "pool: input too short");
    assert!(out.len() >= planes * oh * ow, "pool: output too short");
    if oh * ow == 0 {
        return;
    }
    let cols: Vec<(usize, usize, usize)> = (0..ow).map(|o| xa.window(o)).collect();
    let one_plane = |(xs, ys): (&[f32], &mut [f32])| {
        for (oy, row) in ys.chunks_exact_mut(ow).enumerate() {
            let (r0, rn, rp) = ya.window(oy);
            let rows = (r0 * w..(r0 + rn * ya.dilation) * w).step_by(ya.dilation * w);
            for (o, &(c0, cn, cp)) in row.iter_mut().zip(&cols) {
                let cs = (c0..c0 + cn * xa.dilation).step_by(xa.dilation);
                *o = reduce(xs, rows.clone(), cs, (rn * cn, rp * cp));
            }
        }
    };
    let (xs, ys) = (&x[..planes * h * w], &mut out[..planes * oh * ow]);
    if rayon::current_num_threads() > 1 {
        xs.par_chunks_exact(h * w)
            .zip(ys.par_chunks_exact_mut(oh * ow))
            .for_each(one_plane);
    } else {
        xs.chunks_exact(h * w)
            .zip(ys.chunks_exact_mut(oh * ow))
            .for_each(one_plane);
    }
}

/// `out[p]` = mean of `x[p*hw .. (p+1)*hw]`. Panics (assert) when a slice is too short.
pub fn global_avg_pool(x: &[f32], planes: usize, hw: usize, out: &mut [f32]) {
    assert!(
        x.len() >= planes * hw && out.len() >= planes,
        "global_avg_pool: slice too short"
    );
    if hw == 0 {
        out[..planes].fill(f32::NAN);
        return;
    }
    for (o, plane) in out[..planes].iter_mut().zip(x.chunks_exact(hw)) {
        *o = plane.iter().sum::<f32>() / hw as f32;
    }
}
