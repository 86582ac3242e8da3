//! AVX-512 VNNI microkernel: 512-bit `vpdpbusd`, 8 rows × 32 columns.
//!
//! The K loop is inline `asm!`, the set-up and stores are intrinsics. A's bytes are the
//! unsigned operand of `vpdpbusd`, which cannot come from memory, so each row's four k
//! values are broadcast into a register first. From intrinsics, LLVM addressed the eight
//! A rows through a chain of seven dependent adds per k group, which competed with the
//! `vpdpbusd`s for ports; the loop below addresses them as `a + s·{0,1,2,4}`, `a + 3s`
//! and `a5 + s·{0,1,2}` and advances two pointers (+2-3% at 1024³).

use std::arch::asm;
use std::arch::x86_64::*;

use super::TileArgs;

pub(crate) const MR: usize = 8;
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
    accumulate_8x32(&mut acc, t.a, t.a_stride, t.b, t.k_groups);
    for (r, row) in acc.iter().enumerate() {
        let c = t.c.add(r * t.ldc);
        _mm512_storeu_si512(c.cast(), row[0]);
        _mm512_storeu_si512(c.add(16).cast(), row[1]);
    }
}

/// Adds `k_groups` groups of eight A rows (four bytes each, rows `a_stride` apart, the
/// next group 4 bytes on) times packed B (GROUP_BYTES per group) to `acc`, row by row.
/// Shared with the requantizing conv GEMM, whose tiles have the same shape.
///
/// # Safety
/// Needs AVX-512F/VNNI; `a` has MR rows of `4·k_groups` readable bytes at stride
/// `a_stride`, and `b` `k_groups · GROUP_BYTES` readable bytes.
#[inline]
#[target_feature(enable = "avx512f,avx512vnni")]
pub(crate) unsafe fn accumulate_8x32(
    acc: &mut [[__m512i; 2]; MR],
    a: *const u8,
    a_stride: usize,
    b: *const u8,
    k_groups: usize,
) {
    if k_groups == 0 {
        return;
    }
    let s = a_stride;
    let [[c0, c1], [c2, c3], [c4, c5], [c6, c7], [c8, c9], [c10, c11], [c12, c13], [c14, c15]] = acc;
    // Per k group: the group's two B vectors (zmm16/17), then each row's four A bytes
    // broadcast (zmm18/19 alternately) into that row's two accumulators.
    // SAFETY: reads only the A and B bytes the contract above makes readable.
    asm!(
        "2:",
        "vmovdqu64 zmm16, [{b}]",
        "vmovdqu64 zmm17, [{b} + {half}]",
        "vpbroadcastd zmm18, dword ptr [{a}]",
        "vpbroadcastd zmm19, dword ptr [{a} + {s}]",
        "vpdpbusd {c0}, zmm18, zmm16",
        "vpdpbusd {c1}, zmm18, zmm17",
        "vpbroadcastd zmm18, dword ptr [{a} + {s} * 2]",
        "vpdpbusd {c2}, zmm19, zmm16",
        "vpdpbusd {c3}, zmm19, zmm17",
        "vpbroadcastd zmm19, dword ptr [{a} + {s3}]",
        "vpdpbusd {c4}, zmm18, zmm16",
        "vpdpbusd {c5}, zmm18, zmm17",
        "vpbroadcastd zmm18, dword ptr [{a} + {s} * 4]",
        "vpdpbusd {c6}, zmm19, zmm16",
        "vpdpbusd {c7}, zmm19, zmm17",
        "vpbroadcastd zmm19, dword ptr [{a5}]",
        "vpdpbusd {c8}, zmm18, zmm16",
        "vpdpbusd {c9}, zmm18, zmm17",
        "vpbroadcastd zmm18, dword ptr [{a5} + {s}]",
        "vpdpbusd {c10}, zmm19, zmm16",
        "vpdpbusd {c11}, zmm19, zmm17",
        "vpbroadcastd zmm19, dword ptr [{a5} + {s} * 2]",
        "vpdpbusd {c12}, zmm18, zmm16",
        "vpdpbusd {c13}, zmm18, zmm17",
        "vpdpbusd {c14}, zmm19, zmm16",
        "vpdpbusd {c15}, zmm19, zmm17",
        "add {a}, 4",
        "add {a5}, 4",
        "add {b}, {group}",
        "dec {n}",
        "jnz 2b",
        a = inout(reg) a => _,
        a5 = inout(reg) a.add(5 * s) => _,
        s = in(reg) s,
        s3 = in(reg) 3 * s,
        b = inout(reg) b => _,
        n = inout(reg) k_groups => _,
        group = const GROUP_BYTES,
        half = const GROUP_BYTES / 2,
        c0 = inout(zmm_reg) *c0, c1 = inout(zmm_reg) *c1, c2 = inout(zmm_reg) *c2, c3 = inout(zmm_reg) *c3,
        c4 = inout(zmm_reg) *c4, c5 = inout(zmm_reg) *c5, c6 = inout(zmm_reg) *c6, c7 = inout(zmm_reg) *c7,
        c8 = inout(zmm_reg) *c8, c9 = inout(zmm_reg) *c9, c10 = inout(zmm_reg) *c10, c11 = inout(zmm_reg) *c11,
        c12 = inout(zmm_reg) *c12, c13 = inout(zmm_reg) *c13, c14 = inout(zmm_reg) *c14, c15 = inout(zmm_reg) *c15,
        out("zmm16") _, out("zmm17") _, out("zmm18") _, out("zmm19") _,
        options(nostack, readonly),
    );
}
