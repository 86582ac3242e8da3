//! Byte matrix transpose, blocked so both sides stay in cache.

const BLOCK: usize = 32;

/// `dst[c * rows + r] = src[r * cols + c]` for a row-major `rows × cols` source.
pub(super) fn transpose_bytes(src: &[u8], rows: usize, cols: usize, dst: &mut [u8]) {
    debug_assert!(src.len() >= rows * cols && dst.len() >= rows * cols);
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
        for (rows, cols) in [(1, 1), (3, 70), (33, 5), (40, 40)] {
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
