//! AVX-512 and AVX2 depthwise kernels for square 3×3 / 5×5 filters, stride 1 or 2,
//! vectorised over output width (16 or 8 outputs per vector, i32 lanes), requantizing each
//! vector of sums in registers.
//!
//! Products use `vpmaddwd` on 16-bit lanes, which is exact here: inputs are 0..=255 and
//! weights `w − zw` lie in -255..=255.
//! - Stride 1: each i32 lane holds `(x, 0)` and each weight vector `(w, 0)`, one tap per
//!   `vpmaddwd`.
//! - Stride 2: widening 2·V consecutive bytes to 16 bits puts `(x[2o + kx], x[2o + kx + 1])`
//!   in lane `o`, so one `vpmaddwd` with weights `(w[kx], w[kx + 1])` does two taps.
//!
//! Sums wrap like the scalar kernel's, and the requantization repeats the steps of
//! `int8::requant`'s vector kernels, so outputs are bit-identical to the scalar path.

use std::arch::x86_64::*;

use super::super::vector::{avx2_store_low_bytes, Vector};
use super::depthwise::{ChannelRequant, PlaneKernel};

pub(super) fn select(vector: Vector, k: usize, stride: usize) -> Option<(PlaneKernel, &'static str)> {
    let chosen: (PlaneKernel, &'static str) = match (vector, k, stride) {
        (Vector::Avx512, 3, 1) => (avx512_dwconv3x3s1_u8s8, "avx512_dwconv3x3s1_u8s8"),
        (Vector::Avx512, 3, 2) => (avx512_dwconv3x3s2_u8s8, "avx512_dwconv3x3s2_u8s8"),
        (Vector::Avx512, 5, 1) => (avx512_dwconv5x5s1_u8s8, "avx512_dwconv5x5s1_u8s8"),
        (Vector::Avx512, 5, 2) => (avx512_dwconv5x5s2_u8s8, "avx512_dwconv5x5s2_u8s8"),
        (Vector::Avx2, 3, 1) => (avx2_dwconv3x3s1_u8s8, "avx2_dwconv3x3s1_u8s8"),
        (Vector::Avx2, 3, 2) => (avx2_dwconv3x3s2_u8s8, "avx2_dwconv3x3s2_u8s8"),
        (Vector::Avx2, 5, 1) => (avx2_dwconv5x5s1_u8s8, "avx2_dwconv5x5s1_u8s8"),
        (Vector::Avx2, 5, 2) => (avx2_dwconv5x5s2_u8s8, "avx2_dwconv5x5s2_u8s8"),
        _ => return None,
    };
    Some(chosen)
}

/// Largest filter side with a vector kernel; weight tables are sized for it.
const MAX_K: usize = 5;

/// Weight lanes for tap pairs: stride 1 pairs `(w[kx], 0)`; stride 2 pairs
/// `(w[kx], w[kx + 1])` for even `kx` (0 past the filter edge). Index `ky·MAX_K + slot`.
fn weight_pairs<const K: usize, const S: usize>(w: &[i32]) -> [i32; MAX_K * MAX_K] {
    let lanes = |lo: i32, hi: i32| (((hi as u32) & 0xFFFF) << 16 | ((lo as u32) & 0xFFFF)) as i32;
    let mut out = [0; MAX_K * MAX_K];
    for ky in 0..K {
        let row = &w[ky * K..][..K];
        for slot in 0..slots::<K, S>() {
            out[ky * MAX_K + slot] = if S == 1 {
                lanes(row[slot], 0)
            } else {
                lanes(row[2 * slot], row.get(2 * slot + 1).copied().unwrap_or(0))
            };
        }
    }
    out
}

/// `vpmaddwd` calls per filter row.
const fn slots<const K: usize, const S: usize>() -> usize {
    if S == 1 {
        K
    } else {
        K.div_ceil(2)
    }
}

macro_rules! plane_kernel {
    ($name:ident, $generic:ident, $k:literal, $s:literal) => {
        /// See the module documentation; the contract is [`PlaneKernel`]'s.
        unsafe fn $name(
            xp: &[u8],
            pw: usize,
            w: &[i32],
            dims: (usize, usize),
            rq: &ChannelRequant,
            out: &mut [u8],
        ) {
            $generic::<$k, $s>(xp, pw, w, dims, rq, out)
        }
    };
}

plane_kernel!(avx512_dwconv3x3s1_u8s8, avx512_dwconv, 3, 1);
plane_kernel!(avx512_dwconv3x3s2_u8s8, avx512_dwconv, 3, 2);
plane_kernel!(avx512_dwconv5x5s1_u8s8, avx512_dwconv, 5, 1);
plane_kernel!(avx512_dwconv5x5s2_u8s8, avx512_dwconv, 5, 2);
plane_kernel!(avx2_dwconv3x3s1_u8s8, avx2_dwconv, 3, 1);
plane_kernel!(avx2_dwconv3x3s2_u8s8, avx2_dwconv, 3, 2);
plane_kernel!(avx2_dwconv5x5s1_u8s8, avx2_dwconv, 5, 1);
plane_kernel!(avx2_dwconv5x5s2_u8s8, avx2_dwconv, 5, 2);

/// # Safety
/// [`PlaneKernel`]'s contract, with AVX-512F and AVX-512BW.
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn avx512_dwconv<const K: usize, const S: usize>(
    xp: &[u8],
    pw: usize,
    w: &[i32],
    (oh, ow): (usize, usize),
    rq: &ChannelRequant,
    out: &mut [u8],
) {
    const V: usize = 16;
    let pairs = weight_pairs::<K, S>(w);
    let wv: [__m512i; MAX_K * MAX_K] = std::array::from_fn(|i| _mm512_set1_epi32(pairs[i]));
    let base = xp.as_ptr();
    for oy in 0..oh {
        let out_row = out.as_mut_ptr().add(oy * ow);
        for ox in (0..ow).step_by(V) {
            let mut sum = _mm512_setzero_si512();
            for ky in 0..K {
                let src = base.add((oy * S + ky) * pw + ox * S);
                for slot in 0..slots::<K, S>() {
                    let x = if S == 1 {
                        _mm512_cvtepu8_epi32(_mm_loadu_si128(src.add(slot).cast()))
                    } else {
                        _mm512_cvtepu8_epi16(_mm256_loadu_si256(src.add(2 * slot).cast()))
                    };
                    sum = _mm512_add_epi32(sum, _mm512_madd_epi16(x, wv[ky * MAX_K + slot]));
                }
            }
            avx512_requant_store(sum, rq, out_row.add(ox), (ow - ox).min(V));
        }
    }
}

/// # Safety
/// [`PlaneKernel`]'s contract, with AVX2.
#[target_feature(enable = "avx2")]
unsafe fn avx2_dwconv<const K: usize, const S: usize>(
    xp: &[u8],
    pw: usize,
    w: &[i32],
    (oh, ow): (usize, usize),
    rq: &ChannelRequant,
    out: &mut [u8],
) {
    const V: usize = 8;
    let pairs = weight_pairs::<K, S>(w);
    let wv: [__m256i; MAX_K * MAX_K] = std::array::from_fn(|i| _mm256_set1_epi32(pairs[i]));
    let base = xp.as_ptr();
    for oy in 0..oh {
        let out_row = out.as_mut_ptr().add(oy * ow);
        for ox in (0..ow).step_by(V) {
            let mut sum = _mm256_setzero_si256();
            for ky in 0..K {
                let src = base.add((oy * S + ky) * pw + ox * S);
                for slot in 0..slots::<K, S>() {
                    let x = if S == 1 {
                        _mm256_cvtepu8_epi32(_mm_loadl_epi64(src.add(slot).cast()))
                    } else {
                        _mm256_cvtepu8_epi16(_mm_loadu_si128(src.add(2 * slot).cast()))
                    };
                    sum = _mm256_add_epi32(sum, _mm256_madd_epi16(x, wv[ky * MAX_K + slot]));
                }
            }
            avx2_requant_store(sum, rq, out_row.add(ox), (ow - ox).min(V));
        }
    }
}

/// Requantizes 16 sums with `rq` exactly as `int8::requant`'s AVX-512 kernel does, and
/// stores the low bytes of the first `live` of them to `dst`.
///
/// # Safety
/// Needs AVX-512F; `dst` is valid for `live ≤ 16` bytes of writes.
#[target_feature(enable = "avx512f")]
#[inline]
pub(super) unsafe fn avx512_requant_store(sum: __m512i, rq: &ChannelRequant, dst: *mut u8, live: usize) {
    let x = _mm512_cvtepi32_ps(_mm512_add_epi32(sum, _mm512_set1_epi32(rq.bias)));
    let x = _mm512_mul_ps(x, _mm512_set1_ps(rq.multiplier));
    let x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(rq.lo)), _mm512_set1_ps(rq.hi));
    let q = _mm512_cvt_roundps_epi32::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(x);
    let bytes = _mm512_cvtepi32_epi8(_mm512_add_epi32(q, _mm512_set1_epi32(rq.zero_point)));
    if live == 16 {
        _mm_storeu_si128(dst.cast(), bytes);
    } else {
        let mut tail = [0u8; 16];
        _mm_storeu_si128(tail.as_mut_ptr().cast(), bytes);
        std::ptr::copy_nonoverlapping(tail.as_ptr(), dst, live);
    }
}

/// Requantizes 8 sums with `rq` exactly as `int8::requant`'s AVX2 kernel does, and stores
/// the low bytes of the first `live` of them to `dst`.
///
/// # Safety
/// Needs AVX2; `dst` is valid for `live ≤ 8` bytes of writes.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn avx2_requant_store(sum: __m256i, rq: &ChannelRequant, dst: *mut u8, live: usize) {
    let x = _mm256_cvtepi32_ps(_mm256_add_epi32(sum, _mm256_set1_epi32(rq.bias)));
    let x = _mm256_mul_ps(x, _mm256_set1_ps(rq.multiplier));
    let x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(rq.lo)), _mm256_set1_ps(rq.hi));
    let x = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(x);
    // Integral and in range now, so truncation is exact.
    let q = _mm256_add_epi32(_mm256_cvttps_epi32(x), _mm256_set1_epi32(rq.zero_point));
    if live == 8 {
        avx2_store_low_bytes(q, dst);
    } else {
        let mut tail = [0u8; 8];
        avx2_store_low_bytes(q, tail.as_mut_ptr());
        std::ptr::copy_nonoverlapping(tail.as_ptr(), dst, live);
    }
}
