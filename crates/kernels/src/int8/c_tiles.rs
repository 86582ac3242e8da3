//! Where microkernel calls write C: in place, or through scratch tiles.
//!
//! - Tiers without a drain (`GemmConfig::drain` is `None`) store full tiles in place;
//!   partial tiles at the right and bottom edges go through a scratch tile, since the
//!   kernels always write `mr × nr`.
//! - Tiers with a drain (AMX) always compute into one of two alternating scratch tiles,
//!   and each call copies the previous call's tile to the output while it computes
//!   (see `microkernels/amx.rs` for why). The last tile of a pass is copied by
//!   [`CTiles::finish`].

use super::config::GemmConfig;
use super::microkernels::{Drain, TileArgs, MAX_MR, MAX_NR};

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
        let mut finished = Drain {
            src: buf,
            dst: tile.c,
            ldc: tile.ldc,
            rows: mr,
            cols: nr,
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
        if let Some(previous) = self.pending.as_mut() {
            // Not when accumulating: the next tile's copy-in would overwrite `previous`'s
            // scratch before this tile is drained.
            let left_neighbour =
                previous.rows == mr && previous.cols == cfg.nr && previous.dst.wrapping_add(cfg.nr) == tile.c;
            if self.streaming && !tile.accumulate && left_neighbour {
                previous.right_follows = true;
                finished.left = previous.src;
                finished.left_seed = previous.seed;
            }
        }
        (cfg.kernel)(&TileArgs {
            c: buf,
            ldc: cfg.nr,
            drain: self.pending.take(),
            ..tile
        });
        self.pending = Some(finished);
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
