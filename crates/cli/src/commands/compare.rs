//! `lowbit compare`: how closely one model follows another on the same data.

use anyhow::Context;
use lowbit::compare::compare;

use super::eval::resolve_preprocess;
use crate::args::CompareArgs;
use crate::output::{print_json, Table};
use crate::progress;

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
    if json {
        return print_json(&c);
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
