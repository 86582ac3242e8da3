//! The `lowbit` binary end to end, on the real assets where they are needed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use lowbit::data::read_npy;
use lowbit::metrics::max_abs_and_rel_l2;

fn lowbit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lowbit"))
        .args(args)
        .output()
        .expect("the lowbit binary runs")
}

/// Runs a command that must succeed and returns its JSON output.
fn lowbit_json(args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = lowbit(&all);
    assert!(
        out.status.success(),
        "lowbit {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("valid JSON on stdout")
}

fn asset(relative: &str) -> Option<PathBuf> {
    let path = lowbit::assets::assets_dir().map(|dir| dir.join(relative));
    match path {
        Some(p) if p.exists() => Some(p),
        _ => {
            let reason = format!("asset '{relative}' not found (set LOWBIT_ASSETS)");
            if std::env::var("LOWBIT_REQUIRE_ASSETS").as_deref() == Ok("1") {
                panic!("{reason}, and LOWBIT_REQUIRE_ASSETS=1");
            }
            eprintln!("skipped: {reason}");
            None
        }
    }
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lowbit-cli-test-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn eval_efficientnet_on_imagenet_samples() {
    let (Some(model), Some(photos)) = (asset("efficientnet-lite0/model.onnx"), asset("imagenet-samples"))
    else {
        return;
    };
    let report = lowbit_json(&[
        "eval",
        "--model",
        s(&model),
        "--data",
        s(&photos),
        "--resize",
        "256",
        "--crop",
        "224",
        "--mean",
        "127,127,127",
        "--std",
        "128,128,128",
        "--batch",
        "4",
    ]);
    assert_eq!(report["n"], 20);
    assert_eq!(report["top1"], 0.9, "{report}");
    assert_eq!(report["top5"], 0.95, "{report}");
}

#[test]
fn run_efficientnet_writes_reference_logits() {
    let Some(dir) = asset("efficientnet-lite0") else {
        return;
    };
    let out = scratch_dir("run-effnet");
    let input = format!("input={}", dir.join("inputs.npy").display());
    let report = lowbit_json(&[
        "run",
        "--model",
        s(&dir.join("model.onnx")),
        "--input",
        &input,
        "--output",
        s(&out),
    ]);
    let file = report["outputs"][0]["file"].as_str().unwrap();
    let ours = read_npy(file).unwrap();
    let reference = read_npy(dir.join("logits.npy")).unwrap();
    assert_eq!(ours.shape(), reference.shape());
    let (max_abs, rel_l2) = max_abs_and_rel_l2(reference.as_slice().unwrap(), ours.as_slice().unwrap());
    assert!(
        max_abs <= 1e-3 && rel_l2 <= 1e-5,
        "max abs {max_abs}, rel L2 {rel_l2}"
    );
    std::fs::remove_dir_all(out).ok();
}

#[test]
fn run_minilm_writes_reference_hidden_state() {
    let Some(dir) = asset("all-minilm-l6-v2") else {
        return;
    };
    let out = scratch_dir("run-minilm");
    let inputs: Vec<String> = ["input_ids", "attention_mask", "token_type_ids"]
        .iter()
        .map(|name| format!("{name}={}", dir.join(format!("{name}.npy")).display()))
        .collect();
    let model = dir.join("model.onnx");
    let mut args = vec!["run", "--model", s(&model), "--output", s(&out)];
    for input in &inputs {
        args.extend(["--input", input.as_str()]);
    }
    let report = lowbit_json(&args);
    let file = report["outputs"][0]["file"].as_str().unwrap();
    let ours = read_npy(file).unwrap();
    let reference = read_npy(dir.join("last_hidden_state.npy")).unwrap();
    let (max_abs, rel_l2) = max_abs_and_rel_l2(reference.as_slice().unwrap(), ours.as_slice().unwrap());
    assert!(
        max_abs <= 1e-3 && rel_l2 <= 1e-5,
        "max abs {max_abs}, rel L2 {rel_l2}"
    );
    std::fs::remove_dir_all(out).ok();
}

#[test]
fn inspect_reports_ops_and_params() {
    let Some(model) = asset("efficientnet-lite0/model.onnx") else {
        return;
    };
    let report = lowbit_json(&["inspect", s(&model), "--nodes"]);
    let ops = report["ops"].as_object().unwrap();
    for op in ["Conv", "Clip", "Add", "GlobalAveragePool", "Gemm"] {
        assert!(ops.contains_key(op), "{op} missing from {ops:?}");
    }
    let params = report["params"].as_u64().unwrap();
    assert!((4_600_000..4_700_000).contains(&params), "params {params}");
    assert_eq!(
        report["nodes"].as_array().unwrap().len() as u64,
        report["node_count"].as_u64().unwrap()
    );
}

#[test]
fn zoo_model_benches_with_symbolic_batch() {
    let dir = scratch_dir("zoo");
    let model = dir.join("mv2.onnx");
    let made = lowbit_json(&[
        "zoo",
        "--arch",
        "mobilenet-v2",
        "--width-mult",
        "0.5",
        "--input-size",
        "96",
        "--output",
        s(&model),
    ]);
    assert!(made["params"].as_u64().unwrap() > 1_000_000);
    let report = lowbit_json(&[
        "bench",
        "--model",
        s(&model),
        "--batch",
        "2",
        "--iters",
        "3",
        "--warmup",
        "1",
    ]);
    assert_eq!(report["batch"], 2);
    assert_eq!(report["threads"], 1);
    let (p50, p90) = (
        report["p50_ms"].as_f64().unwrap(),
        report["p90_ms"].as_f64().unwrap(),
    );
    assert!(p50 > 0.0 && p90 >= p50, "{report}");
    assert!(report["throughput"].as_f64().unwrap() > 0.0);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn bench_asks_for_unset_symbolic_dims() {
    let Some(model) = asset("all-minilm-l6-v2/model.onnx") else {
        return;
    };
    let out = lowbit(&["bench", "--model", s(&model), "--iters", "1"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--dim"), "{stderr}");
}

#[test]
fn sysinfo_bench_reports_every_tier_with_its_ceiling_and_clock() {
    let report = lowbit_json(&["sysinfo", "--bench", "--millis", "5"]);
    let tiers: Vec<&str> = report["isa_tiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(tiers.contains(&"scalar"), "{tiers:?}");
    for tier in &tiers {
        assert!(report["gemm_u8s8_gops"][tier].as_f64().unwrap() > 0.0, "{tier}");
        // Ceilings exist for the tiers built on one dot-product instruction.
        let has_ceiling = ["amx", "avx512vnni", "avxvnni"].contains(tier);
        assert_eq!(
            report["peak_u8s8_gops"].get(tier).is_some(),
            has_ceiling,
            "{tier}"
        );
        // Every GEMM has its clock, and a share per cycle where it has a ceiling.
        assert!(
            report["clock_ghz"]["gemm_u8s8"][tier].as_f64().unwrap() > 0.0,
            "{tier}"
        );
        assert_eq!(
            report["clock_ghz"]["peak_u8s8"].get(tier).is_some(),
            has_ceiling,
            "{tier}"
        );
        if has_ceiling {
            let share = report["share_per_cycle"][tier].as_f64().unwrap();
            assert!(share > 0.0, "{tier}: {share}");
        }
    }
    assert!(report["gemm_f32_gflops"].as_f64().unwrap() > 0.0);
    assert!(report["clock_ghz"]["gemm_f32"].as_f64().unwrap() > 0.0);
    assert_eq!(report.get("peak_amx_fed_gops").is_some(), tiers.contains(&"amx"));
    let families: Vec<&str> = report["kernels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["family"].as_str().unwrap())
        .collect();
    assert_eq!(
        families,
        ["int8 gemm u8s8", "int8 depthwise 3x3", "f32 gemm / conv"]
    );
    let depthwise = report["kernels"][1]["kernel"].as_str().unwrap();
    assert!(depthwise.contains("dwconv"), "{depthwise}");
}

#[test]
fn truncated_model_error_names_the_file() {
    let Some(model) = asset("efficientnet-lite0/model.onnx") else {
        return;
    };
    let dir = scratch_dir("truncated");
    let bad = dir.join("truncated.onnx");
    let bytes = std::fs::read(&model).unwrap();
    std::fs::write(&bad, &bytes[..bytes.len() / 3]).unwrap();
    let out = lowbit(&["inspect", s(&bad)]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: ") && stderr.contains("truncated.onnx"),
        "{stderr}"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn unknown_op_error_names_the_node_and_op() {
    use lowbit::onnx::pb;
    use prost::Message;
    let node = pb::NodeProto {
        name: "mystery_node".into(),
        op_type: "FrobnicateAll".into(),
        input: vec!["x".into()],
        output: vec!["y".into()],
        ..Default::default()
    };
    let value = |name: &str| pb::ValueInfoProto {
        name: name.into(),
        ..Default::default()
    };
    let model = pb::ModelProto {
        ir_version: 8,
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: 17,
        }],
        graph: Some(pb::GraphProto {
            name: "g".into(),
            node: vec![node],
            input: vec![value("x")],
            output: vec![value("y")],
            ..Default::default()
        }),
        ..Default::default()
    };
    let dir = scratch_dir("unknown-op");
    let path = dir.join("mystery.onnx");
    std::fs::write(&path, model.encode_to_vec()).unwrap();
    let out = lowbit(&["inspect", s(&path)]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for needle in ["mystery.onnx", "mystery_node", "FrobnicateAll"] {
        assert!(stderr.contains(needle), "'{needle}' not in: {stderr}");
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn usage_errors_exit_with_2() {
    let out = lowbit(&["bench"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn run_rejects_missing_and_unknown_inputs() {
    let Some(model) = asset("efficientnet-lite0/model.onnx") else {
        return;
    };
    let dir = scratch_dir("run-inputs");
    let missing = lowbit(&["run", "--model", s(&model), "--output", s(&dir)]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("missing --input input=FILE.npy"));
    let unknown = lowbit(&[
        "run",
        "--model",
        s(&model),
        "--input",
        "pixels=x.npy",
        "--output",
        s(&dir),
    ]);
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no input 'pixels'"));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn inspect_lists_integer_steps_of_a_quantized_model() {
    let Some(dir) = asset("efficientnet-lite0") else {
        return;
    };
    let out = scratch_dir("inspect-q");
    let quantized = out.join("q.onnx");
    let calib = format!("npy:{}", dir.join("inputs.npy").display());
    lowbit_json(&[
        "quantize",
        "--model",
        s(&dir.join("model.onnx")),
        "--approach",
        "static",
        "--calib",
        &calib,
        "--calib-limit",
        "2",
        "--output",
        s(&quantized),
    ]);
    let report = lowbit_json(&["inspect", s(&quantized)]);
    let steps = report["integer_steps"].as_array().unwrap();
    assert!(
        steps
            .iter()
            .any(|s| s["op"].as_str().unwrap_or("").contains("Conv")),
        "{steps:?}"
    );
    assert!(
        report["fp32_fallbacks"].as_array().unwrap().is_empty(),
        "{report}"
    );
    // The per-point ranking: every activation point scored, costliest first, next to the
    // usual comparison fields.
    let fidelity = lowbit_json(&[
        "compare",
        "--model",
        s(&dir.join("model.onnx")),
        "--against",
        s(&quantized),
        "--data",
        &calib,
        "--limit",
        "2",
        "--per-point",
    ]);
    let points = fidelity["per_point"]["points"].as_array().unwrap();
    let sqnr = |p: &serde_json::Value| p["sqnr_db"].as_f64().unwrap();
    assert!(points.len() > 50, "{fidelity}");
    assert!(points.windows(2).all(|w| sqnr(&w[0]) <= sqnr(&w[1])));
    assert!(fidelity["sqnr_db"].as_f64().unwrap() < sqnr(&points[0]));
    std::fs::remove_dir_all(out).ok();
}

#[test]
fn tune_steps_through_options_and_fallbacks_within_its_budget() {
    let Some(dir) = asset("efficientnet-lite0") else {
        return;
    };
    let out = scratch_dir("tune");
    let tuned = out.join("tuned.onnx");
    let model = dir.join("model.onnx");
    let inputs = format!("npy:{}", dir.join("inputs.npy").display());
    let labelled = format!("{inputs}:{}", dir.join("labels.npy").display());
    let tune = |extra: &[&str]| {
        let mut args = vec![
            "tune",
            "--model",
            s(&model),
            "--calib",
            &inputs,
            "--calib-limit",
            "2",
            "--eval",
            &labelled,
            "--limit",
            "4",
            "--output",
            s(&tuned),
        ];
        args.extend_from_slice(extra);
        lowbit_json(&args)
    };
    // Out of reach: every step is tried, the fallbacks stay within --max-fp32, and the
    // best trial is written.
    let report = tune(&["--min-sqnr", "99", "--max-trials", "5", "--max-fp32", "2"]);
    let trials = report["trials"].as_array().unwrap();
    let change = |i: usize| trials[i]["change"].as_str().unwrap();
    assert_eq!(trials.len(), 5, "{report}");
    assert_eq!(change(1), "gptq_rounding = true");
    assert_eq!(change(2), "[activations] quantize_outputs = false");
    assert!(
        change(3).starts_with("FP32: ") && change(4).starts_with("FP32: "),
        "{report}"
    );
    assert!(trials
        .iter()
        .all(|t| t["fp32_nodes"].as_array().unwrap().len() <= 2));
    // Every trial's latency is measured next to FP32's.
    for t in trials {
        let (ms, fp32_ms) = (&t["score"]["latency_ms"], &t["score"]["fp32_latency_ms"]);
        assert!(
            ms.as_f64().unwrap() > 0.0 && fp32_ms.as_f64().unwrap() > 0.0,
            "{t}"
        );
    }
    assert_eq!(report["met"], false);
    let sqnr = |t: &serde_json::Value| t["score"]["sqnr_db"].as_f64().unwrap();
    // Unmet, the choice is the configuration the search built: its last kept trial, the
    // best of the kept ones.
    let kept: Vec<&serde_json::Value> = trials.iter().filter(|t| t["kept"] == true).collect();
    let chosen = &trials[report["chosen"].as_u64().unwrap() as usize];
    assert_eq!(chosen, *kept.last().unwrap());
    assert!(kept.iter().all(|t| sqnr(t) <= sqnr(chosen)), "{report}");
    // The written model is the chosen trial's, and the recipe reproduces its choices.
    let check = lowbit_json(&[
        "compare",
        "--model",
        s(&model),
        "--against",
        s(&tuned),
        "--data",
        &labelled,
        "--limit",
        "4",
    ]);
    assert!((check["sqnr_db"].as_f64().unwrap() - sqnr(chosen)).abs() < 1e-6);
    let recipe = report["recipe"].as_str().unwrap();
    for node in chosen["fp32_nodes"].as_array().unwrap() {
        assert!(recipe.contains(&format!("node = {node}")), "{recipe}");
    }
    // Within reach: the first trial meets it and tuning stops there.
    let easy = tune(&["--min-sqnr", "5", "--min-agreement", "0.5"]);
    assert_eq!(easy["trials"].as_array().unwrap().len(), 1);
    assert_eq!(easy["met"], true);
    // The default criterion (top-1 drop) needs labels; the input is never the output.
    let unlabelled = lowbit(&[
        "tune",
        "--model",
        s(&model),
        "--calib",
        &inputs,
        "--eval",
        &inputs,
        "--output",
        s(&tuned),
    ]);
    assert!(!unlabelled.status.success());
    assert!(String::from_utf8_lossy(&unlabelled.stderr).contains("needs labels"));
    let same = lowbit(&[
        "tune",
        "--model",
        s(&model),
        "--calib",
        &inputs,
        "--eval",
        &labelled,
        "--output",
        s(&model),
    ]);
    assert!(!same.status.success());
    let unmeasured = lowbit(&[
        "tune",
        "--model",
        s(&model),
        "--calib",
        &inputs,
        "--eval",
        &labelled,
        "--max-latency-ratio",
        "0.5",
        "--latency-iters",
        "0",
        "--output",
        s(&tuned),
    ]);
    assert!(String::from_utf8_lossy(&unmeasured.stderr).contains("needs latencies"));
    std::fs::remove_dir_all(out).ok();
}
