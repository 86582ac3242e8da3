//! `lowbit bench`: latency and throughput.

use std::collections::HashMap;

use lowbit::bench::{bench, synthetic_inputs};
use lowbit::model::Model;
use lowbit::runtime::PlanOptions;

use crate::args::BenchArgs;
use crate::output::{print_json, Table};

pub fn run(args: BenchArgs, json: bool) -> anyhow::Result<()> {
    let options = PlanOptions {
        threads: args.threads,
        ..PlanOptions::default()
    };
    let model = Model::load(&args.model, &options)?;
    let inputs = if args.inputs.is_empty() {
        let dims: HashMap<String, usize> = args.dims.iter().cloned().collect();
        synthetic_inputs(&model.graph, args.batch, &dims)?
    } else {
        super::read_named_inputs(&model.graph, &args.inputs)?
    };
    // With given inputs, their leading dimension is the batch.
    let batch = if args.inputs.is_empty() {
        args.batch
    } else {
        inputs
            .first()
            .and_then(|t| t.shape().first().copied())
            .unwrap_or(1)
    };
    let report = bench(&model.plan, &inputs, batch, args.threads, args.warmup, args.iters)?;
    if json {
        return print_json(&report);
    }
    let mut table = Table::new([
        "model",
        "batch",
        "threads",
        "p50 ms",
        "p90 ms",
        "min ms",
        "samples/s",
    ]);
    table.row([
        args.model.display().to_string(),
        report.batch.to_string(),
        report.threads.to_string(),
        format!("{:.3}", report.p50_ms),
        format!("{:.3}", report.p90_ms),
        format!("{:.3}", report.min_ms),
        format!("{:.1}", report.throughput),
    ]);
    table.print();
    Ok(())
}
