//! AVX2 requantization, 8 accumulators per step; bit-identical to `scalar`.

use std::arch::x86_64::*;

use super::avx512::shift;
use super::{scalar, PerChannel, RowParams};

/// # Safety
/// Needs AVX2; `out.len() == acc.len()` and per-column parameters cover `acc.len()`.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn avx2_requant_s32(acc: &[i32], row: &RowParams<'_>, out: &mut [u8]) {
    let lo = _mm256_set1_ps(row.lo);
    let hi = _mm256_set1_ps(row.hi);
    let zp = _mm256_set1_epi32(row.zero_point);
    // Gathers byte 0 of each i32 into the low 4 bytes of each 128-bit lane...
    let low_bytes = _mm256_setr_epi8(
        0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, //
        0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    );
    // ...then the two lanes' dwords 0 and 4 next to each other.
    let join = _mm256_setr_epi32(0, 4, 1, 1, 1, 1, 1, 1);
    let full = acc.len() / 8 * 8;
    for i in (0..full).step_by(8) {
        let bias = match row.bias {
            PerChannel::Same(v) => _mm256_set1_epi32(v),
            PerChannel::Each(v) => _mm256_loadu_si256(v.as_ptr().add(i).cast()),
        };
        let mult = match row.multiplier {
            PerChannel::Same(v) => _mm256_set1_ps(v),
            PerChannel::Each(v) => _mm256_loadu_ps(v.as_ptr().add(i)),
        };
        let sum = _mm256_add_epi32(_mm256_loadu_si256(acc.as_ptr().add(i).cast()), bias);
        let x = _mm256_mul_ps(_mm256_cvtepi32_ps(sum), mult);
        let x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
        let x = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(x);
        // Integral and in range now, so truncation is exact.
        let q = _mm256_add_epi32(_mm256_cvttps_epi32(x), zp);
        let packed = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(q, low_bytes), join);
        _mm_storel_epi64(out.as_mut_ptr().add(i).cast(), _mm256_castsi256_si128(packed));
    }
    scalar::scalar_requant_s32(&acc[full..], &shift(row, full), &mut out[full..], 0);
}
