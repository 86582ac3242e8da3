//! `lowbit demo`: the reference walk-through on the embedded default, as the PyTorch
//! quantization tutorial runs it on MobileNetV2.
//!
//! 1. Load the committed FP32 MobileNetV2 (trained by `lowbit train` on Fashion-MNIST).
//! 2. Quantize it statically with the per-tensor preset, then with the x86 preset,
//!    calibrating on training images (the test split when the training split is absent).
//! 3. Fine-tune it with quantization-aware training, when the training split is installed.
//! 4. Score every model on the committed 10 000-image test split and time it at batch 1
//!    on one thread.

use std::collections::HashMap;

use anyhow::Context;
use lowbit::bench::{bench, synthetic_inputs};
use lowbit::data::{Dataset, FashionMnist};
use lowbit::embedded;
use lowbit::evaluate::evaluate;
use lowbit::graph::Graph;
use lowbit::model::Model;
use lowbit::quant::static_ptq::{Preset, QConfig};
use lowbit::quantize_static::quantize_static;
use lowbit::runtime::{Plan, PlanOptions};
use lowbit::train::qat::{quantize_aware_training, QatOptions, QatSchedule};
use serde::Serialize;

use crate::args::DemoArgs;
use crate::output::{human_bytes, print_json, Table};
use crate::progress;

/// Training images used to calibrate the post-training presets.
const CALIBRATION_IMAGES: usize = 512;

/// The tutorial's QAT schedule (8 epochs, BN frozen after 3, observers after 4), on few
/// batches per epoch so that the demo takes minutes. Batches of 64 rather than the
/// tutorial's 32 keep BatchNorm's batch statistics steadier before they are frozen
/// (docs/QUALITY.md compares 32, 64 and 128).
const QAT_BATCHES_PER_EPOCH: usize = 20;
const QAT_BATCH_SIZE: usize = 64;
/// Test images that score the converted model after each QAT epoch; the final model is
/// scored on the whole split like the others.
const QAT_EPOCH_EVAL: usize = 1000;

#[derive(Serialize)]
struct Row {
    model: String,
    top1: f64,
    bytes: u64,
    p50_ms: f64,
}

/// The JSON of `lowbit demo --json`: top-1 figures are fractions of the `n` test images.
#[derive(Serialize)]
struct DemoTable {
    n: usize,
    fp32_top1: f64,
    per_tensor_top1: f64,
    x86_top1: f64,
    qat_top1: Option<f64>,
    fp32_bytes: u64,
    int8_bytes: u64,
    qat_epochs: Option<usize>,
    calibration_images: usize,
    rows: Vec<Row>,
    notes: Vec<String>,
}

pub fn run(args: &DemoArgs, json: bool) -> anyhow::Result<()> {
    let mut notes = Vec::new();
    let model_path = embedded::fashion_mnist_model()?;
    let fp32 = Model::load(&model_path, &plan_options(args.threads))?;
    let preprocess = fp32
        .preprocess()?
        .with_context(|| format!("{}: no lowbit.preprocess metadata", model_path.display()))?;
    let test = embedded::fashion_mnist_test(preprocess.clone())?;
    let n = args.limit.map_or(test.len(), |l| l.min(test.len()));
    let train = embedded::fashion_mnist_train(preprocess)?;
    let calibration: &dyn Dataset = match &train {
        Some(train) => train,
        None => {
            notes.push(format!(
                "{} not installed: calibrating on the first {CALIBRATION_IMAGES} test images",
                embedded::FASHION_MNIST_SYSTEM_DIR
            ));
            &test
        }
    };

    let mut rows = Vec::new();
    rows.push(score("FP32", &fp32.graph, fp32.file_bytes, &test, n, args)?);
    for (name, preset) in [("per-tensor PTQ", Preset::PerTensor), ("x86 PTQ", Preset::X86)] {
        let bar = progress::bar(CALIBRATION_IMAGES as u64, &format!("calibrate {name}"));
        let quantized = quantize_static(
            fp32.graph.clone(),
            &QConfig::preset(preset),
            calibration,
            Some(CALIBRATION_IMAGES),
            &mut |done| bar.set_position(done as u64),
        )?;
        bar.finish_and_clear();
        let bytes = lowbit::onnx::to_bytes(&quantized.graph)?.len() as u64;
        rows.push(score(name, &quantized.graph, bytes, &test, n, args)?);
    }

    let mut qat_epochs = None;
    match (&train, args.no_qat) {
        (_, true) => notes.push("QAT skipped (--no-qat)".to_string()),
        (None, false) => notes.push(format!(
            "QAT skipped: it trains on the training split, and {} is not installed \
             (apt-get install dataset-fashion-mnist)",
            embedded::FASHION_MNIST_SYSTEM_DIR
        )),
        (Some(train), false) => {
            let (graph, epochs) = qat(&fp32.graph, train, &test, json)?;
            let bytes = lowbit::onnx::to_bytes(&graph)?.len() as u64;
            rows.push(score("QAT", &graph, bytes, &test, n, args)?);
            qat_epochs = Some(epochs);
        }
    }

    let top1 = |i: usize| rows[i].top1;
    let table = DemoTable {
        n,
        fp32_top1: top1(0),
        per_tensor_top1: top1(1),
        x86_top1: top1(2),
        qat_top1: rows.get(3).map(|r| r.top1),
        fp32_bytes: rows[0].bytes,
        int8_bytes: rows[2].bytes,
        qat_epochs,
        calibration_images: CALIBRATION_IMAGES,
        rows,
        notes,
    };
    if json {
        return print_json(&table);
    }
    print_table(&table, &model_path);
    Ok(())
}

fn plan_options(threads: usize) -> PlanOptions {
    PlanOptions {
        threads,
        ..PlanOptions::default()
    }
}

/// Top-1 on the first `n` test images, and the p50 latency at batch 1 on one thread.
fn score(
    name: &str,
    graph: &Graph,
    bytes: u64,
    test: &FashionMnist,
    n: usize,
    args: &DemoArgs,
) -> anyhow::Result<Row> {
    let plan = Plan::new(graph.clone(), &plan_options(args.threads))?;
    let bar = progress::bar(n as u64, &format!("eval {name}"));
    let accuracy = evaluate(&plan, test, Some(n), 100, &mut |done| {
        bar.set_position(done as u64)
    })?;
    bar.finish_and_clear();
    let single = Plan::new(graph.clone(), &plan_options(1))?;
    let input = synthetic_inputs(graph, 1, &HashMap::new())?;
    let timing = bench(&single, &input, 1, 1, 3, args.iters)?;
    Ok(Row {
        model: name.to_string(),
        top1: accuracy.top1(),
        bytes,
        p50_ms: timing.p50_ms,
    })
}

/// The tutorial's QAT: fine-tune with fake quantization, freeze BN statistics and then
/// the observers, convert to a QDQ model.
fn qat(
    fp32: &Graph,
    train: &FashionMnist,
    test: &FashionMnist,
    quiet: bool,
) -> anyhow::Result<(Graph, usize)> {
    let options = QatOptions {
        schedule: QatSchedule::default(),
        batches_per_epoch: QAT_BATCHES_PER_EPOCH,
        batch_size: QAT_BATCH_SIZE,
        eval_limit: Some(QAT_EPOCH_EVAL),
        // The tutorial's fine-tuning rate: the model is already trained.
        lr: 1e-4,
        ..QatOptions::default()
    };
    let bar = progress::bar(options.schedule.epochs as u64, "QAT epochs");
    let (graph, report) = quantize_aware_training(fp32, train, test, &options, &mut |epoch| {
        bar.inc(1);
        if !quiet {
            // Through `suspend`, so the line shows whether or not the bar is drawn.
            bar.suspend(|| {
                eprintln!(
                    "QAT epoch {}: loss {:.3}, INT8 top-1 {} on {QAT_EPOCH_EVAL} test images{}{}",
                    epoch.epoch,
                    epoch.train_loss,
                    epoch.int8_top1.map_or("-".to_string(), |t| format!("{t:.4}")),
                    if epoch.bn_frozen { ", BN frozen" } else { "" },
                    if epoch.observers_enabled {
                        ""
                    } else {
                        ", observers off"
                    },
                )
            });
        }
    })?;
    bar.finish_and_clear();
    Ok((graph, report.qat_epochs))
}

fn print_table(table: &DemoTable, model_path: &std::path::Path) {
    println!(
        "MobileNetV2 on Fashion-MNIST ({}), {} test images; latency at batch 1 on one thread",
        model_path.display(),
        table.n
    );
    let fp32 = &table.rows[0];
    let mut t = Table::new([
        "model",
        "top-1",
        "size",
        "vs FP32",
        "latency p50 (ms)",
        "speed-up",
    ]);
    for row in &table.rows {
        t.row([
            row.model.clone(),
            format!("{:.2}%", 100.0 * row.top1),
            human_bytes(row.bytes),
            format!("{:.3}x", row.bytes as f64 / fp32.bytes as f64),
            format!("{:.3}", row.p50_ms),
            format!("{:.2}x", fp32.p50_ms / row.p50_ms),
        ]);
    }
    t.print();
    for note in &table.notes {
        println!("note: {note}");
    }
}
