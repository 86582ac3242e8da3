//! AVX-512 VNNI microkernel: 512-bit `vpdpbusd`, 8 rows × 32 columns.
//!
//! Written with `std::arch` intrinsics (stable since Rust 1.89) rather than `asm!`: the
//! compiler allocates the 16 accumulators + 2 B vectors in registers and folds the A
//! broadcasts into `vpdpbusd`'s `{1to16}` memory operand, which is what hand-written
//! assembly would do, while keeping the code checked and readable.

use std::arch::x86_64::*;

use super::TileArgs;

const MR: usize = 8;
/// Bytes of one packed B group: 32 columns × 4 k values.
const GROUP_BYTES: usize = 128;

/// # Safety
/// See [`super::MicroKernel`]; needs AVX-512F/BW/VNNI.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub(crate) unsafe fn avx512vnni_gemm_u8s8_8x32(t: &TileArgs) {
    let seed = [
        _mm512_loadu_si512(t.seed.cast()),
        _mm512_loadu_si512(t.seed.add(16).cast()),
    ];
    let mut acc = [seed; MR];
    if t.accumulate {
        for (r, row) in acc.iter_mut().enumerate() {
            let c = t.c.add(r * t.ldc);
            row[0] = _mm512_loadu_si512(c.cast());
            row[1] = _mm512_loadu_si512(c.add(16).cast());
        }
    }
    let mut b = t.b;
    let mut a = t.a;
    for _ in 0..t.k_groups {
        let b0 = _mm512_loadu_si512(b.cast());
        let b1 = _mm512_loadu_si512(b.add(64).cast());
        for (r, row) in acc.iter_mut().enumerate() {
            // Four consecutive k values of row r, the same for all 16 lanes.
            let a4 = _mm512_set1_epi32(a.add(r * t.a_stride).cast::<i32>().read_unaligned());
            row[0] = _mm512_dpbusd_epi32(row[0], a4, b0);
            row[1] = _mm512_dpbusd_epi32(row[1], a4, b1);
        }
        b = b.add(GROUP_BYTES);
        a = a.add(4);
    }
    for (r, row) in acc.iter().enumerate() {
        let c = t.c.add(r * t.ldc);
        _mm512_storeu_si512(c.cast(), row[0]);
        _mm512_storeu_si512(c.add(16).cast(), row[1]);
    }
}
