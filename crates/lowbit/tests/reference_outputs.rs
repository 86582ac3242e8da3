//! The FP32 engine against ONNX Runtime's reference outputs on the real models.

mod common;

use lowbit::data::read_npy;
use lowbit::metrics::max_abs_and_rel_l2;
use lowbit::model::Model;
use lowbit::runtime::PlanOptions;

fn check(name: &str, reference: &[f32], ours: &[f32]) {
    let (max_abs, rel_l2) = max_abs_and_rel_l2(reference, ours);
    eprintln!("{name}: max abs error {max_abs:.3e}, relative L2 error {rel_l2:.3e}");
    assert!(max_abs <= 1e-3, "{name}: max abs error {max_abs}");
    assert!(rel_l2 <= 1e-5, "{name}: relative L2 error {rel_l2}");
}

#[test]
fn efficientnet_lite0_matches_onnx_runtime_logits() {
    let Some(dir) = common::asset("efficientnet-lite0") else {
        return;
    };
    let model = Model::load(&dir.join("model.onnx"), &PlanOptions::default()).unwrap();
    let inputs = read_npy(dir.join("inputs.npy")).unwrap();
    let reference = read_npy(dir.join("logits.npy")).unwrap();
    let logits = model.plan.run(&[inputs]).unwrap().remove(0);
    assert_eq!(logits.shape(), reference.shape());
    check(
        "efficientnet-lite0",
        reference.as_slice().unwrap(),
        logits.as_slice().unwrap(),
    );
}

#[test]
fn minilm_matches_onnx_runtime_hidden_state() {
    let Some(dir) = common::asset("all-minilm-l6-v2") else {
        return;
    };
    let model = Model::load(&dir.join("model.onnx"), &PlanOptions::default()).unwrap();
    let by_name = |name: &str| read_npy(dir.join(format!("{name}.npy"))).unwrap();
    let inputs: Vec<_> = model
        .graph
        .inputs
        .iter()
        .map(|&id| by_name(&model.graph.value(id).name))
        .collect();
    let reference = by_name("last_hidden_state");
    let hidden = model.plan.run(&inputs).unwrap().remove(0);
    assert_eq!(hidden.shape(), reference.shape());
    check(
        "all-minilm-l6-v2",
        reference.as_slice().unwrap(),
        hidden.as_slice().unwrap(),
    );
}
