//! `lowbit inspect`: what a model is made of.

use anyhow::Context;
use lowbit::summary::GraphSummary;
use serde::Serialize;

use crate::args::InspectArgs;
use crate::output::{human_bytes, print_json, Table};

#[derive(Serialize)]
struct InspectReport {
    file: String,
    file_bytes: u64,
    #[serde(flatten)]
    graph: GraphSummary,
}

pub fn run(args: InspectArgs, json: bool) -> anyhow::Result<()> {
    let graph = lowbit::onnx::load(&args.model)?;
    let file_bytes = std::fs::metadata(&args.model)
        .with_context(|| format!("{}", args.model.display()))?
        .len();
    let mut summary = GraphSummary::of(&graph);
    if !args.nodes {
        summary.nodes.clear();
    }
    let report = InspectReport {
        file: args.model.display().to_string(),
        file_bytes,
        graph: summary,
    };
    if json {
        return print_json(&report);
    }
    let s = &report.graph;
    println!("model      {}", report.file);
    println!("size       {} ({} bytes)", human_bytes(file_bytes), file_bytes);
    println!("params     {}", s.params);
    println!("nodes      {}", s.node_count);
    println!();
    let mut io = Table::new(["kind", "name", "type"]);
    for v in &s.inputs {
        io.row(["input", v.name.as_str(), v.fact.as_str()]);
    }
    for v in &s.outputs {
        io.row(["output", v.name.as_str(), v.fact.as_str()]);
    }
    io.print();
    println!();
    let mut ops = Table::new(["op", "count"]);
    for (op, count) in &s.ops {
        ops.row([op.clone(), count.to_string()]);
    }
    ops.print();
    if !s.metadata.is_empty() {
        println!();
        let mut meta = Table::new(["metadata", "value"]);
        for (k, v) in &s.metadata {
            meta.row([k.as_str(), v.as_str()]);
        }
        meta.print();
    }
    if args.nodes {
        println!();
        let mut nodes = Table::new(["node", "op", "inputs", "outputs"]);
        for n in &s.nodes {
            nodes.row([
                n.name.clone(),
                n.op.clone(),
                n.inputs.join(", "),
                n.outputs.join(", "),
            ]);
        }
        nodes.print();
    }
    Ok(())
}
