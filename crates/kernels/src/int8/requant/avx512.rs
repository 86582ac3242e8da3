//! AVX-512F requantization, 16 accumulators per step; bit-identical to `scalar`.

use std::arch::x86_64::*;

use super::{scalar, PerChannel, RowParams};

/// # Safety
/// Needs AVX-512F; `out.len() == acc.len()` and per-column parameters cover `acc.len()`.
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn avx512_requant_s32(acc: &[i32], row: &RowParams<'_>, out: &mut [u8]) {
    let lo = _mm512_set1_ps(row.lo);
    let hi = _mm512_set1_ps(row.hi);
    let zp = _mm512_set1_epi32(row.zero_point);
    let full = acc.len() / 16 * 16;
    for i in (0..full).step_by(16) {
        let bias = match row.bias {
            PerChannel::Same(v) => _mm512_set1_epi32(v),
            PerChannel::Each(v) => _mm512_loadu_si512(v.as_ptr().add(i).cast()),
        };
        let mult = match row.multiplier {
            PerChannel::Same(v) => _mm512_set1_ps(v),
            PerChannel::Each(v) => _mm512_loadu_ps(v.as_ptr().add(i)),
        };
        let sum = _mm512_add_epi32(_mm512_loadu_si512(acc.as_ptr().add(i).cast()), bias);
        let x = _mm512_mul_ps(_mm512_cvtepi32_ps(sum), mult);
        let x = _mm512_min_ps(_mm512_max_ps(x, lo), hi);
        let q = _mm512_cvt_roundps_epi32::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(x);
        // In range after the clamp, so truncating to the low byte is exact.
        let bytes = _mm512_cvtepi32_epi8(_mm512_add_epi32(q, zp));
        _mm_storeu_si128(out.as_mut_ptr().add(i).cast(), bytes);
    }
    scalar::scalar_requant_s32(&acc[full..], &shift(row, full), &mut out[full..], 0);
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
