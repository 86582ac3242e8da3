//! Register-blocked depthwise planes for the hot shapes: square K×K filters (K = 3 or 5),
//! equal strides S (1 or 2), no dilation.
//!
//! The plane is first copied into a zero-padded scratch wide enough for whole blocks of
//! [`LANES`] outputs, so every block keeps its accumulators in vector registers over all K×K
//! taps, with no bounds checks and no scalar border path. Each padded row is
//! stored as S phases (columns `c` with `c % S == p`, in order), so a tap of a strided filter
//! reads [`LANES`] consecutive values instead of every S-th one. The copy is one pass over
//! the plane, cheap next to K×K taps per output.
//!
//! The body is written once, generic over K, S and whether to use fused multiply-add, and
//! compiled per ISA tier inside `#[target_feature]` wrappers so LLVM vectorises it for
//! AVX-512 or AVX2; [`select`] picks the tier from the CPU at plan time.

use super::depthwise_blocks::{Block, Portable, LANES};

/// One channel: `x` is `[h, w]`, `out` is `[oh, ow]`, written as `clamp(acc + bias)` with
/// `bounds` from [`crate::f32::Activation`] (`None`: no clamp). `pads` are `[top, left]`.
/// `scratch` is reused between calls and grown as needed.
pub(super) type PlaneFn = unsafe fn(
    k: &[f32],
    x: &[f32],
    hw: [usize; 2],
    pads: [usize; 2],
    scratch: &mut Vec<f32>,
    out: &mut [f32],
    ow: usize,
    bias: f32,
    bounds: Option<[f32; 2]>,
);

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
    scratch: &mut Vec<f32>,
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
        scratch: &mut Vec<f32>,
        out: &mut [f32],
        ow: usize,
        bias: f32,
        bounds: Option<[f32; 2]>,
    ) {
        super::plane_body::<K, S, super::super::depthwise_blocks::Avx512>(k, x, hw, pads, scratch, out, ow, bias, bounds)
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
        scratch: &mut Vec<f32>,
        out: &mut [f32],
        ow: usize,
        bias: f32,
        bounds: Option<[f32; 2]>,
    ) {
        super::plane_body::<K, S, super::super::depthwise_blocks::Avx2>(k, x, hw, pads, scratch, out, ow, bias, bounds)
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn plane_body<const K: usize, const S: usize, B: Block>(
    k: &[f32],
    x: &[f32],
    [h, w]: [usize; 2],
    [top, left]: [usize; 2],
    scratch: &mut Vec<f32>,
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
    // One more row: the contiguous padded input row that a strided plane splits into phases.
    if scratch.len() < row_len * (padded_h + 1) {
        scratch.resize(row_len * (padded_h + 1), 0.0);
    }
    let (padded_rows, contiguous) = scratch.split_at_mut(row_len * padded_h);
    for (py, padded_row) in padded_rows.chunks_exact_mut(row_len).enumerate() {
        match py.checked_sub(top).filter(|&iy| iy < h) {
            Some(iy) if S == 1 => fill_padded(&x[iy * w..(iy + 1) * w], left, padded_row),
            Some(iy) => {
                fill_padded(&x[iy * w..(iy + 1) * w], left, &mut contiguous[..row_len]);
                split_phases::<S, B>(&contiguous[..row_len], padded_row, phase_w);
            }
            None => padded_row.fill(0.0),
        }
    }
    let padded: &[f32] = scratch;
    for (oy, out_row) in out.chunks_exact_mut(ow).enumerate() {
        let rows: [&[f32]; K] = std::array::from_fn(|ky| &padded[(oy * S + ky) * row_len..][..row_len]);
        for block in 0..blocks {
            let ox = block * LANES;
            let mut acc = B::zero();
            for (row, row_taps) in rows.iter().zip(&taps) {
                for (kx, &t) in row_taps.iter().enumerate() {
                    let at = (kx % S) * phase_w + kx / S + ox;
                    let src = <&[f32; LANES]>::try_from(&row[at..at + LANES]).expect("LANES values");
                    acc = acc.madd(t, src);
                }
            }
            let n = LANES.min(ow - ox);
            acc.finish(bias, bounds).store(&mut out_row[ox..ox + n]);
        }
    }
}

/// Writes `row` into `padded` after `left` zeros, then zeros up to `padded`'s end (`row` is
/// cut where `padded` ends).
#[inline(always)]
fn fill_padded(row: &[f32], left: usize, padded: &mut [f32]) {
    let left = left.min(padded.len());
    let copied = row.len().min(padded.len() - left);
    padded[..left].fill(0.0);
    padded[left..left + copied].copy_from_slice(&row[..copied]);
    padded[left + copied..].fill(0.0);
}

/// Stores `row` as S phases of `phase_w` values in `phases`: phase `p` holds `row[p]`,
/// `row[p + S]`, …
#[inline(always)]
fn split_phases<const S: usize, B: Block>(row: &[f32], phases: &mut [f32], phase_w: usize) {
    let mut q = 0;
    if S == 2 {
        let (even, odd) = phases.split_at_mut(phase_w);
        let whole = phase_w / LANES * LANES;
        for ((e, o), pairs) in even[..whole]
            .chunks_exact_mut(LANES)
            .zip(odd[..whole].chunks_exact_mut(LANES))
            .zip(row.chunks_exact(2 * LANES))
        {
            let pairs = <&[f32; 2 * LANES]>::try_from(pairs).expect("2·LANES values");
            let e = <&mut [f32; LANES]>::try_from(e).expect("LANES values");
            let o = <&mut [f32; LANES]>::try_from(o).expect("LANES values");
            B::split_pairs(pairs, e, o);
        }
        q = whole;
    }
    for (p, phase) in phases.chunks_exact_mut(phase_w).enumerate() {
        for (i, v) in phase.iter_mut().enumerate().skip(q) {
            *v = row[i * S + p];
        }
    }
}
