//! Dynamic INT8 all-MiniLM-L6-v2: sentence-embedding fidelity to FP32 for each
//! weight/activation granularity, file size, and the exported file in ONNX Runtime.

use std::path::{Path, PathBuf};
use std::process::Command;

use lowbit::embed::{cosine, pool, Pooling};
use lowbit::graph::Graph;
use lowbit::quant::dynamic::{quantize_dynamic, ActivationGranularity, DynamicConfig, WeightGranularity};
use lowbit::runtime::{Plan, PlanOptions};
use lowbit::tensor::Tensor;

fn require_assets() -> bool {
    std::env::var("LOWBIT_REQUIRE_ASSETS").as_deref() == Ok("1")
}

fn minilm() -> Option<PathBuf> {
    let root = std::env::var_os("LOWBIT_ASSETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/assets")));
    let dir = root.join("all-minilm-l6-v2");
    if dir.join("model.onnx").is_file() {
        return Some(dir);
    }
    assert!(
        !require_assets(),
        "assets required but {} is missing",
        dir.display()
    );
    eprintln!("skipped: {} is missing", dir.display());
    None
}

struct Encoded {
    inputs: Vec<Tensor>,
    mask: Vec<i64>,
    batch: usize,
    seq: usize,
}

fn encoded(dir: &Path) -> Encoded {
    let read = |name: &str| lowbit::data::read_npy(dir.join(name)).unwrap();
    let inputs = vec![
        read("input_ids.npy"),
        read("attention_mask.npy"),
        read("token_type_ids.npy"),
    ];
    let (batch, seq) = (inputs[0].shape()[0], inputs[0].shape()[1]);
    let mask = inputs[1].as_slice::<i64>().unwrap().to_vec();
    Encoded {
        inputs,
        mask,
        batch,
        seq,
    }
}

fn embed(graph: &Graph, e: &Encoded) -> Vec<Vec<f32>> {
    let plan = Plan::new(
        graph.clone(),
        &PlanOptions {
            threads: 1,
            optimize: true,
        },
    )
    .unwrap();
    let hidden = plan.run(&e.inputs).unwrap().remove(0);
    let dim = hidden.shape()[2];
    pool(
        hidden.as_slice::<f32>().unwrap(),
        &e.mask,
        (e.batch, e.seq, dim),
        Pooling::Mean,
        true,
    )
}

fn reference(dir: &Path) -> Vec<Vec<f32>> {
    let t = lowbit::data::read_npy(dir.join("sentence_embeddings.npy")).unwrap();
    t.as_slice::<f32>()
        .unwrap()
        .chunks(t.shape()[1])
        .map(<[f32]>::to_vec)
        .collect()
}

/// `(min, mean)` cosine between matching rows.
fn cosines(a: &[Vec<f32>], b: &[Vec<f32>]) -> (f64, f64) {
    let c: Vec<f64> = a.iter().zip(b).map(|(x, y)| cosine(x, y)).collect();
    (
        c.iter().copied().fold(1.0, f64::min),
        c.iter().sum::<f64>() / c.len() as f64,
    )
}

#[test]
fn int8_embeddings_stay_close_to_fp32() {
    let Some(dir) = minilm() else { return };
    let graph = lowbit::onnx::load(&dir.join("model.onnx")).unwrap();
    let e = encoded(&dir);
    let fp32 = reference(&dir);
    let mut failures = Vec::new();
    for weights in [WeightGranularity::PerChannel, WeightGranularity::PerTensor] {
        for activations in [ActivationGranularity::PerTensor, ActivationGranularity::PerRow] {
            let config = DynamicConfig {
                weights,
                activations,
                ..DynamicConfig::default()
            };
            let q = quantize_dynamic(&graph, &config).unwrap();
            assert_eq!(q.quantized.len(), 36, "every linear layer, no attention product");
            let (min, mean) = cosines(&embed(&q.graph, &e), &fp32);
            println!(
                "weights {} activations {}: cosine to FP32 min {min:.5} mean {mean:.5}",
                weights.name(),
                activations.name()
            );
            // The default (per-channel weights, per-row activations) must meet the 0.995
            // goal; per-tensor activations reach 0.990 (docs/QUALITY.md).
            let floor = match (weights, activations) {
                (WeightGranularity::PerChannel, ActivationGranularity::PerRow) => 0.995,
                (WeightGranularity::PerChannel, ActivationGranularity::PerTensor) => 0.985,
                _ => 0.94,
            };
            if config == DynamicConfig::default() {
                assert!(min >= 0.995, "the default config: min cosine {min}");
            }
            if min < floor {
                failures.push(format!("{config:?}: min cosine {min}"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:?}");
}

#[test]
fn keep_fp32_patterns_leave_matching_products_alone() {
    let Some(dir) = minilm() else { return };
    let graph = lowbit::onnx::load(&dir.join("model.onnx")).unwrap();
    let all = quantize_dynamic(&graph, &DynamicConfig::default()).unwrap();
    let first = all.quantized[0].clone();
    let config = DynamicConfig {
        keep_fp32: vec![first.clone()],
        ..DynamicConfig::default()
    };
    let q = quantize_dynamic(&graph, &config).unwrap();
    assert_eq!(q.kept_fp32, vec![first]);
    assert_eq!(q.quantized.len(), all.quantized.len() - 1);
    assert_eq!(q.graph.op_histogram()["MatMulInteger"], all.quantized.len() - 1);
}

/// Sentence embeddings of `model` by ONNX Runtime (`ort_embed.py`), or `None` when
/// python3 with onnxruntime is unavailable (an error under `LOWBIT_REQUIRE_ASSETS=1`).
fn ort_embed(model: &Path, dir: &Path, out: &Path) -> Option<Vec<Vec<f32>>> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../quant/scripts/ort_embed.py");
    let status = Command::new("python3")
        .arg(script)
        .arg(model)
        .args(["input_ids.npy", "attention_mask.npy", "token_type_ids.npy"].map(|n| dir.join(n)))
        .arg(out)
        .status();
    if !matches!(status, Ok(s) if s.success()) {
        assert!(
            !require_assets(),
            "python3 with onnxruntime could not run {script}"
        );
        eprintln!("skipped the ONNX Runtime check: python3 with onnxruntime is not available");
        return None;
    }
    let ort = lowbit::data::read_npy(out).unwrap();
    Some(
        ort.as_slice::<f32>()
            .unwrap()
            .chunks(ort.shape()[1])
            .map(<[f32]>::to_vec)
            .collect(),
    )
}

#[test]
fn exported_file_is_small_and_runs_in_onnx_runtime() {
    let Some(dir) = minilm() else { return };
    let model = dir.join("model.onnx");
    let tmp = std::env::temp_dir().join(format!("lowbit-dynamic-minilm-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let e = encoded(&dir);
    let export = |activations, file: &str| {
        let out = tmp.join(file);
        let config = DynamicConfig {
            activations,
            ..DynamicConfig::default()
        };
        let report = lowbit::quantize_dynamic::quantize_dynamic_file(&model, &out, &config).unwrap();
        assert_eq!(report.quantized_matmuls, 36);
        assert!(
            report.int8_bytes * 10 <= report.fp32_bytes * 3,
            "{activations:?}: {} bytes is more than 0.3 x {}",
            report.int8_bytes,
            report.fp32_bytes
        );
        out
    };
    // The default file writes per-row ranges in standard ops: ONNX Runtime computes the
    // same quantization as lowbit's fused kernel, so only f32 summation order differs.
    let per_row = export(ActivationGranularity::PerRow, "minilm-int8.onnx");
    let ours = embed(&lowbit::onnx::load(&per_row).unwrap(), &e);
    let Some(ort) = ort_embed(&per_row, &dir, &tmp.join("ort.npy")) else {
        std::fs::remove_dir_all(&tmp).ok();
        return;
    };
    let (min, mean) = cosines(&ours, &ort);
    println!("lowbit per-row run vs ONNX Runtime on the same file: cosine min {min:.6} mean {mean:.6}");
    assert!(min >= 0.99, "per-row run against ONNX Runtime: min cosine {min}");

    // The per-tensor file keeps the DynamicQuantizeLinear form.
    let per_tensor = export(ActivationGranularity::PerTensor, "minilm-int8-per-tensor.onnx");
    let ours = embed(&lowbit::onnx::load(&per_tensor).unwrap(), &e);
    let ort = ort_embed(&per_tensor, &dir, &tmp.join("ort-per-tensor.npy"));
    std::fs::remove_dir_all(&tmp).ok();
    let (min, mean) = cosines(&ours, &ort.unwrap());
    println!("lowbit per-tensor run vs ONNX Runtime on the same file: cosine min {min:.6} mean {mean:.6}");
    assert!(min >= 0.9999, "per-tensor semantics: min cosine {min}");
}
