//! AVX-512F requantization, 16 accumulators per step (masked at row ends);
//! bit-identical to `scalar`.

use std::arch::x86_64::*;

use super::{PerChannel, RowParams};

/// # Safety
/// Needs AVX-512F; `out.len() == acc.len()` and per-column parameters cover `acc.len()`.
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn avx512_requant_s32(acc: &[i32], row: &RowParams<'_>, out: &mut [u8]) {
    let consts = Constants::new(row);
    for i in (0..acc.len()).step_by(16) {
        let mask = lanes(acc.len() - i);
        let bias = match row.bias {
            PerChannel::Same(v) => _mm512_set1_epi32(v),
            PerChannel::Each(v) => _mm512_maskz_loadu_epi32(mask, v.as_ptr().add(i)),
        };
        let mult = match row.multiplier {
            PerChannel::Same(v) => _mm512_set1_ps(v),
            PerChannel::Each(v) => _mm512_maskz_loadu_ps(mask, v.as_ptr().add(i)),
        };
        let sums = _mm512_maskz_loadu_epi32(mask, acc.as_ptr().add(i));
        store(&consts, sums, bias, mult, mask, out.as_mut_ptr().add(i));
    }
}

/// A whole row-major `acc` matrix of rows of `multiplier.len()` channels (one per
/// column), in one call: the per-row overhead of [`avx512_requant_s32`] matters for the
/// narrow outputs of convolutions with few channels.
///
/// # Safety
/// Needs AVX-512F; `bias.len() == multiplier.len()` divides `acc.len() == out.len()`.
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn avx512_requant_columns(
    acc: &[i32],
    (multiplier, bias): (&[f32], &[i32]),
    row: &RowParams<'_>,
    out: &mut [u8],
) {
    let consts = Constants::new(row);
    let cols = multiplier.len();
    for (acc_row, out_row) in acc.chunks_exact(cols).zip(out.chunks_exact_mut(cols)) {
        for c in (0..cols).step_by(16) {
            let mask = lanes(cols - c);
            let bias = _mm512_maskz_loadu_epi32(mask, bias.as_ptr().add(c));
            let mult = _mm512_maskz_loadu_ps(mask, multiplier.as_ptr().add(c));
            let sums = _mm512_maskz_loadu_epi32(mask, acc_row.as_ptr().add(c));
            store(&consts, sums, bias, mult, mask, out_row.as_mut_ptr().add(c));
        }
    }
}

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
    zp: __m512i,
}

impl Constants {
    #[target_feature(enable = "avx512f")]
    unsafe fn new(row: &RowParams<'_>) -> Constants {
        Constants {
            lo: _mm512_set1_ps(row.lo),
            hi: _mm512_set1_ps(row.hi),
            zp: _mm512_set1_epi32(row.zero_point),
        }
    }
}

/// The rule on 16 lanes; stores the lanes in `mask`.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn store(k: &Constants, sums: __m512i, bias: __m512i, mult: __m512, mask: __mmask16, out: *mut u8) {
    let x = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(sums, bias)), mult);
    let x = _mm512_min_ps(_mm512_max_ps(x, k.lo), k.hi);
    let q = _mm512_cvt_roundps_epi32::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(x);
    // In range after the clamp, so truncating to the low byte is exact.
    _mm512_mask_cvtepi32_storeu_epi8(out.cast(), mask, _mm512_add_epi32(q, k.zp));
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
