//! Per-point sensitivity of EfficientNet-Lite0's x86 QDQ model, on its 10 calibration
//! images: the ranking behind `recipes/efficientnet-lite0.toml`.

mod common;

use lowbit::compare::compare;
use lowbit::data::{Dataset, NpyDataset};
use lowbit::quant::static_ptq::{Preset, QConfig};
use lowbit::quantize_static::quantize_static;
use lowbit::sensitivity::activation_sensitivity;

#[test]
fn the_stem_relu6_is_the_costliest_activation_point_of_efficientnet() {
    let (Some(model), Some(inputs)) = (
        common::asset("efficientnet-lite0/model.onnx"),
        common::asset("efficientnet-lite0/inputs.npy"),
    ) else {
        return;
    };
    let fp32 = lowbit::onnx::load(&model).unwrap();
    let data = NpyDataset::open(&inputs, None).unwrap();
    let q = quantize_static(
        fp32.clone(),
        &QConfig::preset(Preset::X86),
        &data,
        Some(10),
        &mut |_| {},
    )
    .unwrap();
    let s = activation_sensitivity(&fp32, &q.graph, &data, Some(10), 2, &mut |_, _| {}).unwrap();
    for p in s.points.iter().take(5) {
        eprintln!(
            "{:>16} {:>14} {:.2} dB",
            p.value,
            p.producer.as_deref().unwrap_or("-"),
            p.sqnr_db
        );
    }
    eprintln!("weights only: {:.2} dB", s.weights_only_sqnr_db);
    let worst = &s.points[0];
    assert_eq!(worst.producer.as_deref(), Some("stem_clip"), "{worst:?}");
    assert_eq!(worst.readers, ["b0_dw"]);
    // All points together lose more than any one. (One point alone may score a little
    // above the weights alone: the biases were corrected against quantized inputs.)
    let full = compare(&fp32, &q.graph, &data, Some(10), false, 2, &mut |_| {}).unwrap();
    assert!(s.points.iter().all(|p| full.sqnr_db + 1.0 < p.sqnr_db));
    // Bigger gaps than the next points: the stem costs about twice the logits.
    assert!(s.weights_only_sqnr_db - worst.sqnr_db > 2.0 * (s.weights_only_sqnr_db - s.points[2].sqnr_db));
    assert!(data.len() >= 10);
}
