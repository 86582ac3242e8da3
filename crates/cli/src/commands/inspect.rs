//! `lowbit inspect`: what a model is made of.

use anyhow::Context;
use lowbit::runtime::{Plan, PlanOptions};
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
    /// Quantized-graph nodes that run in FP32 between Dequantize and Quantize.
    fp32_fallbacks: Vec<NodeOp>,
    /// Steps the runtime executes with integer kernels.
    integer_steps: Vec<NodeOp>,
}

#[derive(Serialize)]
struct NodeOp {
    node: String,
    op: String,
}

fn node_ops(pairs: &[(String, String)]) -> Vec<NodeOp> {
    pairs
        .iter()
        .map(|(node, op)| NodeOp {
            node: node.clone(),
            op: op.clone(),
        })
        .collect()
}

pub fn run(args: InspectArgs, json: bool) -> anyhow::Result<()> {
    let graph = lowbit::onnx::load(&args.model)?;
    let file_bytes = std::fs::metadata(&args.model)
        .with_context(|| format!("{}", args.model.display()))?
        .len();
    let mut summary = GraphSummary::of(&graph);
    // Compiling the plan tells which quantized patterns run on integer kernels.
    let plan = Plan::new(graph.clone(), &PlanOptions::default())?;
    if !args.nodes {
        summary.nodes.clear();
    }
    let report = InspectReport {
        file: args.model.display().to_string(),
        file_bytes,
        graph: summary,
        fp32_fallbacks: node_ops(plan.fallbacks()),
        integer_steps: node_ops(&plan.integer_steps()),
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
    if !report.integer_steps.is_empty() {
        println!("\n{} steps run on integer kernels", report.integer_steps.len());
    }
    for f in &report.fp32_fallbacks {
        // QOperator ops compute in integers either way: unfused, they run on their own
        // evaluator (QLinearMatMul of two activations on the INT8 GEMM, the others on
        // reference loops) instead of a fused integer step.
        let how = match f.op.as_str() {
            "QLinearConv" | "QLinearMatMul" | "ConvInteger" | "MatMulInteger" => {
                "is not fused into an integer step and runs on its own integer evaluator"
            }
            _ => "has no integer kernel and runs in FP32",
        };
        println!("warning: node '{}' ({}) {how}", f.node, f.op);
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
