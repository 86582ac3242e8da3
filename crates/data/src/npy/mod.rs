//! Reading and writing numpy `.npy` files (format versions 1.0, 2.0 and 3.0).
//!
//! Supported element types are the little-endian ones lowbit computes with: `<f4`,
//! `<i8`, `<i4`, `|u1`, `|i1` and `|b1`, in C order. Anything else (big-endian,
//! Fortran order, other dtypes) is an error naming the file, never a silent conversion.

mod header;

use std::fs;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use lowbit_tensor::{numel, DType, Data, Tensor};

use crate::error::{DataError, Result};
use header::Header;

const MAGIC: &[u8] = b"\x93NUMPY";

/// Reads a `.npy` file into a tensor.
pub fn read_npy(path: impl AsRef<Path>) -> Result<Tensor> {
    let path = path.as_ref();
    let bytes = fs::read(path).map_err(|e| DataError::io(path, e))?;
    parse_npy(&bytes).map_err(|reason| DataError::npy(path, reason))
}

/// Writes `tensor` as a `.npy` file, byte-identical to `np.save`.
///
/// The file appears atomically: the bytes go to a temporary file in the same directory,
/// which is then renamed over `path`, so readers never see a half-written file.
pub fn write_npy(path: impl AsRef<Path>, tensor: &Tensor) -> Result<()> {
    let path = path.as_ref();
    let bytes = encode_npy(tensor);
    let file_name = path
        .file_name()
        .ok_or_else(|| DataError::npy(path, "the path does not name a file"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file_name);
    // Unique per process and per call, so concurrent writers never share a temp file.
    static WRITES: AtomicUsize = AtomicUsize::new(0);
    let serial = WRITES.fetch_add(1, Ordering::Relaxed);
    tmp_name.push(format!(".tmp{}-{serial}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let write = || -> std::io::Result<()> {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        // Best effort: the temporary file is garbage whether or not removal succeeds.
        let _ = fs::remove_file(&tmp);
        DataError::io(path, e)
    })
}

/// Parses the bytes of a `.npy` file; the error is the reason, without the path.
pub(crate) fn parse_npy(bytes: &[u8]) -> Result<Tensor, String> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err("missing the \\x93NUMPY magic string".to_string());
    }
    let (major, minor) = (bytes[6], bytes[7]);
    let (header_len, prefix_len) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        _ => return Err(format!("unsupported format version {major}.{minor}")),
    };
    let data_start = prefix_len + header_len;
    let header_bytes = bytes
        .get(prefix_len..data_start)
        .ok_or_else(|| format!("truncated header: {header_len} bytes announced"))?;
    // Versions 1 and 2 store latin-1, version 3 UTF-8; valid headers are ASCII in both.
    let text = std::str::from_utf8(header_bytes).map_err(|_| "the header is not ASCII text".to_string())?;
    let header = Header::parse(text)?;
    if header.fortran_order {
        return Err("fortran_order=True is not supported; save the array in C order".to_string());
    }
    let dtype = dtype_from_descr(&header.descr)?;
    let count = numel(&header.shape);
    let payload = &bytes[data_start..];
    let expected = count * dtype.size();
    if payload.len() != expected {
        return Err(format!(
            "{} data: shape {:?} of {dtype} needs {expected} bytes, found {}",
            if payload.len() < expected {
                "truncated"
            } else {
                "trailing"
            },
            header.shape,
            payload.len()
        ));
    }
    let data = decode(dtype, payload);
    Tensor::from_data(header.shape, data).map_err(|e| e.to_string())
}

pub(crate) fn encode_npy(tensor: &Tensor) -> Vec<u8> {
    let header = Header {
        descr: descr_of(tensor.dtype()).to_string(),
        fortran_order: false,
        shape: tensor.shape().to_vec(),
    };
    let v1_text = header.format(10);
    let (version, text) = if v1_text.len() <= u16::MAX as usize {
        (1u8, v1_text)
    } else {
        (2u8, header.format(12))
    };
    let mut out = Vec::with_capacity(12 + text.len() + tensor.byte_size());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[version, 0]);
    if version == 1 {
        out.extend_from_slice(&(text.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(text.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(text.as_bytes());
    encode(tensor.data(), &mut out);
    out
}

fn dtype_from_descr(descr: &str) -> Result<DType, String> {
    const SUPPORTED: &str = "supported: <f4, <i8, <i4, |u1, |i1, |b1";
    let mut chars = descr.chars();
    let order = chars.next();
    let kind = chars.as_str();
    let dtype = match kind {
        "f4" => DType::F32,
        "i8" => DType::I64,
        "i4" => DType::I32,
        "u1" => DType::U8,
        "i1" => DType::I8,
        "b1" => DType::Bool,
        _ => return Err(format!("unsupported dtype '{descr}' ({SUPPORTED})")),
    };
    // Byte order is meaningless for one-byte types; numpy writes '|' for them.
    match order {
        _ if dtype.size() == 1 => Ok(dtype),
        Some('<') => Ok(dtype),
        Some('>') => Err(format!(
            "big-endian dtype '{descr}' is not supported; save it as '<{kind}'"
        )),
        _ => Err(format!(
            "dtype '{descr}' has no explicit little-endian byte order ({SUPPORTED})"
        )),
    }
}

fn descr_of(dtype: DType) -> &'static str {
    match dtype {
        DType::F32 => "<f4",
        DType::I64 => "<i8",
        DType::I32 => "<i4",
        DType::U8 => "|u1",
        DType::I8 => "|i1",
        DType::Bool => "|b1",
    }
}

fn decode(dtype: DType, bytes: &[u8]) -> Data {
    fn chunks<const N: usize, T>(bytes: &[u8], f: impl Fn([u8; N]) -> T) -> Vec<T> {
        bytes
            .chunks_exact(N)
            .map(|c| f(c.try_into().expect("chunks_exact yields N bytes")))
            .collect()
    }
    match dtype {
        DType::F32 => Data::F32(chunks(bytes, f32::from_le_bytes)),
        DType::I64 => Data::I64(chunks(bytes, i64::from_le_bytes)),
        DType::I32 => Data::I32(chunks(bytes, i32::from_le_bytes)),
        DType::U8 => Data::U8(bytes.to_vec()),
        DType::I8 => Data::I8(bytes.iter().map(|&b| b as i8).collect()),
        DType::Bool => Data::Bool(bytes.iter().map(|&b| b != 0).collect()),
    }
}

fn encode(data: &Data, out: &mut Vec<u8>) {
    match data {
        Data::F32(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        Data::I64(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        Data::I32(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        Data::U8(v) => out.extend_from_slice(v),
        Data::I8(v) => out.extend(v.iter().map(|&x| x as u8)),
        Data::Bool(v) => out.extend(v.iter().map(|&x| x as u8)),
    }
}
