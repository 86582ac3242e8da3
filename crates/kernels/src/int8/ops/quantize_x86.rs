//! AVX-512 / AVX2 paths of quantize and dequantize; bit-identical to the scalar rules in
//! `quantize.rs`. Each function handles the longest whole-vector prefix and returns its
//! length.

use std::arch::x86_64::*;

use super::params::OutputType;
use super::vector::avx2_store_low_bytes;

/// # Safety
/// Needs AVX-512F; `x.len() == out.len()`.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn avx512_quantize_f32(
    x: &[f32],
    scale: f32,
    zp: i32,
    dtype: OutputType,
    out: &mut [u8],
) -> usize {
    const V: usize = 16;
    let (lo, hi) = dtype.range();
    let (s, z) = (_mm512_set1_ps(scale), _mm512_set1_epi32(zp));
    let (lo, hi) = (_mm512_set1_ps((lo - zp) as f32), _mm512_set1_ps((hi - zp) as f32));
    let full = x.len() / V * V;
    for i in (0..full).step_by(V) {
        let q = _mm512_div_ps(_mm512_loadu_ps(x.as_ptr().add(i)), s);
        // `max(q, lo)` returns `lo` for NaN `q`, like `f32::max` in the scalar rule.
        let q = _mm512_min_ps(_mm512_max_ps(q, lo), hi);
        let q = _mm512_cvt_roundps_epi32::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(q);
        _mm_storeu_si128(
            out.as_mut_ptr().add(i).cast(),
            _mm512_cvtepi32_epi8(_mm512_add_epi32(q, z)),
        );
    }
    full
}

/// # Safety
/// Needs AVX2; `x.len() == out.len()`.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn avx2_quantize_f32(
    x: &[f32],
    scale: f32,
    zp: i32,
    dtype: OutputType,
    out: &mut [u8],
) -> usize {
    const V: usize = 8;
    let (lo, hi) = dtype.range();
    let (s, z) = (_mm256_set1_ps(scale), _mm256_set1_epi32(zp));
    let (lo, hi) = (_mm256_set1_ps((lo - zp) as f32), _mm256_set1_ps((hi - zp) as f32));
    let full = x.len() / V * V;
    for i in (0..full).step_by(V) {
        let q = _mm256_div_ps(_mm256_loadu_ps(x.as_ptr().add(i)), s);
        // `max(q, lo)` returns `lo` for NaN `q`, like `f32::max` in the scalar rule.
        let q = _mm256_min_ps(_mm256_max_ps(q, lo), hi);
        let q = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(q);
        avx2_store_low_bytes(
            _mm256_add_epi32(_mm256_cvttps_epi32(q), z),
            out.as_mut_ptr().add(i),
        );
    }
    full
}

/// # Safety
/// Needs AVX-512F; `x.len() == out.len()`.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn avx512_dequantize(
    x: &[u8],
    signed: bool,
    scale: f32,
    zp: i32,
    out: &mut [f32],
) -> usize {
    const V: usize = 16;
    let (s, z) = (_mm512_set1_ps(scale), _mm512_set1_epi32(zp));
    let full = x.len() / V * V;
    for i in (0..full).step_by(V) {
        let bytes = _mm_loadu_si128(x.as_ptr().add(i).cast());
        let v = if signed {
            _mm512_cvtepi8_epi32(bytes)
        } else {
            _mm512_cvtepu8_epi32(bytes)
        };
        let y = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(v, z)), s);
        _mm512_storeu_ps(out.as_mut_ptr().add(i), y);
    }
    full
}

/// # Safety
/// Needs AVX2; `x.len() == out.len()`.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn avx2_dequantize(x: &[u8], signed: bool, scale: f32, zp: i32, out: &mut [f32]) -> usize {
    const V: usize = 8;
    let (s, z) = (_mm256_set1_ps(scale), _mm256_set1_epi32(zp));
    let full = x.len() / V * V;
    for i in (0..full).step_by(V) {
        let bytes = _mm_loadl_epi64(x.as_ptr().add(i).cast());
        let v = if signed {
            _mm256_cvtepi8_epi32(bytes)
        } else {
            _mm256_cvtepu8_epi32(bytes)
        };
        let y = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(v, z)), s);
        _mm256_storeu_ps(out.as_mut_ptr().add(i), y);
    }
    full
}
