//! Data specs: parsing, auto-detection and opening every kind of dataset.

mod common;

use lowbit_data::{open, write_npy, DataSpec, NpyDataset, Preprocess, Split};
use lowbit_tensor::Tensor;

fn write_inputs_and_labels(dir: &std::path::Path) {
    let inputs = Tensor::new(vec![3, 2], vec![0.0f32, 1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
    write_npy(dir.join("x.npy"), &inputs).unwrap();
    write_npy(
        dir.join("y.npy"),
        &Tensor::new(vec![3], vec![7i64, 8, 9]).unwrap(),
    )
    .unwrap();
}

#[test]
fn opens_npy_inputs_with_and_without_labels() {
    let dir = common::scratch_dir("spec-npy");
    write_inputs_and_labels(&dir);
    let spec = format!(
        "npy:{}:{}",
        dir.join("x.npy").display(),
        dir.join("y.npy").display()
    );
    let data = open(&spec, &Preprocess::default()).unwrap();
    assert_eq!(data.len(), 3);
    assert_eq!(data.sample_shape(), vec![2]);
    let sample = data.get(1).unwrap();
    assert_eq!(sample.input.as_slice::<f32>().unwrap(), &[2.0, 3.0]);
    assert_eq!(sample.label, Some(8));
    assert!(data.get(3).is_err());

    let bare = DataSpec::parse(dir.join("x.npy").to_str().unwrap()).unwrap();
    assert_eq!(
        bare,
        DataSpec::Npy {
            inputs: dir.join("x.npy"),
            labels: None
        }
    );
    assert_eq!(
        bare.open(&Preprocess::default()).unwrap().get(0).unwrap().label,
        None
    );
}

#[test]
fn bad_npy_labels_are_errors_naming_the_file() {
    let dir = common::scratch_dir("spec-npy-bad");
    write_inputs_and_labels(&dir);
    write_npy(
        dir.join("float.npy"),
        &Tensor::new(vec![3], vec![1f32, 2.0, 3.0]).unwrap(),
    )
    .unwrap();
    write_npy(
        dir.join("short.npy"),
        &Tensor::new(vec![2], vec![1i64, 2]).unwrap(),
    )
    .unwrap();
    write_npy(dir.join("scalar.npy"), &Tensor::scalar(1f32)).unwrap();
    let inputs = dir.join("x.npy");
    let err = NpyDataset::open(&inputs, Some(&dir.join("float.npy")))
        .unwrap_err()
        .to_string();
    assert!(err.contains("float.npy") && err.contains("integers"), "{err}");
    let err = NpyDataset::open(&inputs, Some(&dir.join("short.npy")))
        .unwrap_err()
        .to_string();
    assert!(err.contains("short.npy") && err.contains("expected [3]"), "{err}");
    let err = NpyDataset::open(&dir.join("scalar.npy"), None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("scalar.npy") && err.contains("leading sample axis"),
        "{err}"
    );
}

#[test]
fn detects_idx_directories_and_rejects_unknown_ones() {
    let dir = common::scratch_dir("spec-detect");
    std::fs::write(dir.join("README"), "no data here").unwrap();
    let err = DataSpec::parse(dir.to_str().unwrap()).unwrap_err().to_string();
    assert!(
        err.contains("spec-detect") && err.contains("holds no images and no IDX files"),
        "{err}"
    );
    std::fs::write(dir.join("train-images-idx3-ubyte.gz"), b"").unwrap();
    std::fs::write(dir.join("train-labels-idx1-ubyte.gz"), b"").unwrap();
    assert_eq!(
        DataSpec::parse(dir.to_str().unwrap()).unwrap(),
        DataSpec::FashionMnist {
            dir: dir.clone(),
            split: Split::Train
        }
    );
}

#[test]
fn opens_the_real_fashion_mnist_by_spec() {
    let Some(dir) = common::require("/usr/share/datasets/fashion-mnist".into()) else {
        return;
    };
    let spec = DataSpec::parse(dir.to_str().unwrap()).unwrap();
    assert_eq!(spec.to_string(), format!("fashion-mnist:{}:test", dir.display()));
    let data = open(
        &format!("fashion-mnist:{}:train", dir.display()),
        &Preprocess::default(),
    )
    .unwrap();
    assert_eq!(data.len(), 60_000);
    assert_eq!(data.sample_shape(), vec![1, 28, 28]);
}
