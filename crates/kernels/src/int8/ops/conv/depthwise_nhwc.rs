//! Depthwise convolution on NHWC bytes with AVX-512BW.
//!
//! Channels are the vector lanes, so one kernel serves every filter size, stride,
//! dilation and padding: an output pixel is `Σ_taps x[tap pixel][c] · w'[c][tap]` for 16
//! channels at a time, with each tap's pixel found through a pointer (the input pixel, or
//! a row of input zero points where the tap covers padding — the zero point is what the
//! folded bias expects there, see [`super::depthwise`]).
//!
//! Two taps share one `vpmaddwd`: 32 channels of taps `2p` and `2p + 1` are widened to
//! i16 and interleaved (`vpunpck{l,h}wd`) into i16 pairs per i32 lane, which multiply
//! the i16 weight pairs `(w'[2p], w'[2p+1])` (both taps' `w − zw` fit i16) and add the two
//! products into the lane exactly. The interleave works within 128-bit lanes, so the two
//! accumulator vectors hold channels `{0–3, 8–11, 16–19, 24–27}` and `{4–7, 12–15, …}`;
//! the weight, bias and multiplier tables are stored in that order, and the saturating
//! pack that narrows the requantized i32 lanes to i16 (`vpackssdw`, also per 128-bit lane)
//! puts the channels back in order. The sums are requantized in registers with the
//! crate's rule, in the same operation order as `requant::scalar`, so the bytes equal the
//! plane kernels'.
//!
//! Where the CPU has AVX-512 VNNI and `w − zw` fits i8, four taps share one `vpdpbusd`
//! instead ([`super::depthwise_nhwc_vnni`]); the tap pointers are found the same way.

use std::arch::x86_64::*;

use rayon::prelude::*;

use super::super::params::OutputRequant;
use super::depthwise_nhwc_vnni::{QuadDepthwise, GROUP};
use super::depthwise_nhwc_vnni_run::QuadRun;
use super::Image;
use crate::f32::ConvGeometry;

/// Channels per block (two i32 accumulator vectors).
const LANES: usize = 32;

/// The blocks of `channels`: each block's first channel and the mask of its channels
/// that exist (all 32 bits but in the last, partial block).
pub(super) fn channel_blocks(channels: usize) -> impl Iterator<Item = (usize, u32)> {
    (0..channels).step_by(LANES).map(move |c0| {
        let count = (channels - c0).min(LANES);
        (c0, u32::MAX >> (LANES - count))
    })
}

/// Position of channel `c` in the tables: blocks of 32 channels, each stored as the
/// low-interleave vector then the high-interleave vector (see the module documentation).
fn table_index(c: usize) -> usize {
    let (block, i) = (c / LANES, c % LANES);
    let (lane, within) = (i / 8, i % 8);
    block * LANES + (within / 4) * 16 + lane * 4 + within % 4
}

/// Filters with more taps than this take the plane kernels (through transposes).
pub(super) const MAX_TAPS: usize = 63;

/// Weights and requantization of one depthwise conv, padded to whole vectors.
#[derive(Debug)]
pub(super) struct NhwcDepthwise {
    channels: usize,
    /// Channels rounded up to whole vectors: the row length of the tables below.
    padded: usize,
    /// `[pair][padded]`: `w'[2p]` in the low and `w'[2p + 1]` in the high 16 bits (0 past
    /// the last tap and the last channel).
    pairs: Vec<i32>,
    bias: Vec<i32>,
    multiplier: Vec<f32>,
    zero_point: i32,
    /// Output range minus the zero point.
    lo: f32,
    hi: f32,
    /// One pixel of input zero points: what taps over padding read.
    zero_pixel: Vec<u8>,
    /// The four-tap arithmetic, which replaces the pair tables above where it applies.
    quads: Option<Box<QuadDepthwise>>,
}

impl NhwcDepthwise {
    /// `weights` are `[C, taps]` values `w − zw` (in -255..=255); `output` holds the bias
    /// with the input zero point already folded in. `None` without AVX-512BW or when the
    /// filter has more than [`MAX_TAPS`] taps.
    pub(super) fn new(
        taps: usize,
        weights: &[i32],
        output: &OutputRequant,
        input_zero_point: u8,
    ) -> Option<NhwcDepthwise> {
        let cpu = std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512bw");
        if !cpu || taps > MAX_TAPS || taps == 0 {
            return None;
        }
        let channels = output.bias.len();
        let padded = channels.div_ceil(LANES) * LANES;
        let pair_count = taps.div_ceil(2);
        let mut pairs = vec![0i32; pair_count * padded];
        let mut bias = vec![0; padded];
        let mut multiplier = vec![1.0; padded];
        for (c, filter) in weights.chunks_exact(taps).enumerate() {
            let at = table_index(c);
            for p in 0..pair_count {
                let low = filter[2 * p] as i16 as u16;
                let high = filter.get(2 * p + 1).map_or(0, |w| *w as i16 as u16);
                pairs[p * padded + at] = (u32::from(low) | (u32::from(high) << 16)) as i32;
            }
            bias[at] = output.bias[c];
            multiplier[at] = output.multiplier[c];
        }
        let zp = output.zero_point;
        Some(NhwcDepthwise {
            channels,
            padded,
            pairs,
            bias,
            multiplier,
            zero_point: zp,
            lo: (output.range.0 - zp) as f32,
            hi: (output.range.1 - zp) as f32,
            zero_pixel: vec![input_zero_point; channels],
            quads: QuadDepthwise::new(taps, weights, output).map(Box::new),
        })
    }

    /// Name of the kernel that does the arithmetic.
    pub(super) fn kernel_name(&self) -> &'static str {
        if self.quads.is_some() {
            "avx512vnni_dwconv_nhwc_u8s8"
        } else {
            "avx512_dwconv_nhwc_u8s8"
        }
    }

    /// One batch item: `x` is `[h, w, C]`, `out` is `[oh, ow, C]`. Output rows run in
    /// parallel when the rayon pool has several threads.
    pub(super) fn run(&self, g: &ConvGeometry, image: &Image, x: &[u8], out: &mut [u8]) {
        let row_len = image.ow * self.channels;
        let row = |(oy, out_row): (usize, &mut [u8])| self.run_row(g, image, x, oy, out_row);
        if rayon::current_num_threads() > 1 {
            out.par_chunks_mut(row_len).enumerate().for_each(row);
        } else {
            out.chunks_mut(row_len).enumerate().for_each(row);
        }
    }

    fn run_row(&self, g: &ConvGeometry, image: &Image, x: &[u8], oy: usize, out: &mut [u8]) {
        let [kh, kw] = g.kernel;
        let [sh, sw] = g.strides;
        let [dh, dw] = g.dilations;
        let c = self.channels;
        let taps = kh * kw;
        let mut rows = [None; MAX_TAPS];
        for (ky, row) in rows.iter_mut().enumerate().take(kh) {
            let iy = (oy * sh + ky * dh) as isize - g.pads[0] as isize;
            *row = (0..image.h as isize).contains(&iy).then_some(iy as usize);
        }
        let window = Window {
            x,
            rows: &rows[..kh],
            top: rows[..kh].iter().all(Option::is_some).then(|| rows[0]).flatten(),
            row_step: dh * image.w,
            width: image.w,
            channels: c,
            zero: self.zero_pixel.as_ptr(),
        };
        let mut pointers = [window.zero; POINTERS];
        let mut done = 0;
        if let Some((quads, runs)) = self.quads.as_deref().and_then(|q| Some((q, q.runs_for(g)?))) {
            done = self.run_runs(quads, runs, &window, g.pads[1], out);
        }
        let offsets = window.offsets(kw, dw);
        for (ox, pixel) in out.chunks_exact_mut(c).enumerate().skip(done) {
            let left = (ox * sw) as isize - g.pads[1] as isize;
            window.gather(left, kw, dw, &offsets, &mut pointers[..taps]);
            // Taps past the last one (to a whole pair or group) have weight 0; any
            // readable pixel will do.
            let last = pointers[taps - 1];
            pointers[taps..taps.next_multiple_of(GROUP)].fill(last);
            // SAFETY: `new` checked AVX-512F/BW (and `QuadDepthwise::new` its features);
            // every pointer addresses `c` readable bytes (an input pixel inside `x`, or
            // the zero pixel); the tables hold `padded` values per pair or group; `pixel`
            // has `c` bytes.
            unsafe {
                match &self.quads {
                    Some(quads) => quads.pixel(&pointers[..taps.next_multiple_of(GROUP)], pixel),
                    None => self.pixel(&pointers[..taps.div_ceil(2) * 2], pixel),
                }
            }
        }
    }

    /// The outputs of one row that runs of adjacent pixels serve (all but the last few):
    /// runs in batches of up to [`RUN_POINTERS`] pointers, then a shorter run where one
    /// pays. Returns how many outputs were written.
    fn run_runs(
        &self,
        quads: &QuadDepthwise,
        runs: &QuadRun,
        window: &Window,
        pad_left: usize,
        out: &mut [u8],
    ) -> usize {
        let c = self.channels;
        let width = out.len() / c;
        let (outputs, span) = (runs.outputs(), runs.span());
        let per_run = window.rows.len() * span;
        let offsets = window.offsets(span, 1);
        let mut pointers = [window.zero; RUN_POINTERS];
        // Pointers of the runs whose first outputs are `first`, `first + run_outputs`, ….
        let gather = |pointers: &mut [*const u8], first: usize, run_outputs: usize| {
            for (run, run_pointers) in pointers.chunks_exact_mut(per_run).enumerate() {
                let left = (first + run * run_outputs) as isize - pad_left as isize;
                window.gather(left, span, 1, &offsets, run_pointers);
            }
        };
        let mut done = 0;
        while done + outputs <= width {
            let count = ((width - done) / outputs).min(RUN_POINTERS / per_run);
            let batch = &mut pointers[..count * per_run];
            gather(batch, done, outputs);
            let end = done + count * outputs;
            // SAFETY: `runs` belongs to `quads`, whose `new` checked the CPU; every
            // pointer addresses `c` readable bytes (see `run_row`).
            unsafe { runs.run(quads, outputs, batch, &mut out[done * c..end * c]) };
            done = end;
        }
        if let Some(rest) = runs.shorter(width - done) {
            let run = &mut pointers[..per_run];
            gather(run, done, rest);
            // SAFETY: as above.
            unsafe { runs.run(quads, rest, run, &mut out[done * c..(done + rest) * c]) };
            done += rest;
        }
        done
    }

    /// # Safety
    /// AVX-512F and BW; see the call site.
    #[target_feature(enable = "avx512f,avx512bw")]
    unsafe fn pixel(&self, pointers: &[*const u8], out: &mut [u8]) {
        for (c0, mask) in channel_blocks(self.channels) {
            self.block(pointers, c0, mask, out.as_mut_ptr());
        }
    }

    /// Channels `c0..c0 + 32` (those set in `mask`) of one output pixel.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    unsafe fn block(&self, pointers: &[*const u8], c0: usize, mask: u32, out: *mut u8) {
        let load = |p: *const u8| {
            if mask == u32::MAX {
                _mm512_cvtepu8_epi16(_mm256_loadu_si256(p.add(c0).cast()))
            } else {
                _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(mask, p.add(c0).cast()))
            }
        };
        let table = |t: &[i32], p: usize, half: usize| {
            _mm512_loadu_si512(t.as_ptr().add(p * self.padded + c0 + half).cast())
        };
        let (mut low, mut high) = (_mm512_setzero_si512(), _mm512_setzero_si512());
        for (p, pair) in pointers.chunks_exact(2).enumerate() {
            let (a, b) = (load(pair[0]), load(pair[1]));
            low = _mm512_add_epi32(
                low,
                _mm512_madd_epi16(_mm512_unpacklo_epi16(a, b), table(&self.pairs, p, 0)),
            );
            high = _mm512_add_epi32(
                high,
                _mm512_madd_epi16(_mm512_unpackhi_epi16(a, b), table(&self.pairs, p, 16)),
            );
        }
        let low = self.requantize(low, c0);
        let high = self.requantize(high, c0 + 16);
        // In range after the clamp, so the saturating pack and the truncation to bytes
        // are exact (the low byte is the u8 value or the i8 two's complement).
        _mm512_mask_cvtepi16_storeu_epi8(out.add(c0).cast(), mask, _mm512_packs_epi32(low, high));
    }

    /// The rule on the 16 lanes whose table entries start at `at`; returns `q + zp`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn requantize(&self, sums: __m512i, at: usize) -> __m512i {
        let bias = _mm512_loadu_si512(self.bias.as_ptr().add(at).cast());
        let multiplier = _mm512_loadu_ps(self.multiplier.as_ptr().add(at));
        let v = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(sums, bias)), multiplier);
        let v = _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(self.lo)), _mm512_set1_ps(self.hi));
        let q = _mm512_cvt_roundps_epi32::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(v);
        _mm512_add_epi32(q, _mm512_set1_epi32(self.zero_point))
    }
}

/// Pointers held for one output pixel: every tap, rounded up to whole groups.
const POINTERS: usize = MAX_TAPS.next_multiple_of(GROUP);

/// Pointers held for a batch of runs of adjacent outputs (eight 5×5 runs of 5 rows of 8
/// pixels).
const RUN_POINTERS: usize = 320;

/// The input rows under one output row, for finding tap pixels.
struct Window<'a> {
    /// One batch item, `[h, w, C]`.
    x: &'a [u8],
    /// Input row of each filter row, or None over padding.
    rows: &'a [Option<usize>],
    /// The first filter row's input row, where every filter row is in the image.
    top: Option<usize>,
    /// Pixels from one filter row's input row to the next one's.
    row_step: usize,
    width: usize,
    channels: usize,
    /// One pixel of input zero points: what taps over padding read.
    zero: *const u8,
}

impl Window<'_> {
    /// Byte offsets of `columns` pixels `step` apart in each filter row from the first,
    /// row after row, for windows that lie in the image.
    fn offsets(&self, columns: usize, step: usize) -> [usize; POINTERS] {
        let mut offsets = [0; POINTERS];
        for (t, offset) in offsets.iter_mut().enumerate().take(self.rows.len() * columns) {
            *offset = ((t / columns) * self.row_step + (t % columns) * step) * self.channels;
        }
        offsets
    }

    /// Fills `pointers` with `columns` pixels per filter row, `step` apart from input
    /// column `left`, row after row: the input pixel, or the zero pixel over padding.
    /// `offsets` are `self.offsets(columns, step)`.
    #[inline(always)]
    fn gather(
        &self,
        left: isize,
        columns: usize,
        step: usize,
        offsets: &[usize; POINTERS],
        pointers: &mut [*const u8],
    ) {
        let count = self.rows.len() * columns;
        debug_assert_eq!(pointers.len(), count);
        let right = left + ((columns - 1) * step) as isize;
        let c = self.channels;
        match self.top {
            Some(top) if left >= 0 && right < self.width as isize => {
                // Every tap in the image, at a fixed offset from the first.
                let base = self.x[(top * self.width + left as usize) * c..].as_ptr();
                for (pointer, offset) in pointers.iter_mut().zip(&offsets[..count]) {
                    *pointer = base.wrapping_add(*offset);
                }
            }
            _ => {
                for (row, row_pointers) in self.rows.iter().zip(pointers.chunks_exact_mut(columns)) {
                    for (j, pointer) in row_pointers.iter_mut().enumerate() {
                        let ix = left + (j * step) as isize;
                        *pointer = match row {
                            Some(iy) if (0..self.width as isize).contains(&ix) => {
                                self.x[(iy * self.width + ix as usize) * c..].as_ptr()
                            }
                            _ => self.zero,
                        };
                    }
                }
            }
        }
    }
}
