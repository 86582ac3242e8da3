//! Quantized pooling over NCHW u8 planes: global average, average and max.
//!
//! - Averages accumulate `Σ (x − zx)` in i32 and requantize with the crate's rule
//!   (`int8::requant`), multiplier `x_scale / (y_scale · count)` computed in f32, so one
//!   rounding turns the mean into the output.
//! - Max pooling is exact on u8: quantization is monotonic, so the max of quantized values
//!   is the quantized max. With equal input and output parameters (and no narrower clamp)
//!   the kernel is a pure max; otherwise the max goes through a 256-entry requantization
//!   table ([`super::lut`]). Padding never wins a max (ONNX semantics).

use super::super::isa::Tier;
use super::super::requant::scalar::requantize_one;
use super::super::requant::{requantize_u8, ChannelAxis, PerChannel, RequantParams};
use super::error::{check_len, QOpError, Result};
use super::lut::requant_table;
use super::params::{validate_range, OutputType, QParams};
use crate::f32::PoolGeometry;

/// Input and output quantization and the output clamp range of a pooling op.
#[derive(Debug, Clone, Copy)]
pub struct PoolQuant {
    pub input: QParams,
    pub output: QParams,
    pub range: (i32, i32),
}

impl PoolQuant {
    fn validate(&self, op: &'static str) -> Result<()> {
        self.input.validate(op, "input", (0, 255))?;
        self.output.validate(op, "output", (0, 255))?;
        validate_range(op, self.range, self.output.zero_point, OutputType::U8)
    }
}

/// `x` holds `planes` (batch × channels) planes of `hw` values; `out` gets one value per
/// plane: the requantized mean.
pub fn qglobal_avg_pool(
    tier: Tier,
    x: &[u8],
    planes: usize,
    hw: usize,
    q: &PoolQuant,
    out: &mut [u8],
) -> Result<()> {
    const OP: &str = "QLinearGlobalAveragePool";
    q.validate(OP)?;
    check_len("pool input", planes * hw, x.len())?;
    check_len("pool output", planes, out.len())?;
    if hw == 0 {
        return Err(QOpError::InvalidGeometry {
            op: OP,
            why: "empty input planes".into(),
        });
    }
    let zx = q.input.zero_point;
    let acc: Vec<i32> = x
        .chunks_exact(hw)
        .map(|plane| {
            let sum = plane.iter().fold(0i32, |s, v| s.wrapping_add(i32::from(*v)));
            sum.wrapping_sub((hw as i32).wrapping_mul(zx))
        })
        .collect();
    let params = RequantParams {
        multiplier: PerChannel::Same(q.input.scale / (q.output.scale * hw as f32)),
        bias: PerChannel::Same(0),
        zero_point: q.output.zero_point,
        range: q.range,
    };
    requantize_u8(tier, (1, planes), &acc, ChannelAxis::Columns, &params, out)?;
    Ok(())
}

/// As [`qglobal_avg_pool`] for NHWC input: `x` holds `batch` images of `pixels × channels`
/// bytes, `out` gets `batch × channels` values (the same bytes as an NCHW `[N, C, 1, 1]`).
/// Sums wrap in i32 like the NCHW kernel's, so the order of addition does not matter.
pub fn qglobal_avg_pool_nhwc(
    tier: Tier,
    x: &[u8],
    (batch, pixels, channels): (usize, usize, usize),
    q: &PoolQuant,
    out: &mut [u8],
) -> Result<()> {
    const OP: &str = "QLinearGlobalAveragePool";
    q.validate(OP)?;
    check_len("pool input", batch * pixels * channels, x.len())?;
    check_len("pool output", batch * channels, out.len())?;
    if pixels == 0 {
        return Err(QOpError::InvalidGeometry {
            op: OP,
            why: "empty input planes".into(),
        });
    }
    let zx = q.input.zero_point;
    let mut acc = vec![0i32; batch * channels];
    if channels > 0 {
        for (image, sums) in x
            .chunks_exact(pixels * channels)
            .zip(acc.chunks_exact_mut(channels))
        {
            for pixel in image.chunks_exact(channels) {
                for (s, v) in sums.iter_mut().zip(pixel) {
                    *s = s.wrapping_add(i32::from(*v));
                }
            }
            let offset = (pixels as i32).wrapping_mul(zx);
            sums.iter_mut().for_each(|s| *s = s.wrapping_sub(offset));
        }
    }
    let params = RequantParams {
        multiplier: PerChannel::Same(q.input.scale / (q.output.scale * pixels as f32)),
        bias: PerChannel::Same(0),
        zero_point: q.output.zero_point,
        range: q.range,
    };
    requantize_u8(
        tier,
        (1, batch * channels),
        &acc,
        ChannelAxis::Columns,
        &params,
        out,
    )?;
    Ok(())
}

/// Average pooling; `x` is `planes` planes of `h × w`, `out` is `planes` planes of the
/// geometry's output size. The divisor counts padded cells when
/// `count_include_pad` (they hold real zero), never cells past the end padding.
pub fn qavg_pool2d(
    g: &PoolGeometry,
    x: &[u8],
    planes: usize,
    (h, w): (usize, usize),
    q: &PoolQuant,
    out: &mut [u8],
) -> Result<()> {
    const OP: &str = "QLinearAveragePool";
    q.validate(OP)?;
    let (oh, ow) = check_pool(OP, g, x, planes, (h, w), out)?;
    let (zx, zy) = (q.input.zero_point, q.output.zero_point);
    let (lo, hi) = ((q.range.0 - zy) as f32, (q.range.1 - zy) as f32);
    let rows: Vec<Window> = (0..oh).map(|o| Window::new(g, 0, o, h)).collect();
    let cols: Vec<Window> = (0..ow).map(|o| Window::new(g, 1, o, w)).collect();
    for (plane, out_plane) in x.chunks_exact(h * w).zip(out.chunks_exact_mut(oh * ow)) {
        for (ry, row_win) in rows.iter().enumerate() {
            for (cx, col_win) in cols.iter().enumerate() {
                let mut sum = 0i32;
                for iy in row_win.taps() {
                    for ix in col_win.taps() {
                        sum += i32::from(plane[iy * w + ix]) - zx;
                    }
                }
                let count = if g.count_include_pad {
                    row_win.padded_count * col_win.padded_count
                } else {
                    row_win.valid_count() * col_win.valid_count()
                };
                let y = if count == 0 {
                    zy
                } else {
                    let multiplier = q.input.scale / (q.output.scale * count as f32);
                    requantize_one(sum, 0, multiplier, zy, lo, hi)
                };
                out_plane[ry * ow + cx] = y as u8;
            }
        }
    }
    Ok(())
}

/// Max pooling; shapes as in [`qavg_pool2d`]. A window lying wholly in padding yields the
/// requantized input zero point (real 0).
///
/// Separable: a window's max is the max over its rows of each row's max over its columns,
/// so each input row is reduced once per output column, and the output rows are
/// element-wise maxima of those reduced rows, which vectorise. (Looping over every tap of
/// every window cost 15% of ResNet-50's INT8 run.)
pub fn qmax_pool2d(
    g: &PoolGeometry,
    x: &[u8],
    planes: usize,
    (h, w): (usize, usize),
    q: &PoolQuant,
    out: &mut [u8],
) -> Result<()> {
    const OP: &str = "QLinearMaxPool";
    q.validate(OP)?;
    let (oh, ow) = check_pool(OP, g, x, planes, (h, w), out)?;
    let table = requant_table(q.input, q.output, q.range);
    let identity = table.iter().enumerate().all(|(i, v)| usize::from(*v) == i);
    let taps = |axis: usize, count: usize, size: usize| -> Vec<Vec<usize>> {
        (0..count)
            .map(|o| Window::new(g, axis, o, size).taps().collect())
            .collect()
    };
    let (row_taps, col_taps) = (taps(0, oh, h), taps(1, ow, w));
    let empty = table[usize::from(q.input.zero_point as u8)];
    // `row_max[iy * ow + ox]`: the max of input row iy over output column ox's taps.
    let mut row_max = vec![0u8; h * ow];
    for (plane, out_plane) in x.chunks_exact(h * w).zip(out.chunks_exact_mut(oh * ow)) {
        for (row, maxima) in plane.chunks_exact(w).zip(row_max.chunks_exact_mut(ow)) {
            for (m, taps) in maxima.iter_mut().zip(&col_taps) {
                *m = taps.iter().map(|&ix| row[ix]).max().unwrap_or(0);
            }
        }
        for (out_row, taps) in out_plane.chunks_exact_mut(ow).zip(&row_taps) {
            out_row.fill(0);
            for &iy in taps {
                let maxima = &row_max[iy * ow..][..ow];
                out_row
                    .iter_mut()
                    .zip(maxima)
                    .for_each(|(o, m)| *o = (*o).max(*m));
            }
            if !identity {
                out_row.iter_mut().for_each(|o| *o = table[usize::from(*o)]);
            }
            if taps.is_empty() {
                out_row.fill(empty);
            } else {
                for (o, col) in out_row.iter_mut().zip(&col_taps) {
                    if col.is_empty() {
                        *o = empty;
                    }
                }
            }
        }
    }
    Ok(())
}

fn check_pool(
    op: &'static str,
    g: &PoolGeometry,
    x: &[u8],
    planes: usize,
    (h, w): (usize, usize),
    out: &[u8],
) -> Result<(usize, usize)> {
    if g.kernel.contains(&0) || g.strides.contains(&0) || g.dilations.contains(&0) || h == 0 || w == 0 {
        return Err(QOpError::InvalidGeometry {
            op,
            why: format!("zero kernel, stride, dilation or input size in {g:?} for {h}x{w}"),
        });
    }
    let (oh, ow) = g.output_hw(h, w);
    check_len("pool input", planes * h * w, x.len())?;
    check_len("pool output", planes * oh * ow, out.len())?;
    Ok((oh, ow))
}

/// The taps of one output position along one axis.
struct Window {
    /// First tap's input index (may be negative: in the begin padding).
    start: isize,
    dilation: usize,
    kernel: usize,
    size: usize,
    /// Taps inside the input or its padding (not past the end padding).
    padded_count: usize,
}

impl Window {
    fn new(g: &PoolGeometry, axis: usize, o: usize, size: usize) -> Window {
        let (k, s, d) = (g.kernel[axis], g.strides[axis], g.dilations[axis]);
        let start = (o * s) as isize - g.pads[axis] as isize;
        let end_limit = (size + g.pads[axis + 2]) as isize;
        let padded_count = (0..k).filter(|i| (start + (i * d) as isize) < end_limit).count();
        Window {
            start,
            dilation: d,
            kernel: k,
            size,
            padded_count,
        }
    }

    /// Input indices of the taps inside the input.
    fn taps(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.kernel)
            .map(move |i| self.start + (i * self.dilation) as isize)
            .filter(move |t| (0..self.size as isize).contains(t))
            .map(|t| t as usize)
    }

    fn valid_count(&self) -> usize {
        self.taps().count()
    }
}
