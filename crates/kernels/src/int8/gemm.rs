//! The u8×i8→i32 GEMM driver: validation, cache blocking, threading and zero points.
//!
//! `out[i][j] = Σ_k (a[i][k] − za)·(b[k][j] − zb[j])`, computed as
//! `Σ a·b − zb[j]·rowsum_a[i] − za·colsum_b[j] + K·za·zb[j]` so that the microkernels
//! multiply the raw u8/i8 values. The column terms seed the microkernels' accumulators;
//! the row term needs a pass over the block afterwards, made only when some `zb ≠ 0`.
//!
//! All arithmetic wraps modulo 2³², as `vpdpbusd` and `tdpbusd` do: the result is exact
//! whenever the true value fits in i32 (always true for K ≤ 33 025, as every term is at
//! most 255·255), and every tier returns the same bits even when it does not.

use rayon::prelude::*;

use super::a_block::{self, ARect, ATile};
use super::aligned::AlignedBytes;
use super::c_tiles::{streaming_output, CTiles, ScratchTile};
use super::config::{config_for, GemmConfig};
use super::error::{Int8Error, Result};
use super::microkernels::TileArgs;
use super::packed::PackedWeights;

/// Zero point(s) of the weights: one for the whole matrix or one per output column.
#[derive(Debug, Clone, Copy)]
pub enum BZeroPoints<'a> {
    PerTensor(i32),
    PerColumn(&'a [i32]),
}

impl BZeroPoints<'_> {
    fn get(&self, j: usize) -> i32 {
        match self {
            BZeroPoints::PerTensor(z) => *z,
            BZeroPoints::PerColumn(z) => z[j],
        }
    }
}

/// `out (M×N, row-major) = (A − a_zero_point) · (B − b_zero_points)` with A an M×K u8
/// matrix of row stride `lda` and B packed weights; runs on the tier `b` was packed for.
///
/// Uses the rayon pool when it has more than one thread.
pub fn gemm_u8i8_i32(
    m: usize,
    a: &[u8],
    lda: usize,
    a_zero_point: i32,
    b: &PackedWeights,
    b_zero_points: BZeroPoints<'_>,
    out: &mut [i32],
) -> Result<()> {
    let (k, n) = (b.k(), b.n());
    validate(m, k, n, a, lda, a_zero_point, b, b_zero_points, out)?;
    let cfg = config_for(b.tier());
    if k == 0 {
        out.fill(0);
        return Ok(());
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    let column_terms = column_terms(cfg, k, a_zero_point, b, b_zero_points);
    let job = Job {
        cfg,
        n,
        k,
        a,
        lda,
        b,
        b_zero_points,
        needs_row_sums: (0..n).any(|j| b_zero_points.get(j) != 0),
        column_terms: &column_terms,
        streaming: streaming_output(m, n),
        out: OutPtr(out.as_mut_ptr()),
    };
    let threads = rayon::current_num_threads();
    let (mc, nc) = block_sizes(cfg, m, n, threads);
    let (m_blocks, n_blocks) = (m.div_ceil(mc), n.div_ceil(nc));
    let run = |t: usize| {
        let (ib, jb) = (t / n_blocks, t % n_blocks);
        let rows = ib * mc..((ib + 1) * mc).min(m);
        let cols = jb * nc..((jb + 1) * nc).min(n);
        job.run_block(rows, cols);
    };
    if threads > 1 && m_blocks * n_blocks > 1 {
        (0..m_blocks * n_blocks).into_par_iter().for_each(run);
    } else {
        (0..m_blocks * n_blocks).for_each(run);
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn validate(
    m: usize,
    k: usize,
    n: usize,
    a: &[u8],
    lda: usize,
    a_zero_point: i32,
    b: &PackedWeights,
    b_zero_points: BZeroPoints<'_>,
    out: &mut [i32],
) -> Result<()> {
    if !b.tier().is_available() {
        return Err(Int8Error::TierUnavailable { tier: b.tier() });
    }
    if m > 0 && lda < k {
        return Err(Int8Error::OutOfRange {
            what: "lda",
            value: lda as i64,
            lo: k as i64,
            hi: i64::MAX,
        });
    }
    let a_needed = if m == 0 { 0 } else { (m - 1) * lda + k };
    if a.len() < a_needed {
        return Err(Int8Error::LengthMismatch {
            what: "activation matrix",
            expected: a_needed,
            actual: a.len(),
        });
    }
    if out.len() != m * n {
        return Err(Int8Error::LengthMismatch {
            what: "output matrix",
            expected: m * n,
            actual: out.len(),
        });
    }
    check_range("activation zero point", a_zero_point, 0, 255)?;
    match b_zero_points {
        BZeroPoints::PerTensor(z) => check_range("weight zero point", z, -128, 127),
        BZeroPoints::PerColumn(z) if z.len() != n => Err(Int8Error::LengthMismatch {
            what: "weight zero points",
            expected: n,
            actual: z.len(),
        }),
        BZeroPoints::PerColumn(z) => z
            .iter()
            .try_for_each(|v| check_range("weight zero point", *v, -128, 127)),
    }
}

fn check_range(what: &'static str, value: i32, lo: i32, hi: i32) -> Result<()> {
    if (lo..=hi).contains(&value) {
        Ok(())
    } else {
        Err(Int8Error::OutOfRange {
            what,
            value: value.into(),
            lo: lo.into(),
            hi: hi.into(),
        })
    }
}

/// `K·za·zb[j] − za·colsum_b[j]`, the part of the correction that depends only on j,
/// zero-padded to whole panels (the microkernels read `nr` of them at a time).
fn column_terms(cfg: &GemmConfig, k: usize, za: i32, b: &PackedWeights, zb: BZeroPoints<'_>) -> Vec<i32> {
    let k = k as i32;
    let mut terms: Vec<i32> = b
        .column_sums()
        .iter()
        .enumerate()
        .map(|(j, &s)| {
            k.wrapping_mul(za)
                .wrapping_mul(zb.get(j))
                .wrapping_sub(za.wrapping_mul(s))
        })
        .collect();
    terms.resize(b.n().div_ceil(cfg.nr) * cfg.nr, 0);
    terms
}

/// Rows and columns per block; with several threads, blocks shrink until every thread
/// has at least one.
fn block_sizes(cfg: &GemmConfig, m: usize, n: usize, threads: usize) -> (usize, usize) {
    let (mut mc, mut nc) = (cfg.mc, cfg.nc);
    while threads > 1 && m.div_ceil(mc) * n.div_ceil(nc) < threads {
        if mc > cfg.mr && m > mc / 2 {
            mc = (mc / 2).div_ceil(cfg.mr) * cfg.mr;
        } else if nc > cfg.nr && n > nc / 2 {
            nc = (nc / 2).div_ceil(cfg.nr) * cfg.nr;
        } else {
            break;
        }
    }
    (mc, nc)
}

/// The output pointer shared by blocks that write disjoint rectangles.
#[derive(Clone, Copy)]
struct OutPtr(*mut i32);

// SAFETY: blocks write disjoint rectangles of the output, which outlives the parallel loop.
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

struct Job<'a> {
    cfg: &'static GemmConfig,
    n: usize,
    k: usize,
    a: &'a [u8],
    lda: usize,
    b: &'a PackedWeights,
    b_zero_points: BZeroPoints<'a>,
    needs_row_sums: bool,
    column_terms: &'a [i32],
    out: OutPtr,
    /// The output may be written with non-temporal stores (see `c_tiles.rs`).
    streaming: bool,
}

impl Job<'_> {
    /// Computes the output rectangle `rows × cols`, K pass by K pass, then corrects it for
    /// the zero points while it is still in cache.
    fn run_block(&self, rows: std::ops::Range<usize>, cols: std::ops::Range<usize>) {
        let cfg = self.cfg;
        let kp = cfg.padded_k(self.k);
        let eb = cfg.elem_bytes();
        // Bytes of one packed B panel: `nr` columns over the padded depth.
        let panel_bytes = kp * cfg.nr * eb;
        let mut a_buf = AlignedBytes::default();
        let mut scratch = [ScratchTile::default(); 2];
        let mut c_tiles = CTiles::new(cfg, &mut scratch, self.streaming);
        (cfg.thread_setup)();
        for k0 in (0..kp).step_by(cfg.kc) {
            let kc = cfg.kc.min(kp - k0);
            let rect = |ir: usize, count: usize| ARect {
                a: self.a,
                lda: self.lda,
                k: self.k,
                row0: rows.start + ir,
                rows: count,
                k0,
                kc,
                uses: cols.len().div_ceil(cfg.nr),
            };
            let tile_args = |a_tile: ATile, ir: usize, j0: usize| TileArgs {
                k_groups: kc / cfg.kr,
                a: a_tile.ptr,
                a_stride: a_tile.row_stride,
                a_step: a_tile.step_stride,
                b: self
                    .b
                    .as_ptr()
                    .wrapping_add((j0 / cfg.nr) * panel_bytes + k0 * cfg.nr * eb),
                c: self.out.0.wrapping_add((rows.start + ir) * self.n + j0),
                ldc: self.n,
                accumulate: k0 > 0,
                seed: self.column_terms[j0..].as_ptr(),
                drain: None,
            };
            let tile_rows = |ir: usize| cfg.mr.min(rows.len() - ir);
            // SAFETY (every `c_tiles` call): the tier is available (checked in
            // `validate`), A tiles and B panels are padded to full `mr`/`nr`/`kc`, and `c`
            // addresses `mr × nr` outputs this block owns; `finish` runs below.
            let tile_at = |c_tiles: &mut CTiles, a_tile: ATile, ir: usize, j0: usize| unsafe {
                c_tiles.run(tile_args(a_tile, ir, j0), tile_rows(ir), cfg.nr.min(self.n - j0))
            };
            let row_tiles = (0..rows.len()).step_by(cfg.mr);
            let col_tiles = cols.clone().step_by(cfg.nr);
            if cfg.rows_outer {
                // One A tile at a time, so that a packed tile is still in L1 when used.
                // The full-width tiles of a row go to `run_row` together.
                let full = cols.len() / cfg.nr;
                for ir in row_tiles {
                    let a_block = a_block::prepare(cfg, &rect(ir, tile_rows(ir)), &mut a_buf);
                    let a_tile = a_block.tile(0);
                    let first = tile_args(a_tile, ir, cols.start);
                    unsafe { c_tiles.run_row(first, tile_rows(ir), full, panel_bytes) };
                    col_tiles
                        .clone()
                        .skip(full)
                        .for_each(|j0| tile_at(&mut c_tiles, a_tile, ir, j0));
                }
            } else {
                let a_block = a_block::prepare(cfg, &rect(0, rows.len()), &mut a_buf);
                for j0 in col_tiles {
                    row_tiles
                        .clone()
                        .for_each(|ir| tile_at(&mut c_tiles, a_block.tile(ir), ir, j0));
                }
            }
            // SAFETY: as for the microkernel calls.
            unsafe { c_tiles.finish() };
        }
        (cfg.thread_teardown)();
        self.correct_zero_points(rows, cols);
    }

    /// Subtracts `zb[j]·rowsum_a[i]`; the column terms were seeded by the microkernels.
    fn correct_zero_points(&self, rows: std::ops::Range<usize>, cols: std::ops::Range<usize>) {
        if !self.needs_row_sums {
            return;
        }
        let zb: Vec<i32> = cols.clone().map(|j| self.b_zero_points.get(j)).collect();
        for i in rows {
            let row_sum = self.row_sum(i);
            // SAFETY: this block owns output row i, columns `cols`.
            let out = unsafe {
                std::slice::from_raw_parts_mut(self.out.0.add(i * self.n + cols.start), cols.len())
            };
            for (o, z) in out.iter_mut().zip(&zb) {
                *o = o.wrapping_sub(z.wrapping_mul(row_sum));
            }
        }
    }

    fn row_sum(&self, i: usize) -> i32 {
        let row = &self.a[i * self.lda..i * self.lda + self.k];
        row.iter().fold(0i32, |s, v| s.wrapping_add(i32::from(*v)))
    }
}
