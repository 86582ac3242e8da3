//! Register-blocked depthwise planes for the hot shapes: square K×K filters (K = 3 or 5),
//! equal strides S (1 or 2), no dilation.
//!
//! The plane is first copied into a zero-padded scratch wide enough for whole blocks of
//! [`LANES`] outputs, so every block keeps its accumulators in vector registers over all K×K
//! taps, with no bounds checks and no scalar border path. Each padded row is stored as S
//! phases (columns `c` with `c % S == p`, in order), so a tap of a strided filter reads
//! [`LANES`] consecutive values instead of every S-th one. The padding zeros are written once
//! per layer (see [`PlaneScratch`]); each plane then only copies its input values.
//!
//! The body is written once, generic over K, S and the vector block of an ISA tier (see
//! `depthwise_blocks`), and compiled per tier inside `#[target_feature]` wrappers;
//! [`select`] picks the tier from the CPU at plan time.

use super::depthwise_blocks::{Block, Portable, LANES};
use super::geometry::valid_outputs;

/// One channel: `x` is `[h, w]`, `out` is `[oh, ow]`, written as `clamp(acc + bias)` with
/// `bounds` from [`crate::f32::Activation`] (`None`: no clamp). `pads` are `[top, left]`.
/// `scratch` is reused between the planes of a layer (see [`PlaneScratch`]).
pub(super) type PlaneFn = unsafe fn(
    k: &[f32],
    x: &[f32],
    hw: [usize; 2],
    pads: [usize; 2],
    scratch: &mut PlaneScratch,
    out: &mut [f32],
    ow: usize,
    bias: f32,
    bounds: Option<[f32; 2]>,
);

/// Padded-plane scratch shared by the planes of one layer, on one thread.
#[derive(Default)]
pub(super) struct PlaneScratch {
    values: Vec<f32>,
    /// Whether `values` holds the padding zeros of the current layer's geometry; reset to
    /// `false` before the first plane of each layer.
    pub(super) pads_zeroed: bool,
}

/// The fastest plane kernel for a K×K, stride-S filter on this CPU, if K and S are covered.
pub(super) fn select(kernel: usize, stride: usize) -> Option<PlaneFn> {
    macro_rules! pick {
        ($k:literal, $s:literal) => {{
            #[cfg(target_arch = "x86_64")]
            {
                if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("fma") {
                    return Some(avx512::plane::<$k, $s> as PlaneFn);
                }
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    return Some(avx2::plane::<$k, $s> as PlaneFn);
                }
            }
            Some(portable_plane::<$k, $s> as PlaneFn)
        }};
    }
    match (kernel, stride) {
        (3, 1) => pick!(3, 1),
        (3, 2) => pick!(3, 2),
        (5, 1) => pick!(5, 1),
        (5, 2) => pick!(5, 2),
        _ => None,
    }
}

/// Baseline tier.
///
/// # Safety
/// None beyond the slice contracts of [`PlaneFn`], which are asserted.
#[allow(clippy::too_many_arguments)]
unsafe fn portable_plane<const K: usize, const S: usize>(
    k: &[f32],
    x: &[f32],
    hw: [usize; 2],
    pads: [usize; 2],
    scratch: &mut PlaneScratch,
    out: &mut [f32],
    ow: usize,
    bias: f32,
    bounds: Option<[f32; 2]>,
) {
    plane_body::<K, S, Portable>(k, x, hw, pads, scratch, out, ow, bias, bounds)
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    /// # Safety
    /// The CPU must support AVX-512F and FMA ([`super::select`] checks).
    #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn plane<const K: usize, const S: usize>(
        k: &[f32],
        x: &[f32],
        hw: [usize; 2],
        pads: [usize; 2],
        scratch: &mut super::PlaneScratch,
        out: &mut [f32],
        ow: usize,
        bias: f32,
        bounds: Option<[f32; 2]>,
    ) {
        super::plane_body::<K, S, super::super::depthwise_blocks::Avx512>(
            k, x, hw, pads, scratch, out, ow, bias, bounds,
        )
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    /// # Safety
    /// The CPU must support AVX2 and FMA ([`super::select`] checks).
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn plane<const K: usize, const S: usize>(
        k: &[f32],
        x: &[f32],
        hw: [usize; 2],
        pads: [usize; 2],
        scratch: &mut super::PlaneScratch,
        out: &mut [f32],
        ow: usize,
        bias: f32,
        bounds: Option<[f32; 2]>,
    ) {
        super::plane_body::<K, S, super::super::depthwise_blocks::Avx2>(
            k, x, hw, pads, scratch, out, ow, bias, bounds,
        )
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn plane_body<const K: usize, const S: usize, B: Block>(
    k: &[f32],
    x: &[f32],
    [h, w]: [usize; 2],
    [top, left]: [usize; 2],
    scratch: &mut PlaneScratch,
    out: &mut [f32],
    ow: usize,
    bias: f32,
    bounds: Option<[f32; 2]>,
) {
    assert!(k.len() >= K * K && x.len() >= h * w && ow > 0 && out.len().is_multiple_of(ow));
    let oh = out.len() / ow;
    let taps: [[f32; K]; K] = std::array::from_fn(|ky| std::array::from_fn(|kx| k[ky * K + kx]));
    let blocks = ow.div_ceil(LANES);
    // Each phase holds the columns read by `blocks` whole blocks, the last one included.
    let phase_w = blocks * LANES + (K - 1) / S;
    let row_len = S * phase_w;
    let padded_h = (oh - 1) * S + K;
    let len = row_len * padded_h;
    if !scratch.pads_zeroed {
        scratch.values.clear();
        scratch.values.resize(len, 0.0);
        scratch.pads_zeroed = true;
    }
    // Only values that depend on the input are written below: with the same geometry as the
    // plane that zeroed the scratch, every other value is still zero.
    let phase_ranges: [std::ops::Range<usize>; S] =
        std::array::from_fn(|p| valid_outputs(phase_w, S, p as isize - left as isize, w));
    for (iy, padded_row) in scratch.values[..len]
        .chunks_exact_mut(row_len)
        .skip(top)
        .take(h)
        .enumerate()
    {
        let src = &x[iy * w..(iy + 1) * w];
        for (p, (phase, valid)) in padded_row
            .chunks_exact_mut(phase_w)
            .zip(&phase_ranges)
            .enumerate()
        {
            if valid.is_empty() {
                continue;
            }
            let first = valid.start * S + p - left;
            if S == 1 {
                B::copy(&src[first..first + valid.len()], &mut phase[valid.clone()]);
            } else {
                copy_strided::<S, B>(&mut phase[valid.clone()], &src[first..]);
            }
        }
    }
    let padded: &[f32] = &scratch.values;
    let mut out_rows = out.chunks_exact_mut(ow);
    let mut oy = 0;
    // Two output rows at a time: each loaded input vector feeds both rows' accumulators,
    // and the two independent chains hide the multiply-add latency. Strided planes keep one
    // row at a time, which measured faster for them.
    while S == 1 && oy + 2 <= oh {
        let (first, second) = (out_rows.next().expect("row"), out_rows.next().expect("row"));
        for ox in (0..ow).step_by(LANES) {
            let [a, b] = block::<K, S, B, 2>(padded, oy * S * row_len, [row_len, phase_w], ox, &taps);
            let n = LANES.min(ow - ox);
            a.finish(bias, bounds).store(&mut first[ox..ox + n]);
            b.finish(bias, bounds).store(&mut second[ox..ox + n]);
        }
        oy += 2;
    }
    for last in out_rows {
        for ox in (0..ow).step_by(LANES) {
            let [a] = block::<K, S, B, 1>(padded, oy * S * row_len, [row_len, phase_w], ox, &taps);
            let n = LANES.min(ow - ox);
            a.finish(bias, bounds).store(&mut last[ox..ox + n]);
        }
        oy += 1;
    }
}

/// The accumulators of `R` vertically adjacent output blocks of [`LANES`] outputs from `ox`,
/// whose first input row starts at `padded[first..]`.
// `kx` picks both the input offset and, per accumulator, a tap from a different filter row.
#[allow(clippy::needless_range_loop)]
#[inline(always)]
fn block<const K: usize, const S: usize, B: Block, const R: usize>(
    padded: &[f32],
    first: usize,
    [row_len, phase_w]: [usize; 2],
    ox: usize,
    taps: &[[f32; K]; K],
) -> [B; R] {
    let mut acc = [B::zero(); R];
    for r in 0..K + (R - 1) * S {
        let row = &padded[first + r * row_len..][..row_len];
        for kx in 0..K {
            let at = (kx % S) * phase_w + kx / S + ox;
            // A fixed-size view lets LLVM drop bounds checks and keep `acc` in registers.
            let src = <&[f32; LANES]>::try_from(&row[at..at + LANES]).expect("LANES values");
            for (j, a) in acc.iter_mut().enumerate() {
                // Output row j reads input row r through filter row r - j·S.
                if let Some(ky) = r.checked_sub(j * S).filter(|&ky| ky < K) {
                    *a = a.madd(taps[ky][kx], src);
                }
            }
        }
    }
    acc
}

/// `dst[i] = src[i · S]` for every `i` of `dst`.
#[inline(always)]
fn copy_strided<const S: usize, B: Block>(dst: &mut [f32], src: &[f32]) {
    let src = &src[..(dst.len() - 1) * S + 1];
    if S == 2 {
        B::copy_even(dst, src);
    } else {
        for (i, d) in dst.iter_mut().enumerate() {
            *d = src[i * S];
        }
    }
}
