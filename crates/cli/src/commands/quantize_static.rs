//! `lowbit quantize --approach static`: calibrate, convert to an ONNX QDQ model, and
//! optionally compare it with the FP32 model.

use std::path::Path;

use anyhow::Context;
use lowbit::compare::compare;
use lowbit::quant::static_ptq::{parse_recipe, ChosenRange, QConfig};
use lowbit::quantize_static::{check_distinct_output, quantize_static};
use serde::Serialize;

use super::eval::resolve_preprocess;
use crate::args::{PresetArg, QuantizeArgs};
use crate::output::{human_bytes, print_json, Table};
use crate::progress;

#[derive(Serialize)]
struct EvalFields {
    n: usize,
    fp32_top1: Option<f64>,
    int8_top1: Option<f64>,
    top1_agreement: f64,
    sqnr_db: f64,
    cosine: f64,
}

#[derive(Serialize)]
struct StaticReport {
    output: String,
    fp32_bytes: u64,
    int8_bytes: u64,
    calibration_samples: usize,
    bias_corrected: usize,
    qconfig: String,
    warnings: Vec<String>,
    ranges: Vec<ChosenRange>,
    eval: Option<EvalFields>,
}

pub fn run(args: QuantizeArgs, json: bool) -> anyhow::Result<()> {
    let flags = &args.static_ptq;
    let calib_spec = flags
        .calib
        .as_deref()
        .context("--approach static needs --calib SPEC")?;
    check_distinct_output(&args.model, &args.output)?;
    let graph = lowbit::onnx::load(&args.model)?;
    let from_model =
        lowbit::model::stored_preprocess(&graph).context("the model's preprocessing metadata")?;
    let preprocess = resolve_preprocess(&flags.preprocess, from_model)?;
    let qconfig = qconfig_from(flags.preset, flags.recipe.as_deref())?;
    let calibration = lowbit::data::open(calib_spec, &preprocess)?;
    let total = flags
        .calib_limit
        .map_or(calibration.len(), |l| l.min(calibration.len()));
    let bar = progress::bar(total as u64, "calibrate");
    let quantized = quantize_static(
        graph.clone(),
        &qconfig,
        calibration.as_ref(),
        flags.calib_limit,
        &mut |done| bar.set_position(done as u64),
    )?;
    bar.finish_and_clear();
    lowbit::onnx::save(&quantized.graph, &args.output)?;
    let size = |p: &std::path::Path| {
        std::fs::metadata(p)
            .map(|m| m.len())
            .with_context(|| p.display().to_string())
    };
    let eval = match &flags.eval {
        None => None,
        Some(spec) => {
            let dataset = lowbit::data::open(spec, &preprocess)?;
            let total = flags.limit.map_or(dataset.len(), |l| l.min(dataset.len()));
            let bar = progress::bar(total as u64, "eval");
            let c = compare(
                &graph,
                &quantized.graph,
                dataset.as_ref(),
                flags.limit,
                false,
                0,
                &mut |d| bar.set_position(d as u64),
            )?;
            bar.finish_and_clear();
            Some(EvalFields {
                n: c.n,
                fp32_top1: c.reference_top1,
                int8_top1: c.test_top1,
                top1_agreement: c.top1_agreement,
                sqnr_db: c.sqnr_db,
                cosine: c.cosine,
            })
        }
    };
    let report = StaticReport {
        output: args.output.display().to_string(),
        fp32_bytes: size(&args.model)?,
        int8_bytes: size(&args.output)?,
        calibration_samples: total,
        bias_corrected: quantized.bias_corrected,
        qconfig: qconfig.to_toml(),
        warnings: quantized.warnings,
        ranges: quantized.ranges,
        eval,
    };
    if json {
        return print_json(&report);
    }
    print_report(&report);
    Ok(())
}

/// The preset, with the recipe file laid over it when one is given.
pub(super) fn qconfig_from(preset: PresetArg, recipe: Option<&Path>) -> anyhow::Result<QConfig> {
    let Some(path) = recipe else {
        return Ok(QConfig::preset(preset.into()));
    };
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_recipe(&text, preset.into()).with_context(|| path.display().to_string())
}

fn print_report(report: &StaticReport) {
    let mut ranges = Table::new(["value", "node", "observer", "scale", "zero point", "range"]);
    for r in &report.ranges {
        ranges.row([
            r.value.clone(),
            r.node.clone().unwrap_or_else(|| "(input)".into()),
            r.observer.to_string(),
            format!("{:.6}", r.scale),
            r.zero_point.to_string(),
            format!("[{:.4}, {:.4}]", r.min, r.max),
        ]);
    }
    ranges.print();
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    let mut summary = Table::new(["output", "fp32_bytes", "int8_bytes", "ratio", "bias corrected"]);
    summary.row([
        report.output.clone(),
        format!("{} ({})", report.fp32_bytes, human_bytes(report.fp32_bytes)),
        format!("{} ({})", report.int8_bytes, human_bytes(report.int8_bytes)),
        format!(
            "{:.3}",
            report.int8_bytes as f64 / report.fp32_bytes.max(1) as f64
        ),
        report.bias_corrected.to_string(),
    ]);
    println!();
    summary.print();
    if let Some(e) = &report.eval {
        let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
        let mut table = Table::new([
            "n",
            "fp32_top1",
            "int8_top1",
            "top1_agreement",
            "sqnr_db",
            "cosine",
        ]);
        table.row([
            e.n.to_string(),
            pct(e.fp32_top1),
            pct(e.int8_top1),
            format!("{:.4}", e.top1_agreement),
            format!("{:.2}", e.sqnr_db),
            format!("{:.5}", e.cosine),
        ]);
        println!();
        table.print();
    }
}
