//! `lowbit demo`, the README's main job, on the committed embedded default.

use std::process::Command;

/// The PTQ half of the walk-through on 1 000 test images (the QAT half trains, and has
/// its own tests in `lowbit-train`): the JSON carries the table's fields, the models are
/// the accurate FP32 model and real INT8 files about 4× smaller.
#[test]
fn demo_ptq_table_on_the_embedded_model() {
    let out = Command::new(env!("CARGO_BIN_EXE_lowbit"))
        .args(["demo", "--limit", "1000", "--no-qat", "--iters", "3", "--json"])
        .output()
        .expect("the lowbit binary runs");
    assert!(
        out.status.success(),
        "lowbit demo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    let field = |name: &str| {
        table[name]
            .as_f64()
            .unwrap_or_else(|| panic!("demo JSON lacks '{name}': {table}"))
    };
    assert_eq!(field("n"), 1000.0);
    let fp32 = field("fp32_top1");
    assert!(fp32 >= 0.90, "FP32 top-1 {fp32}");
    let x86 = field("x86_top1");
    assert!(x86 >= fp32 - 0.02, "x86 PTQ top-1 {x86} against FP32 {fp32}");
    assert!(field("per_tensor_top1") > 0.5);
    // The goal. Tight on this width-0.5 model (0.268): its thousands of small
    // (depthwise) channels each carry a weight scale and an i32 bias on top of their int8
    // weights (docs/QUALITY.md).
    let ratio = field("int8_bytes") / field("fp32_bytes");
    assert!(ratio <= 0.27, "INT8 file is {ratio:.3} of the FP32 file");
    assert!(table["qat_top1"].is_null(), "--no-qat leaves qat_top1 empty");
}
