//! IDX files, the format of MNIST and Fashion-MNIST, optionally gzip-compressed.
//!
//! Layout: a 4-byte magic `0x00 0x00 <type> <ndim>`, then `ndim` big-endian u32
//! dimensions, then the values in C order. Only unsigned bytes (type `0x08`) are
//! supported, which is what every MNIST-family file holds.

use std::fs;
use std::io::Read;
use std::path::Path;

use lowbit_tensor::Tensor;

use crate::error::{DataError, Result};

const TYPE_U8: u8 = 0x08;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Reads an IDX image file: u8 `[N, rows, cols]`.
pub fn read_idx_images(path: impl AsRef<Path>) -> Result<Tensor> {
    let path = path.as_ref();
    let (dims, values) = read_idx(path, 3)?;
    Ok(Tensor::new(dims, values)?)
}

/// Reads an IDX label file: one u8 class per sample.
pub fn read_idx_labels(path: impl AsRef<Path>) -> Result<Vec<u8>> {
    read_idx(path.as_ref(), 1).map(|(_, values)| values)
}

/// Reads a u8 IDX file of rank `ndim`, decompressing it when it starts with the gzip magic.
fn read_idx(path: &Path, ndim: u8) -> Result<(Vec<usize>, Vec<u8>)> {
    let raw = fs::read(path).map_err(|e| DataError::io(path, e))?;
    let bytes = if raw.starts_with(&GZIP_MAGIC) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| DataError::idx(path, format!("corrupt gzip stream: {e}")))?;
        out
    } else {
        raw
    };
    parse_idx(&bytes, ndim).map_err(|reason| DataError::idx(path, reason))
}

fn parse_idx(bytes: &[u8], ndim: u8) -> Result<(Vec<usize>, Vec<u8>), String> {
    let expected_magic = u32::from_be_bytes([0, 0, TYPE_U8, ndim]);
    let magic = bytes
        .get(..4)
        .map(|m| u32::from_be_bytes([m[0], m[1], m[2], m[3]]))
        .ok_or("shorter than the 4-byte magic number")?;
    if magic != expected_magic {
        return Err(format!(
            "magic number 0x{magic:08x}, expected 0x{expected_magic:08x} (u8 values, {ndim} dimension(s))"
        ));
    }
    let header_len = 4 + 4 * ndim as usize;
    let header = bytes
        .get(4..header_len)
        .ok_or_else(|| format!("truncated header: {ndim} dimension(s) need {header_len} bytes"))?;
    let dims: Vec<usize> = header
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let count = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| format!("dimensions {dims:?} overflow"))?;
    let values = &bytes[header_len..];
    if values.len() != count {
        return Err(format!(
            "dimensions {dims:?} need {count} bytes of values, found {}",
            values.len()
        ));
    }
    Ok((dims, values.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx_bytes(magic: [u8; 4], dims: &[u32], values: &[u8]) -> Vec<u8> {
        let mut out = magic.to_vec();
        dims.iter().for_each(|d| out.extend_from_slice(&d.to_be_bytes()));
        out.extend_from_slice(values);
        out
    }

    #[test]
    fn parses_images_and_labels() {
        let values: Vec<u8> = (0..12).collect();
        let (dims, parsed) = parse_idx(&idx_bytes([0, 0, 8, 3], &[2, 2, 3], &values), 3).unwrap();
        assert_eq!(dims, vec![2, 2, 3]);
        assert_eq!(parsed, values);
        let (dims, labels) = parse_idx(&idx_bytes([0, 0, 8, 1], &[3], &[7, 0, 9]), 1).unwrap();
        assert_eq!((dims, labels), (vec![3], vec![7, 0, 9]));
    }

    #[test]
    fn rejects_bad_magic_and_sizes() {
        let err = parse_idx(&idx_bytes([0, 0, 8, 1], &[3], &[1, 2, 3]), 3).unwrap_err();
        assert!(
            err.contains("magic number 0x00000801, expected 0x00000803"),
            "{err}"
        );
        let err = parse_idx(&idx_bytes([0, 0, 0x0d, 1], &[1], &[0; 4]), 1).unwrap_err();
        assert!(err.contains("magic number"), "{err}");
        let err = parse_idx(&idx_bytes([0, 0, 8, 1], &[4], &[1, 2, 3]), 1).unwrap_err();
        assert!(err.contains("need 4 bytes of values, found 3"), "{err}");
        let err = parse_idx(&idx_bytes([0, 0, 8, 1], &[2], &[1, 2, 3]), 1).unwrap_err();
        assert!(err.contains("found 3"), "{err}");
        assert!(parse_idx(&[0, 0, 8, 3, 0, 0], 3)
            .unwrap_err()
            .contains("truncated header"));
        assert!(parse_idx(&[0, 0], 1).is_err());
    }
}
