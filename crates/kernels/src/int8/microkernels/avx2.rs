//! AVX2 microkernel: `vpmaddwd` on operands pre-widened to 16 bits, 4 rows × 16 columns.
//!
//! Why not `vpmaddubsw` (u8×i8 pairs → i16)? Its pair sums saturate: 255·(−128)·2 does
//! not fit in i16, so results would be wrong for full-range inputs. Here A is packed as
//! u16 and B as i16, so `vpmaddwd` forms exact i32 pair sums (|a·b| ≤ 32 640, a pair
//! ≤ 65 280) and the tier stays bit-identical to the scalar reference. The price is twice
//! the operand bytes per multiply-add, acceptable for the fallback tier.

use std::arch::x86_64::*;

use super::TileArgs;

const MR: usize = 4;
/// Bytes of one packed B group: 16 columns × 2 k values × 2 bytes.
const GROUP_BYTES: usize = 64;

/// # Safety
/// See [`super::MicroKernel`]; needs AVX2. A rows hold u16 values, B panels i16 values.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn avx2_gemm_u8s8_4x16(t: &TileArgs) {
    let seed = [
        _mm256_loadu_si256(t.seed.cast()),
        _mm256_loadu_si256(t.seed.add(8).cast()),
    ];
    let mut acc = [seed; MR];
    if t.accumulate {
        for (r, row) in acc.iter_mut().enumerate() {
            let c = t.c.add(r * t.ldc);
            row[0] = _mm256_loadu_si256(c.cast());
            row[1] = _mm256_loadu_si256(c.add(8).cast());
        }
    }
    let mut b = t.b;
    let mut a = t.a;
    for _ in 0..t.k_groups {
        let b0 = _mm256_loadu_si256(b.cast());
        let b1 = _mm256_loadu_si256(b.add(32).cast());
        for (r, row) in acc.iter_mut().enumerate() {
            // Two consecutive k values of row r as two u16, the same for all 8 lanes.
            let a2 = _mm256_set1_epi32(a.add(r * t.a_stride).cast::<i32>().read_unaligned());
            row[0] = _mm256_add_epi32(row[0], _mm256_madd_epi16(a2, b0));
            row[1] = _mm256_add_epi32(row[1], _mm256_madd_epi16(a2, b1));
        }
        b = b.add(GROUP_BYTES);
        a = a.add(4);
    }
    for (r, row) in acc.iter().enumerate() {
        let c = t.c.add(r * t.ldc);
        _mm256_storeu_si256(c.cast(), row[0]);
        _mm256_storeu_si256(c.add(8).cast(), row[1]);
    }
}
