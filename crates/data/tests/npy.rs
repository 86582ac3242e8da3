//! `.npy` reading and writing against numpy's exact bytes.

mod common;

use lowbit_data::{read_npy, write_npy};
use lowbit_tensor::{DType, Tensor};

/// `np.save(f, np.array([[1.5, -2.0, 3.25]], dtype='<f4'))` with numpy 2.
fn numpy_f32_file() -> Vec<u8> {
    let mut bytes = b"\x93NUMPY\x01\x00\x76\x00".to_vec();
    let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3), }";
    bytes.extend_from_slice(dict.as_bytes());
    bytes.extend(std::iter::repeat_n(b' ', 128 - 10 - dict.len() - 1));
    bytes.push(b'\n');
    for v in [1.5f32, -2.0, 3.25] {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    bytes
}

/// A file with `header` (padded to 64 bytes) in format version `major` followed by `data`.
fn npy_file(major: u8, header: &str, data: &[u8]) -> Vec<u8> {
    let prefix = if major == 1 { 10 } else { 12 };
    let mut text = header.to_string();
    text.push_str(&" ".repeat((64 - (prefix + text.len() + 1) % 64) % 64));
    text.push('\n');
    let mut bytes = b"\x93NUMPY".to_vec();
    bytes.extend_from_slice(&[major, 0]);
    if major == 1 {
        bytes.extend_from_slice(&(text.len() as u16).to_le_bytes());
    } else {
        bytes.extend_from_slice(&(text.len() as u32).to_le_bytes());
    }
    bytes.extend_from_slice(text.as_bytes());
    bytes.extend_from_slice(data);
    bytes
}

#[test]
fn reads_and_writes_numpy_bytes_exactly() {
    let dir = common::scratch_dir("npy-golden");
    let path = dir.join("golden.npy");
    std::fs::write(&path, numpy_f32_file()).unwrap();
    let t = read_npy(&path).unwrap();
    assert_eq!(t.shape(), &[1, 3]);
    assert_eq!(t.as_slice::<f32>().unwrap(), &[1.5, -2.0, 3.25]);
    let out = dir.join("ours.npy");
    write_npy(&out, &t).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), numpy_f32_file());
}

#[test]
fn round_trips_every_dtype_and_rank() {
    let dir = common::scratch_dir("npy-round-trip");
    let tensors = [
        Tensor::new(
            vec![2, 3],
            vec![0.5f32, -1.0, f32::MAX, f32::MIN_POSITIVE, -0.0, 1e-30],
        )
        .unwrap(),
        Tensor::new(vec![3], vec![i64::MIN, 0, i64::MAX]).unwrap(),
        Tensor::new(vec![2, 1, 2], vec![i32::MIN, -1, 1, i32::MAX]).unwrap(),
        Tensor::new(vec![4], vec![0u8, 1, 128, 255]).unwrap(),
        Tensor::new(vec![1, 2], vec![-128i8, 127]).unwrap(),
        Tensor::new(vec![3], vec![true, false, true]).unwrap(),
        Tensor::scalar(7i64),
        Tensor::new(vec![0, 5], Vec::<f32>::new()).unwrap(),
        Tensor::new(vec![12_345_678_901, 0], Vec::<u8>::new()).unwrap(),
    ];
    for (i, t) in tensors.iter().enumerate() {
        let path = dir.join(format!("t{i}.npy"));
        write_npy(&path, t).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!(
            (10 + header_len) % 64,
            0,
            "data of {:?} is not 64-byte aligned",
            t.shape()
        );
        assert_eq!(&read_npy(&path).unwrap(), t, "{} {:?}", t.dtype(), t.shape());
    }
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().into_string().ok())
        .filter(|name| name.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn reads_format_versions_2_and_3() {
    let dir = common::scratch_dir("npy-versions");
    let data: Vec<u8> = [3i32, -4].iter().flat_map(|v| v.to_le_bytes()).collect();
    for major in [2, 3] {
        let path = dir.join(format!("v{major}.npy"));
        let header = "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }";
        std::fs::write(&path, npy_file(major, header, &data)).unwrap();
        let t = read_npy(&path).unwrap();
        assert_eq!(t.dtype(), DType::I32);
        assert_eq!(t.as_slice::<i32>().unwrap(), &[3, -4]);
    }
}

#[test]
fn bad_files_are_errors_naming_the_file() {
    let dir = common::scratch_dir("npy-bad");
    let f32_header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
    let eight = [0u8; 8];
    let cases: [(&str, Vec<u8>, &str); 8] = [
        (
            "truncated.npy",
            npy_file(1, f32_header, &eight[..6]),
            "truncated data",
        ),
        ("trailing.npy", npy_file(1, f32_header, &[0; 9]), "trailing data"),
        (
            "fortran.npy",
            npy_file(
                1,
                "{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }",
                &eight,
            ),
            "fortran_order=True",
        ),
        (
            "big.npy",
            npy_file(
                1,
                "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }",
                &eight,
            ),
            "big-endian",
        ),
        (
            "f8.npy",
            npy_file(
                1,
                "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }",
                &eight,
            ),
            "unsupported dtype '<f8'",
        ),
        (
            "version.npy",
            npy_file(4, f32_header, &eight),
            "unsupported format version 4.0",
        ),
        (
            "short-header.npy",
            numpy_f32_file()[..60].to_vec(),
            "truncated header",
        ),
        ("not-npy.npy", b"PK\x03\x04 a zip file".to_vec(), "magic"),
    ];
    for (name, bytes, reason) in cases {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let err = read_npy(&path).unwrap_err().to_string();
        assert!(err.contains(name) && err.contains(reason), "{name}: {err}");
    }
    let missing = dir.join("missing.npy");
    assert!(read_npy(&missing)
        .unwrap_err()
        .to_string()
        .contains("missing.npy"));
    let err = write_npy(dir.join("no-such-dir/x.npy"), &Tensor::scalar(1f32)).unwrap_err();
    assert!(err.to_string().contains("no-such-dir/x.npy"), "{err}");
}
