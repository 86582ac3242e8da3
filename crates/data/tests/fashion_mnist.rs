//! IDX parsing and the Fashion-MNIST dataset, on handmade files and the real test set.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use lowbit_data::{read_idx_images, read_idx_labels, Dataset, FashionMnist, Preprocess, Split};

const REAL_DIR: &str = "/usr/share/datasets/fashion-mnist";

fn idx(magic: u32, dims: &[u32], values: &[u8]) -> Vec<u8> {
    let mut out = magic.to_be_bytes().to_vec();
    dims.iter().for_each(|d| out.extend_from_slice(&d.to_be_bytes()));
    out.extend_from_slice(values);
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Three 2×2 images valued `10 * image + pixel`, labels 4, 0, 9.
fn write_small_set(dir: &Path, compress: bool) -> (PathBuf, PathBuf) {
    let pixels: Vec<u8> = (0..3).flat_map(|i| (0..4).map(move |p| 10 * i + p)).collect();
    let images = idx(0x0803, &[3, 2, 2], &pixels);
    let labels = idx(0x0801, &[3], &[4, 0, 9]);
    let suffix = if compress { ".gz" } else { "" };
    let images_path = dir.join(format!("t10k-images-idx3-ubyte{suffix}"));
    let labels_path = dir.join(format!("t10k-labels-idx1-ubyte{suffix}"));
    let (images, labels) = if compress {
        (gzip(&images), gzip(&labels))
    } else {
        (images, labels)
    };
    std::fs::write(&images_path, images).unwrap();
    std::fs::write(&labels_path, labels).unwrap();
    (images_path, labels_path)
}

#[test]
fn reads_handmade_files_raw_and_gzipped() {
    for compress in [false, true] {
        let dir = common::scratch_dir(&format!("idx-small-{compress}"));
        let (images_path, labels_path) = write_small_set(&dir, compress);
        let images = read_idx_images(&images_path).unwrap();
        assert_eq!(images.shape(), &[3, 2, 2]);
        assert_eq!(images.as_slice::<u8>().unwrap()[4..8], [10, 11, 12, 13]);
        assert_eq!(read_idx_labels(&labels_path).unwrap(), vec![4, 0, 9]);

        let unit = Preprocess {
            std: [255.0; 3],
            ..Preprocess::default()
        };
        let data = FashionMnist::open(&dir, Split::Test, unit).unwrap();
        assert_eq!(data.len(), 3);
        assert_eq!(data.sample_shape(), vec![1, 2, 2]);
        let sample = data.get(2).unwrap();
        assert_eq!(sample.label, Some(9));
        assert_eq!(sample.input.shape(), &[1, 2, 2]);
        let expected: Vec<f32> = (20..24).map(|v| v as f32 / 255.0).collect();
        assert_eq!(sample.input.as_slice::<f32>().unwrap(), expected.as_slice());
        assert!(data.get(3).is_err());
    }
}

#[test]
fn bad_idx_files_are_errors_naming_the_file() {
    let dir = common::scratch_dir("idx-bad");
    let cases = [
        (
            "labels-as-images",
            idx(0x0801, &[3], &[1, 2, 3]),
            "magic number 0x00000801, expected 0x00000803",
        ),
        (
            "short",
            idx(0x0803, &[2, 2, 2], &[0; 7]),
            "need 8 bytes of values, found 7",
        ),
        ("not-gzip.gz", vec![0x1f, 0x8b, 0, 1, 2], "corrupt gzip stream"),
    ];
    for (name, bytes, reason) in cases {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let err = read_idx_images(&path).unwrap_err().to_string();
        assert!(err.contains(name) && err.contains(reason), "{name}: {err}");
    }
}

#[test]
fn mismatched_or_missing_files_are_reported() {
    let dir = common::scratch_dir("idx-mismatch");
    write_small_set(&dir, false);
    std::fs::write(dir.join("t10k-labels-idx1-ubyte"), idx(0x0801, &[2], &[1, 2])).unwrap();
    let err = FashionMnist::open(&dir, Split::Test, Preprocess::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("t10k-labels-idx1-ubyte") && err.contains("2 labels for 3 images"),
        "{err}"
    );
    let err = FashionMnist::open(&dir, Split::Train, Preprocess::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("train-images-idx3-ubyte"), "{err}");
}

#[test]
fn real_test_split_has_10000_balanced_images() {
    let Some(dir) = common::require(PathBuf::from(REAL_DIR)) else {
        return;
    };
    let unit = Preprocess {
        std: [255.0; 3],
        ..Preprocess::default()
    };
    let data = FashionMnist::open(&dir, Split::Test, unit).unwrap();
    assert_eq!(data.len(), 10_000);
    assert_eq!(data.sample_shape(), vec![1, 28, 28]);
    let mut histogram = [0usize; 10];
    data.labels().iter().for_each(|&l| histogram[l as usize] += 1);
    assert_eq!(histogram, [1000; 10]);
    let sample = data.get(0).unwrap();
    let values = sample.input.as_slice::<f32>().unwrap();
    assert!(values.iter().all(|v| (0.0..=1.0).contains(v)));
    assert!(values.iter().any(|&v| v > 0.5), "the first image is not blank");
    // Fashion-MNIST's first test image is an ankle boot (class 9).
    assert_eq!(sample.label, Some(9));
}
