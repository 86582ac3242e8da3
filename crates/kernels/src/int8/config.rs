//! One GEMM configuration record per tier: tile sizes, packing format and microkernel.
//!
//! The driver in `gemm.rs` is tier-agnostic; everything a tier changes lives here.

use super::a_block::ALayout;
use super::isa::Tier;
use super::microkernels::{
    amx, amx_drain, avx2, avx512vnni, avxvnni, scalar, DrainFn, MicroKernel, RunKernel,
};

/// How a tier wants its operands laid out and blocked.
#[derive(Debug)]
pub(crate) struct GemmConfig {
    /// Kernel name following the grammar in `int8/mod.rs`.
    pub name: &'static str,
    /// Rows of A (and C) one microkernel call computes.
    pub mr: usize,
    /// Columns of B (and C) one microkernel call computes: the width of a packed B panel.
    pub nr: usize,
    /// Consecutive k values stored together per column in packed B (the dot-product depth
    /// of one instruction lane: 4 for `vpdpbusd`/`tdpbusd`, 2 for `vpmaddwd`, 1 for scalar).
    pub kr: usize,
    /// K is zero-padded to a multiple of this in packed B (and packed A).
    pub k_align: usize,
    /// Columns per contiguous B slice within one `k_align` step of a panel (see
    /// `packed.rs`): `nr` for the vector tiers, 16 (one tile) for AMX.
    pub b_tile_cols: usize,
    /// Layout of packed A blocks.
    pub a_layout: ALayout,
    /// A is read in place only when its rows start at multiples of this many bytes
    /// (see `a_block.rs`); 1 reads any byte-sized A with a suitable K in place.
    pub a_in_place_align: usize,
    /// Operands are stored widened to 16 bits (A as u16, B as i16) instead of as bytes.
    pub widen_to_i16: bool,
    /// Cache blocking: K per pass (multiple of `k_align`), rows of A per block, columns of B
    /// per block (multiples of `mr` / `nr`).
    pub kc: usize,
    pub mc: usize,
    pub nc: usize,
    /// Loop order inside a block: `true` keeps one A tile in L1 while B panels stream
    /// past it; `false` keeps one B panel in L1 while A tiles stream.
    pub rows_outer: bool,
    pub kernel: MicroKernel,
    /// For tiers whose kernel writes C to a scratch tile and copies the previous call's
    /// tile out while it computes (AMX), the copy for the last tile of a pass; `None` when
    /// the kernel stores C in place.
    pub drain: Option<DrainFn>,
    /// For tiers with a drain, a kernel for a run of full tiles side by side (see
    /// `TileRun`), used where `c_tiles.rs` allows; `None` calls `kernel` tile by tile.
    pub run_kernel: Option<RunKernel>,
    /// Run on a worker thread before / after the microkernel calls of one block
    /// (AMX loads and releases its tile configuration here).
    pub thread_setup: fn(),
    pub thread_teardown: fn(),
}

impl GemmConfig {
    /// Bytes one stored operand element occupies.
    pub fn elem_bytes(&self) -> usize {
        if self.widen_to_i16 {
            2
        } else {
            1
        }
    }

    /// K rounded up to the padded depth packed operands use.
    pub fn padded_k(&self, k: usize) -> usize {
        k.div_ceil(self.k_align) * self.k_align
    }
}

fn nothing() {}

static SCALAR: GemmConfig = GemmConfig {
    name: "scalar_gemm_u8s8_4x4",
    mr: 4,
    nr: 4,
    kr: 1,
    k_align: 1,
    b_tile_cols: 4,
    a_layout: ALayout::RowMajor,
    a_in_place_align: 1,
    widen_to_i16: false,
    kc: 512,
    mc: 64,
    nc: 256,
    rows_outer: false,
    kernel: scalar::scalar_gemm_u8s8_4x4,
    drain: None,
    run_kernel: None,
    thread_setup: nothing,
    thread_teardown: nothing,
};

static AVX2: GemmConfig = GemmConfig {
    name: "avx2_gemm_u8s8_4x16",
    mr: 4,
    nr: 16,
    kr: 2,
    k_align: 2,
    b_tile_cols: 16,
    a_layout: ALayout::RowMajor,
    a_in_place_align: 1,
    widen_to_i16: true,
    kc: 256,
    mc: 128,
    nc: 512,
    rows_outer: false,
    kernel: avx2::avx2_gemm_u8s8_4x16,
    drain: None,
    run_kernel: None,
    thread_setup: nothing,
    thread_teardown: nothing,
};

static AVXVNNI: GemmConfig = GemmConfig {
    name: "avxvnni_gemm_u8s8_6x16",
    mr: 6,
    nr: 16,
    kr: 4,
    k_align: 4,
    b_tile_cols: 16,
    a_layout: ALayout::RowMajor,
    a_in_place_align: 1,
    widen_to_i16: false,
    // One K pass up to K = 1024, as for AVX-512 VNNI (+3-6% at 1024³ and on layer shapes).
    kc: 1024,
    mc: 96,
    nc: 512,
    rows_outer: false,
    kernel: avxvnni::avxvnni_gemm_u8s8_6x16,
    drain: None,
    run_kernel: None,
    thread_setup: nothing,
    thread_teardown: nothing,
};

static AVX512VNNI: GemmConfig = GemmConfig {
    name: "avx512vnni_gemm_u8s8_8x32",
    mr: 8,
    nr: 32,
    kr: 4,
    k_align: 4,
    b_tile_cols: 32,
    a_layout: ALayout::RowMajor,
    a_in_place_align: 1,
    widen_to_i16: false,
    // One K pass up to K = 1024 (a 32 KB B panel still fits L1): at 1024³ a second
    // pass re-reading and re-writing C cost ~10% (565-600 against 520-540 GOPS).
    kc: 1024,
    mc: 128,
    nc: 512,
    rows_outer: false,
    kernel: avx512vnni::avx512vnni_gemm_u8s8_8x32,
    drain: None,
    run_kernel: None,
    thread_setup: nothing,
    thread_teardown: nothing,
};

static AMX: GemmConfig = GemmConfig {
    name: "amx_gemm_u8s8_32x32",
    mr: 32,
    nr: 32,
    kr: 4,
    k_align: 64,
    b_tile_cols: 16,
    a_layout: ALayout::AmxTiles,
    a_in_place_align: 64,
    widen_to_i16: false,
    kc: 4096,
    mc: 256,
    // Wide blocks: each A row tile is read (and packed, if misaligned) once per block
    // column; 512 measured ~10% slower at 1024³.
    nc: 1024,
    rows_outer: true,
    kernel: amx::amx_gemm_u8s8_32x32,
    drain: Some(amx_drain::drain_tile),
    run_kernel: Some(amx::amx_gemm_u8s8_32x32_run),
    thread_setup: amx::load_tile_config,
    thread_teardown: amx::release_tiles,
};

/// The configuration record of a tier.
pub(crate) fn config_for(tier: Tier) -> &'static GemmConfig {
    match tier {
        Tier::Scalar => &SCALAR,
        Tier::Avx2 => &AVX2,
        Tier::AvxVnni => &AVXVNNI,
        Tier::Avx512Vnni => &AVX512VNNI,
        Tier::Amx => &AMX,
    }
}

/// The microkernel name a tier's GEMM runs, e.g. `avx512vnni_gemm_u8s8_8x32`.
pub fn gemm_kernel_name(tier: Tier) -> &'static str {
    config_for(tier).name
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::int8::isa::ALL_TIERS;

    #[test]
    fn records_are_consistent() {
        for tier in ALL_TIERS {
            let c = config_for(tier);
            assert!(c.name.starts_with(tier.name()));
            assert!(c.name.ends_with(&format!("_{}x{}", c.mr, c.nr)));
            assert_eq!(c.k_align % c.kr, 0);
            assert_eq!(c.nr % c.b_tile_cols, 0);
            assert_eq!(c.kc % c.k_align, 0);
            assert_eq!(c.mc % c.mr, 0);
            assert_eq!(c.nc % c.nr, 0);
            assert!(c.mr <= super::super::microkernels::MAX_MR && c.nr <= super::super::microkernels::MAX_NR);
        }
    }
}
