//! Byte matrix transpose, blocked so both sides stay in cache.

const BLOCK: usize = 32;

/// `dst[c * rows + r] = src[r * cols + c]` for a row-major `rows × cols` source.
pub(super) fn transpose_bytes(src: &[u8], rows: usize, cols: usize, dst: &mut [u8]) {
    debug_assert!(src.len() >= rows * cols && dst.len() >= rows * cols);
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
    for r0 in (0..rows).step_by(BLOCK) {
        let r1 = (r0 + BLOCK).min(rows);
        for c0 in (0..cols).step_by(BLOCK) {
            let c1 = (c0 + BLOCK).min(cols);
            for r in r0..r1 {
                let row = &src[r * cols..];
                for c in c0..c1 {
                    dst[c * rows + r] = row[c];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn transposes_odd_shapes() {
        for (rows, cols) in [(1, 1), (3, 70), (4, 9), (33, 5), (40, 40), (5, 3)] {
            let src: Vec<u8> = (0..rows * cols).map(|i| (i * 7) as u8).collect();
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
