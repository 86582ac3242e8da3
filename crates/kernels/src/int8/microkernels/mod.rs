//! GEMM microkernels: each computes one full `MR×NR` tile of C from a packed A tile and a
//! packed B panel. Edge tiles are handled by the driver (zero-padded operands, a scratch
//! tile for C), so microkernels have no edge logic beyond [`Drain`]'s row and column
//! counts.

pub(crate) mod amx;
pub(crate) mod amx_drain;
pub(crate) mod avx2;
pub(crate) mod avx512vnni;
pub(crate) mod avxvnni;
pub(crate) mod scalar;

/// Largest `mr` / `nr` of any tier: the size of the driver's scratch C tile.
pub(crate) const MAX_MR: usize = 32;
pub(crate) const MAX_NR: usize = 32;

/// Operands of one microkernel call.
///
/// - `a`: the tile's first row; row `r` starts `r * a_stride` bytes later and holds
///   `k_groups * kr` elements (bytes, or u16 for widened tiers), zero-padded past K.
///   The AMX kernel instead reads each row in 64-byte segments, segment `s` of row `r` at
///   `s * a_step + r * a_stride`; the other kernels ignore `a_step` (their rows are
///   contiguous).
/// - `b`: the packed panel at the current K offset, laid out as `packed.rs` describes.
/// - `c`: the tile's top-left i32; row `r` starts `r * ldc` elements later.
/// - `accumulate`: add to C's current values; otherwise start every row of the tile from
///   `seed`, `nr` i32 values (the zero-point column terms, or zeros). The AMX kernel
///   ignores `seed` and starts from zero: its [`Drain`] adds the seed on the way out.
/// - `drain`: for tiers with a drain function (see `GemmConfig::drain`), the previous
///   call's tile to copy out while this one computes; always `None` for the others.
#[derive(Clone, Copy)]
pub(crate) struct TileArgs {
    pub k_groups: usize,
    pub a: *const u8,
    pub a_stride: usize,
    pub a_step: usize,
    pub b: *const u8,
    pub c: *mut i32,
    pub ldc: usize,
    pub accumulate: bool,
    pub seed: *const i32,
    pub drain: Option<Drain>,
}

/// A finished C tile waiting in a 64-byte aligned scratch tile (`nr` i32 per row) to be
/// copied to its `rows × cols` place in the output (row stride `ldc`).
///
/// `streaming` asks for non-temporal stores of the output's whole cache lines. Lines that
/// straddle two horizontally adjacent tiles drained one after the other are written
/// whole, once: by the right tile, which then reads the left tile's scratch (`left`, null
/// when the previous tile is not its left neighbour), while the left tile stops short of
/// them (`right_follows`). Only set with `streaming`.
///
/// `seed` (`nr` i32, null for none) is added to every row on the way out: the seed row of
/// a tile that started from zero rather than from C; `left_seed` is the left tile's.
#[derive(Clone, Copy)]
pub(crate) struct Drain {
    pub src: *const i32,
    pub dst: *mut i32,
    pub ldc: usize,
    pub rows: usize,
    pub cols: usize,
    pub seed: *const i32,
    pub streaming: bool,
    pub left: *const i32,
    pub left_seed: *const i32,
    pub right_follows: bool,
}

impl Drain {
    /// This drain moved `columns` output columns (and seed values) to the right, reading
    /// its tile from `src`.
    pub fn shifted(&self, src: *const i32, columns: usize) -> Drain {
        Drain {
            src,
            dst: self.dst.wrapping_add(columns),
            seed: self.seed_at(columns),
            ..*self
        }
    }

    /// The seed row of the tile `columns` output columns to the right (null without one).
    fn seed_at(&self, columns: usize) -> *const i32 {
        if self.seed.is_null() {
            self.seed
        } else {
            self.seed.wrapping_add(columns)
        }
    }
}

/// A run of `panels` full tiles side by side, for tiers with a [`RunKernel`]: the A tile of
/// `first` against `panels` consecutive B panels, `b_panel_stride` bytes apart, never
/// accumulating. Panel p computes into `scratch[p % 2]` and is copied out by
/// [`TileRun::panel_drain`]`(p)` while panel p + 1 computes; `first.drain` (the caller's
/// previous tile) is copied out during panel 0, and the last panel is left in its scratch
/// tile for the caller to drain. `first.c` and `first.ldc` are unused.
pub(crate) struct TileRun {
    pub first: TileArgs,
    pub panels: usize,
    pub b_panel_stride: usize,
    pub scratch: [*mut i32; 2],
    /// Panel 0's place in the output and its left neighbour, if any (its `src` and
    /// `right_follows` unused); panel p's place is `p·nr` columns right.
    pub out: Drain,
}

impl TileRun {
    /// Panel p's copy-out. When streaming, neighbours in the run share their straddling
    /// output lines as [`Drain`] describes: panel p reads panel p − 1's scratch (panel 0
    /// its left neighbour's, as set in `out`), and all but the last stop short of them.
    pub fn panel_drain(&self, p: usize) -> Drain {
        let cols = self.out.cols;
        let mut d = self.out.shifted(self.scratch[p % 2], p * cols);
        if self.out.streaming {
            d.right_follows = p + 1 < self.panels;
            if p > 0 {
                d.left = self.scratch[(p - 1) % 2];
                d.left_seed = self.out.seed_at((p - 1) * cols);
            }
        }
        d
    }
}

/// Copies a whole [`Drain`] out.
///
/// # Safety
/// The tier's CPU features are present; `src` holds the tile and `dst` addresses
/// `rows × cols` valid outputs with stride `ldc`.
pub(crate) type DrainFn = unsafe fn(&Drain);

/// # Safety
/// The caller guarantees the tier's CPU features are present, that `a`, `b` and `c`
/// address the full tile as described on [`TileArgs`], and (AMX) that the tile
/// configuration was loaded on this thread.
pub(crate) type MicroKernel = unsafe fn(&TileArgs);

/// Computes a [`TileRun`] in one call, so that consecutive tiles' arithmetic, loads and
/// copy-out overlap across tile boundaries (see `amx.rs`).
///
/// # Safety
/// As for [`MicroKernel`], for every panel of the run; the scratch tiles are distinct
/// full tiles and `out.dst` addresses `rows × panels·cols` valid outputs.
pub(crate) type RunKernel = unsafe fn(&TileRun);
