//! Conv GEMM with the requantization in the microkernel's epilogue, for AVX-512 VNNI and
//! weights whose zero point is 0 (symmetric per-channel weights, as the x86 preset makes).
//!
//! The general path writes each block's i32 accumulators to memory and reads them back
//! to requantize them; for the shallow convs this tier runs (K < 128: expansions of few
//! channels, the stem) that round trip costs as much as the multiply. Here an 8 × 32 tile
//! of sums stays in registers from the first `vpdpbusd` to its bytes:
//! - with weight zero point 0 the GEMM is `Σ_k (a − za)·w = Σ_k a·w − za·Σ_k w`, so the
//!   input zero point and the bias fold into one per-channel start value
//!   `bias − za·Σ_k w` (wrapping, as the rule's `acc + bias` wraps) and each accumulator
//!   starts from it;
//! - the epilogue is the crate's rule step for step (`requant` module), so the bytes equal
//!   the general path's; each 16-channel result is narrowed by a truncating store
//!   (`vpmovdb`), exact because the clamp put it in the output type's range.

use std::arch::x86_64::*;

use rayon::prelude::*;

use super::super::params::OutputRequant;
use crate::int8::microkernels::avx512vnni::{accumulate_8x32, MR};

/// Columns (output channels) per panel: two vectors of 16 lanes.
const NR: usize = 32;
/// Rows per parallel task when the pool has several threads.
const ROWS_PER_TASK: usize = 64;

/// Packed weights and folded requantization of one ungrouped conv.
#[derive(Debug)]
pub(super) struct FusedVnniGemm {
    k: usize,
    n: usize,
    /// `[panel][k / 4 rounded up][32 columns]`: four consecutive k values of a column as
    /// i8 bytes, low byte first (0 past `k` and past `n`).
    b: Vec<i32>,
    /// Per column, rounded up to whole panels: `bias − za·Σ_k w` and the multiplier.
    start: Vec<i32>,
    multiplier: Vec<f32>,
    zero_point: i32,
    /// Output range minus the zero point.
    lo: f32,
    hi: f32,
    /// The clamp to `lo..=hi` can be left to the saturating packs: the range is the
    /// output type's whole range and no `sum · multiplier` can leave i32 (see `new`).
    saturating_packs_clamp: bool,
}

impl FusedVnniGemm {
    /// `weights` is `n` rows of `k` i8 values (each output channel's filter in the patch
    /// rows' depth order). `None` without AVX-512 F/BW/VL/VNNI or when a weight zero point
    /// is not 0.
    pub(super) fn new(
        k: usize,
        n: usize,
        weights: &[i8],
        weight_zero_points: &[i32],
        input_zero_point: u8,
        output: &OutputRequant,
    ) -> Option<FusedVnniGemm> {
        let cpu = std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vl")
            && std::is_x86_feature_detected!("avx512vnni");
        let symmetric = weight_zero_points.iter().all(|z| *z == 0);
        if !cpu || !symmetric || k == 0 || n == 0 || weights.len() != k * n || output.bias.len() != n {
            return None;
        }
        let (groups, panels) = (k.div_ceil(4), n.div_ceil(NR));
        let mut b = vec![0i32; panels * groups * NR];
        let mut start = vec![0i32; panels * NR];
        let mut multiplier = vec![1.0f32; panels * NR];
        let za = i32::from(input_zero_point);
        for (col, filter) in weights.chunks_exact(k).enumerate() {
            let (panel, j) = (col / NR, col % NR);
            for (g, quad) in filter.chunks(4).enumerate() {
                let mut bytes = [0u8; 4];
                for (byte, w) in bytes.iter_mut().zip(quad) {
                    *byte = *w as u8;
                }
                b[(panel * groups + g) * NR + j] = i32::from_le_bytes(bytes);
            }
            let sum: i32 = filter.iter().map(|w| i32::from(*w)).sum();
            start[col] = output.bias[col].wrapping_sub(za.wrapping_mul(sum));
            multiplier[col] = output.multiplier[col];
        }
        let zp = output.zero_point;
        // |sum · multiplier| stays under 2³⁰, so rounding to i32 cannot overflow, which the
        // clamp would otherwise prevent: |sum| ≤ |start| + K·255·128 when the sum does not
        // wrap, and a sum that wraps needs that bound ≥ 2³¹, so a multiplier < 1/2 here,
        // and any i32 times it is under 2³⁰ too.
        let largest_term = (k * 255 * 128) as f64;
        let bounded = start.iter().zip(&multiplier).all(|(s, m)| {
            (f64::from(s.unsigned_abs()) + largest_term) * f64::from(m.abs()) < f64::from(1u32 << 30)
        });
        let whole_type = output.range == (0, 255) || output.range == (-128, 127);
        Some(FusedVnniGemm {
            k,
            n,
            b,
            start,
            multiplier,
            zero_point: zp,
            lo: (output.range.0 - zp) as f32,
            hi: (output.range.1 - zp) as f32,
            saturating_packs_clamp: whole_type && bounded,
        })
    }

    /// `a` holds `rows` patch rows of `k` bytes; `out` gets `rows` rows of `n` bytes.
    /// Row blocks run in parallel when the rayon pool has several threads.
    pub(super) fn run(&self, rows: usize, a: &[u8], out: &mut [u8]) {
        assert!(a.len() >= rows * self.k && out.len() >= rows * self.n);
        let (a, out) = (&a[..rows * self.k], &mut out[..rows * self.n]);
        // SAFETY: `new` checked the CPU features; each chunk pairs whole rows of `a` and
        // `out` of the lengths asserted above.
        let task = |(a, out): (&[u8], &mut [u8])| unsafe { self.rows(a, out) };
        if rayon::current_num_threads() > 1 {
            a.par_chunks(ROWS_PER_TASK * self.k)
                .zip(out.par_chunks_mut(ROWS_PER_TASK * self.n))
                .for_each(task);
        } else {
            task((a, out));
        }
    }

    /// # Safety
    /// AVX-512 F/BW/VL/VNNI; `a` and `out` hold the same whole number of rows.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    unsafe fn rows(&self, a: &[u8], out: &mut [u8]) {
        if self.saturating_packs_clamp {
            self.rows_with::<false>(a, out);
        } else {
            self.rows_with::<true>(a, out);
        }
    }

    /// [`Self::rows`] with the clamp in the epilogue or (`CLAMP == false`) without it.
    ///
    /// # Safety
    /// As for [`Self::rows`].
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    unsafe fn rows_with<const CLAMP: bool>(&self, a: &[u8], out: &mut [u8]) {
        let rows = a.len() / self.k;
        for r0 in (0..rows).step_by(MR) {
            let (a, out) = (a[r0 * self.k..].as_ptr(), out[r0 * self.n..].as_mut_ptr());
            for panel in 0..self.n.div_ceil(NR) {
                match rows - r0 {
                    1 => self.tile::<1, CLAMP>(a, panel, out),
                    2 => self.tile::<2, CLAMP>(a, panel, out),
                    3 => self.tile::<3, CLAMP>(a, panel, out),
                    4 => self.tile::<4, CLAMP>(a, panel, out),
                    5 => self.tile::<5, CLAMP>(a, panel, out),
                    6 => self.tile::<6, CLAMP>(a, panel, out),
                    7 => self.tile::<7, CLAMP>(a, panel, out),
                    _ => self.tile::<MR, CLAMP>(a, panel, out),
                }
            }
        }
    }

    /// Rows `0..R` of `a` times panel `panel`, requantized into the panel's columns of
    /// rows `0..R` of `out`.
    ///
    /// # Safety
    /// AVX-512 F/BW/VL/VNNI; `a` addresses `R` rows of `k` bytes and `out` `R` rows of `n`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    unsafe fn tile<const R: usize, const CLAMP: bool>(&self, a: *const u8, panel: usize, out: *mut u8) {
        let (k, c0) = (self.k, panel * NR);
        let groups = k.div_ceil(4);
        let b = self.b.as_ptr().add(panel * groups * NR);
        let start = [0, 16].map(|h| _mm512_loadu_si512(self.start.as_ptr().add(c0 + h).cast()));
        let mut acc = [start; R];
        let multiply = |acc: &mut [[__m512i; 2]; R], g: usize, a4: [__m512i; R]| {
            let b0 = _mm512_loadu_si512(b.add(g * NR).cast());
            let b1 = _mm512_loadu_si512(b.add(g * NR + 16).cast());
            for (row, a4) in acc.iter_mut().zip(a4) {
                row[0] = _mm512_dpbusd_epi32(row[0], a4, b0);
                row[1] = _mm512_dpbusd_epi32(row[1], a4, b1);
            }
        };
        if R == MR {
            // Full tiles share the GEMM microkernel's K loop.
            // SAFETY: R == MR, so `acc` is exactly an MR-row array.
            let full = &mut *acc.as_mut_ptr().cast::<[[__m512i; 2]; MR]>();
            accumulate_8x32(full, a, k, b.cast(), k / 4);
        } else {
            for g in 0..k / 4 {
                // Four consecutive k values of each row, the same in all 16 lanes.
                multiply(
                    &mut acc,
                    g,
                    std::array::from_fn(|r| {
                        _mm512_set1_epi32(a.add(r * k + 4 * g).cast::<i32>().read_unaligned())
                    }),
                );
            }
        }
        if k % 4 != 0 {
            // The last k values of each row: the bytes past `k` belong to the next row
            // (or past the end), so they are gathered one by one and the rest is 0.
            let g = k / 4;
            multiply(
                &mut acc,
                g,
                std::array::from_fn(|r| {
                    let mut bytes = [0u8; 4];
                    for (i, byte) in bytes.iter_mut().enumerate().take(k % 4) {
                        *byte = *a.add(r * k + 4 * g + i);
                    }
                    _mm512_set1_epi32(i32::from_le_bytes(bytes))
                }),
            );
        }
        let multiplier = [0, 16].map(|h| _mm512_loadu_ps(self.multiplier.as_ptr().add(c0 + h)));
        let (lo, hi) = (_mm512_set1_ps(self.lo), _mm512_set1_ps(self.hi));
        // The rule without the zero point: round(clamp(sum · multiplier)). Without CLAMP
        // the packs below saturate to the same bytes.
        let round = |sums: __m512i, h: usize, clamp: bool| {
            let x = _mm512_mul_ps(_mm512_cvtepi32_ps(sums), multiplier[h]);
            let x = if clamp {
                _mm512_min_ps(_mm512_max_ps(x, lo), hi)
            } else {
                x
            };
            _mm512_cvt_roundps_epi32::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(x)
        };
        let live = (self.n - c0).min(NR);
        let mask = (u64::MAX >> (64 - live)) as __mmask32;
        let row_out = |r: usize| out.add(r * self.n + c0);
        for r in (0..R - R % 2).step_by(2) {
            // Two rows narrowed together. The packs saturate: after the clamp every value
            // and its sum with the zero point is in the output range, so they are exact;
            // without it, saturating to i16, adding the zero point with saturation and
            // saturating to the output type clamps to that type's whole range, which is
            // the range then. They interleave per 128-bit lane, which the dword permute
            // undoes, leaving row `r` in the low and row `r + 1` in the high 32 bytes.
            let q = [
                round(acc[r][0], 0, CLAMP),
                round(acc[r][1], 1, CLAMP),
                round(acc[r + 1][0], 0, CLAMP),
                round(acc[r + 1][1], 1, CLAMP),
            ];
            let zp = _mm512_set1_epi16(self.zero_point as i16);
            let low = _mm512_adds_epi16(_mm512_packs_epi32(q[0], q[1]), zp);
            let high = _mm512_adds_epi16(_mm512_packs_epi32(q[2], q[3]), zp);
            let bytes = if self.lo + self.zero_point as f32 >= 0.0 {
                _mm512_packus_epi16(low, high)
            } else {
                _mm512_packs_epi16(low, high)
            };
            let order: [i32; 16] = std::array::from_fn(|p| (4 * (p % 4) + p / 4) as i32);
            let bytes = _mm512_permutexvar_epi32(_mm512_loadu_si512(order.as_ptr().cast()), bytes);
            _mm256_mask_storeu_epi8(row_out(r).cast(), mask, _mm512_castsi512_si256(bytes));
            _mm256_mask_storeu_epi8(row_out(r + 1).cast(), mask, _mm512_extracti64x4_epi64::<1>(bytes));
        }
        if R % 2 == 1 {
            let r = R - 1;
            let zp = _mm512_set1_epi32(self.zero_point);
            for (h, sums) in acc[r].iter().enumerate() {
                let lanes = (mask >> (16 * h)) as __mmask16;
                // The truncating store needs the clamp, whatever CLAMP says.
                let q = _mm512_add_epi32(round(*sums, h, true), zp);
                _mm512_mask_cvtepi32_storeu_epi8(row_out(r).add(16 * h).cast(), lanes, q);
            }
        }
    }
}
