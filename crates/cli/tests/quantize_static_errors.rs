//! `lowbit quantize --approach static` on bad input: each case exits with a clear error
//! and writes no output file. Runs on a small zoo model, so it needs no assets.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use lowbit::data::write_npy;
use lowbit::tensor::Tensor;

fn lowbit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lowbit"))
        .args(args)
        .output()
        .expect("the lowbit binary runs")
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A fresh directory with a MobileNetV2 (width 0.35, 32×32 input) and calibration data
/// of the right shape.
fn setup(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lowbit-ptq-errors-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("model.onnx");
    let made = lowbit(&[
        "zoo",
        "--arch",
        "mobilenet-v2",
        "--width-mult",
        "0.35",
        "--input-size",
        "32",
        "--output",
        s(&model),
    ]);
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    write_inputs(&dir.join("calib.npy"), &[2, 3, 32, 32]);
    dir
}

fn write_inputs(path: &Path, shape: &[usize]) {
    let n: usize = shape.iter().product();
    let values = (0..n).map(|i| (i % 17) as f32 / 17.0 - 0.5).collect();
    write_npy(path, &Tensor::new(shape.to_vec(), values).unwrap()).unwrap();
}

/// Runs the static quantizer and checks that it failed with `expected` in its error and
/// left `output` unwritten.
fn fails_without_output(dir: &Path, calib: &Path, output: &Path, extra: &[&str], expected: &str) {
    let model = dir.join("model.onnx");
    let before = std::fs::metadata(&model).unwrap().len();
    let calib = format!("npy:{}", s(calib));
    let mut args = vec![
        "quantize",
        "--model",
        s(&model),
        "--approach",
        "static",
        "--calib",
        &calib,
        "--output",
        s(output),
    ];
    args.extend_from_slice(extra);
    let out = lowbit(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(expected), "expected '{expected}' in: {stderr}");
    if output != model {
        assert!(!output.exists(), "{} was written", output.display());
    }
    assert_eq!(
        std::fs::metadata(&model).unwrap().len(),
        before,
        "the input model changed"
    );
}

#[test]
fn calibration_data_of_the_wrong_shape() {
    let dir = setup("shape");
    let wrong = dir.join("wrong.npy");
    write_inputs(&wrong, &[2, 3, 16, 16]);
    fails_without_output(
        &dir,
        &wrong,
        &dir.join("q.onnx"),
        &[],
        "calibration data: samples are [3, 16, 16]",
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn empty_calibration_set() {
    let dir = setup("empty");
    let empty = dir.join("empty.npy");
    write_inputs(&empty, &[0, 3, 32, 32]);
    fails_without_output(&dir, &empty, &dir.join("q.onnx"), &[], "empty");
    let calib = dir.join("calib.npy");
    let q = dir.join("q.onnx");
    fails_without_output(
        &dir,
        &calib,
        &q,
        &["--calib-limit", "0"],
        "the calibration set is empty",
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn output_equal_to_the_input() {
    let dir = setup("same");
    let model = dir.join("model.onnx");
    let calib = dir.join("calib.npy");
    fails_without_output(&dir, &calib, &model, &[], "is the input model");
    // The same file reached through another spelling.
    let detour = dir.join(".").join("model.onnx");
    fails_without_output(&dir, &calib, &detour, &[], "is the input model");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn recipe_naming_a_missing_node() {
    let dir = setup("recipe");
    let recipe = dir.join("recipe.toml");
    std::fs::write(&recipe, "[[override]]\nnode = \"no_such_conv\"\nfp32 = true\n").unwrap();
    let calib = dir.join("calib.npy");
    fails_without_output(
        &dir,
        &calib,
        &dir.join("q.onnx"),
        &["--recipe", s(&recipe)],
        "override names node 'no_such_conv', which the model does not have",
    );
    std::fs::remove_dir_all(dir).ok();
}
