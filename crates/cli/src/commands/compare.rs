//! `lowbit compare`: how closely one model follows another on the same data.

use anyhow::Context;
use lowbit::compare::{compare, Comparison};
use lowbit::sensitivity::{activation_sensitivity, Sensitivity};
use serde::Serialize;

use super::eval::resolve_preprocess;
use crate::args::CompareArgs;
use crate::output::{print_json, Table};
use crate::progress;

/// The comparison's fields, plus `per_point` with `--per-point`.
#[derive(Serialize)]
struct CompareReport {
    #[serde(flatten)]
    comparison: Comparison,
    #[serde(skip_serializing_if = "Option::is_none")]
    per_point: Option<Sensitivity>,
}

pub fn run(args: CompareArgs, json: bool) -> anyhow::Result<()> {
    let reference = lowbit::onnx::load(&args.model)?;
    let test = lowbit::onnx::load(&args.against)?;
    let from_model =
        lowbit::model::stored_preprocess(&reference).context("the model's preprocessing metadata")?;
    let preprocess = resolve_preprocess(&args.preprocess, from_model)?;
    let dataset = lowbit::data::open(&args.data, &preprocess)?;
    let total = args.limit.map_or(dataset.len(), |l| l.min(dataset.len()));
    let bar = progress::bar(total as u64, "compare");
    let c = compare(
        &reference,
        &test,
        dataset.as_ref(),
        args.limit,
        args.per_layer,
        args.runtime.threads,
        &mut |done| bar.set_position(done as u64),
    )?;
    bar.finish_and_clear();
    let sensitivity = if args.per_point {
        let points = progress::bar(0, "per-point");
        let s = activation_sensitivity(
            &reference,
            &test,
            dataset.as_ref(),
            args.limit,
            args.runtime.threads,
            &mut |done, total| {
                points.set_length(total as u64);
                points.set_position(done as u64);
            },
        )?;
        points.finish_and_clear();
        Some(s)
    } else {
        None
    };
    if json {
        return print_json(&CompareReport {
            comparison: c,
            per_point: sensitivity,
        });
    }
    if let Some(s) = &sensitivity {
        let mut table = Table::new(["point", "producer", "read by", "sqnr_db alone"]);
        table.row([
            "(none: weights only)".into(),
            String::new(),
            String::new(),
            format!("{:.2}", s.weights_only_sqnr_db),
        ]);
        for p in &s.points {
            table.row([
                p.value.clone(),
                p.producer.clone().unwrap_or_else(|| "(input)".into()),
                if p.readers.is_empty() {
                    "(model output)".into()
                } else {
                    p.readers.join(", ")
                },
                format!("{:.2}", p.sqnr_db),
            ]);
        }
        table.print();
        println!();
    }
    if args.per_layer {
        let mut layers = Table::new(["layer", "sqnr_db"]);
        for l in &c.per_layer {
            layers.row([l.name.clone(), format!("{:.2}", l.sqnr_db)]);
        }
        layers.print();
        println!();
    }
    let mut table = Table::new(["n", "sqnr_db", "top1_agreement", "cosine"]);
    table.row([
        c.n.to_string(),
        format!("{:.2}", c.sqnr_db),
        format!("{:.4} ({}/{})", c.top1_agreement, c.top1_agree, c.n),
        format!("{:.5}", c.cosine),
    ]);
    table.print();
    Ok(())
}
