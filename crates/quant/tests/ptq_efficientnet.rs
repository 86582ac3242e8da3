//! Static PTQ of EfficientNet-Lite0 on the shared assets: calibrate on the first 10
//! images of `inputs.npy`, evaluate on all 20 against the FP32 model.
//! Skips when the assets are absent, unless LOWBIT_REQUIRE_ASSETS=1.

use std::path::PathBuf;

use lowbit_data::{read_npy, Dataset, NpyDataset};
use lowbit_graph::Graph;
use lowbit_quant::static_ptq::{parse_recipe, prepare, ObserverKind, Preset, QConfig, Quantized};
use lowbit_runtime::{Plan, PlanOptions};
use lowbit_tensor::Tensor;

fn assets() -> Option<PathBuf> {
    let dir = std::env::var_os("LOWBIT_ASSETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/assets")));
    let dir = dir.join("efficientnet-lite0");
    if dir.join("model.onnx").is_file() {
        return Some(dir);
    }
    assert!(
        std::env::var("LOWBIT_REQUIRE_ASSETS").as_deref() != Ok("1"),
        "assets are required but {} is missing",
        dir.display()
    );
    eprintln!("skipped: {} not found", dir.display());
    None
}

/// Logits of `graph` on every row of `inputs`, in batches of 5.
fn logits(graph: &Graph, inputs: &Tensor) -> Vec<f32> {
    let plan = Plan::new(graph.clone(), &PlanOptions::default()).unwrap();
    let n = inputs.shape()[0];
    let per: usize = inputs.shape()[1..].iter().product();
    let values = inputs.as_slice::<f32>().unwrap();
    let mut out = Vec::new();
    for start in (0..n).step_by(5) {
        let end = (start + 5).min(n);
        let mut shape = inputs.shape().to_vec();
        shape[0] = end - start;
        let batch = Tensor::new(shape, values[start * per..end * per].to_vec()).unwrap();
        out.extend(plan.run(&[batch]).unwrap()[0].to_f32_vec());
    }
    out
}

/// The first index of the largest value, as `lowbit compare`, NumPy and PyTorch break
/// ties (quantized logits can tie exactly).
fn argmax(row: &[f32]) -> usize {
    (0..row.len())
        .rev()
        .max_by(|&a, &b| row[a].total_cmp(&row[b]))
        .unwrap()
}

struct Scores {
    sqnr_db: f64,
    top1: usize,
    agree: usize,
}

fn score(fp32: &[f32], int8: &[f32], labels: &[i64]) -> Scores {
    let (mut signal, mut noise) = (0.0f64, 0.0f64);
    for (&r, &t) in fp32.iter().zip(int8) {
        signal += (r as f64).powi(2);
        noise += (r as f64 - t as f64).powi(2);
    }
    let rows = fp32.chunks(1000).zip(int8.chunks(1000));
    let (mut top1, mut agree) = (0, 0);
    for ((a, b), &label) in rows.zip(labels) {
        top1 += usize::from(argmax(b) as i64 == label);
        agree += usize::from(argmax(a) == argmax(b));
    }
    Scores {
        sqnr_db: 10.0 * (signal / noise).log10(),
        top1,
        agree,
    }
}

fn quantize(dir: &std::path::Path, graph: &Graph, qconfig: &QConfig) -> Quantized {
    let calib = NpyDataset::open(&dir.join("inputs.npy"), None).unwrap();
    let mut prepared = prepare(graph.clone(), qconfig).unwrap();
    let done = prepared
        .calibrate(&calib as &dyn Dataset, Some(10), &mut |_| {})
        .unwrap();
    assert_eq!(done.samples, 10);
    prepared.convert().unwrap()
}

struct Fixture {
    dir: PathBuf,
    graph: Graph,
    inputs: Tensor,
    labels: Vec<i64>,
    fp32: Vec<f32>,
}

fn fixture() -> Option<Fixture> {
    let dir = assets()?;
    let graph = lowbit_onnx::load(&dir.join("model.onnx")).unwrap();
    let inputs = read_npy(dir.join("inputs.npy")).unwrap();
    let labels = read_npy(dir.join("labels.npy")).unwrap().to_i64_vec();
    let fp32 = logits(&graph, &inputs);
    Some(Fixture {
        dir,
        graph,
        inputs,
        labels,
        fp32,
    })
}

/// Quantizes with `qconfig`, scores the logits of all 20 images and prints the figures
/// under `label`.
fn quantize_and_score(f: &Fixture, label: &str, qconfig: &QConfig) -> Scores {
    let q = quantize(&f.dir, &f.graph, qconfig);
    let s = score(&f.fp32, &logits(&q.graph, &f.inputs), &f.labels);
    eprintln!(
        "{label}: sqnr {:.2} dB, top-1 {}/20, agreement {}/20",
        s.sqnr_db, s.top1, s.agree
    );
    s
}

#[test]
fn x86_preset_keeps_accuracy_and_beats_per_tensor() {
    let Some(f) = fixture() else { return };
    let x86 = quantize(&f.dir, &f.graph, &QConfig::preset(Preset::X86));
    let ours = logits(&x86.graph, &f.inputs);
    let s = score(&f.fp32, &ours, &f.labels);
    // The first 10 images are the calibration set; the last 10 were never seen.
    let (calibration, held_out) = (
        score(&f.fp32[..10_000], &ours[..10_000], &f.labels[..10]),
        score(&f.fp32[10_000..], &ours[10_000..], &f.labels[10..]),
    );
    eprintln!(
        "x86: sqnr {:.2} dB (calibration images {:.2}, held out {:.2}), top-1 {}/20, agreement {}/20",
        s.sqnr_db, calibration.sqnr_db, held_out.sqnr_db, s.top1, s.agree
    );
    // ONNX Runtime's quantize_static reaches 18.9 dB on this model (assets README); the
    // issue's goal is 25 dB, which this preset does not reach (docs/QUALITY.md). Photo
    // 19's FP32 top-2 margin is 0.05 logits, and here its two quantized logits tie
    // exactly: first-index tie-breaking makes it a miss.
    assert!(
        s.top1 >= 17 && s.agree >= 19 && s.sqnr_db >= 23.5,
        "x86 preset too lossy"
    );
    // Error-feedback rounding, a recipe option: +0.5 dB here (24.22 dB), at ~10% more
    // calibration time of a 224×224 MobileNetV2; not in the preset because on the
    // Fashion-MNIST demo it lifts x86 PTQ above QAT (docs/QUALITY.md).
    let gptq = parse_recipe("gptq_rounding = true\n", Preset::X86).unwrap();
    let g = quantize_and_score(&f, "x86 + gptq_rounding", &gptq);
    assert!(
        g.top1 >= 18 && g.agree == 20 && g.sqnr_db >= 24.0 && g.sqnr_db > s.sqnr_db + 0.3,
        "GPTQ rounding should beat round-to-nearest"
    );
    // The fidelity recipe (GPTQ, float logits, the first depthwise conv in FP32).
    let recipe_path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../recipes/efficientnet-lite0.toml"
    );
    let recipe = parse_recipe(&std::fs::read_to_string(recipe_path).unwrap(), Preset::X86).unwrap();
    let h = quantize_and_score(&f, "x86 + recipes/efficientnet-lite0.toml", &recipe);
    // Photo 19's FP32 top-2 margin (0.05 logits) is inside this noise: it flips here.
    assert!(
        h.sqnr_db >= 25.0 && h.sqnr_db > g.sqnr_db + 1.0 && h.agree >= 19 && h.top1 >= 17,
        "the recipe should reach 25 dB"
    );
    let seven_bit = parse_recipe("[activations]\nreduce_range = true\n", Preset::X86).unwrap();
    let r = quantize_and_score(&f, "x86 with reduce_range", &seven_bit);
    // One photo's FP32 top-2 margin is 0.05 logits: at 19 dB its top-1 may flip.
    assert!(
        r.top1 >= 18 && r.agree >= 19 && r.sqnr_db + 2.0 < s.sqnr_db,
        "7-bit activations should cost accuracy"
    );
    assert!(x86.warnings.is_empty(), "{:?}", x86.warnings);
    // ReLU6 outputs are quantized over exactly [0, 6], whatever the observer saw.
    for r in x86.ranges.iter().filter(|r| r.value.ends_with("relu6")) {
        assert!(r.min == 0.0 && (r.max - 6.0).abs() < 1e-5, "{r:?}");
    }

    let p = quantize_and_score(&f, "per-tensor", &QConfig::preset(Preset::PerTensor));
    assert!(
        p.sqnr_db + 3.0 < s.sqnr_db,
        "per-tensor should be measurably worse"
    );

    let fp32_bytes = lowbit_onnx::to_bytes(&f.graph).unwrap().len();
    let bytes = lowbit_onnx::to_bytes(&x86.graph).unwrap();
    let ratio = bytes.len() as f64 / fp32_bytes as f64;
    eprintln!("size: {fp32_bytes} -> {} bytes ({ratio:.3}x)", bytes.len());
    assert!(ratio <= 0.27);
    onnxruntime_agrees(&f, &bytes, &ours);
}

/// Runs the saved QDQ file in ONNX Runtime (via python3) and checks its top-1 against
/// lowbit's simulated run. Skips when onnxruntime is not importable.
fn onnxruntime_agrees(f: &Fixture, bytes: &[u8], ours: &[f32]) {
    let dir = std::env::temp_dir().join(format!("lowbit-ptq-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("q.onnx");
    let out = dir.join("ort.npy");
    std::fs::write(&model, bytes).unwrap();
    let script = "import sys, numpy as np, onnxruntime as ort\n\
        s = ort.InferenceSession(sys.argv[1], providers=['CPUExecutionProvider'])\n\
        x = np.load(sys.argv[2])\n\
        np.save(sys.argv[3], s.run(None, {s.get_inputs()[0].name: x})[0].astype(np.float32))\n";
    let status = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&model)
        .arg(f.dir.join("inputs.npy"))
        .arg(&out)
        .status();
    if !matches!(status, Ok(s) if s.success()) {
        assert!(
            std::env::var("LOWBIT_REQUIRE_ASSETS").as_deref() != Ok("1"),
            "python3 with onnxruntime failed on the QDQ model"
        );
        eprintln!("skipped ONNX Runtime check: python3/onnxruntime unavailable or failed");
        return;
    }
    let theirs = read_npy(&out).unwrap().to_f32_vec();
    let s = score(ours, &theirs, &f.labels);
    eprintln!(
        "onnxruntime vs lowbit: top-1 agreement {}/20, sqnr {:.2} dB",
        s.agree, s.sqnr_db
    );
    assert!(s.agree >= 19);
    std::fs::remove_dir_all(&dir).ok();
}

/// Every observer kind with and without bias correction (slow: run with --ignored).
#[test]
#[ignore]
fn observer_sweep() {
    let Some(f) = fixture() else { return };
    for (kind, reduce_range, bias) in sweep_configs() {
        let recipe = format!(
            "bias_correction = {bias}\n[activations]\nobserver = \"{}\"\nreduce_range = {reduce_range}\n",
            kind.name()
        );
        let label = format!(
            "sweep observer={} reduce_range={reduce_range} bias_correction={bias}",
            kind.name()
        );
        quantize_and_score(&f, &label, &parse_recipe(&recipe, Preset::X86).unwrap());
    }
}

fn sweep_configs() -> Vec<(ObserverKind, bool, bool)> {
    let mut configs = Vec::new();
    for kind in ObserverKind::ALL {
        for reduce_range in [true, false] {
            for bias in [false, true] {
                configs.push((kind, reduce_range, bias));
            }
        }
    }
    configs
}
