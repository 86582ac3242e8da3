//! Register-blocked depthwise planes for the hot shapes: square K×K filters (K = 3 or 5),
//! equal strides S (1 or 2), no dilation.
//!
//! The plane is first copied into a zero-padded scratch wide enough for whole blocks of
//! [`LANES`] outputs, so every output row runs in blocks whose accumulators stay in vector
//! registers over all K×K taps, with no bounds checks and no scalar border path (a scalar
//! border costs about as much as the whole vector interior on 56-wide rows). The copy is one
//! pass over the plane, cheap next to K×K taps per output.
//!
//! The body is written once, generic over K, S and whether to use fused multiply-add, and
//! compiled per ISA tier inside `#[target_feature]` wrappers so LLVM vectorises it for
//! AVX-512 or AVX2; [`select`] picks the tier from the CPU at plan time.

/// Outputs per register block (one AVX-512 vector, two AVX2 vectors).
const LANES: usize = 16;

/// One channel: `x` is `[h, w]`, `out` is `[oh, ow]` (written without bias or activation),
/// `zeros` holds at least `w` zeros. `pads` are `[top, left]`.
pub(super) type PlaneFn = unsafe fn(
    k: &[f32],
    x: &[f32],
    h: usize,
    w: usize,
    pads: [usize; 2],
    scratch: &mut Vec<f32>,
    out: &mut [f32],
    ow: usize,
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

/// Baseline tier: plain multiply and add (`mul_add` without hardware FMA is a libm call).
///
/// # Safety
/// None beyond the slice contracts of [`PlaneFn`], which are asserted.
#[allow(clippy::too_many_arguments)]
unsafe fn portable_plane<const K: usize, const S: usize>(
    k: &[f32],
    x: &[f32],
    h: usize,
    w: usize,
    pads: [usize; 2],
    scratch: &mut Vec<f32>,
    out: &mut [f32],
    ow: usize,
) {
    plane_body::<K, S, false>(k, x, h, w, pads, scratch, out, ow)
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
        h: usize,
        w: usize,
        pads: [usize; 2],
        scratch: &mut Vec<f32>,
        out: &mut [f32],
        ow: usize,
    ) {
        super::plane_body::<K, S, true>(k, x, h, w, pads, scratch, out, ow)
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
        h: usize,
        w: usize,
        pads: [usize; 2],
        scratch: &mut Vec<f32>,
        out: &mut [f32],
        ow: usize,
    ) {
        super::plane_body::<K, S, true>(k, x, h, w, pads, scratch, out, ow)
    }
}

#[inline(always)]
fn madd<const FMA: bool>(a: f32, b: f32, acc: f32) -> f32 {
    if FMA {
        a.mul_add(b, acc)
    } else {
        a * b + acc
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn plane_body<const K: usize, const S: usize, const FMA: bool>(
    k: &[f32],
    x: &[f32],
    h: usize,
    w: usize,
    [top, left]: [usize; 2],
    scratch: &mut Vec<f32>,
    out: &mut [f32],
    ow: usize,
) {
    assert!(k.len() >= K * K && x.len() >= h * w && ow > 0 && out.len().is_multiple_of(ow));
    let oh = out.len() / ow;
    let taps: [[f32; K]; K] = std::array::from_fn(|ky| std::array::from_fn(|kx| k[ky * K + kx]));
    // Padded plane: every block of LANES outputs, the last one included, reads inside it.
    let blocks = ow.div_ceil(LANES);
    let (padded_w, padded_h) = ((blocks * LANES - 1) * S + K, (oh - 1) * S + K);
    scratch.clear();
    scratch.resize(padded_w * padded_h, 0.0);
    let copy_w = w.min(padded_w.saturating_sub(left));
    for (iy, row) in x.chunks_exact(w).take(padded_h.saturating_sub(top)).enumerate() {
        let at = (iy + top) * padded_w + left;
        scratch[at..at + copy_w].copy_from_slice(&row[..copy_w]);
    }
    let padded: &[f32] = scratch;
    for (oy, out_row) in out.chunks_exact_mut(ow).enumerate() {
        let rows: [&[f32]; K] = std::array::from_fn(|ky| &padded[(oy * S + ky) * padded_w..][..padded_w]);
        for block in 0..blocks {
            let ox = block * LANES;
            let mut acc = [0.0f32; LANES];
            for (row, row_taps) in rows.iter().zip(&taps) {
                let seg = &row[ox * S..ox * S + (LANES - 1) * S + K];
                for (kx, &t) in row_taps.iter().enumerate() {
                    for (i, a) in acc.iter_mut().enumerate() {
                        *a = madd::<FMA>(t, seg[i * S + kx], *a);
                    }
                }
            }
            let n = LANES.min(ow - ox);
            out_row[ox..ox + n].copy_from_slice(&acc[..n]);
        }
    }
}
