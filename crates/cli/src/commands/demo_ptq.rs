//! `lowbit demo ptq`: the static post-training quantization walk-through of PyTorch's
//! tutorial, on lowbit.
//!
//! 1. Builds the zoo MobileNetV2 and prints one InvertedResidual block as built, after
//!    fusion with its observers, and after calibration and conversion to QDQ.
//! 2. Quantizes the evaluation model (EfficientNet-Lite0 from the assets by default,
//!    calibrated on 10 of the 20 photos and evaluated on all 20; or `--model`) with both
//!    presets, and prints FP32 / per-tensor / x86: top-1, agreement and SQNR against
//!    FP32, file size, and latency at batch 1 on one thread.
//!
//! Without assets or `--model`, the table runs on the zoo MobileNetV2 with synthetic
//! data (no labels, so no accuracy).

use std::collections::{HashMap, HashSet};

use anyhow::Context;
use lowbit::bench::{bench, synthetic_inputs};
use lowbit::compare::compare;
use lowbit::data::{Dataset, NpyDataset};
use lowbit::graph::ops::BinaryOp;
use lowbit::graph::{Graph, Node, Op, ValueId};
use lowbit::quant::static_ptq::{prepare, Preset, QConfig};
use lowbit::quantize_static::quantize_static;
use lowbit::runtime::{Plan, PlanOptions};
use lowbit::tensor::{DType, Tensor};
use lowbit::zoo::{mobilenet_v2, MobileNetV2Config};
use serde::Serialize;

use super::eval::resolve_preprocess;
use crate::args::DemoPtqArgs;
use crate::output::{human_bytes, print_json, Table};
use crate::progress;

/// The block the walk-through prints: the first InvertedResidual with a skip connection.
const BLOCK: &str = "features.3";
/// Calibration samples of the default EfficientNet-Lite0 run (the protocol).
const DEFAULT_CALIB_LIMIT: usize = 10;
/// Synthetic samples when there is no real data.
const SYNTHETIC_SAMPLES: usize = 8;

#[derive(Serialize)]
struct Row {
    config: &'static str,
    top1: Option<f64>,
    top1_agreement: f64,
    sqnr_db: f64,
    file_bytes: u64,
    p50_ms: f64,
}

#[derive(Serialize)]
struct Report {
    block: Vec<String>,
    model: String,
    calibration_samples: usize,
    eval_samples: usize,
    rows: Vec<Row>,
    notes: Vec<String>,
}

/// Where the table's model and data come from.
struct Setup {
    label: String,
    graph: Graph,
    calib: Box<dyn Dataset>,
    calib_limit: Option<usize>,
    eval: Box<dyn Dataset>,
}

pub fn run(args: DemoPtqArgs, json: bool) -> anyhow::Result<()> {
    let mut notes = Vec::new();
    let block = block_walkthrough()?;
    if !json {
        for line in &block {
            println!("{line}");
        }
        println!();
    }
    let setup = setup(&args, &mut notes)?;
    let rows = table(&setup, &args)?;
    let report = Report {
        block,
        model: setup.label.clone(),
        calibration_samples: setup
            .calib_limit
            .map_or(setup.calib.len(), |l| l.min(setup.calib.len())),
        eval_samples: setup.eval.len(),
        rows,
        notes,
    };
    if json {
        return print_json(&report);
    }
    print_table(&report);
    Ok(())
}

/// The zoo MobileNetV2's block [`BLOCK`] as built, prepared and converted.
fn block_walkthrough() -> anyhow::Result<Vec<String>> {
    let graph = mobilenet_v2(&MobileNetV2Config::default())?;
    let mut lines = vec![format!("MobileNetV2 (zoo), InvertedResidual {BLOCK} as built:")];
    lines.extend(block_nodes(&graph).map(|n| describe(&graph, n)));

    let mut prepared = prepare(graph.clone(), &QConfig::preset(Preset::X86))?;
    lines.push(String::new());
    lines.push(
        "after fusion (BatchNorm folded, Conv+activation grouped) and observer insertion (x86):".into(),
    );
    let fused = prepared.graph().clone();
    lines.extend(block_nodes(&fused).map(|n| describe(&fused, n)));
    for (value, observer) in prepared.observed_points() {
        if in_block(value) {
            lines.push(format!("  observer {observer:<14} on {value}"));
        }
    }

    let inputs = synthetic_inputs(&graph, SYNTHETIC_SAMPLES, &HashMap::new())?;
    prepared.calibrate_batch(inputs.into_iter().next().context("the zoo model has an input")?)?;
    let quantized = prepared.convert()?;
    lines.push(String::new());
    lines.push(format!(
        "after calibration ({SYNTHETIC_SAMPLES} synthetic inputs) and conversion to QDQ:"
    ));
    lines.extend(block_nodes(&quantized.graph).map(|n| describe(&quantized.graph, n)));
    Ok(lines)
}

fn in_block(name: &str) -> bool {
    name.strip_prefix(BLOCK)
        .is_some_and(|rest| rest.is_empty() || !rest.starts_with(|c: char| c.is_ascii_digit()))
}

/// Nodes named in the block, or whose first output is, plus the unnamed quantization
/// nodes that feed them (weight and bias DequantizeLinear, the QuantizeLinear before an
/// activation's DequantizeLinear, the Mul of a bias scale), in graph order.
fn block_nodes(graph: &Graph) -> impl Iterator<Item = &Node> {
    let named =
        |n: &Node| in_block(&n.name) || n.outputs.first().is_some_and(|&o| in_block(&graph.value(o).name));
    let mut members: Vec<bool> = graph.nodes.iter().map(named).collect();
    // Two rounds reach a bias scale's Mul through its DequantizeLinear.
    for _ in 0..2 {
        let read: HashSet<ValueId> = graph
            .nodes
            .iter()
            .zip(&members)
            .filter(|(_, &member)| member)
            .flat_map(|(n, _)| n.inputs.iter().flatten().copied())
            .collect();
        for (node, member) in graph.nodes.iter().zip(members.iter_mut()) {
            let quantization = matches!(
                node.op,
                Op::QuantizeLinear(_) | Op::DequantizeLinear(_) | Op::Binary(BinaryOp::Mul)
            );
            *member |= quantization && node.outputs.iter().any(|o| read.contains(o));
        }
    }
    graph
        .nodes
        .iter()
        .zip(members)
        .filter(|(_, member)| *member)
        .map(|(n, _)| n)
}

/// One line per node: name, op and what matters for quantization.
fn describe(graph: &Graph, node: &Node) -> String {
    let constant = |i: usize| node.input(i).and_then(|v| graph.initializer(v));
    let detail = match &node.op {
        Op::Conv(c) => constant(1).map_or(String::new(), |w| {
            let s = w.shape();
            let groups = if c.group > 1 {
                format!(", groups={}", c.group)
            } else {
                String::new()
            };
            format!("({}→{}, {}×{}{groups})", s[1] * c.group, s[0], s[2], s[3])
        }),
        Op::Clip => {
            let bound = |i| constant(i).and_then(|t| t.to_f32_vec().first().copied());
            match (bound(1), bound(2)) {
                (Some(lo), Some(hi)) => format!("[{lo}, {hi}]"),
                _ => String::new(),
            }
        }
        Op::QuantizeLinear(_) | Op::DequantizeLinear(_) => quant_detail(graph, node),
        _ => String::new(),
    };
    let inputs: Vec<&str> = node
        .inputs
        .iter()
        .flatten()
        .filter(|&&v| graph.initializer(v).is_none())
        .map(|&v| graph.value(v).name.as_str())
        .collect();
    let output = node.outputs.first().map_or("", |&o| graph.value(o).name.as_str());
    format!(
        "  {:<34} {}{detail}  ({}) -> {output}",
        node.name,
        node.op.name(),
        inputs.join(", ")
    )
}

/// Dtype, shape and scale of a QuantizeLinear/DequantizeLinear.
fn quant_detail(graph: &Graph, node: &Node) -> String {
    let scale = node.input(1).and_then(|v| graph.initializer(v));
    let zero_point = node.input(2).and_then(|v| graph.initializer(v));
    let scales = scale.map_or(0, |t| t.len());
    match (node.input(0).and_then(|v| graph.initializer(v)), scale) {
        (Some(q), _) if scales > 1 => format!("({} {:?}, {scales} per-channel scales)", q.dtype(), q.shape()),
        (Some(q), Some(s)) => format!("({} {:?}, scale {:.3e})", q.dtype(), q.shape(), first(s)),
        // A bias: its scale x_scale · w_scale is the Mul printed above it.
        (Some(q), None) => format!("({} {:?}, scale from the Mul)", q.dtype(), q.shape()),
        (None, Some(s)) => {
            let zp = zero_point.map_or(0, |z| z.to_i64_vec().first().copied().unwrap_or(0));
            let dtype = zero_point.map_or(DType::U8, |z| z.dtype());
            format!("({dtype}, scale {:.4e}, zero point {zp})", first(s))
        }
        _ => String::new(),
    }
}

fn first(t: &Tensor) -> f32 {
    t.to_f32_vec().first().copied().unwrap_or(0.0)
}

fn setup(args: &DemoPtqArgs, notes: &mut Vec<String>) -> anyhow::Result<Setup> {
    if let Some(model) = &args.model {
        let graph = lowbit::onnx::load(model)?;
        let from_model =
            lowbit::model::stored_preprocess(&graph).context("the model's preprocessing metadata")?;
        let preprocess = resolve_preprocess(&args.preprocess, from_model)?;
        let calib_spec = args.calib.as_deref().context("--model needs --calib SPEC")?;
        let calib = lowbit::data::open(calib_spec, &preprocess)?;
        let eval = lowbit::data::open(args.eval.as_deref().unwrap_or(calib_spec), &preprocess)?;
        return Ok(Setup {
            label: model.display().to_string(),
            graph,
            calib,
            calib_limit: args.calib_limit,
            eval,
        });
    }
    if let Some(dir) = lowbit::assets::assets_dir().map(|d| d.join("efficientnet-lite0")) {
        if dir.join("model.onnx").is_file() {
            let inputs = dir.join("inputs.npy");
            let labels = dir.join("labels.npy");
            let open = || NpyDataset::open(&inputs, Some(&labels));
            return Ok(Setup {
                label: "EfficientNet-Lite0 (assets), the 20 ImageNet photos".into(),
                graph: lowbit::onnx::load(&dir.join("model.onnx"))?,
                calib: Box::new(open()?),
                calib_limit: Some(args.calib_limit.unwrap_or(DEFAULT_CALIB_LIMIT)),
                eval: Box::new(open()?),
            });
        }
    }
    notes.push(
        "assets not found (set LOWBIT_ASSETS): the table uses the zoo MobileNetV2 on synthetic inputs".into(),
    );
    let graph = mobilenet_v2(&MobileNetV2Config::default())?;
    let dir = std::env::temp_dir().join(format!("lowbit-demo-ptq-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("inputs.npy");
    let inputs = synthetic_inputs(&graph, SYNTHETIC_SAMPLES, &HashMap::new())?;
    lowbit::data::write_npy(&path, &inputs[0])?;
    let (calib, eval) = (NpyDataset::open(&path, None), NpyDataset::open(&path, None));
    std::fs::remove_dir_all(&dir).ok();
    Ok(Setup {
        label: "zoo MobileNetV2, synthetic inputs".into(),
        graph,
        calib: Box::new(calib?),
        calib_limit: args.calib_limit,
        eval: Box::new(eval?),
    })
}

fn table(setup: &Setup, args: &DemoPtqArgs) -> anyhow::Result<Vec<Row>> {
    let configs: [(&'static str, Option<Preset>); 3] = [
        ("fp32", None),
        ("per-tensor", Some(Preset::PerTensor)),
        ("x86", Some(Preset::X86)),
    ];
    let mut rows = Vec::new();
    for (name, preset) in configs {
        let graph = match preset {
            None => setup.graph.clone(),
            Some(preset) => {
                let total = setup
                    .calib_limit
                    .map_or(setup.calib.len(), |l| l.min(setup.calib.len()));
                let bar = progress::bar(total as u64, &format!("calibrate {name}"));
                let q = quantize_static(
                    setup.graph.clone(),
                    &QConfig::preset(preset),
                    setup.calib.as_ref(),
                    setup.calib_limit,
                    &mut |d| bar.set_position(d as u64),
                )?;
                bar.finish_and_clear();
                q.graph
            }
        };
        let bar = progress::bar(setup.eval.len() as u64, &format!("eval {name}"));
        let c = compare(
            &setup.graph,
            &graph,
            setup.eval.as_ref(),
            None,
            false,
            args.threads,
            &mut |d| bar.set_position(d as u64),
        )?;
        bar.finish_and_clear();
        let file_bytes = lowbit::onnx::to_bytes(&graph)?.len() as u64;
        let input = synthetic_inputs(&graph, 1, &HashMap::new())?;
        let plan = Plan::new(
            graph,
            &PlanOptions {
                threads: 1,
                ..PlanOptions::default()
            },
        )?;
        let timing = bench(&plan, &input, 1, 1, 2, args.iters)?;
        rows.push(Row {
            config: name,
            top1: c.test_top1,
            top1_agreement: c.top1_agreement,
            sqnr_db: c.sqnr_db,
            file_bytes,
            p50_ms: timing.p50_ms,
        });
    }
    Ok(rows)
}

fn print_table(report: &Report) {
    println!(
        "{}: calibrated on {}, evaluated on {} samples",
        report.model, report.calibration_samples, report.eval_samples
    );
    let fp32_bytes = report.rows.first().map_or(1, |r| r.file_bytes.max(1));
    let mut t = Table::new([
        "config",
        "top-1",
        "agreement with fp32",
        "sqnr vs fp32 (dB)",
        "size",
        "latency p50, batch 1, 1 thread (ms)",
    ]);
    for r in &report.rows {
        t.row([
            r.config.to_string(),
            r.top1.map_or("-".into(), |v| format!("{v:.2}")),
            format!("{:.2}", r.top1_agreement),
            if r.sqnr_db.is_finite() {
                format!("{:.2}", r.sqnr_db)
            } else {
                "-".into()
            },
            format!(
                "{} ({:.3}x)",
                human_bytes(r.file_bytes),
                r.file_bytes as f64 / fp32_bytes as f64
            ),
            format!("{:.2}", r.p50_ms),
        ]);
    }
    t.print();
    for note in &report.notes {
        println!("note: {note}");
    }
}
