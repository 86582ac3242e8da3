//! AVX-VNNI microkernel: VEX-encoded 256-bit `vpdpbusd`, 6 rows × 16 columns.
//!
//! Intrinsics rather than `asm!` for the same reason as the AVX-512 kernel: 12
//! accumulators + 2 B vectors + 1 broadcast fit the 16 ymm registers and the compiler
//! allocates them well.

use std::arch::x86_64::*;

use super::TileArgs;

const MR: usize = 6;
/// Bytes of one packed B group: 16 columns × 4 k values.
const GROUP_BYTES: usize = 64;

/// # Safety
/// See [`super::MicroKernel`]; needs AVX2 and AVX-VNNI.
#[target_feature(enable = "avx2,avxvnni")]
pub(crate) unsafe fn avxvnni_gemm_u8s8_6x16(t: &TileArgs) {
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
            let a4 = _mm256_set1_epi32(a.add(r * t.a_stride).cast::<i32>().read_unaligned());
            row[0] = _mm256_dpbusd_avx_epi32(row[0], a4, b0);
            row[1] = _mm256_dpbusd_avx_epi32(row[1], a4, b1);
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
