//! `lowbit demo foundation`: the foundation checks on the shared assets.
//!
//! 1. EfficientNet-Lite0 from the shared assets: agreement with ONNX Runtime's logits,
//!    top-1/top-5 on the 20 ImageNet photos, latency at batch 1 on one thread.
//! 2. The zoo's MobileNetV2, built with the builder API, exported to ONNX and imported
//!    back: both runs must give the same logits.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;
use lowbit::bench::{bench, synthetic_inputs};
use lowbit::data::{read_npy, Preprocess};
use lowbit::evaluate::evaluate;
use lowbit::metrics::max_abs_and_rel_l2;
use lowbit::model::Model;
use lowbit::runtime::{Plan, PlanOptions};
use lowbit::zoo::{learnable_parameter_count, mobilenet_v2, MobileNetV2Config};
use serde::Serialize;

use crate::args::DemoArgs;
use crate::output::{human_bytes, print_json, Table};
use crate::progress;

#[derive(Serialize)]
struct EfficientNetReport {
    n: usize,
    top1: f64,
    top5: f64,
    max_abs_error: f64,
    rel_l2_error: f64,
    p50_ms: f64,
    file_bytes: u64,
}

#[derive(Serialize)]
struct ZooReport {
    params: usize,
    onnx_bytes: u64,
    roundtrip_max_abs_diff: f64,
    p50_ms: f64,
}

#[derive(Serialize)]
struct DemoReport {
    efficientnet_lite0: Option<EfficientNetReport>,
    mobilenet_v2: ZooReport,
    notes: Vec<String>,
}

pub fn run(args: &DemoArgs, json: bool) -> anyhow::Result<()> {
    let mut notes = Vec::new();
    let efficientnet_lite0 = match lowbit::assets::assets_dir() {
        Some(dir) => Some(efficientnet(&dir, args)?),
        None => {
            notes.push("assets not found (set LOWBIT_ASSETS): EfficientNet-Lite0 part skipped".to_string());
            None
        }
    };
    let mobilenet_v2 = zoo_round_trip(args.iters)?;
    let report = DemoReport {
        efficientnet_lite0,
        mobilenet_v2,
        notes,
    };
    if json {
        return print_json(&report);
    }
    print_report(&report);
    Ok(())
}

fn efficientnet(assets: &Path, args: &DemoArgs) -> anyhow::Result<EfficientNetReport> {
    let dir = assets.join("efficientnet-lite0");
    let options = PlanOptions {
        threads: args.threads,
        ..PlanOptions::default()
    };
    let model = Model::load(&dir.join("model.onnx"), &options)?;
    let inputs = read_npy(dir.join("inputs.npy"))?;
    let reference = read_npy(dir.join("logits.npy"))?;
    let logits = model.plan.run(&[inputs])?.remove(0);
    let (max_abs_error, rel_l2_error) = max_abs_and_rel_l2(reference.as_slice()?, logits.as_slice()?);

    // The model's preprocessing, as its README gives it.
    let preprocess = Preprocess {
        resize: Some(256),
        crop: Some(224),
        mean: [127.0; 3],
        std: [128.0; 3],
        gray: false,
    };
    let photos = assets.join("imagenet-samples");
    let dataset = lowbit::data::open(&format!("images:{}", photos.display()), &preprocess)?;
    let bar = progress::bar(dataset.len() as u64, "eval");
    let accuracy = evaluate(&model.plan, dataset.as_ref(), None, 4, &mut |done| {
        bar.set_position(done as u64)
    })?;
    bar.finish_and_clear();

    let single = Model::load(
        &dir.join("model.onnx"),
        &PlanOptions {
            threads: 1,
            ..PlanOptions::default()
        },
    )?;
    let input = synthetic_inputs(&single.graph, 1, &HashMap::new())?;
    let timing = bench(&single.plan, &input, 1, 1, 2, args.iters)?;
    Ok(EfficientNetReport {
        n: accuracy.n,
        top1: accuracy.top1(),
        top5: accuracy.top5(),
        max_abs_error,
        rel_l2_error,
        p50_ms: timing.p50_ms,
        file_bytes: model.file_bytes,
    })
}

fn zoo_round_trip(iters: usize) -> anyhow::Result<ZooReport> {
    let graph = mobilenet_v2(&MobileNetV2Config::default())?;
    let params = learnable_parameter_count(&graph);
    let path = std::env::temp_dir().join(format!("lowbit-demo-mobilenet_v2-{}.onnx", std::process::id()));
    lowbit::onnx::save(&graph, &path)?;
    let onnx_bytes = std::fs::metadata(&path).context("exported model")?.len();
    let reloaded = lowbit::onnx::load(&path);
    std::fs::remove_file(&path).ok();
    let reloaded = reloaded?;

    let options = PlanOptions {
        threads: 1,
        ..PlanOptions::default()
    };
    let input = synthetic_inputs(&graph, 1, &HashMap::new())?;
    let built = Plan::new(graph, &options)?;
    let imported = Plan::new(reloaded, &options)?;
    let a = built.run(&input)?.remove(0);
    let b = imported.run(&input)?.remove(0);
    let (roundtrip_max_abs_diff, _) = max_abs_and_rel_l2(a.as_slice()?, b.as_slice()?);
    let timing = bench(&imported, &input, 1, 1, 2, iters)?;
    Ok(ZooReport {
        params,
        onnx_bytes,
        roundtrip_max_abs_diff,
        p50_ms: timing.p50_ms,
    })
}

fn print_report(report: &DemoReport) {
    if let Some(e) = &report.efficientnet_lite0 {
        println!("EfficientNet-Lite0 (FP32, {})", human_bytes(e.file_bytes));
        let mut t = Table::new(["check", "value"]);
        t.row([
            "max abs error vs ONNX Runtime".to_string(),
            format!("{:.2e}", e.max_abs_error),
        ]);
        t.row([
            "relative L2 error vs ONNX Runtime".to_string(),
            format!("{:.2e}", e.rel_l2_error),
        ]);
        t.row([format!("top-1 on {} photos", e.n), format!("{:.2}", e.top1)]);
        t.row([format!("top-5 on {} photos", e.n), format!("{:.2}", e.top5)]);
        t.row([
            "latency p50, batch 1, 1 thread (ms)".to_string(),
            format!("{:.2}", e.p50_ms),
        ]);
        t.print();
        println!();
    }
    let z = &report.mobilenet_v2;
    println!("Zoo MobileNetV2 (builder API -> ONNX -> lowbit)");
    let mut t = Table::new(["check", "value"]);
    t.row(["parameters".to_string(), z.params.to_string()]);
    t.row(["ONNX file".to_string(), human_bytes(z.onnx_bytes)]);
    t.row([
        "max abs diff after round trip".to_string(),
        format!("{:.2e}", z.roundtrip_max_abs_diff),
    ]);
    t.row([
        "latency p50, batch 1, 1 thread (ms)".to_string(),
        format!("{:.2}", z.p50_ms),
    ]);
    t.print();
    for note in &report.notes {
        println!("note: {note}");
    }
}
