//! Static PTQ on small builder graphs: fusion is an FP32 no-op, the QDQ layout, and
//! the errors bad input gets.

use lowbit_data::{Dataset, Sample};
use lowbit_graph::builder::{BatchNormWeights, Conv2dSpec, GraphBuilder};
use lowbit_graph::{Graph, Op};
use lowbit_quant::static_ptq::QUANTIZATION_METADATA_KEY;
use lowbit_quant::static_ptq::{fuse, parse_recipe, prepare, Preset, PtqError, QConfig};
use lowbit_runtime::{Plan, PlanOptions};
use lowbit_tensor::{DType, Tensor};
use rand::{Rng, SeedableRng};

/// Deterministic pseudo-random values in [-scale, scale].
fn random(shape: &[usize], scale: f32, seed: u64) -> Tensor {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let n = shape.iter().product();
    Tensor::new(
        shape.to_vec(),
        (0..n)
            .map(|_| rng.gen_range(-scale..=scale))
            .collect::<Vec<f32>>(),
    )
    .unwrap()
}

/// conv(3→4, odd 5×5 input, pad 1) + BN + ReLU6 → conv(4→4, depthwise) + residual Add +
/// ReLU → global pool → flatten → linear(4→3).
fn model() -> Graph {
    let mut b = GraphBuilder::new("tiny");
    let x = b.input("x", DType::F32, [1usize, 3, 5, 5]).unwrap();
    let spec = Conv2dSpec {
        padding: [1, 1],
        ..Default::default()
    };
    let c1 = b
        .conv2d("c1", x, spec, random(&[4, 3, 3, 3], 0.5, 1), None)
        .unwrap();
    let mut bn = BatchNormWeights::fresh(4);
    bn.running_mean = random(&[4], 0.2, 2);
    bn.weight = Tensor::new(vec![4], vec![1.5f32, 0.5, 1.0, 2.0]).unwrap();
    let n1 = b.batch_norm("bn1", c1, bn).unwrap();
    let a1 = b.relu6("act1", n1).unwrap();
    let dw = Conv2dSpec { groups: 4, ..spec };
    let c2 = b
        .conv2d(
            "c2",
            a1,
            dw,
            random(&[4, 1, 3, 3], 0.5, 3),
            Some(random(&[4], 0.1, 4)),
        )
        .unwrap();
    let sum = b.add(c2, a1).unwrap();
    let r = b.relu("act2", sum).unwrap();
    let p = b.global_avg_pool("pool", r).unwrap();
    let f = b.flatten(p).unwrap();
    let y = b
        .linear("fc", f, random(&[3, 4], 0.8, 5), Some(random(&[3], 0.1, 6)))
        .unwrap();
    b.output(y);
    b.finish().unwrap()
}

struct Samples(Vec<Tensor>);

impl Dataset for Samples {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn get(&self, index: usize) -> lowbit_data::Result<Sample> {
        Ok(Sample {
            input: self.0[index].clone(),
            label: None,
        })
    }
    fn sample_shape(&self) -> Vec<usize> {
        self.0.first().map(|t| t.shape().to_vec()).unwrap_or_default()
    }
}

fn data(count: usize, shape: &[usize]) -> Samples {
    Samples((0..count).map(|i| random(shape, 1.0, 100 + i as u64)).collect())
}

fn run(graph: &Graph, input: &Tensor) -> Vec<f32> {
    let options = PlanOptions {
        threads: 1,
        optimize: false,
    };
    let batched = input.clone().reshape([&[1][..], input.shape()].concat()).unwrap();
    Plan::new(graph.clone(), &options)
        .unwrap()
        .run(&[batched])
        .unwrap()[0]
        .to_f32_vec()
}

fn sqnr_db(reference: &[f32], test: &[f32]) -> f64 {
    let signal: f64 = reference.iter().map(|&r| (r as f64).powi(2)).sum();
    let noise: f64 = reference
        .iter()
        .zip(test)
        .map(|(&r, &t)| (r as f64 - t as f64).powi(2))
        .sum();
    10.0 * (signal / noise).log10()
}

#[test]
fn fusion_is_numerically_a_no_op_and_groups_activations() {
    let graph = model();
    let mut fused = graph.clone();
    let groups = fuse(&mut fused).unwrap();
    assert!(
        !fused.nodes.iter().any(|n| matches!(n.op, Op::BatchNorm(_))),
        "BN is folded"
    );
    let names = |id: Option<usize>| id.map(|n| fused.nodes[n].name.clone());
    let pairs: Vec<(Option<String>, Option<String>)> = groups
        .iter()
        .map(|g| (names(Some(g.anchor)), names(g.activation)))
        .collect();
    assert!(pairs.contains(&(Some("c1".into()), Some("act1".into()))));
    assert!(pairs.contains(&(Some("fc".into()), None)));
    assert!(pairs
        .iter()
        .any(|(a, r)| a.as_deref().is_some_and(|a| a.starts_with("add")) && r.as_deref() == Some("act2")));
    for sample in data(3, &[3, 5, 5]).0 {
        let (a, b) = (run(&graph, &sample), run(&fused, &sample));
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() <= 1e-5 * (1.0 + x.abs()), "{x} vs {y}");
        }
    }
}

#[test]
fn convert_writes_qdq_with_int8_weights_and_fp32_names() {
    let graph = model();
    let qconfig = QConfig::preset(Preset::X86);
    let mut prepared = prepare(graph.clone(), &qconfig).unwrap();
    let points = prepared.quantization_points();
    assert!(points.contains(&"x") && points.contains(&"act1") && !points.contains(&"c1"));
    let calibration = data(8, &[3, 5, 5]);
    let done = prepared.calibrate(&calibration, None, &mut |_| {}).unwrap();
    assert_eq!(
        (done.samples, done.batches),
        (8, 8),
        "a fixed batch of 1 runs sample by sample"
    );
    let q = prepared.convert().unwrap();
    let g = &q.graph;
    assert!(g.metadata.contains_key(QUANTIZATION_METADATA_KEY));
    let dtypes: Vec<DType> = g.initializers.values().map(|t| t.dtype()).collect();
    assert!(dtypes.contains(&DType::I8) && dtypes.contains(&DType::I32) && dtypes.contains(&DType::U8));
    assert!(
        !g.initializers
            .values()
            .any(|t| t.dtype() == DType::F32 && t.len() > 4),
        "no FP32 weights"
    );
    // act1 is now a DequantizeLinear output under its FP32 name.
    let act1 = g.value_id("act1").unwrap();
    assert!(matches!(
        g.nodes[g.producer(act1).unwrap()].op,
        Op::DequantizeLinear(_)
    ));
    assert_eq!(q.bias_corrected, 3);
    let sample = &calibration.0[0];
    let s = sqnr_db(&run(&graph, sample), &run(g, sample));
    assert!(s > 25.0, "QDQ output SQNR {s:.1} dB");
}

#[test]
fn bad_inputs_are_typed_errors() {
    let graph = model();
    let recipe = parse_recipe("[[override]]\nnode = \"nope\"\nfp32 = true\n", Preset::X86).unwrap();
    let err = prepare(graph.clone(), &recipe).err().unwrap();
    assert!(
        matches!(&err, PtqError::UnknownNode { node } if node == "nope"),
        "{err}"
    );

    let mut prepared = prepare(graph.clone(), &QConfig::preset(Preset::PerTensor)).unwrap();
    let empty = Samples(Vec::new());
    assert!(matches!(
        prepared.calibrate(&empty, None, &mut |_| {}),
        Err(PtqError::Calibration(_))
    ));
    let wrong = data(2, &[1, 28, 28]);
    let err = prepared.calibrate(&wrong, None, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("'x'"), "{err}");
    assert!(matches!(prepared.convert(), Err(PtqError::NotCalibrated { .. })));
}

#[test]
fn fp32_override_keeps_a_node_unquantized() {
    let graph = model();
    let recipe = parse_recipe("[[override]]\nnode = \"fc\"\nfp32 = true\n", Preset::X86).unwrap();
    let mut prepared = prepare(graph, &recipe).unwrap();
    prepared
        .calibrate(&data(4, &[3, 5, 5]), None, &mut |_| {})
        .unwrap();
    let q = prepared.convert().unwrap();
    let fc = q.graph.nodes.iter().find(|n| n.name == "fc").unwrap();
    let w = q
        .graph
        .initializer(fc.input(1).unwrap())
        .expect("fc keeps its FP32 weight initializer");
    assert_eq!(w.dtype(), DType::F32);
}

/// The nodes computing the values `recipe` quantizes on the tiny model.
fn quantized_producers(recipe: &str) -> Vec<String> {
    let recipe = parse_recipe(recipe, Preset::X86).unwrap();
    let mut prepared = prepare(model(), &recipe).unwrap();
    prepared
        .calibrate(&data(4, &[3, 5, 5]), None, &mut |_| {})
        .unwrap();
    let q = prepared.convert().unwrap();
    q.ranges
        .iter()
        .map(|r| r.node.clone().unwrap_or_default())
        .collect()
}

#[test]
fn an_fp32_node_keeps_its_group_and_its_own_inputs_in_float() {
    let all = quantized_producers("");
    assert!(
        all.contains(&"act1".to_string()) && !all.contains(&"c1".to_string()),
        "{all:?}"
    );
    assert!(
        all.contains(&"fc".to_string()),
        "the logits are quantized by default: {all:?}"
    );
    // c1 in FP32 takes its ReLU6 with it: a lone quantized ReLU6 would have put a
    // point on c1's unbounded pre-activation output.
    let c1 = quantized_producers("[[override]]\nnode = \"c1\"\nfp32 = true\n");
    assert!(
        !c1.contains(&"c1".to_string()) && c1.contains(&"act1".to_string()),
        "{c1:?}"
    );
    // fc in FP32: the flattened pool, read by fc alone, is not rounded to 8 bits; nor
    // are fc's own outputs.
    let fc = quantized_producers("[[override]]\nnode = \"fc\"\nfp32 = true\n");
    let flatten = all
        .iter()
        .find(|n| n.contains("flatten"))
        .expect("a quantized flatten");
    assert!(!fc.contains(flatten) && !fc.contains(&"fc".to_string()), "{fc:?}");
    assert!(fc.contains(&"pool".to_string()), "{fc:?}");
    // `quantize_outputs = false` leaves only the model's output unquantized.
    let float_out = quantized_producers("[activations]\nquantize_outputs = false\n");
    let without_fc: Vec<String> = all.iter().filter(|n| *n != "fc").cloned().collect();
    assert_eq!(float_out, without_fc);
}

/// The i8 initializers of a QDQ graph, sorted by name.
fn int8_weights(graph: &Graph) -> Vec<(String, Vec<i8>)> {
    let mut weights: Vec<(String, Vec<i8>)> = graph
        .initializers
        .iter()
        .filter(|(_, t)| t.dtype() == DType::I8)
        .map(|(&id, t)| (graph.value(id).name.clone(), t.as_slice::<i8>().unwrap().to_vec()))
        .collect();
    weights.sort();
    weights
}

#[test]
fn gptq_moments_from_the_observer_pass_match_a_separate_pass() {
    let graph = model();
    let calibration = data(8, &[3, 5, 5]);
    let gptq = parse_recipe("gptq_rounding = true\n", Preset::X86).unwrap();
    // calibrate(): the weights are re-rounded against moments its observer pass gathered.
    let mut one_pass = prepare(graph.clone(), &gptq).unwrap();
    one_pass.calibrate(&calibration, None, &mut |_| {}).unwrap();
    let one_pass = one_pass.convert().unwrap().graph;
    // calibrate_batch() then correct_bias(): the moments come from a run of their own.
    let mut two_passes = prepare(graph.clone(), &gptq).unwrap();
    for sample in &calibration.0 {
        let batched = sample
            .clone()
            .reshape([&[1][..], sample.shape()].concat())
            .unwrap();
        two_passes.calibrate_batch(batched).unwrap();
    }
    two_passes.correct_bias(&calibration, None).unwrap();
    let two_passes = two_passes.convert().unwrap().graph;
    assert_eq!(int8_weights(&one_pass), int8_weights(&two_passes));
    let sample = &calibration.0[0];
    assert_eq!(run(&one_pass, sample), run(&two_passes, sample));
    // The depthwise conv has 8 × 25 patches for a 9-wide moment: enough to re-round.
    let mut nearest = prepare(graph.clone(), &QConfig::preset(Preset::X86)).unwrap();
    nearest.calibrate(&calibration, None, &mut |_| {}).unwrap();
    let nearest = nearest.convert().unwrap().graph;
    assert_ne!(int8_weights(&one_pass), int8_weights(&nearest));
}
