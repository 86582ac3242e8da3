//! `lowbit quantize --approach qat`: fine-tune with fake quantization on the PyTorch QAT
//! tutorial's schedule, scoring the converted INT8 model after every epoch, then write the
//! ONNX QDQ model.

use anyhow::Context;
use lowbit::quantize_static::check_distinct_output;
use lowbit::train::qat::{
    qat_qconfig, quantize_aware_training, QatEpoch, QatOptions, QatReport, QatSchedule,
};
use serde::Serialize;

use super::eval::resolve_preprocess;
use crate::args::QuantizeArgs;
use crate::output::{human_bytes, print_json, Table};

/// The JSON of static quantization's evaluation fields, plus the QAT run.
#[derive(Serialize)]
struct QatJson<'a> {
    output: String,
    fp32_bytes: u64,
    int8_bytes: u64,
    n: usize,
    fp32_top1: Option<f64>,
    int8_top1: Option<f64>,
    top1_agreement: f64,
    sqnr_db: f64,
    qat_epochs: usize,
    batches_per_epoch: usize,
    batch_size: usize,
    lr: f32,
    freeze_bn_after: usize,
    freeze_observers_after: usize,
    qconfig: String,
    epochs: &'a [QatEpoch],
    integer_steps: usize,
    fallbacks: &'a [String],
    warnings: &'a [String],
}

pub fn run(args: QuantizeArgs, json: bool) -> anyhow::Result<()> {
    let (flags, ptq) = (&args.qat, &args.static_ptq);
    let train_spec = flags
        .train_data
        .as_deref()
        .context("--approach qat needs --train-data SPEC")?;
    let eval_spec = ptq
        .eval
        .as_deref()
        .context("--approach qat needs --eval SPEC: the INT8 model is scored after every epoch")?;
    anyhow::ensure!(
        ptq.recipe.is_none(),
        "--recipe is not supported with --approach qat; use --preset"
    );
    check_distinct_output(&args.model, &args.output)?;
    let graph = lowbit::onnx::load(&args.model)?;
    let from_model =
        lowbit::model::stored_preprocess(&graph).context("the model's preprocessing metadata")?;
    let preprocess = resolve_preprocess(&ptq.preprocess, from_model)?;
    let train = lowbit::data::open(train_spec, &preprocess)?;
    let eval = lowbit::data::open(eval_spec, &preprocess)?;
    let options = QatOptions {
        qconfig: qat_qconfig(ptq.preset.into()),
        schedule: QatSchedule {
            epochs: flags.qat_epochs,
            freeze_bn_after: flags.freeze_bn_after,
            freeze_observers_after: flags.freeze_observers_after,
        },
        batches_per_epoch: flags.batches_per_epoch,
        batch_size: flags.qat_batch_size,
        lr: flags.lr,
        momentum: flags.momentum,
        eval_limit: ptq.limit,
        seed: flags.qat_seed,
        ..QatOptions::default()
    };
    let mut on_epoch = |e: &QatEpoch| {
        let line = epoch_line(e, options.schedule.epochs);
        // Under --json, stdout carries only the final document.
        if json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };
    let (quantized, report) =
        quantize_aware_training(&graph, train.as_ref(), eval.as_ref(), &options, &mut on_epoch)?;
    lowbit::onnx::save(&quantized, &args.output)?;
    let size = |p: &std::path::Path| {
        std::fs::metadata(p)
            .map(|m| m.len())
            .with_context(|| p.display().to_string())
    };
    let doc = QatJson {
        output: args.output.display().to_string(),
        fp32_bytes: size(&args.model)?,
        int8_bytes: size(&args.output)?,
        n: report.n,
        fp32_top1: report.fp32_top1,
        int8_top1: report.int8_top1,
        top1_agreement: report.top1_agreement,
        sqnr_db: report.sqnr_db,
        qat_epochs: report.qat_epochs,
        batches_per_epoch: report.batches_per_epoch,
        batch_size: report.batch_size,
        lr: report.lr,
        freeze_bn_after: flags.freeze_bn_after,
        freeze_observers_after: flags.freeze_observers_after,
        qconfig: options.qconfig.to_toml(),
        epochs: &report.epochs,
        integer_steps: report.integer_steps,
        fallbacks: &report.fallbacks,
        warnings: &report.warnings,
    };
    if json {
        return print_json(&doc);
    }
    print_summary(&doc, &report);
    Ok(())
}

fn pct(v: Option<f64>) -> String {
    v.map_or("-".to_string(), |v| format!("{:.2}%", 100.0 * v))
}

/// One line per epoch: training figures, the freezes in force, the INT8 score.
fn epoch_line(e: &QatEpoch, epochs: usize) -> String {
    format!(
        "epoch {}/{epochs}: train loss {:.4}, train top-1 {}, int8 top-1 {}, agreement {:.2}% \
         (observers {}, BN {}) {:.1}s",
        e.epoch + 1,
        e.train_loss,
        pct(Some(e.train_top1)),
        pct(e.int8_top1),
        100.0 * e.top1_agreement,
        if e.observers_enabled { "on" } else { "frozen" },
        if e.bn_frozen { "frozen" } else { "batch stats" },
        e.seconds
    )
}

fn print_summary(doc: &QatJson, report: &QatReport) {
    for warning in doc.warnings {
        eprintln!("warning: {warning}");
    }
    let mut table = Table::new([
        "output",
        "fp32_bytes",
        "int8_bytes",
        "ratio",
        "n",
        "fp32_top1",
        "int8_top1",
        "top1_agreement",
        "sqnr_db",
    ]);
    table.row([
        doc.output.clone(),
        format!("{} ({})", doc.fp32_bytes, human_bytes(doc.fp32_bytes)),
        format!("{} ({})", doc.int8_bytes, human_bytes(doc.int8_bytes)),
        format!("{:.3}", doc.int8_bytes as f64 / doc.fp32_bytes.max(1) as f64),
        doc.n.to_string(),
        pct(doc.fp32_top1),
        pct(doc.int8_top1),
        format!("{:.2}%", 100.0 * doc.top1_agreement),
        format!("{:.2}", doc.sqnr_db),
    ]);
    println!();
    table.print();
    println!(
        "{} quantized steps run on integer kernels; FP32 fallbacks: {}",
        report.integer_steps,
        if report.fallbacks.is_empty() {
            "none".to_string()
        } else {
            report.fallbacks.join(", ")
        }
    );
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::args::{Approach, Cli, Command};

    #[test]
    fn qat_flags_parse_with_the_tutorial_defaults() {
        let cli = Cli::try_parse_from([
            "lowbit",
            "quantize",
            "--approach",
            "qat",
            "--model",
            "fp32.onnx",
            "--train-data",
            "fashion-mnist:/data:train",
            "--eval",
            "fashion-mnist:/data",
            "--output",
            "q.onnx",
            "--batches-per-epoch",
            "20",
        ])
        .unwrap();
        let Command::Quantize(args) = cli.command else {
            panic!("not a quantize command");
        };
        assert_eq!(args.approach, Approach::Qat);
        assert_eq!(args.qat.train_data.as_deref(), Some("fashion-mnist:/data:train"));
        assert_eq!(args.static_ptq.eval.as_deref(), Some("fashion-mnist:/data"));
        assert_eq!(args.qat.batches_per_epoch, 20);
        assert_eq!(
            (
                args.qat.qat_epochs,
                args.qat.freeze_bn_after,
                args.qat.freeze_observers_after
            ),
            (8, 3, 4)
        );
    }

    #[test]
    fn qat_needs_training_data() {
        let parsed = Cli::try_parse_from([
            "lowbit",
            "quantize",
            "--approach",
            "qat",
            "--model",
            "fp32.onnx",
            "--output",
            "q.onnx",
        ]);
        assert!(parsed.is_err());
    }
}
