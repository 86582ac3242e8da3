//! AVX-512 VNNI depthwise kernels for square 3×3 / 5×5 filters, stride 1 or 2.
//!
//! `vpdpbusd` multiplies 4 u8 inputs by 4 i8 weights and adds them to an i32 lane, so one
//! instruction does up to 4 taps of a filter row for 16 outputs. A `vpermb` (AVX-512 VBMI)
//! first gathers, into lane `o`, the input bytes `S·o + 4g .. S·o + 4g + 4` of one padded
//! row: taps `4g..4g + 4` of that row (taps past the filter get weight 0). This needs
//! `w − zw` to fit i8, which holds for symmetric weights; other layers use the kernels in
//! [`super::depthwise_x86`]. `vpdpbusd` (not the saturating `vpdpbusds`) wraps like the
//! scalar kernel, so results are bit-identical to it.

use std::arch::x86_64::*;

use super::depthwise::{ChannelRequant, PlaneKernel};
use super::depthwise_x86::avx512_requant_store;

/// The VNNI kernel for a `k×k` stride-`stride` filter, when the CPU has VBMI and VNNI.
pub(super) fn select(k: usize, stride: usize) -> Option<(PlaneKernel, &'static str)> {
    let cpu = std::is_x86_feature_detected!("avx512vnni") && std::is_x86_feature_detected!("avx512vbmi");
    if !cpu {
        return None;
    }
    let chosen: (PlaneKernel, &'static str) = match (k, stride) {
        (3, 1) => (avx512vnni_dwconv3x3s1_u8s8, "avx512vnni_dwconv3x3s1_u8s8"),
        (3, 2) => (avx512vnni_dwconv3x3s2_u8s8, "avx512vnni_dwconv3x3s2_u8s8"),
        (5, 1) => (avx512vnni_dwconv5x5s1_u8s8, "avx512vnni_dwconv5x5s1_u8s8"),
        (5, 2) => (avx512vnni_dwconv5x5s2_u8s8, "avx512vnni_dwconv5x5s2_u8s8"),
        _ => return None,
    };
    Some(chosen)
}

/// Largest filter side handled, and groups of 4 taps per filter row for it.
const MAX_K: usize = 5;
const MAX_GROUPS: usize = MAX_K.div_ceil(4);

macro_rules! plane_kernel {
    ($name:ident, $k:literal, $s:literal) => {
        /// See the module documentation; the contract is [`PlaneKernel`]'s, plus
        /// weights in -128..=127 and a CPU with AVX-512 VNNI and VBMI.
        unsafe fn $name(
            xp: &[u8],
            pw: usize,
            w: &[i32],
            dims: (usize, usize),
            rq: &ChannelRequant,
            out: &mut [u8],
        ) {
            avx512vnni_dwconv::<$k, $s>(xp, pw, w, dims, rq, out)
        }
    };
}

plane_kernel!(avx512vnni_dwconv3x3s1_u8s8, 3, 1);
plane_kernel!(avx512vnni_dwconv3x3s2_u8s8, 3, 2);
plane_kernel!(avx512vnni_dwconv5x5s1_u8s8, 5, 1);
plane_kernel!(avx512vnni_dwconv5x5s2_u8s8, 5, 2);

/// # Safety
/// [`PlaneKernel`]'s contract, weights in -128..=127, AVX-512F/BW/VNNI/VBMI; each
/// row read is 64 bytes from the window start, within the planes' over-read allowance.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx512vbmi")]
unsafe fn avx512vnni_dwconv<const K: usize, const S: usize>(
    xp: &[u8],
    pw: usize,
    w: &[i32],
    (oh, ow): (usize, usize),
    rq: &ChannelRequant,
    out: &mut [u8],
) {
    const V: usize = 16;
    let groups = K.div_ceil(4);
    let mut weights = [_mm512_setzero_si512(); MAX_K * MAX_GROUPS];
    for ky in 0..K {
        for g in 0..groups {
            let tap = |j: usize| {
                w.get(ky * K + 4 * g + j)
                    .filter(|_| 4 * g + j < K)
                    .map_or(0, |v| *v as i8 as u8)
            };
            weights[ky * MAX_GROUPS + g] =
                _mm512_set1_epi32(i32::from_le_bytes([tap(0), tap(1), tap(2), tap(3)]));
        }
    }
    let gather: [__m512i; MAX_GROUPS] = std::array::from_fn(|g| {
        let index: [u8; 64] = std::array::from_fn(|b| (S * (b / 4) + 4 * g + b % 4) as u8);
        _mm512_loadu_si512(index.as_ptr().cast())
    });
    let base = xp.as_ptr();
    for oy in 0..oh {
        let out_row = out.as_mut_ptr().add(oy * ow);
        for ox in (0..ow).step_by(V) {
            let mut sum = _mm512_setzero_si512();
            for ky in 0..K {
                let row = _mm512_loadu_si512(base.add((oy * S + ky) * pw + ox * S).cast());
                for g in 0..groups {
                    let x = _mm512_permutexvar_epi8(gather[g], row);
                    sum = _mm512_dpbusd_epi32(sum, x, weights[ky * MAX_GROUPS + g]);
                }
            }
            avx512_requant_store(sum, rq, out_row.add(ox), (ow - ox).min(V));
        }
    }
}
