//! `lowbit tune`: accuracy-driven static quantization (see `lowbit::tune`), with one row
//! per trial and the chosen configuration as a recipe.

use anyhow::{bail, Context};
use lowbit::quant::tuning::{Budget, Criterion, Tuning};
use lowbit::quantize_static::check_distinct_output;
use lowbit::tune::{tune_static, TuneData, TuneEvent};
use serde::Serialize;

use super::eval::resolve_preprocess;
use super::quantize_static::qconfig_from;
use crate::args::TuneArgs;
use crate::output::{print_json, Table};
use crate::progress;

#[derive(Serialize)]
struct TuneReport {
    output: String,
    criterion: Criterion,
    met: bool,
    #[serde(flatten)]
    tuning: Tuning,
    /// The chosen configuration as a recipe file (also stored in the model's metadata).
    recipe: String,
}

pub fn run(args: TuneArgs, json: bool) -> anyhow::Result<()> {
    check_distinct_output(&args.model, &args.output)?;
    let mut criterion = Criterion {
        min_sqnr_db: args.min_sqnr,
        min_top1_agreement: args.min_agreement,
        max_top1_drop: args.max_top1_drop,
        max_latency_ratio: args.max_latency_ratio,
    };
    if criterion.max_latency_ratio.is_some() && args.latency_iters == 0 {
        bail!("--max-latency-ratio needs latencies: --latency-iters must be at least 1");
    }
    if criterion.is_empty() {
        criterion.max_top1_drop = Some(0.01);
    }
    let graph = lowbit::onnx::load(&args.model)?;
    let from_model =
        lowbit::model::stored_preprocess(&graph).context("the model's preprocessing metadata")?;
    let preprocess = resolve_preprocess(&args.preprocess, from_model)?;
    let base = qconfig_from(args.preset, args.recipe.as_deref())?;
    let calibration = lowbit::data::open(&args.calib, &preprocess)?;
    let eval = lowbit::data::open(&args.eval, &preprocess)?;
    if criterion.max_top1_drop.is_some() && !eval.is_empty() && eval.get(0)?.label.is_none() {
        bail!(
            "--max-top1-drop (the default criterion) needs labels in {}: give labelled data, or \
             --min-sqnr / --min-agreement instead",
            args.eval
        );
    }
    let budget = Budget {
        max_trials: args.max_trials.max(1),
        max_fp32_nodes: args.max_fp32,
    };
    let bar = progress::bar(budget.max_trials as u64, "tune");
    let tuned = tune_static(
        &graph,
        &base,
        &criterion,
        budget,
        &TuneData {
            calibration: calibration.as_ref(),
            calib_limit: args.calib_limit,
            eval: eval.as_ref(),
            eval_limit: args.limit,
            threads: args.runtime.threads,
            latency_iters: args.latency_iters,
        },
        &mut |event| match event {
            TuneEvent::Trial { index, change } => {
                bar.set_position(index as u64);
                bar.set_message(format!("trial {}: {change}", index + 1));
            }
            TuneEvent::Ranking => bar.set_message("ranking activation points"),
        },
    )?;
    bar.finish_and_clear();
    lowbit::onnx::save(&tuned.model.graph, &args.output)?;
    let report = TuneReport {
        output: args.output.display().to_string(),
        criterion,
        met: tuned.tuning.met,
        recipe: tuned.tuning.chosen().qconfig.to_toml(),
        tuning: tuned.tuning,
    };
    if json {
        return print_json(&report);
    }
    print_report(&report);
    Ok(())
}

fn print_report(report: &TuneReport) {
    let mut table = Table::new([
        "trial",
        "change",
        "sqnr_db",
        "agreement",
        "top1",
        "ms (× FP32)",
        "kept",
        "misses",
    ]);
    for (i, t) in report.tuning.trials.iter().enumerate() {
        let chosen = if i == report.tuning.chosen {
            " (chosen)"
        } else {
            ""
        };
        table.row([
            format!("{}{chosen}", i + 1),
            t.change.clone(),
            format!("{:.2}", t.score.sqnr_db),
            format!("{:.4}", t.score.top1_agreement),
            t.score.top1.map_or("-".into(), |v| format!("{v:.4}")),
            match (t.score.latency_ms, t.score.latency_ratio()) {
                (Some(ms), Some(ratio)) => format!("{ms:.2} ({ratio:.2})"),
                _ => "-".into(),
            },
            if t.kept { "yes" } else { "no" }.into(),
            if t.misses.is_empty() {
                "(meets the criterion)".into()
            } else {
                t.misses.join("; ")
            },
        ]);
    }
    table.print();
    println!();
    if report.met {
        println!("criterion met; wrote {}", report.output);
    } else {
        println!(
            "criterion not met within the budget; wrote the best trial, {}",
            report.output
        );
    }
    println!(
        "\nchosen configuration (a recipe for `lowbit quantize --recipe`):\n{}",
        report.recipe
    );
}
