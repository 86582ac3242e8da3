//! EfficientNet-Lite0 quantized with a min/max rule into a QDQ graph: the plan compiled
//! onto the integer kernels agrees on top-1 with the unfused QDQ reference (the f32
//! simulation of the same quantized model) on every asset input.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use lowbit_graph::ops::QuantAxis;
use lowbit_graph::{Fact, Graph, Node, Op, ValueId};
use lowbit_runtime::{Plan, PlanOptions};
use lowbit_tensor::Tensor;

fn assets() -> Option<PathBuf> {
    let dir = std::env::var("LOWBIT_ASSETS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/assets")));
    let model = dir.join("efficientnet-lite0/model.onnx");
    if model.exists() {
        return Some(dir);
    }
    assert!(
        std::env::var("LOWBIT_REQUIRE_ASSETS").as_deref() != Ok("1"),
        "{} is missing",
        model.display()
    );
    eprintln!("skipped: {} is missing", model.display());
    None
}

fn options(optimize: bool) -> PlanOptions {
    PlanOptions { threads: 1, optimize }
}

/// Per-value `(min, max)` of every f32 value over the calibration inputs.
fn calibrate(graph: &Graph, samples: &[Tensor]) -> HashMap<ValueId, (f32, f32)> {
    let plan = Plan::new(graph.clone(), &options(false)).unwrap();
    let mut ranges: HashMap<ValueId, (f32, f32)> = HashMap::new();
    for sample in samples {
        let mut observe = |_: &str, id: ValueId, t: &Tensor| {
            if let Ok(v) = t.as_slice::<f32>() {
                let r = ranges.entry(id).or_insert((f32::INFINITY, f32::NEG_INFINITY));
                for &x in v {
                    r.0 = r.0.min(x);
                    r.1 = r.1.max(x);
                }
            }
        };
        plan.run_observed(std::slice::from_ref(sample), &mut observe)
            .unwrap();
    }
    ranges
}

fn add_node(g: &mut Graph, op: Op, inputs: Vec<Option<ValueId>>, base: &str) -> ValueId {
    let out = g.add_value_unique(base, Fact::unknown());
    g.add_node(Node {
        name: format!("{base}_node"),
        op,
        inputs,
        outputs: vec![out],
    });
    out
}

/// Puts `QuantizeLinear → DequantizeLinear` (u8, asymmetric, range including 0) after `v`.
fn quantize_activation(g: &mut Graph, v: ValueId, (min, max): (f32, f32)) {
    let (lo, hi) = (min.min(0.0), max.max(0.0));
    let scale = if hi > lo { (hi - lo) / 255.0 } else { 1.0 };
    let zp = (-lo / scale).round_ties_even().clamp(0.0, 255.0) as u8;
    let name = g.value(v).name.clone();
    let s = g
        .add_const(format!("{name}_scale"), Tensor::scalar(scale))
        .unwrap();
    let z = g.add_const(format!("{name}_zp"), Tensor::scalar(zp)).unwrap();
    let dq_out = g.add_value_unique(&format!("{name}_dq"), Fact::unknown());
    g.replace_uses(v, dq_out);
    let q = add_node(
        g,
        Op::QuantizeLinear(QuantAxis::default()),
        vec![Some(v), Some(s), Some(z)],
        &format!("{name}_q"),
    );
    g.add_node(Node {
        name: format!("{name}_dq_node"),
        op: Op::DequantizeLinear(QuantAxis::default()),
        inputs: vec![Some(q), Some(s), Some(z)],
        outputs: vec![dq_out],
    });
}

/// Replaces f32 weights `[channels on axis, ...]` with `DequantizeLinear` of symmetric
/// per-channel i8 weights.
fn quantize_weights(g: &mut Graph, node: usize, axis: usize) {
    let Some(w) = g.nodes[node].input(1) else { return };
    let Some(t) = g.initializer(w).cloned() else {
        return;
    };
    let values = t.as_slice::<f32>().unwrap();
    let shape = t.shape().to_vec();
    let channels = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let channel_of = |i: usize| (i / inner) % channels;
    let mut absmax = vec![0f32; channels];
    values
        .iter()
        .enumerate()
        .for_each(|(i, v)| absmax[channel_of(i)] = absmax[channel_of(i)].max(v.abs()));
    let scales: Vec<f32> = absmax
        .iter()
        .map(|&m| if m > 0.0 { m / 127.0 } else { 1.0 })
        .collect();
    let q: Vec<i8> = values
        .iter()
        .enumerate()
        .map(|(i, v)| (v / scales[channel_of(i)]).round_ties_even().clamp(-127.0, 127.0) as i8)
        .collect();
    let name = g.value(w).name.clone();
    let wq = g
        .add_const(format!("{name}_i8"), Tensor::new(shape, q).unwrap())
        .unwrap();
    let s = g
        .add_const(
            format!("{name}_scales"),
            Tensor::new(vec![channels], scales).unwrap(),
        )
        .unwrap();
    let z = g
        .add_const(
            format!("{name}_zps"),
            Tensor::new(vec![channels], vec![0i8; channels]).unwrap(),
        )
        .unwrap();
    let dq = add_node(
        g,
        Op::DequantizeLinear(QuantAxis { axis: axis as i64 }),
        vec![Some(wq), Some(s), Some(z)],
        &format!("{name}_dq"),
    );
    g.nodes[node].inputs[1] = Some(dq);
}

/// The QDQ model: per-channel i8 weights, u8 activations after the input and every
/// node, except a conv output read only by its Clip/Relu (the pair quantizes once, after
/// the activation, as quantization tools do). Biases stay f32.
fn quantize(mut g: Graph, ranges: &HashMap<ValueId, (f32, f32)>) -> Graph {
    let original = g.nodes.len();
    let mut activations: Vec<ValueId> = g.inputs.clone();
    for n in 0..original {
        let out = g.nodes[n].outputs[0];
        let readers = g.consumers(out);
        let into_activation = readers.len() == 1
            && matches!(g.nodes[n].op, Op::Conv(_))
            && matches!(
                g.nodes[readers[0]].op,
                Op::Clip | Op::Unary(lowbit_graph::ops::UnaryOp::Relu)
            );
        if !into_activation {
            activations.push(out);
        }
    }
    for n in 0..original {
        match &g.nodes[n].op {
            Op::Conv(_) => quantize_weights(&mut g, n, 0),
            Op::Gemm(gemm) => {
                let axis = if gemm.trans_b { 0 } else { 1 };
                quantize_weights(&mut g, n, axis)
            }
            _ => {}
        }
    }
    for v in activations {
        if let Some(&r) = ranges.get(&v) {
            quantize_activation(&mut g, v, r);
        }
    }
    g.sort().unwrap();
    g
}

fn argmax(t: &Tensor) -> usize {
    let v = t.as_slice::<f32>().unwrap();
    // The first index of the largest value, as NumPy and PyTorch break ties.
    (0..v.len()).rev().max_by(|&a, &b| v[a].total_cmp(&v[b])).unwrap()
}

/// Median wall time of `runs` runs.
fn time(plan: &Plan, input: &Tensor, runs: usize) -> f64 {
    let mut ms: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            plan.run(std::slice::from_ref(input)).unwrap();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    ms[runs / 2]
}

#[test]
fn efficientnet_lite0_int8_agrees_on_top1_with_its_qdq_simulation() {
    let Some(dir) = assets() else { return };
    let graph = lowbit_onnx::load(&dir.join("efficientnet-lite0/model.onnx")).unwrap();
    let batch = lowbit_data::read_npy(dir.join("efficientnet-lite0/inputs.npy")).unwrap();
    let per_sample: usize = batch.shape()[1..].iter().product();
    let mut sample_shape = batch.shape().to_vec();
    sample_shape[0] = 1;
    let samples: Vec<Tensor> = batch
        .as_slice::<f32>()
        .unwrap()
        .chunks_exact(per_sample)
        .map(|c| Tensor::new(sample_shape.clone(), c.to_vec()).unwrap())
        .collect();

    let ranges = calibrate(&graph, &samples[..2]);
    let qdq = quantize(graph.clone(), &ranges);
    let reference = Plan::new(qdq.clone(), &options(false)).unwrap();
    let fused = Plan::new(qdq, &options(true)).unwrap();
    let fp32 = Plan::new(graph, &options(true)).unwrap();
    eprintln!(
        "{} integer steps, fallbacks: {:?}",
        fused.integer_steps().len(),
        fused.fallbacks()
    );
    assert!(fused.fallbacks().is_empty(), "{:?}", fused.fallbacks());

    let (mut agree, mut agree_fp32) = (0, 0);
    for sample in &samples {
        let sample = std::slice::from_ref(sample);
        let want = argmax(&reference.run(sample).unwrap()[0]);
        let got = argmax(&fused.run(sample).unwrap()[0]);
        agree += usize::from(want == got);
        agree_fp32 += usize::from(argmax(&fp32.run(sample).unwrap()[0]) == got);
    }
    let (int8_ms, fp32_ms) = (time(&fused, &samples[0], 5), time(&fp32, &samples[0], 5));
    eprintln!(
        "top-1: INT8 = QDQ reference on {agree}/{n}, = FP32 on {agree_fp32}/{n}; batch 1, 1 thread: \
         INT8 {int8_ms:.1} ms, FP32 {fp32_ms:.1} ms",
        n = samples.len()
    );
    assert_eq!(agree, samples.len());
}
