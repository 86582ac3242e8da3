//! AVX-512 / AVX2 paths of the elementwise ops, bit-identical to `qbinary_one`.

use std::arch::x86_64::*;

use super::elementwise::{Binary, BinaryParams};
use super::vector::avx2_store_low_bytes;

/// Processes the longest prefix that fills whole vectors; returns its length.
///
/// # Safety
/// Needs AVX-512F; `a`, `b` and `out` have equal lengths.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn avx512_qbinary_u8(
    op: Binary,
    a: &[u8],
    b: &[u8],
    p: &BinaryParams,
    out: &mut [u8],
) -> usize {
    const V: usize = 16;
    let (za, sa) = (_mm512_set1_epi32(p.a.zero_point), _mm512_set1_ps(p.a.scale));
    let (zb, sb) = (_mm512_set1_epi32(p.b.zero_point), _mm512_set1_ps(p.b.scale));
    let (zy, sy) = (_mm512_set1_epi32(p.y.zero_point), _mm512_set1_ps(p.y.scale));
    let lo = _mm512_set1_ps((p.range.0 - p.y.zero_point) as f32);
    let hi = _mm512_set1_ps((p.range.1 - p.y.zero_point) as f32);
    let full = a.len() / V * V;
    for i in (0..full).step_by(V) {
        let dequant = |x: &[u8], z, s| {
            let q = _mm512_cvtepu8_epi32(_mm_loadu_si128(x.as_ptr().add(i).cast()));
            _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(q, z)), s)
        };
        let (fa, fb) = (dequant(a, za, sa), dequant(b, zb, sb));
        let s = match op {
            Binary::Add => _mm512_add_ps(fa, fb),
            Binary::Mul => _mm512_mul_ps(fa, fb),
        };
        let q = _mm512_min_ps(_mm512_max_ps(_mm512_div_ps(s, sy), lo), hi);
        let q = _mm512_cvt_roundps_epi32::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(q);
        let bytes = _mm512_cvtepi32_epi8(_mm512_add_epi32(q, zy));
        _mm_storeu_si128(out.as_mut_ptr().add(i).cast(), bytes);
    }
    full
}

/// As [`avx512_qbinary_u8`] with AVX2.
///
/// # Safety
/// Needs AVX2; `a`, `b` and `out` have equal lengths.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn avx2_qbinary_u8(
    op: Binary,
    a: &[u8],
    b: &[u8],
    p: &BinaryParams,
    out: &mut [u8],
) -> usize {
    const V: usize = 8;
    let (za, sa) = (_mm256_set1_epi32(p.a.zero_point), _mm256_set1_ps(p.a.scale));
    let (zb, sb) = (_mm256_set1_epi32(p.b.zero_point), _mm256_set1_ps(p.b.scale));
    let (zy, sy) = (_mm256_set1_epi32(p.y.zero_point), _mm256_set1_ps(p.y.scale));
    let lo = _mm256_set1_ps((p.range.0 - p.y.zero_point) as f32);
    let hi = _mm256_set1_ps((p.range.1 - p.y.zero_point) as f32);
    let full = a.len() / V * V;
    for i in (0..full).step_by(V) {
        let dequant = |x: &[u8], z, s| {
            let q = _mm256_cvtepu8_epi32(_mm_loadl_epi64(x.as_ptr().add(i).cast()));
            _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(q, z)), s)
        };
        let (fa, fb) = (dequant(a, za, sa), dequant(b, zb, sb));
        let s = match op {
            Binary::Add => _mm256_add_ps(fa, fb),
            Binary::Mul => _mm256_mul_ps(fa, fb),
        };
        let q = _mm256_min_ps(_mm256_max_ps(_mm256_div_ps(s, sy), lo), hi);
        let q = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(q);
        avx2_store_low_bytes(
            _mm256_add_epi32(_mm256_cvttps_epi32(q), zy),
            out.as_mut_ptr().add(i),
        );
    }
    full
}
