//! Access to activation (A) blocks in a microkernel's format, packing when needed.
//!
//! Microkernels read `mr` full rows of `kc` elements. Packed blocks live in a 64-byte
//! aligned buffer, zero-padded to whole tiles and to `kc`, in one of two layouts:
//! - [`ALayout::RowMajor`]: rows of `kc` elements one after another (u16 when widened);
//! - [`ALayout::AmxTiles`]: per tile of `mr` rows, per 64-k step, the `mr` row segments
//!   of 64 bytes: each 16-row AMX tile is one contiguous, aligned kilobyte.
//!
//! Reading A in place instead saves the copy. It is done when A's rows qualify (bytes, K a
//! multiple of `k_align`, rows aligned to `a_in_place_align`), or when packing would not
//! pay (see [`PACKED_TILE_MIN_USES`]); then only a short last tile is packed. Tiers that
//! walk rows outermost (AMX) prepare one row tile at a time, so a packed tile is still
//! in L1 when the microkernels read it.

use super::aligned::AlignedBytes;
use super::config::GemmConfig;

/// Tiers with an `a_in_place_align` pack misaligned A tiles only when that pays, as
/// measured on AMX (one thread): reading a misaligned tile in place cost ~10% at 1024³
/// (32 uses per tile), but packing cost more when the packed tile does not fit in L1
/// next to the streaming B panel (M=196, K=2304: ~1.8 TOPS packed against 2.0 in place)
/// or when few microkernel calls share the copy (M=3136, N=64, K=576, two uses: ~15%).
const PACKED_TILE_MAX_BYTES: usize = 32 << 10;
const PACKED_TILE_MIN_USES: usize = 8;

/// How a tier wants packed A blocks laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ALayout {
    RowMajor,
    AmxTiles,
}

/// Where a microkernel finds one A tile.
#[derive(Clone, Copy)]
pub(crate) struct ATile {
    pub ptr: *const u8,
    /// Bytes from one row to the next.
    pub row_stride: usize,
    /// Bytes from one 64-k step to the next (AMX only; row-major steps are 64 bytes).
    pub step_stride: usize,
}

/// An A block ready for the microkernels.
pub(crate) struct ABlock<'a> {
    /// Base pointer and row stride when full tiles are read in place.
    in_place: Option<(*const u8, usize)>,
    rows: usize,
    mr: usize,
    layout: ALayout,
    kc_bytes: usize,
    packed: &'a [u8],
}

impl ABlock<'_> {
    /// The tile starting at block row `ir`.
    pub fn tile(&self, ir: usize) -> ATile {
        match self.in_place {
            Some((base, lda)) if ir + self.mr <= self.rows => ATile {
                ptr: base.wrapping_add(ir * lda),
                row_stride: lda,
                step_stride: 64,
            },
            // In-place blocks pack only their short last tile, at offset 0.
            Some(_) => self.packed_tile(0),
            None => self.packed_tile(ir / self.mr),
        }
    }

    fn packed_tile(&self, index: usize) -> ATile {
        let tile_bytes = self.mr * self.kc_bytes;
        let ptr = self.packed.as_ptr().wrapping_add(index * tile_bytes);
        match self.layout {
            ALayout::RowMajor => ATile {
                ptr,
                row_stride: self.kc_bytes,
                step_stride: 64,
            },
            ALayout::AmxTiles => ATile {
                ptr,
                row_stride: 64,
                step_stride: self.mr * 64,
            },
        }
    }
}

/// Source rectangle of A for one block: rows `row0..row0+rows`, depth `k0..k0+kc` of a
/// matrix with true depth `k` and row stride `lda` (`kc` may run past `k` into padding).
pub(crate) struct ARect<'a> {
    pub a: &'a [u8],
    pub lda: usize,
    pub k: usize,
    pub row0: usize,
    pub rows: usize,
    pub k0: usize,
    pub kc: usize,
    /// Microkernel calls that read each A tile (the column tiles of the block).
    pub uses: usize,
}

/// Chooses in-place or packed access, packing into `buf` as needed.
pub(crate) fn prepare<'a>(cfg: &GemmConfig, rect: &ARect<'_>, buf: &'a mut AlignedBytes) -> ABlock<'a> {
    let start = rect.row0 * rect.lda + rect.k0;
    let base = rect.a[start..].as_ptr();
    let kc_bytes = rect.kc * cfg.elem_bytes();
    let aligned =
        (base as usize).is_multiple_of(cfg.a_in_place_align) && rect.lda.is_multiple_of(cfg.a_in_place_align);
    let packing_pays = cfg.mr * kc_bytes <= PACKED_TILE_MAX_BYTES && rect.uses >= PACKED_TILE_MIN_USES;
    let in_place = !cfg.widen_to_i16 && rect.k.is_multiple_of(cfg.k_align) && (aligned || !packing_pays);
    let first_packed_row = if in_place { rect.rows / cfg.mr * cfg.mr } else { 0 };
    let packed_rows = (rect.rows - first_packed_row).div_ceil(cfg.mr) * cfg.mr;
    buf.resize(packed_rows * kc_bytes);
    let out = buf.as_mut_slice();
    for r in first_packed_row..first_packed_row + packed_rows {
        copy_row(cfg, rect, r, r - first_packed_row, out);
    }
    ABlock {
        in_place: in_place.then_some((base, rect.lda)),
        rows: rect.rows,
        mr: cfg.mr,
        layout: cfg.a_layout,
        kc_bytes,
        packed: buf.as_slice(),
    }
}

/// Writes block row `r` of `rect` (zeros for rows past the block and k past K) to packed
/// row `dst_row` of `out`, overwriting every byte of that row.
fn copy_row(cfg: &GemmConfig, rect: &ARect<'_>, r: usize, dst_row: usize, out: &mut [u8]) {
    let valid = if r < rect.rows {
        rect.k.saturating_sub(rect.k0).min(rect.kc)
    } else {
        0
    };
    let src_start = (rect.row0 + r.min(rect.rows)) * rect.lda + rect.k0;
    let src = &rect.a[src_start.min(rect.a.len())..][..valid];
    let kc_bytes = rect.kc * cfg.elem_bytes();
    match cfg.a_layout {
        ALayout::RowMajor => {
            let dst = &mut out[dst_row * kc_bytes..(dst_row + 1) * kc_bytes];
            if cfg.widen_to_i16 {
                let (data, padding) = dst.split_at_mut(2 * valid);
                for (pair, v) in data.chunks_exact_mut(2).zip(src) {
                    pair.copy_from_slice(&u16::from(*v).to_le_bytes());
                }
                padding.fill(0);
            } else {
                dst[..valid].copy_from_slice(src);
                dst[valid..].fill(0);
            }
        }
        ALayout::AmxTiles => {
            let (tile, row_in_tile) = (dst_row / cfg.mr, dst_row % cfg.mr);
            let row_base = tile * cfg.mr * kc_bytes + row_in_tile * 64;
            // Each step chunk starts with this row's 64-byte segment.
            let steps = out[row_base..].chunks_mut(cfg.mr * 64).take(rect.kc / 64);
            let mut segments = src.chunks(64);
            for step in steps {
                let segment = segments.next().unwrap_or(&[]);
                // Whole segments as fixed-size copies: a variable-length copy and fill per
                // 64 bytes made packing cost a third of the GEMM at M=196, K=2304.
                if let Ok(whole) = <&[u8; 64]>::try_from(segment) {
                    step[..64].copy_from_slice(whole);
                } else {
                    step[..segment.len()].copy_from_slice(segment);
                    step[segment.len()..64].fill(0);
                }
            }
        }
    }
}
