//! AVX-512 requantization, 64 accumulators per step (masked at row ends);
//! bit-identical to `scalar`.
//!
//! Each step requantizes four vectors of 16 lanes and narrows them with two saturating
//! packs (exact, as every result is in the output range after the clamp) and one dword
//! permute into a single 64-byte store: a narrowing store (`vpmovdb`) per 16 lanes cost
//! more than the arithmetic.

use std::arch::x86_64::*;

use super::{PerChannel, RowParams};

/// # Safety
/// Needs AVX-512F/BW; `out.len() == acc.len()` and per-column parameters cover
/// `acc.len()`.
#[target_feature(enable = "avx512f,avx512bw")]
pub(crate) unsafe fn avx512_requant_s32(acc: &[i32], row: &RowParams<'_>, out: &mut [u8]) {
    let consts = Constants::new(row);
    let vector = |p: PerChannel<'_, i32>, at: usize, mask: __mmask16| match p {
        PerChannel::Same(v) => _mm512_set1_epi32(v),
        PerChannel::Each(v) => _mm512_maskz_loadu_epi32(mask, v.as_ptr().add(at)),
    };
    let vector_ps = |p: PerChannel<'_, f32>, at: usize, mask: __mmask16| match p {
        PerChannel::Same(v) => _mm512_set1_ps(v),
        PerChannel::Each(v) => _mm512_maskz_loadu_ps(mask, v.as_ptr().add(at)),
    };
    for i in (0..acc.len()).step_by(STEP) {
        let q: [__m512i; 4] = std::array::from_fn(|v| {
            let at = i + 16 * v;
            let mask = lanes(acc.len().saturating_sub(at));
            let sums = _mm512_maskz_loadu_epi32(mask, acc.as_ptr().add(at));
            let bias = vector(row.bias, at, mask);
            consts.round(sums, bias, vector_ps(row.multiplier, at, mask))
        });
        consts.store(q, acc.len() - i, out.as_mut_ptr().add(i));
    }
}

/// A whole row-major `acc` matrix of rows of `multiplier.len()` channels (one per
/// column), in one call: the per-row overhead of [`avx512_requant_s32`] matters for the
/// narrow outputs of convolutions with few channels.
///
/// # Safety
/// Needs AVX-512F/BW; `bias.len() == multiplier.len()` divides `acc.len() == out.len()`.
#[target_feature(enable = "avx512f,avx512bw")]
pub(crate) unsafe fn avx512_requant_columns(
    acc: &[i32],
    (multiplier, bias): (&[f32], &[i32]),
    row: &RowParams<'_>,
    out: &mut [u8],
) {
    let consts = Constants::new(row);
    let cols = multiplier.len();
    for (acc_row, out_row) in acc.chunks_exact(cols).zip(out.chunks_exact_mut(cols)) {
        for c in (0..cols).step_by(STEP) {
            let q: [__m512i; 4] = std::array::from_fn(|v| {
                let at = c + 16 * v;
                let mask = lanes(cols.saturating_sub(at));
                let bias = _mm512_maskz_loadu_epi32(mask, bias.as_ptr().add(at));
                let mult = _mm512_maskz_loadu_ps(mask, multiplier.as_ptr().add(at));
                let sums = _mm512_maskz_loadu_epi32(mask, acc_row.as_ptr().add(at));
                consts.round(sums, bias, mult)
            });
            consts.store(q, cols - c, out_row.as_mut_ptr().add(c));
        }
    }
}

/// A flat row-major block whose element `i` has the parameters at `i mod period` of
/// `table` (see [`super::columns`]): full 64-lane steps, masked only at the block's end.
///
/// # Safety
/// Needs AVX-512F/BW; `period` is a multiple of 16 and both tables hold `period + 48`
/// entries; `out.len() == acc.len()`.
#[target_feature(enable = "avx512f,avx512bw")]
pub(crate) unsafe fn avx512_requant_periodic(
    acc: &[i32],
    (multiplier, bias): (&[f32], &[i32]),
    period: usize,
    row: &RowParams<'_>,
    out: &mut [u8],
) {
    debug_assert!(period.is_multiple_of(16) && multiplier.len() >= period + 48 && bias.len() >= period + 48);
    let consts = Constants::new(row);
    let mut t = 0;
    for i in (0..acc.len()).step_by(STEP) {
        let q: [__m512i; 4] = std::array::from_fn(|v| {
            let at = i + 16 * v;
            let sums = if acc.len() >= i + STEP {
                _mm512_loadu_si512(acc.as_ptr().add(at).cast())
            } else {
                _mm512_maskz_loadu_epi32(lanes(acc.len().saturating_sub(at)), acc.as_ptr().wrapping_add(at))
            };
            let bias = _mm512_loadu_si512(bias.as_ptr().add(t + 16 * v).cast());
            let mult = _mm512_loadu_ps(multiplier.as_ptr().add(t + 16 * v));
            consts.round(sums, bias, mult)
        });
        consts.store(q, acc.len() - i, out.as_mut_ptr().add(i));
        t += STEP;
        while t >= period {
            t -= period;
        }
    }
}

/// Accumulators per step: four vectors, one 64-byte store.
const STEP: usize = 64;

/// The first `min(n, 16)` lanes.
fn lanes(n: usize) -> __mmask16 {
    if n >= 16 {
        u16::MAX
    } else {
        (1u16 << n) - 1
    }
}

struct Constants {
    lo: __m512,
    hi: __m512,
    /// The zero point in every i16 lane.
    zp: __m512i,
    /// Whether results are non-negative (u8 outputs), narrowed by the unsigned pack.
    unsigned: bool,
    /// Dword order that undoes the packs' per-128-bit-lane interleave.
    order: __m512i,
}

impl Constants {
    #[target_feature(enable = "avx512f")]
    unsafe fn new(row: &RowParams<'_>) -> Constants {
        let order: [i32; 16] = std::array::from_fn(|p| (4 * (p % 4) + p / 4) as i32);
        Constants {
            lo: _mm512_set1_ps(row.lo),
            hi: _mm512_set1_ps(row.hi),
            zp: _mm512_set1_epi16(row.zero_point as i16),
            unsigned: row.lo + row.zero_point as f32 >= 0.0,
            order: _mm512_loadu_si512(order.as_ptr().cast()),
        }
    }

    /// The rule on 16 lanes, without the zero point: `round(clamp((sums + bias) · mult))`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn round(&self, sums: __m512i, bias: __m512i, mult: __m512) -> __m512i {
        let x = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(sums, bias)), mult);
        let x = _mm512_min_ps(_mm512_max_ps(x, self.lo), self.hi);
        _mm512_cvt_roundps_epi32::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(x)
    }

    /// Adds the zero point to the 64 rounded values `q` and stores the first
    /// `min(live, 64)` as bytes. The clamp put every value and its sum with the zero point
    /// in the output range (inside i16 and inside the type), so both packs are exact; they
    /// interleave per 128-bit lane, which `order` undoes.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    unsafe fn store(&self, q: [__m512i; 4], live: usize, out: *mut u8) {
        let low = _mm512_add_epi16(_mm512_packs_epi32(q[0], q[1]), self.zp);
        let high = _mm512_add_epi16(_mm512_packs_epi32(q[2], q[3]), self.zp);
        let bytes = if self.unsigned {
            _mm512_packus_epi16(low, high)
        } else {
            _mm512_packs_epi16(low, high)
        };
        let bytes = _mm512_permutexvar_epi32(self.order, bytes);
        if live >= STEP {
            _mm512_storeu_si512(out.cast(), bytes);
        } else {
            _mm512_mask_storeu_epi8(out.cast(), (1u64 << live) - 1, bytes);
        }
    }
}

/// `row` with per-column parameters advanced by `by` channels.
pub(super) fn shift<'a>(row: &RowParams<'a>, by: usize) -> RowParams<'a> {
    let skip = |p: PerChannel<'a, f32>| match p {
        PerChannel::Each(v) => PerChannel::Each(&v[by..]),
        same => same,
    };
    let skip_i = |p: PerChannel<'a, i32>| match p {
        PerChannel::Each(v) => PerChannel::Each(&v[by..]),
        same => same,
    };
    RowParams {
        multiplier: skip(row.multiplier),
        bias: skip_i(row.bias),
        ..*row
    }
}
