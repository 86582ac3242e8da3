//! AMX microkernel: `tdpbusd` on tiles, 32 rows × 32 columns as 2×2 tiles of 16×16 i32.
//!
//! Written with inline `asm!`: Rust's AMX intrinsics (`_tile_*`) are still unstable, and
//! the instructions are few. The compiler never uses tile registers, so tile state lives
//! across `asm!` blocks; the blocks only name general-purpose registers.
//!
//! Tile registers: tmm0..tmm3 hold C (tmm0 = rows 0-15 × cols 0-15, tmm1 = rows 0-15 ×
//! cols 16-31, tmm2/tmm3 the same for rows 16-31), tmm4/tmm5 hold A (16 rows × 64 k
//! bytes), tmm6/tmm7 hold B (16 groups of 4 k × 16 columns, 64 bytes per row). Every tile
//! is configured as 16 rows × 64 bytes.
//!
//! Packed B uses the AVX-512 layout (groups of 4 k values × 32 columns = 128 bytes), so a
//! B tile is 16 consecutive groups read with a 128-byte stride, starting 64 bytes in for
//! columns 16-31.

use std::arch::asm;
use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};

use super::TileArgs;

/// Bytes of one packed B group: 32 columns × 4 k values.
const GROUP_BYTES: usize = 128;
/// k groups consumed per `tdpbusd` (64 k values).
const GROUPS_PER_STEP: usize = 16;
/// Bytes of packed B one step consumes.
const STEP_BYTES: usize = GROUPS_PER_STEP * GROUP_BYTES;

/// The 64-byte `ldtilecfg` operand: palette 1, tiles 0-7 all 16 rows × 64 bytes.
#[repr(C, align(64))]
struct TileConfig([u8; 64]);

const _: () = assert!(std::mem::size_of::<TileConfig>() == 64);

static TILE_CONFIG: TileConfig = {
    let mut bytes = [0u8; 64];
    bytes[0] = 1; // palette
    let mut t = 0;
    while t < 8 {
        bytes[16 + 2 * t] = 64; // colsb[t], little-endian u16
        bytes[48 + t] = 16; // rows[t]
        t += 1;
    }
    TileConfig(bytes)
};

/// Loads the tile configuration on the calling thread.
///
/// Only called by the GEMM driver for the AMX tier, which exists only when the CPU has
/// AMX-INT8 and Linux granted tile permission (see `isa.rs`).
pub(crate) fn load_tile_config() {
    // SAFETY: the AMX tier is selected only when AMX is present and permitted; the
    // operand is a valid 64-byte configuration.
    unsafe { asm!("ldtilecfg [{}]", in(reg) TILE_CONFIG.0.as_ptr(), options(nostack, readonly)) };
}

/// Returns the tile registers to their init state, so the thread stops paying for AMX
/// state on context switches.
pub(crate) fn release_tiles() {
    // SAFETY: as for `load_tile_config`.
    unsafe { asm!("tilerelease", options(nostack, nomem)) };
}

/// # Safety
/// See [`super::MicroKernel`]; `k_groups` is a multiple of 16 and the tile configuration
/// was loaded on this thread.
pub(crate) unsafe fn amx_gemm_u8s8_32x32(t: &TileArgs) {
    let ldc_bytes = t.ldc * 4;
    let c0 = t.c;
    let c1 = t.c.add(16);
    let c2 = t.c.add(16 * t.ldc);
    let c3 = c2.add(16);
    if t.accumulate {
        asm!(
            "tileloadd tmm0, [{c0} + {s}]",
            "tileloadd tmm1, [{c1} + {s}]",
            "tileloadd tmm2, [{c2} + {s}]",
            "tileloadd tmm3, [{c3} + {s}]",
            c0 = in(reg) c0, c1 = in(reg) c1, c2 = in(reg) c2, c3 = in(reg) c3,
            s = in(reg) ldc_bytes,
            options(nostack, readonly),
        );
    } else {
        // A zero row stride repeats the seed row down all 16 rows of each C tile.
        asm!(
            "tileloadd tmm0, [{s0} + {zero}]",
            "tileloadd tmm1, [{s1} + {zero}]",
            "tileloadd tmm2, [{s0} + {zero}]",
            "tileloadd tmm3, [{s1} + {zero}]",
            s0 = in(reg) t.seed, s1 = in(reg) t.seed.add(16), zero = in(reg) 0usize,
            options(nostack, readonly),
        );
    }
    if !t.accumulate {
        prefetch_tile_for_write(t.c, t.ldc);
    }
    let a_lower_half = 16 * t.a_stride;
    let mut a = t.a;
    let mut b = t.b;
    for _ in 0..t.k_groups / GROUPS_PER_STEP {
        asm!(
            "tileloadd tmm4, [{a0} + {sa}]",
            "tileloadd tmm6, [{b0} + {sb}]",
            "tdpbusd tmm0, tmm4, tmm6",
            "tileloadd tmm7, [{b1} + {sb}]",
            "tdpbusd tmm1, tmm4, tmm7",
            "tileloadd tmm5, [{a1} + {sa}]",
            "tdpbusd tmm2, tmm5, tmm6",
            "tdpbusd tmm3, tmm5, tmm7",
            a0 = in(reg) a, a1 = in(reg) a.add(a_lower_half),
            b0 = in(reg) b, b1 = in(reg) b.add(64),
            sa = in(reg) t.a_stride, sb = in(reg) GROUP_BYTES,
            options(nostack, readonly),
        );
        // The B stream comes from L2 (the A tile stays in L1 across panels): fetch the step
        // after next now, so its tile loads hit L1.
        let ahead = b.wrapping_add(2 * STEP_BYTES);
        for line in 0..STEP_BYTES / 64 {
            _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(line * 64).cast());
        }

        a = a.add(t.a_step);
        b = b.add(STEP_BYTES);
    }
    asm!(
        "tilestored [{c0} + {s}], tmm0",
        "tilestored [{c1} + {s}], tmm1",
        "tilestored [{c2} + {s}], tmm2",
        "tilestored [{c3} + {s}], tmm3",
        c0 = in(reg) c0, c1 = in(reg) c1, c2 = in(reg) c2, c3 = in(reg) c3,
        s = in(reg) ldc_bytes,
        options(nostack),
    );
}

/// Asks for the 32×32 i32 output tile's cache lines in exclusive state, so the final tile
/// stores do not stall on read-for-ownership misses (C is usually bigger than L2).
///
/// # Safety
/// `prefetchw` never faults; the CPU has it (every AMX CPU does).
unsafe fn prefetch_tile_for_write(c: *mut i32, ldc: usize) {
    for row in 0..32 {
        let line = c.wrapping_add(row * ldc);
        asm!("prefetchw [{0}]", "prefetchw [{0} + 64]", in(reg) line, options(nostack, readonly, preserves_flags));
    }
}
