//! The naive GEMM every tier is tested against: the definition, with no packing.

use super::gemm::BZeroPoints;
use super::packed::WeightLayout;

/// `out[i][j] = Σ_k (a[i*lda+k] − za)·(b[k][j] − zb[j])` with wrapping i32 arithmetic,
/// computed term by term exactly as written (no zero-point algebra).
///
/// # Panics
/// When a slice is shorter than the shapes say: this is a test oracle, not a kernel.
#[allow(clippy::too_many_arguments)]
pub fn reference_gemm_u8i8_i32(
    (m, k, n): (usize, usize, usize),
    a: &[u8],
    lda: usize,
    a_zero_point: i32,
    b: &[i8],
    layout: WeightLayout,
    b_zero_points: BZeroPoints<'_>,
    out: &mut [i32],
) {
    for i in 0..m {
        for j in 0..n {
            let zb = match b_zero_points {
                BZeroPoints::PerTensor(z) => z,
                BZeroPoints::PerColumn(z) => z[j],
            };
            let mut acc = 0i32;
            for kk in 0..k {
                let bv = match layout {
                    WeightLayout::KByN => b[kk * n + j],
                    WeightLayout::NByK => b[j * k + kk],
                };
                let av = i32::from(a[i * lda + kk]) - a_zero_point;
                acc = acc.wrapping_add(av.wrapping_mul(i32::from(bv) - zb));
            }
            out[i * n + j] = acc;
        }
    }
}
