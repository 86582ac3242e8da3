//! Byte matrix transpose, for layout changes at the edges of NHWC regions.
//!
//! Full 16×16 blocks go through SSE2 registers on x86-64: SSE2 is part of that target's
//! baseline, so no run-time dispatch is needed. With one scalar store per byte, the
//! transposes around the FP32 islands of a tuned EfficientNet-Lite0 (an FP32 depthwise
//! conv whose 112×112×32 output goes back to NHWC, and a few 14×14 blocks) took 8% of
//! its run time; with blocks, 1.3%. Edges and other targets take the scalar loop.

const BLOCK: usize = 16;

/// `dst[c * rows + r] = src[r * cols + c]` for a row-major `rows × cols` source.
pub(super) fn transpose_bytes(src: &[u8], rows: usize, cols: usize, dst: &mut [u8]) {
    // Not a debug assertion: the block loads and stores below rely on it.
    assert!(src.len() >= rows * cols && dst.len() >= rows * cols);
    if rows <= 4 {
        // Few source rows (an image's 3 colour planes): they stream in parallel while
        // the destination is written in order, with no blocking overhead.
        for (c, column) in dst[..rows * cols].chunks_exact_mut(rows.max(1)).enumerate() {
            for (r, v) in column.iter_mut().enumerate() {
                *v = src[r * cols + c];
            }
        }
        return;
    }
    let (full_rows, full_cols) = (rows - rows % BLOCK, cols - cols % BLOCK);
    for r0 in (0..full_rows).step_by(BLOCK) {
        for c0 in (0..full_cols).step_by(BLOCK) {
            // SAFETY: SSE2 is part of the x86-64 baseline (the other targets' version
            // needs no feature).
            unsafe { transpose_block(src, (rows, cols), (r0, c0), dst) };
        }
    }
    // What the blocks left: the last columns of the blocked rows, then the last rows.
    transpose_scalar(src, (rows, cols), (0..full_rows, full_cols..cols), dst);
    transpose_scalar(src, (rows, cols), (full_rows..rows, 0..cols), dst);
}

/// The scalar transpose of the sub-matrix `rows_range × cols_range`.
fn transpose_scalar(
    src: &[u8],
    (rows, cols): (usize, usize),
    (rows_range, cols_range): (std::ops::Range<usize>, std::ops::Range<usize>),
    dst: &mut [u8],
) {
    for r in rows_range {
        let row = &src[r * cols..];
        for c in cols_range.clone() {
            dst[c * rows + r] = row[c];
        }
    }
}

/// The 16×16 block at `(r0, c0)`: four rounds of interleaving pairs of registers, with
/// 8-, 16-, 32- and 64-bit units, turn 16 rows into 16 columns.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
fn transpose_block(src: &[u8], (rows, cols): (usize, usize), (r0, c0): (usize, usize), dst: &mut [u8]) {
    use std::arch::x86_64::*;
    debug_assert!(r0 + BLOCK <= rows && c0 + BLOCK <= cols);
    let r: [__m128i; BLOCK] = std::array::from_fn(|i| {
        // SAFETY: row r0 + i < rows and columns c0..c0 + 16 <= cols, so the 16 bytes lie
        // inside `src`, whose length `transpose_bytes` checked against rows × cols.
        unsafe { _mm_loadu_si128(src.as_ptr().add((r0 + i) * cols + c0).cast()) }
    });
    // a[2k] / a[2k + 1]: columns 0–7 / 8–15 of rows 2k and 2k + 1, as byte pairs.
    let a: [__m128i; BLOCK] = std::array::from_fn(|i| {
        let k = i & !1;
        if i % 2 == 0 {
            _mm_unpacklo_epi8(r[k], r[k + 1])
        } else {
            _mm_unpackhi_epi8(r[k], r[k + 1])
        }
    });
    // b[4q + g]: columns 4g..4g + 3 of rows 4q..4q + 3, as 4-byte groups.
    let b: [__m128i; BLOCK] = std::array::from_fn(|i| {
        let (q, g) = (i / 4, i % 4);
        let (x, y) = (a[4 * q + g / 2], a[4 * q + 2 + g / 2]);
        if g % 2 == 0 {
            _mm_unpacklo_epi16(x, y)
        } else {
            _mm_unpackhi_epi16(x, y)
        }
    });
    // c[8o + h]: columns 2h and 2h + 1 of rows 8o..8o + 7, as 8-byte groups.
    let c: [__m128i; BLOCK] = std::array::from_fn(|i| {
        let (o, h) = (i / 8, i % 8);
        let (x, y) = (b[8 * o + h / 2], b[8 * o + 4 + h / 2]);
        if h % 2 == 0 {
            _mm_unpacklo_epi32(x, y)
        } else {
            _mm_unpackhi_epi32(x, y)
        }
    });
    for h in 0..BLOCK / 2 {
        let columns = [
            _mm_unpacklo_epi64(c[h], c[8 + h]),
            _mm_unpackhi_epi64(c[h], c[8 + h]),
        ];
        for (j, column) in columns.into_iter().enumerate() {
            let at = (c0 + 2 * h + j) * rows + r0;
            // SAFETY: column c0 + 2h + j < cols and rows r0..r0 + 16 <= rows, so the 16
            // bytes lie inside `dst`, checked against rows × cols.
            unsafe { _mm_storeu_si128(dst.as_mut_ptr().add(at).cast(), column) };
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn transpose_block(src: &[u8], shape: (usize, usize), (r0, c0): (usize, usize), dst: &mut [u8]) {
    transpose_scalar(src, shape, (r0..r0 + BLOCK, c0..c0 + BLOCK), dst);
}

#[cfg(test)]
mod tests {
    #[test]
    fn transposes_odd_shapes() {
        // Below, at and above the 4-row special case and the 16×16 block, with and
        // without partial blocks on either side.
        for (rows, cols) in [
            (1, 1),
            (3, 70),
            (4, 9),
            (5, 3),
            (16, 16),
            (17, 16),
            (16, 33),
            (33, 5),
            (40, 40),
            (32, 200),
            (200, 48),
            (47, 129),
        ] {
            let src: Vec<u8> = (0..rows * cols).map(|i| (i * 7 + i / 251) as u8).collect();
            let mut dst = vec![0; rows * cols];
            super::transpose_bytes(&src, rows, cols, &mut dst);
            for r in 0..rows {
                for c in 0..cols {
                    assert_eq!(
                        dst[c * rows + r],
                        src[r * cols + c],
                        "({r}, {c}) of {rows}x{cols}"
                    );
                }
            }
        }
    }
}
