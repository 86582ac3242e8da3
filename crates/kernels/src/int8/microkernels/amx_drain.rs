//! Copying a finished AMX C tile from its L1 scratch tile to the output, adding the
//! zero-point seed row on the way (see `amx.rs` for why the kernel computes into scratch).

use std::arch::x86_64::*;

use super::Drain;

/// A [`Drain`] with its per-tile constants worked out once. The kernel copies a row or
/// two between the `tdpbusd`s of every K step, so per-row set-up code would sit in the
/// out-of-order window in front of the tile instructions that follow it; for the same
/// reason the kernel's K loop is instantiated per copy path ([`TileDrain::path`]), so
/// that the row copy it inlines has no per-row dispatch. At 1024³, builds alternated:
/// best of 30 calls +7-9%, mean of 600 calls +4% (CPU time, five rounds each); within
/// the noise of `sysinfo`'s 400 ms means (18 pairs on a busy machine).
pub(crate) struct TileDrain<'a> {
    d: &'a Drain,
    /// The seed row (zeros without one), as the two 16-column halves.
    seed: [__m512i; 2],
    /// The last 16 columns of the left neighbour's seed row.
    left_seed: __m512i,
    /// For [`path::SHIFTED_LINES`]: the permute indices and the row's offset into its
    /// first output line, in i32.
    index: __m512i,
    shift: usize,
    path: u8,
}

/// How a tile's rows reach the output, as `const` generic arguments of
/// [`TileDrain::row`] and of the kernel's K loop (an enum cannot be one on stable Rust).
pub(crate) mod path {
    /// Ordinary stores of the valid columns.
    pub const PLAIN: u8 = 0;
    /// Non-temporal stores, every row being two whole, aligned output lines.
    pub const ALIGNED_LINES: u8 = 1;
    /// Non-temporal stores of two whole lines per row, every row starting `shift` i32
    /// into a line: the left neighbour's scratch supplies the start of the first line and
    /// the right neighbour writes the third (see `general_row`).
    pub const SHIFTED_LINES: u8 = 2;
    /// Partial tiles, tiles without both neighbours, rows whose shift varies.
    pub const GENERAL: u8 = 3;
}

impl<'a> TileDrain<'a> {
    /// # Safety
    /// Needs AVX-512F; the pointers of `d` are valid as [`Drain`] describes.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn new(d: &'a Drain) -> Self {
        let shift = (d.dst as usize / 4) % 16;
        let uniform_full_rows = d.cols == 32 && d.ldc.is_multiple_of(16);
        let path = if !d.streaming {
            path::PLAIN
        } else if uniform_full_rows && shift == 0 {
            path::ALIGNED_LINES
        } else if uniform_full_rows && !d.left.is_null() && d.right_follows {
            path::SHIFTED_LINES
        } else {
            path::GENERAL
        };
        TileDrain {
            d,
            seed: [load_or_zero(d.seed, 0), load_or_zero(d.seed, 16)],
            left_seed: load_or_zero(d.left_seed, 16),
            index: line_index(shift),
            shift,
            path,
        }
    }

    pub fn rows(&self) -> usize {
        self.d.rows
    }

    /// The copy path, one of [`path`]'s constants.
    pub fn path(&self) -> u8 {
        self.path
    }

    /// Copies tile row `row`.
    ///
    /// # Safety
    /// Needs AVX-512F; `row < self.rows()` and `PATH == self.path()`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub unsafe fn row<const PATH: u8>(&self, row: usize) {
        debug_assert_eq!(PATH, self.path);
        let d = self.d;
        // Scratch rows are `nr` = 32 i32 long.
        let src = d.src.add(row * 32);
        let halves = [
            _mm512_add_epi32(_mm512_load_si512(src.cast()), self.seed[0]),
            _mm512_add_epi32(_mm512_load_si512(src.add(16).cast()), self.seed[1]),
        ];
        let dst = d.dst.add(row * d.ldc);
        match PATH {
            path::PLAIN => {
                for (half, v) in halves.into_iter().enumerate() {
                    let cols = d.cols.saturating_sub(16 * half).min(16);
                    if cols == 16 {
                        _mm512_storeu_si512(dst.add(16 * half).cast(), v);
                    } else if cols > 0 {
                        _mm512_mask_storeu_epi32(dst.add(16 * half).cast(), (1u16 << cols) - 1, v);
                    }
                }
            }
            path::ALIGNED_LINES => {
                _mm512_stream_si512(dst.cast(), halves[0]);
                _mm512_stream_si512(dst.add(16).cast(), halves[1]);
            }
            path::SHIFTED_LINES => {
                let left = self.left_row(row);
                let line = dst.sub(self.shift);
                _mm512_stream_si512(
                    line.cast(),
                    _mm512_permutex2var_epi32(left, self.index, halves[0]),
                );
                _mm512_stream_si512(
                    line.add(16).cast(),
                    _mm512_permutex2var_epi32(halves[0], self.index, halves[1]),
                );
            }
            _ => {
                let left = if d.left.is_null() {
                    _mm512_setzero_si512()
                } else {
                    self.left_row(row)
                };
                general_row(d, dst, left, halves);
            }
        }
    }

    /// The last 16 columns of row `row` of the left neighbour, seeded.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn left_row(&self, row: usize) -> __m512i {
        let v = _mm512_load_si512(self.d.left.add(row * 32 + 16).cast());
        _mm512_add_epi32(v, self.left_seed)
    }
}

/// Copies all of `d` out, then fences its non-temporal stores so that they are ordered
/// before whatever this thread writes next (other threads read the output after it).
///
/// # Safety
/// See [`super::DrainFn`]; needs AVX-512F.
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn drain_tile(d: &Drain) {
    let drain = TileDrain::new(d);
    let rows = 0..d.rows;
    match drain.path() {
        path::PLAIN => rows.for_each(|row| drain.row::<{ path::PLAIN }>(row)),
        path::ALIGNED_LINES => rows.for_each(|row| drain.row::<{ path::ALIGNED_LINES }>(row)),
        path::SHIFTED_LINES => rows.for_each(|row| drain.row::<{ path::SHIFTED_LINES }>(row)),
        _ => rows.for_each(|row| drain.row::<{ path::GENERAL }>(row)),
    }
    if d.streaming {
        _mm_sfence();
    }
}

/// Streams one row that starts at `dst`, `halves` being its seeded values and `left` the
/// left neighbour's last 16 (zeros without one).
///
/// Non-temporal stores must write whole, aligned 64-byte lines, but the row starts
/// `shift` i32 into a line. So the row is stored as the (up to) three output lines it
/// touches, each gathered from the halves by one permute; a line shared with the left
/// neighbour tile takes that tile's last `shift` values from its scratch (`d.left`), and
/// the part shared with the right neighbour is left to it (`d.right_follows`). Lines only
/// partly ours go out as masked ordinary stores.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn general_row(d: &Drain, dst: *mut i32, left: __m512i, halves: [__m512i; 2]) {
    let shift = (dst as usize / 4) % 16;
    let lo = if d.left.is_null() { 0 } else { -(shift as isize) };
    let hi = if d.right_follows {
        32 - shift as isize
    } else {
        d.cols as isize
    };
    let index = line_index(shift);
    let sources = [
        (left, halves[0]),
        (halves[0], halves[1]),
        (halves[1], _mm512_setzero_si512()),
    ];
    for (q, (low, high)) in sources.into_iter().enumerate() {
        let first = 16 * q as isize - shift as isize;
        let (start, end) = ((lo - first).clamp(0, 16), (hi - first).clamp(0, 16));
        if start >= end {
            continue;
        }
        let line = _mm512_permutex2var_epi32(low, index, high);
        // `first` may lie before `dst`: only with a left neighbour (then it is that
        // tile's output) or with the elements before `start` masked off.
        let at = dst.wrapping_offset(first);
        if start == 0 && end == 16 {
            _mm512_stream_si512(at.cast(), line);
        } else {
            let mask = ((1u32 << end) - (1u32 << start)) as u16;
            _mm512_mask_storeu_epi32(at.cast(), mask, line);
        }
    }
}

/// Permute indices for a row starting `shift` i32 into a line: output line q holds row
/// elements 16q − shift + i, i = 0..16, which is index i + 16 − shift into the
/// concatenation of the two vectors that line straddles.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn line_index(shift: usize) -> __m512i {
    _mm512_add_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
        _mm512_set1_epi32(16 - shift as i32),
    )
}

/// The 16 i32 at `seed + offset`, or zeros when `seed` is null.
///
/// # Safety
/// Needs AVX-512F; a non-null `seed + offset` addresses 16 i32.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn load_or_zero(seed: *const i32, offset: usize) -> __m512i {
    if seed.is_null() {
        _mm512_setzero_si512()
    } else {
        _mm512_loadu_si512(seed.add(offset).cast())
    }
}
