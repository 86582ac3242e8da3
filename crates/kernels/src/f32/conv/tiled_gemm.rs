//! `out = activation(W · B + bias)` computed tile by tile, so each output tile gets its bias
//! and activation while it is still in cache, and tiles spread over the rayon pool.
//!
//! B is either a dense matrix or produced per column tile into a cache-sized panel (im2col
//! patches), so a convolution never materialises its whole patch matrix.

use super::Epilogue;
use crate::f32::sequential_gemm;
use rayon::prelude::*;

/// Output values per tile: with the tile's packed operands it stays within L2.
const TILE_VALUES: usize = 32 * 1024;
/// Narrowest tile, so the GEMM microkernel still runs full-width panels.
const MIN_TILE_COLS: usize = 64;
/// Largest produced B panel (`k × cols` values, 1.5 MiB): it is written, then read by the
/// GEMM while still in L2.
const PANEL_VALUES: usize = 384 * 1024;

/// The `k × n` right-hand side of [`gemm_bias_act`].
pub(super) enum Rhs<'a> {
    /// Row-major and dense.
    Dense(&'a [f32]),
    /// `fill(c0, nc, stride, panel)` writes columns `c0..c0 + nc` as a row-major `k × nc` panel
    /// with row stride `stride ≥ nc`, overwriting the first `nc` values of every row.
    Panels(&'a FillPanel<'a>),
}

/// Producer of B panels, see [`Rhs::Panels`].
pub(super) type FillPanel<'a> = dyn Fn(usize, usize, usize, &mut [f32]) + Sync + 'a;

/// `out[m, n] = act(w[m, k] · b[k, n] + bias[first_channel + row])`, all row-major and dense.
/// Rows of `out` are output channels. Tiles run in parallel over the rayon pool, each with a
/// sequential GEMM, so there is no nested fan-out and no pool overhead with one thread.
#[allow(clippy::too_many_arguments)]
pub(super) fn gemm_bias_act(
    m: usize,
    n: usize,
    k: usize,
    w: &[f32],
    b: Rhs,
    out: &mut [f32],
    epilogue: &Epilogue,
    first_channel: usize,
) {
    let dense_ok = match b {
        Rhs::Dense(b) => b.len() >= k * n,
        Rhs::Panels(_) => true,
    };
    assert!(
        w.len() >= m * k && dense_ok && out.len() >= m * n,
        "gemm_bias_act: slice too short"
    );
    let threads = rayon::current_num_threads();
    // Whole multiples of MIN_TILE_COLS: the GEMM runs its widest microkernel over tile columns,
    // and a ragged tile (e.g. 113 columns) measured slower than a narrower whole one.
    let whole = |c: usize| (c / MIN_TILE_COLS * MIN_TILE_COLS).max(MIN_TILE_COLS);
    let mut cols = whole(TILE_VALUES / m.max(1));
    if let Rhs::Panels(_) = b {
        cols = cols.min(whole(PANEL_VALUES / k.max(1)));
    }
    let cols = cols.min(n).max(1);
    let col_tiles = n.div_ceil(cols);
    // Split rows when there are too few column tiles to keep every thread busy (never with
    // one thread: a row split only repeats B's packing, or its panel's production).
    let row_tiles = if threads == 1 || col_tiles >= 2 * threads {
        1
    } else {
        (2 * threads).div_ceil(col_tiles).min(m.div_ceil(16))
    };
    let rows = m.div_ceil(row_tiles.max(1));
    let out_ptr = SharedOut(out.as_mut_ptr());
    let tile = |t: usize| {
        let (r0, c0) = (t / col_tiles * rows, t % col_tiles * cols);
        let (mr, nc) = (rows.min(m - r0), cols.min(n - c0));
        // SAFETY: tiles partition `out[..m * n]`: tile t owns rows r0..r0+mr and columns
        // c0..c0+nc, so no two tiles write the same value, and the slice outlives this call.
        let c = unsafe { std::slice::from_raw_parts_mut(out_ptr.get().add(r0 * n + c0), (mr - 1) * n + nc) };
        let a = &w[r0 * k..];
        match b {
            Rhs::Dense(b) => tile_gemm(mr, nc, k, a, &b[c0..], n, c, n),
            Rhs::Panels(fill) => {
                // Taken out of the thread-local (not borrowed) so a nested steal cannot alias it.
                let mut panel = PANEL.take();
                let stride = panel_stride(nc);
                if panel.len() < k * stride {
                    panel.resize(k * stride, 0.0);
                }
                fill(c0, nc, stride, &mut panel[..k * stride]);
                tile_gemm(mr, nc, k, a, &panel, stride, c, n);
                PANEL.set(panel);
            }
        }
        for (i, row) in c.chunks_mut(n).enumerate() {
            epilogue
                .activation
                .bias_in_place(&mut row[..nc], epilogue.bias[first_channel + r0 + i]);
        }
    };
    let tiles = m.div_ceil(rows) * col_tiles;
    if threads > 1 && tiles > 1 {
        (0..tiles).into_par_iter().for_each(tile);
    } else {
        (0..tiles).for_each(tile);
    }
}

/// Row stride of a panel of `cols` columns: whole cache lines, but never a multiple of 512
/// bytes, whose rows would all fall in the same few cache sets when the GEMM packs down a column.
fn panel_stride(cols: usize) -> usize {
    let stride = cols.next_multiple_of(16);
    if stride.is_multiple_of(128) {
        stride + 16
    } else {
        stride
    }
}

thread_local! {
    /// B-panel scratch of the calling thread.
    static PANEL: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `c = a · b` for an `m × n` tile, with row strides `b_stride` and `c_stride`.
#[allow(clippy::too_many_arguments)]
fn tile_gemm(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    b_stride: usize,
    c: &mut [f32],
    c_stride: usize,
) {
    let (ks, bs, cs) = (k as isize, b_stride as isize, c_stride as isize);
    sequential_gemm(m, n, k, 1.0, a, ks, 1, b, bs, 1, 0.0, c, cs, 1);
}

/// The output pointer shared by tiles that write disjoint parts of it.
#[derive(Clone, Copy)]
struct SharedOut(*mut f32);

impl SharedOut {
    fn get(self) -> *mut f32 {
        self.0
    }
}

// SAFETY: tiles write disjoint regions (see `gemm_bias_act`).
unsafe impl Send for SharedOut {}
unsafe impl Sync for SharedOut {}
