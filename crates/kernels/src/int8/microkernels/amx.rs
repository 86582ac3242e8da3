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
//!   spread over its K loop ([`Drain`](super::Drain), `amx_drain.rs`); for outputs too
//!   big for L2, with non-temporal stores, which skip the read-for-ownership of every
//!   output line. Those stores still cost ~15% (without them: ~3.9 against ~3.3 TOPS in
//!   a stand-alone loop under load); loads from the scratch tile cost nothing measurable.
//! - The loop is software-pipelined (see the kernel): +10-15%.
//! - C starts from `tilezero` and the drain adds the zero-point seed row: loading the
//!   seed into the tiles with a zero row stride cost ~8%.

use std::arch::asm;

use super::amx_drain::{path, TileDrain};
use super::{Drain, TileArgs, TileRun};

/// k groups consumed per `tdpbusd` (64 k values).
const GROUPS_PER_STEP: usize = 16;
/// Bytes of one B tile, and the offset of a step's second B tile (columns 16-31).
const B_TILE_BYTES: usize = 1024;
/// Bytes of packed B one step consumes: two B tiles.
const STEP_BYTES: usize = 2 * B_TILE_BYTES;
/// Row stride of a B tile.
const B_ROW_BYTES: usize = 64;
/// Columns of C the kernel computes: the row stride (in i32) of the run's scratch tiles.
const NR: usize = 32;

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
    load_first_step(t, t.b);
    panel(t, t.b, t.drain.as_ref(), PanelEnd::Store { c: t.c, ldc: t.ldc });
}

/// A run of tiles side by side in one call (see [`super::TileRun`]).
///
/// Between two panels, the last K step of one loads the next one's first A and B tiles,
/// so they arrive while C is stored, and no driver code runs between tiles. At 1024³ this
/// measured ~3% faster in `sysinfo` (28 alternated runs) and 3-5% in best-of-30 calls
/// than calling the single-tile kernel once per tile (a stand-alone loop of the same
/// shape, without the driver, had promised 9%).
///
/// # Safety
/// See [`super::RunKernel`] and [`amx_gemm_u8s8_32x32`].
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn amx_gemm_u8s8_32x32_run(r: &TileRun) {
    let t = &r.first;
    zero_c();
    load_first_step(t, t.b);
    let mut previous = t.drain;
    for p in 0..r.panels {
        let b = t.b.add(p * r.b_panel_stride);
        let c = r.scratch[p % 2];
        let end = if p + 1 < r.panels {
            PanelEnd::StoreAndStartNext {
                c,
                next_b: b.add(r.b_panel_stride),
            }
        } else {
            PanelEnd::Store { c, ldc: NR }
        };
        panel(t, b, previous.as_ref(), end);
        previous = Some(r.panel_drain(p));
    }
}

/// What the last K step of a panel does after its `tdpbusd`s.
#[derive(Clone, Copy)]
enum PanelEnd {
    /// Store C (row stride `ldc` i32).
    Store { c: *mut i32, ldc: usize },
    /// Store C into a scratch tile (row stride [`NR`]), zero it, and load the next panel's
    /// first A and B tiles (B panel `next_b`).
    StoreAndStartNext { c: *mut i32, next_b: *const u8 },
}

/// Loads the A and B tiles of the first K step of B panel `b`.
///
/// # Safety
/// As for [`amx_gemm_u8s8_32x32`].
unsafe fn load_first_step(t: &TileArgs, b: *const u8) {
    let a = t.a;
    asm!(
        "tileloaddt1 tmm6, [{b0} + {sb}]",
        "tileloadd tmm4, [{a0} + {sa}]",
        "tileloadd tmm5, [{a1} + {sa}]",
        "tileloaddt1 tmm7, [{b1} + {sb}]",
        a0 = in(reg) a, a1 = in(reg) a.add(16 * t.a_stride),
        b0 = in(reg) b, b1 = in(reg) b.add(B_TILE_BYTES),
        sa = in(reg) t.a_stride, sb = in(reg) B_ROW_BYTES,
        options(nostack, readonly),
    );
}

/// The K steps of one panel, whose first A and B tiles are already loaded, copying
/// `drain` out a few rows per step: [`panel_on`] instantiated for the drain's copy path.
///
/// # Safety
/// As for [`amx_gemm_u8s8_32x32`].
#[target_feature(enable = "avx512f")]
unsafe fn panel(t: &TileArgs, b: *const u8, drain: Option<&Drain>, end: PanelEnd) {
    let drain = drain.map(|d| TileDrain::new(d));
    let drain = drain.as_ref();
    match drain.map(TileDrain::path) {
        Some(path::ALIGNED_LINES) => panel_on::<{ path::ALIGNED_LINES }>(t, b, drain, end),
        Some(path::SHIFTED_LINES) => panel_on::<{ path::SHIFTED_LINES }>(t, b, drain, end),
        Some(path::GENERAL) => panel_on::<{ path::GENERAL }>(t, b, drain, end),
        // Without a drain the row copy never runs; any instantiation does.
        _ => panel_on::<{ path::PLAIN }>(t, b, drain, end),
    }
}

/// [`panel`] for a drain whose copy path is `PATH` (or no drain).
///
/// # Safety
/// As for [`amx_gemm_u8s8_32x32`]; `drain`, if any, has copy path `PATH`.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn panel_on<const PATH: u8>(t: &TileArgs, b: *const u8, drain: Option<&TileDrain>, end: PanelEnd) {
    let steps = t.k_groups / GROUPS_PER_STEP;
    // The previous tile's rows, copied a few per step so that the stores trickle out
    // while the tile unit works instead of arriving as one burst (a burst fills the
    // write-combining buffers and stalls the tile loads behind it). The last rows go out
    // before this panel stores C: a streaming drain may read its left neighbour's scratch
    // tile, which that store overwrites.
    let drain_rows = drain.map_or(0, TileDrain::rows);
    let rows_per_step = drain_rows.div_ceil(steps.max(1));
    let mut drained = 0;
    let a_lower_half = 16 * t.a_stride;
    // Software-pipelined: each A/B tile register is reloaded with the next step's tile
    // right after its last `tdpbusd` of this step, B (from L2) before A (from L1), so the
    // loads overlap this step's arithmetic (+10-15% at 1024³ over load-then-multiply).
    // The last step loads the next panel's first tiles instead, if there is one.
    for step in 0..steps {
        let last = step + 1 == steps;
        let next = match end {
            _ if !last => Some((t.a.add((step + 1) * t.a_step), b.add((step + 1) * STEP_BYTES))),
            PanelEnd::StoreAndStartNext { next_b, .. } => Some((t.a, next_b)),
            PanelEnd::Store { .. } => None,
        };
        if let Some((a, b)) = next {
            asm!(
                "tdpbusd tmm0, tmm4, tmm6",
                "tdpbusd tmm2, tmm5, tmm6",
                "tileloaddt1 tmm6, [{b0} + {sb}]",
                "tdpbusd tmm1, tmm4, tmm7",
                "tileloadd tmm4, [{a0} + {sa}]",
                "tdpbusd tmm3, tmm5, tmm7",
                "tileloaddt1 tmm7, [{b1} + {sb}]",
                "tileloadd tmm5, [{a1} + {sa}]",
                a0 = in(reg) a, a1 = in(reg) a.add(a_lower_half),
                b0 = in(reg) b, b1 = in(reg) b.add(B_TILE_BYTES),
                sa = in(reg) t.a_stride, sb = in(reg) B_ROW_BYTES,
                options(nostack, readonly),
            );
        } else {
            asm!(
                "tdpbusd tmm0, tmm4, tmm6",
                "tdpbusd tmm2, tmm5, tmm6",
                "tdpbusd tmm1, tmm4, tmm7",
                "tdpbusd tmm3, tmm5, tmm7",
                options(nostack, nomem),
            );
        }
        if let Some(d) = drain {
            let end = if last {
                drain_rows
            } else {
                (drained + rows_per_step).min(drain_rows)
            };
            for row in drained..end {
                d.row::<PATH>(row);
            }
            drained = end;
        }
    }
    match end {
        PanelEnd::Store { c, ldc } => store_c(c, ldc),
        PanelEnd::StoreAndStartNext { c, .. } => {
            store_c(c, NR);
            zero_c();
        }
    }
}

/// Stores the C tiles at `c`, row stride `ldc` i32.
///
/// # Safety
/// As for [`amx_gemm_u8s8_32x32`]; `c` addresses 32 × 32 i32 with that stride.
unsafe fn store_c(c: *mut i32, ldc: usize) {
    asm!(
        "tilestored [{c0} + {s}], tmm0",
        "tilestored [{c1} + {s}], tmm1",
        "tilestored [{c2} + {s}], tmm2",
        "tilestored [{c3} + {s}], tmm3",
        c0 = in(reg) c, c1 = in(reg) c.add(16),
        c2 = in(reg) c.add(16 * ldc), c3 = in(reg) c.add(16 * ldc + 16),
        s = in(reg) ldc * 4,
        options(nostack),
    );
}

/// Zeroes the C tiles.
///
/// # Safety
/// As for [`amx_gemm_u8s8_32x32`].
unsafe fn zero_c() {
    asm!(
        "tilezero tmm0",
        "tilezero tmm1",
        "tilezero tmm2",
        "tilezero tmm3",
        options(nostack, nomem)
    );
}

/// Loads the C tiles from C when accumulating, else zeroes them (the drain adds the seed:
/// loading it into the tiles with a zero row stride cost ~8% at 1024³).
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
        zero_c();
    }
}
