//! A model built with the builder API survives ONNX export and import unchanged, and the
//! exported file loads and runs in ONNX Runtime.

use std::collections::HashMap;
use std::process::Command;

use lowbit::bench::synthetic_inputs;
use lowbit::runtime::{Plan, PlanOptions};
use lowbit::zoo::{mobilenet_v2, resnet18, MobileNetV2Config, ResNetConfig};

fn scratch_file(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("lowbit-zoo-{}-{name}", std::process::id()))
}

fn assert_round_trip(graph: lowbit::graph::Graph, name: &str) -> std::path::PathBuf {
    let path = scratch_file(name);
    lowbit::onnx::save(&graph, &path).unwrap();
    let reloaded = lowbit::onnx::load(&path).unwrap();
    let input = synthetic_inputs(&graph, 2, &HashMap::new()).unwrap();
    let options = PlanOptions::default();
    let before = Plan::new(graph, &options).unwrap().run(&input).unwrap();
    let after = Plan::new(reloaded, &options).unwrap().run(&input).unwrap();
    assert_eq!(before, after, "{name}: outputs differ after the round trip");
    path
}

/// Loads and runs `model` in ONNX Runtime through the onnx crate's checker script.
/// Skips (or, with LOWBIT_REQUIRE_ASSETS=1, fails) when python3 lacks onnxruntime.
fn check_loads_in_onnxruntime(model: &std::path::Path) {
    let probe = Command::new("python3")
        .args(["-c", "import onnxruntime"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        let reason = "python3 with onnxruntime not found (pip install onnxruntime)";
        if std::env::var("LOWBIT_REQUIRE_ASSETS").as_deref() == Ok("1") {
            panic!("{reason}, and LOWBIT_REQUIRE_ASSETS=1");
        }
        eprintln!("skipped the ONNX Runtime check: {reason}");
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../onnx/scripts/check_onnx_loads.py");
    let out = Command::new("python3").arg(script).arg(model).output().unwrap();
    let verdict = String::from_utf8_lossy(&out.stdout);
    assert_eq!(verdict.trim(), "OK", "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn mobilenet_v2_round_trips_and_runs_in_onnxruntime() {
    let config = MobileNetV2Config {
        width_mult: 0.5,
        input_size: [96, 96],
        ..MobileNetV2Config::torchvision()
    };
    let path = assert_round_trip(mobilenet_v2(&config).unwrap(), "mobilenet_v2.onnx");
    check_loads_in_onnxruntime(&path);
    std::fs::remove_file(path).ok();
}

#[test]
fn resnet18_round_trips() {
    let config = ResNetConfig {
        input_size: [64, 64],
        ..ResNetConfig::default()
    };
    let path = assert_round_trip(resnet18(&config).unwrap(), "resnet18.onnx");
    std::fs::remove_file(path).ok();
}
