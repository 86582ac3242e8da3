//! `out = activation(W · B + bias)` computed tile by tile, so each output tile gets its bias
//! and activation while it is still in cache, and tiles spread over the rayon pool.

use super::Epilogue;
use crate::f32::sequential_gemm;
use rayon::prelude::*;

/// Output values per tile: with the tile's packed operands it stays within L2.
const TILE_VALUES: usize = 32 * 1024;
/// Narrowest tile, so the GEMM microkernel still runs full-width panels.
const MIN_TILE_COLS: usize = 64;

/// `out[m, n] = act(w[m, k] · b[k, n] + bias[first_channel + row])`, all row-major and dense.
/// Rows of `out` are output channels. Tiles run in parallel over the rayon pool, each with a
/// sequential GEMM, so there is no nested fan-out and no pool overhead with one thread.
#[allow(clippy::too_many_arguments)]
pub(super) fn gemm_bias_act(
    m: usize,
    n: usize,
    k: usize,
    w: &[f32],
    b: &[f32],
    out: &mut [f32],
    epilogue: &Epilogue,
    first_channel: usize,
) {
    assert!(
        w.len() >= m * k && b.len() >= k * n && out.len() >= m * n,
        "gemm_bias_act: slice too short"
    );
    let threads = rayon::current_num_threads();
    let cols = (TILE_VALUES / m.max(1)).max(MIN_TILE_COLS).min(n).max(1);
    let col_tiles = n.div_ceil(cols);
    // Split rows when there are too few column tiles to keep every thread busy.
    let row_tiles = if col_tiles >= 2 * threads {
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
        let (ks, ns) = (k as isize, n as isize);
        sequential_gemm(
            mr,
            nc,
            k,
            1.0,
            &w[r0 * k..],
            ks,
            1,
            &b[c0..],
            ns,
            1,
            0.0,
            c,
            ns,
            1,
        );
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
