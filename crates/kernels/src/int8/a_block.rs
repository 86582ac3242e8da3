//! Packing of activation (A) blocks into a microkernel's row format.
//!
//! Microkernels read `mr` full rows of `kc` elements. When A's rows already qualify (bytes,
//! K a multiple of `k_align`) full tiles read A in place and only a short last tile is
//! copied, zero-padded to `mr` rows. Otherwise the whole block is copied, zero-padded in
//! both directions, and widened to u16 for the tiers that need it.

use super::config::GemmConfig;

/// Where the microkernel finds the A tile starting at block row `ir`.
pub(crate) struct ABlock<'a> {
    direct: Option<(*const u8, usize)>,
    rows: usize,
    mr: usize,
    packed: &'a [u8],
    packed_stride: usize,
}

impl ABlock<'_> {
    /// Pointer to the tile at block row `ir` and the byte distance between its rows.
    pub fn tile(&self, ir: usize) -> (*const u8, usize) {
        match self.direct {
            Some((base, lda)) if ir + self.mr <= self.rows => (base.wrapping_add(ir * lda), lda),
            // The direct form packs only its short last tile, at offset 0.
            Some(_) => (self.packed.as_ptr(), self.packed_stride),
            None => (
                self.packed.as_ptr().wrapping_add(ir * self.packed_stride),
                self.packed_stride,
            ),
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
}

/// Chooses in-place or packed access for a block, packing into `buf` as needed.
pub(crate) fn prepare<'a>(cfg: &GemmConfig, rect: &ARect<'_>, buf: &'a mut Vec<u8>) -> ABlock<'a> {
    let in_place = !cfg.widen_to_i16 && rect.k % cfg.k_align == 0;
    let stride = rect.kc * cfg.elem_bytes();
    if in_place {
        let full_rows = rect.rows / cfg.mr * cfg.mr;
        buf.clear();
        if full_rows < rect.rows {
            copy_rows(cfg, rect, full_rows..rect.rows, buf);
        }
        let base = rect.a[rect.row0 * rect.lda + rect.k0..].as_ptr();
        ABlock {
            direct: Some((base, rect.lda)),
            rows: rect.rows,
            mr: cfg.mr,
            packed: buf,
            packed_stride: stride,
        }
    } else {
        buf.clear();
        copy_rows(cfg, rect, 0..rect.rows, buf);
        ABlock {
            direct: None,
            rows: rect.rows,
            mr: cfg.mr,
            packed: buf,
            packed_stride: stride,
        }
    }
}

/// Appends block rows `rows` (relative to `rect.row0`) to `buf`, then zero rows up to the
/// next multiple of `mr`; each row is `kc` elements, zero past `k`.
fn copy_rows(cfg: &GemmConfig, rect: &ARect<'_>, rows: std::ops::Range<usize>, buf: &mut Vec<u8>) {
    let padded_rows = rows.len().div_ceil(cfg.mr) * cfg.mr;
    let row_bytes = rect.kc * cfg.elem_bytes();
    let valid = rect.k.saturating_sub(rect.k0).min(rect.kc);
    let start = buf.len();
    buf.resize(start + padded_rows * row_bytes, 0);
    for (i, r) in rows.enumerate() {
        let src_start = (rect.row0 + r) * rect.lda + rect.k0;
        let src = &rect.a[src_start..src_start + valid];
        let dst = &mut buf[start + i * row_bytes..start + (i + 1) * row_bytes];
        if cfg.widen_to_i16 {
            for (pair, v) in dst.chunks_exact_mut(2).zip(src) {
                pair.copy_from_slice(&u16::from(*v).to_le_bytes());
            }
        } else {
            dst[..valid].copy_from_slice(src);
        }
    }
}
