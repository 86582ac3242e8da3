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
//! What the measurements behind this design showed (1024³, one thread):
//! - B streams from L2 (the A tile stays in L1 across panels). Packed B holds each B tile
//!   as one contiguous kilobyte (see `packed.rs`) and is read with `tileloaddt1`, the
//!   non-temporal hint, so it does not evict the A tile; software prefetching of B cost
//!   more than it saved.
//! - Storing C straight from the tiles into an output that is not in L1 cost about as much
//!   as the arithmetic of a tile: those stores did not overlap the next tile's loads and
//!   `tdpbusd`s, and prefetching the output lines did not help. So the kernel stores C
//!   into an L1 scratch tile and copies the previous call's tile out with vector stores
//!   spread over its K loop ([`Drain`]); for outputs too big for L2, with non-temporal
//!   stores, which skip the read-for-ownership of every output line.

use std::arch::asm;
use std::arch::x86_64::*;

use super::{Drain, TileArgs};

/// k groups consumed per `tdpbusd` (64 k values).
const GROUPS_PER_STEP: usize = 16;
/// Bytes of one B tile, and the offset of a step's second B tile (columns 16-31).
const B_TILE_BYTES: usize = 1024;
/// Bytes of packed B one step consumes: two B tiles.
const STEP_BYTES: usize = 2 * B_TILE_BYTES;
/// Row stride of a B tile.
const B_ROW_BYTES: usize = 64;

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
/// See [`super::MicroKernel`]; `k_groups` is a multiple of 16, the tile configuration
/// was loaded on this thread, and the CPU has AVX-512F (every AMX CPU does).
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn amx_gemm_u8s8_32x32(t: &TileArgs) {
    load_c(t);
    let steps = t.k_groups / GROUPS_PER_STEP;
    // The previous tile's rows, copied a few per step so that the stores trickle out
    // while the tile unit works instead of arriving as one burst.
    let drain_rows = t.drain.map_or(0, |d| d.rows);
    let rows_per_step = drain_rows.div_ceil(steps.max(1));
    let mut drained = 0;
    let a_lower_half = 16 * t.a_stride;
    let mut a = t.a;
    let mut b = t.b;
    for _ in 0..steps {
        asm!(
            "tileloadd tmm4, [{a0} + {sa}]",
            "tileloaddt1 tmm6, [{b0} + {sb}]",
            "tdpbusd tmm0, tmm4, tmm6",
            "tileloaddt1 tmm7, [{b1} + {sb}]",
            "tdpbusd tmm1, tmm4, tmm7",
            "tileloadd tmm5, [{a1} + {sa}]",
            "tdpbusd tmm2, tmm5, tmm6",
            "tdpbusd tmm3, tmm5, tmm7",
            a0 = in(reg) a, a1 = in(reg) a.add(a_lower_half),
            b0 = in(reg) b, b1 = in(reg) b.add(B_TILE_BYTES),
            sa = in(reg) t.a_stride, sb = in(reg) B_ROW_BYTES,
            options(nostack, readonly),
        );
        if let Some(d) = &t.drain {
            let end = (drained + rows_per_step).min(drain_rows);
            (drained..end).for_each(|row| drain_row(d, row));
            drained = end;
        }
        a = a.add(t.a_step);
        b = b.add(STEP_BYTES);
    }
    if let Some(d) = &t.drain {
        (drained..drain_rows).for_each(|row| drain_row(d, row));
    }
    let ldc_bytes = t.ldc * 4;
    asm!(
        "tilestored [{c0} + {s}], tmm0",
        "tilestored [{c1} + {s}], tmm1",
        "tilestored [{c2} + {s}], tmm2",
        "tilestored [{c3} + {s}], tmm3",
        c0 = in(reg) t.c, c1 = in(reg) t.c.add(16),
        c2 = in(reg) t.c.add(16 * t.ldc), c3 = in(reg) t.c.add(16 * t.ldc + 16),
        s = in(reg) ldc_bytes,
        options(nostack),
    );
}

/// Loads the C tiles: from C when accumulating, else the seed row repeated down each tile.
///
/// # Safety
/// As for [`amx_gemm_u8s8_32x32`].
unsafe fn load_c(t: &TileArgs) {
    if t.accumulate {
        asm!(
            "tileloadd tmm0, [{c0} + {s}]",
            "tileloadd tmm1, [{c1} + {s}]",
            "tileloadd tmm2, [{c2} + {s}]",
            "tileloadd tmm3, [{c3} + {s}]",
            c0 = in(reg) t.c, c1 = in(reg) t.c.add(16),
            c2 = in(reg) t.c.add(16 * t.ldc), c3 = in(reg) t.c.add(16 * t.ldc + 16),
            s = in(reg) t.ldc * 4,
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
}

/// Copies all of `d` out, then fences its non-temporal stores so that they are ordered
/// before whatever this thread writes next (other threads read the output after it).
///
/// # Safety
/// See [`super::DrainFn`]; needs AVX-512F.
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn drain_tile(d: &Drain) {
    (0..d.rows).for_each(|row| drain_row(d, row));
    if d.streaming {
        _mm_sfence();
    }
}

/// Copies tile row `row` of `d`.
///
/// # Safety
/// As for [`drain_tile`], and `row < d.rows`.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn drain_row(d: &Drain, row: usize) {
    // Scratch rows are `nr` = 32 i32 long.
    let src = d.src.add(row * 32);
    let halves = [
        _mm512_load_si512(src.cast()),
        _mm512_load_si512(src.add(16).cast()),
    ];
    let dst = d.dst.add(row * d.ldc);
    if !d.streaming {
        for (half, v) in halves.into_iter().enumerate() {
            let cols = d.cols.saturating_sub(16 * half).min(16);
            if cols == 16 {
                _mm512_storeu_si512(dst.add(16 * half).cast(), v);
            } else if cols > 0 {
                _mm512_mask_storeu_epi32(dst.add(16 * half).cast(), (1u16 << cols) - 1, v);
            }
        }
        return;
    }
    // Non-temporal stores must write whole, aligned 64-byte lines, but the row starts
    // `shift` i32 into a line. So the row is stored as the (up to) three output lines it
    // touches, each gathered from the halves by one permute; a line shared with the left
    // neighbour tile takes that tile's last `shift` values from its scratch (`d.left`),
    // and the part shared with the right neighbour is left to it (`d.right_follows`).
    // Lines only partly ours go out as masked ordinary stores.
    let shift = (dst as usize / 4) % 16;
    let left = if d.left.is_null() {
        _mm512_setzero_si512()
    } else {
        _mm512_load_si512(d.left.add(row * 32 + 16).cast())
    };
    let lo = if d.left.is_null() { 0 } else { -(shift as isize) };
    let hi = if d.right_follows {
        32 - shift as isize
    } else {
        d.cols as isize
    };
    // Output line q holds row elements 16q − shift + i, i = 0..16: index i + 16 − shift
    // into the concatenation of the two vectors that line straddles.
    let index = _mm512_add_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
        _mm512_set1_epi32(16 - shift as i32),
    );
    let lines = [
        _mm512_permutex2var_epi32(left, index, halves[0]),
        _mm512_permutex2var_epi32(halves[0], index, halves[1]),
        _mm512_permutex2var_epi32(halves[1], index, _mm512_setzero_si512()),
    ];
    for (q, line) in lines.into_iter().enumerate() {
        let first = 16 * q as isize - shift as isize;
        let (start, end) = ((lo - first).clamp(0, 16), (hi - first).clamp(0, 16));
        // `first` may lie before `dst`: only with a left neighbour (then it is that
        // tile's output) or with the elements before `start` masked off.
        let at = dst.wrapping_offset(first);
        if start == 0 && end == 16 {
            _mm512_stream_si512(at.cast(), line);
        } else if start < end {
            let mask = ((1u32 << end) - (1u32 << start)) as u16;
            _mm512_mask_storeu_epi32(at.cast(), mask, line);
        }
    }
}
