//! The arithmetic of the NHWC depthwise kernel with AVX-512 VNNI: four taps per
//! `vpdpbusd`, for convs whose zero-point-adjusted weights `w − zw` fit i8.
//!
//! `vpdpbusd` adds four u8 × i8 products to each i32 lane. With channels as lanes, lane
//! `c` must hold the four taps' input bytes of channel `c`: 32 channels of four tap
//! pixels are interleaved by two rounds of byte and word unpacks (8 in-lane shuffles,
//! which ports 1 and 5 both run at 256 bits) into four vectors of 8 lanes, and each takes
//! one `vpdpbusd` against the four taps' weights of its channels. The pair kernel in
//! [`super::depthwise_nhwc`] spends as many shuffles on two taps.
//!
//! The unpacks work within 128-bit lanes, so accumulator `q` holds channels
//! `{4q..4q+4, 16+4q..16+4q+4}` of the block; the weight, bias and multiplier tables are
//! stored in that order, and the saturating packs that narrow the requantized lanes
//! (also per 128-bit lane) put the channels back in order. Accumulators start from the
//! bias (the sum wraps like the scalar kernel's `acc + bias`), and the requantization is
//! the crate's rule, step for step, so the bytes equal the plane kernels'.
//!
//! A last group with a single tap (3×3 and 5×5 filters) is spread into the four
//! accumulators' lane order by four byte permutes (`vpermb`, AVX-512 VBMI) instead of the
//! eight unpacks: its other three weights are 0, so the other bytes of each lane do not
//! matter.
//!
//! Runs of adjacent outputs of square 3×3 and 5×5 filters with horizontal stride 1 share
//! their interleaved input pixels instead ([`super::depthwise_nhwc_vnni_run`]).

use std::arch::x86_64::*;

use super::super::params::OutputRequant;
use super::depthwise_nhwc::channel_blocks;
use super::depthwise_nhwc_vnni_run::QuadRun;
use crate::f32::ConvGeometry;

/// Channels per block: one 256-bit vector of input bytes per tap.
pub(super) const LANES: usize = 32;

/// Taps per `vpdpbusd`.
pub(super) const GROUP: usize = 4;

/// Byte permutes that put channel `16·half + 4q + r` into byte 0 of lane `4·half + r` of
/// accumulator `q`'s input (the unpacks' order); bytes 1–3 meet weight 0.
const SPREAD: [[u8; LANES]; 4] = {
    let mut spread = [[0u8; LANES]; 4];
    let mut q = 0;
    while q < 4 {
        let mut lane = 0;
        while lane < 8 {
            spread[q][4 * lane] = (16 * (lane / 4) + 4 * q + lane % 4) as u8;
            lane += 1;
        }
        q += 1;
    }
    spread
};

/// Position of channel `c` in the tables (see the module documentation).
pub(super) fn table_index(c: usize) -> usize {
    let (block, i) = (c / LANES, c % LANES);
    let (half, within) = (i / 16, i % 16);
    block * LANES + (within / 4) * 8 + half * 4 + within % 4
}

/// Weights and requantization of one depthwise conv in the order the kernel reads them.
#[derive(Debug)]
pub(super) struct QuadDepthwise {
    channels: usize,
    /// Channels rounded up to whole blocks: the row length of the tables.
    padded: usize,
    /// `[group][padded]`: taps `4g..4g + 4` of the channel as i8 bytes, low byte first
    /// (0 past the last tap and the last channel).
    quads: Vec<i32>,
    bias: Vec<i32>,
    multiplier: Vec<f32>,
    zero_point: i16,
    /// Output range minus the zero point.
    lo: f32,
    hi: f32,
    /// Whether outputs are non-negative (u8), narrowed by the unsigned pack.
    unsigned: bool,
    /// Whether the last group holds one tap (spread by `vpermb`).
    single_tail: bool,
    /// Tables for runs of adjacent outputs, for square filters that have them.
    runs: Option<QuadRun>,
}

impl QuadDepthwise {
    /// `weights` are `[C, taps]` values `w − zw`; `output` holds the bias with the input
    /// zero point folded in. `None` without AVX-512 BW/VL/VNNI/VBMI or when a weight does
    /// not fit i8.
    pub(super) fn new(taps: usize, weights: &[i32], output: &OutputRequant) -> Option<QuadDepthwise> {
        let cpu = std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vl")
            && std::is_x86_feature_detected!("avx512vnni")
            && std::is_x86_feature_detected!("avx512vbmi");
        let fits = weights.iter().all(|w| (-128..=127).contains(w));
        if !cpu || !fits || taps == 0 {
            return None;
        }
        let channels = output.bias.len();
        let padded = channels.div_ceil(LANES) * LANES;
        let groups = taps.div_ceil(GROUP);
        let mut quads = vec![0i32; groups * padded];
        let mut bias = vec![0; padded];
        let mut multiplier = vec![1.0; padded];
        for (c, filter) in weights.chunks_exact(taps).enumerate() {
            let at = table_index(c);
            for (g, group) in filter.chunks(GROUP).enumerate() {
                let mut bytes = [0u8; GROUP];
                for (b, w) in bytes.iter_mut().zip(group) {
                    *b = *w as i8 as u8;
                }
                quads[g * padded + at] = i32::from_le_bytes(bytes);
            }
            bias[at] = output.bias[c];
            multiplier[at] = output.multiplier[c];
        }
        let zp = output.zero_point;
        Some(QuadDepthwise {
            channels,
            padded,
            quads,
            bias,
            multiplier,
            zero_point: zp as i16,
            lo: (output.range.0 - zp) as f32,
            hi: (output.range.1 - zp) as f32,
            unsigned: output.range.0 >= 0,
            single_tail: taps % GROUP == 1,
            runs: QuadRun::new(taps, weights, channels),
        })
    }

    /// Channels of the conv (the row length of an NHWC pixel).
    pub(super) fn channels(&self) -> usize {
        self.channels
    }

    /// The run tables, where they serve this geometry.
    pub(super) fn runs_for(&self, g: &ConvGeometry) -> Option<&QuadRun> {
        self.runs.as_ref().filter(|runs| runs.fits(g))
    }

    /// One output pixel: `pointers` holds a whole number of groups of tap pixels (each
    /// addressing `channels` readable bytes), `out` its `channels` bytes.
    ///
    /// # Safety
    /// `new` returned `Some` on this CPU; see above for the pointers.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi")]
    pub(super) unsafe fn pixel(&self, pointers: &[*const u8], out: &mut [u8]) {
        for (c0, mask) in channel_blocks(self.channels) {
            self.block(pointers, c0, mask, out.as_mut_ptr());
        }
    }

    /// Channels `c0..c0 + 32` (those set in `mask`) of one output pixel.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi")]
    unsafe fn block(&self, pointers: &[*const u8], c0: usize, mask: u32, out: *mut u8) {
        let load = |p: *const u8| load_channels(p, c0, mask);
        let table = |t: *const i32, q: usize| _mm256_loadu_si256(t.add(c0 + 8 * q).cast());
        let mut acc = self.bias(c0);
        let groups = pointers.len() / GROUP - usize::from(self.single_tail);
        for (g, taps) in pointers.chunks_exact(GROUP).take(groups).enumerate() {
            let x = interleave(load(taps[0]), load(taps[1]), load(taps[2]), load(taps[3]));
            let weights = self.quads.as_ptr().add(g * self.padded);
            for q in 0..4 {
                acc[q] = _mm256_dpbusd_epi32(acc[q], x[q], table(weights, q));
            }
        }
        if self.single_tail {
            let a = load(pointers[groups * GROUP]);
            let weights = self.quads.as_ptr().add(groups * self.padded);
            for (q, spread) in SPREAD.iter().enumerate() {
                let x = _mm256_permutexvar_epi8(_mm256_loadu_si256(spread.as_ptr().cast()), a);
                acc[q] = _mm256_dpbusd_epi32(acc[q], x, table(weights, q));
            }
        }
        self.finish(acc, c0, mask, out);
    }

    /// The accumulators of channels `c0..c0 + 32` before any tap: the bias.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    pub(super) unsafe fn bias(&self, c0: usize) -> [__m256i; 4] {
        std::array::from_fn(|q| _mm256_loadu_si256(self.bias.as_ptr().add(c0 + 8 * q).cast()))
    }

    /// Requantizes the sums of channels `c0..c0 + 32` and stores those set in `mask` at
    /// `out + c0`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    pub(super) unsafe fn finish(&self, acc: [__m256i; 4], c0: usize, mask: u32, out: *mut u8) {
        let (lo, hi) = (_mm256_set1_ps(self.lo), _mm256_set1_ps(self.hi));
        let q: [__m256i; 4] = std::array::from_fn(|q| {
            let x = _mm256_mul_ps(
                _mm256_cvtepi32_ps(acc[q]),
                _mm256_loadu_ps(self.multiplier.as_ptr().add(c0 + 8 * q)),
            );
            // Rounds to nearest even: the rounding mode is never changed from the default.
            _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(x, lo), hi))
        });
        // In range after the clamp (as is the sum with the zero point), so both packs are
        // exact.
        let zp = _mm256_set1_epi16(self.zero_point);
        let low = _mm256_add_epi16(_mm256_packs_epi32(q[0], q[1]), zp);
        let high = _mm256_add_epi16(_mm256_packs_epi32(q[2], q[3]), zp);
        let bytes = if self.unsigned {
            _mm256_packus_epi16(low, high)
        } else {
            _mm256_packs_epi16(low, high)
        };
        _mm256_mask_storeu_epi8(out.add(c0).cast(), mask, bytes);
    }
}

/// 32 channels of four tap pixels interleaved per channel: the i32 lane of a channel holds
/// its byte of tap pixel `i` in byte `i`, and lane `4·half + r` of vector `q` is channel
/// `16·half + 4q + r` (the lane order of the module documentation).
#[inline]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn interleave(a: __m256i, b: __m256i, c: __m256i, d: __m256i) -> [__m256i; 4] {
    let (ab_lo, ab_hi) = (_mm256_unpacklo_epi8(a, b), _mm256_unpackhi_epi8(a, b));
    let (cd_lo, cd_hi) = (_mm256_unpacklo_epi8(c, d), _mm256_unpackhi_epi8(c, d));
    [
        _mm256_unpacklo_epi16(ab_lo, cd_lo),
        _mm256_unpackhi_epi16(ab_lo, cd_lo),
        _mm256_unpacklo_epi16(ab_hi, cd_hi),
        _mm256_unpackhi_epi16(ab_hi, cd_hi),
    ]
}

/// The 32 bytes of block `c0` at pixel `p`, those outside `mask` read as 0 (and not read:
/// the last block may end where the pixel does).
///
/// # Safety
/// AVX-512BW/VL; `p + c0` addresses the bytes set in `mask`.
#[inline]
#[target_feature(enable = "avx512bw,avx512vl")]
pub(super) unsafe fn load_channels(p: *const u8, c0: usize, mask: u32) -> __m256i {
    if mask == u32::MAX {
        _mm256_loadu_si256(p.add(c0).cast())
    } else {
        _mm256_maskz_loadu_epi8(mask, p.add(c0).cast())
    }
}
