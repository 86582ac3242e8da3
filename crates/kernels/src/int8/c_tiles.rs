//! Where microkernel calls write C: in place, or through scratch tiles.
//!
//! - Tiers without a drain (`GemmConfig::drain` is `None`) store full tiles in place;
//!   partial tiles at the right and bottom edges go through a scratch tile, since the
//!   kernels always write `mr × nr`.
//! - Tiers with a drain (AMX) always compute into one of two alternating scratch tiles,
//!   and each call copies the previous call's tile to the output while it computes
//!   (see `microkernels/amx.rs` for why). The last tile of a pass is copied by
//!   [`CTiles::finish`]. A row of full tiles side by side goes to the tier's run kernel in
//!   one call ([`CTiles::run_row`]), which alternates the same two scratch tiles.

use super::config::GemmConfig;
use super::microkernels::{Drain, TileArgs, TileRun, MAX_MR, MAX_NR};

/// Outputs at least this big are written with non-temporal stores where the tier can: they
/// would not stay in the 2 MB L2 anyway, and skipping the read-for-ownership of every line
/// saves a third of the memory traffic (1024³ on one thread: about 2.5 against 1.7 TOPS).
/// Smaller outputs are left in cache for the caller (conv requantizes its accumulator
/// chunks right after the GEMM).
const STREAMING_MIN_BYTES: usize = 2 << 20;

/// Whether the drain may use non-temporal stores for an `m × n` output.
pub(crate) fn streaming_output(m: usize, n: usize) -> bool {
    m * n * 4 >= STREAMING_MIN_BYTES
}

/// One full-size C tile, aligned like a cache line so AMX tile rows do not straddle lines.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub(crate) struct ScratchTile([i32; MAX_MR * MAX_NR]);

impl Default for ScratchTile {
    fn default() -> Self {
        ScratchTile([0; MAX_MR * MAX_NR])
    }
}

/// The C side of one block's microkernel calls.
pub(crate) struct CTiles<'a> {
    cfg: &'static GemmConfig,
    /// Raw base of the borrowed scratch tiles; the borrow keeps them in place while a
    /// pending drain points into them.
    scratch: *mut ScratchTile,
    _borrow: std::marker::PhantomData<&'a mut [ScratchTile; 2]>,
    next: usize,
    pending: Option<Drain>,
    streaming: bool,
}

impl<'a> CTiles<'a> {
    pub fn new(cfg: &'static GemmConfig, scratch: &'a mut [ScratchTile; 2], streaming: bool) -> Self {
        CTiles {
            cfg,
            scratch: scratch.as_mut_ptr(),
            _borrow: std::marker::PhantomData,
            next: 0,
            pending: None,
            streaming,
        }
    }

    /// Runs the microkernel for `tile`, whose `c`/`ldc` address its place in the output,
    /// of which the top-left `mr × nr` is valid.
    ///
    /// # Safety
    /// As for the microkernel, with C as just described; `finish` runs before the output
    /// is read.
    pub unsafe fn run(&mut self, tile: TileArgs, mr: usize, nr: usize) {
        let cfg = self.cfg;
        if cfg.drain.is_none() {
            if mr == cfg.mr && nr == cfg.nr {
                (cfg.kernel)(&tile);
            } else {
                self.run_edge_tile(tile, mr, nr);
            }
            return;
        }
        let buf = self.scratch.add(self.next).cast::<i32>();
        self.next ^= 1;
        if tile.accumulate {
            copy_tile(tile.c, tile.ldc, buf, cfg.nr, mr, nr);
        }
        let finished = self.drain_for(buf, &tile, mr, nr);
        (cfg.kernel)(&TileArgs {
            c: buf,
            ldc: cfg.nr,
            drain: self.pending.take(),
            ..tile
        });
        self.pending = Some(finished);
    }

    /// Runs `panels` full-width tiles side by side: `tile` is the first, and each next one
    /// reads the B panel `b_panel_stride` bytes further and writes `nr` columns further
    /// right.
    ///
    /// Uses the tier's run kernel when it has one and the tiles are full height and not
    /// accumulating; otherwise calls the kernel tile by tile.
    ///
    /// # Safety
    /// As for [`CTiles::run`], for every tile of the run.
    pub unsafe fn run_row(&mut self, tile: TileArgs, mr: usize, panels: usize, b_panel_stride: usize) {
        let cfg = self.cfg;
        let whole_tiles = mr == cfg.mr && !tile.accumulate && panels > 0;
        let Some(run_kernel) = cfg.run_kernel.filter(|_| whole_tiles) else {
            for p in 0..panels {
                let next = TileArgs {
                    b: tile.b.wrapping_add(p * b_panel_stride),
                    c: tile.c.wrapping_add(p * cfg.nr),
                    seed: tile.seed.wrapping_add(p * cfg.nr),
                    ..tile
                };
                self.run(next, mr, cfg.nr);
            }
            return;
        };
        let out = self.drain_for(std::ptr::null(), &tile, mr, cfg.nr);
        let first = self.next;
        let run = TileRun {
            first: TileArgs {
                drain: self.pending.take(),
                ..tile
            },
            panels,
            b_panel_stride,
            scratch: [self.scratch.add(first).cast(), self.scratch.add(first ^ 1).cast()],
            out,
        };
        run_kernel(&run);
        self.pending = Some(run.panel_drain(panels - 1));
        self.next = (first + panels) % 2;
    }

    /// The copy-out of `tile`'s `rows × cols` result from scratch `src`: seeded unless
    /// accumulating (C then already holds the column terms). When streaming and the
    /// pending tile is this one's left neighbour (same rows, full width, adjacent), the
    /// output lines straddling the two are written once, whole, by this tile's copy-out
    /// from both scratch tiles, and the pending tile stops short of them (see [`Drain`]);
    /// not when accumulating, since this tile's copy-in would overwrite the pending tile's
    /// scratch before this tile is drained.
    fn drain_for(&mut self, src: *const i32, tile: &TileArgs, rows: usize, cols: usize) -> Drain {
        let mut drain = Drain {
            src,
            dst: tile.c,
            ldc: tile.ldc,
            rows,
            cols,
            seed: if tile.accumulate {
                std::ptr::null()
            } else {
                tile.seed
            },
            streaming: self.streaming,
            left: std::ptr::null(),
            left_seed: std::ptr::null(),
            right_follows: false,
        };
        let nr = self.cfg.nr;
        if let Some(previous) = self
            .pending
            .as_mut()
            .filter(|_| self.streaming && !tile.accumulate)
        {
            if previous.rows == rows && previous.cols == nr && previous.dst.wrapping_add(nr) == tile.c {
                previous.right_follows = true;
                drain.left = previous.src;
                drain.left_seed = previous.seed;
            }
        }
        drain
    }

    /// Writes out the tile still held in scratch, if any.
    ///
    /// # Safety
    /// The tier's CPU features are present.
    pub unsafe fn finish(&mut self) {
        if let (Some(drain), Some(d)) = (self.cfg.drain, self.pending.take()) {
            drain(&d);
        }
    }

    /// A partial tile through the first scratch tile, whose contents outside the copied-in
    /// rows are stale results, read and discarded.
    unsafe fn run_edge_tile(&mut self, tile: TileArgs, mr: usize, nr: usize) {
        let cfg = self.cfg;
        let buf = self.scratch.cast::<i32>();
        if tile.accumulate {
            copy_tile(tile.c, tile.ldc, buf, cfg.nr, mr, nr);
        }
        (cfg.kernel)(&TileArgs {
            c: buf,
            ldc: cfg.nr,
            ..tile
        });
        copy_tile(buf, cfg.nr, tile.c, tile.ldc, mr, nr);
    }
}

/// Copies `rows × cols` i32 between row-major buffers of strides `src_ld` / `dst_ld`.
unsafe fn copy_tile(src: *const i32, src_ld: usize, dst: *mut i32, dst_ld: usize, rows: usize, cols: usize) {
    for r in 0..rows {
        std::ptr::copy_nonoverlapping(src.add(r * src_ld), dst.add(r * dst_ld), cols);
    }
}
