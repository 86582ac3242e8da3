//! GEMM microkernels: each computes one full `MR×NR` tile of C from a packed A tile and a
//! packed B panel. Edge tiles are handled by the driver (zero-padded operands, a scratch
//! tile for C), so microkernels have no edge logic.

pub(crate) mod amx;
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
/// - `b`: the packed panel at the current K offset; group `g` starts at
///   `g * nr * kr * elem_bytes` and holds, for each of the `nr` columns, `kr` k values.
/// - `c`: the tile's top-left i32; row `r` starts `r * ldc` elements later.
/// - `accumulate`: add to C's current values; otherwise start every row of the tile from
///   `seed`, `nr` i32 values (the zero-point column terms, or zeros).
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
}

/// # Safety
/// The caller guarantees the tier's CPU features are present, that `a`, `b` and `c`
/// address the full tile as described on [`TileArgs`], and (AMX) that the tile
/// configuration was loaded on this thread.
pub(crate) type MicroKernel = unsafe fn(&TileArgs);
