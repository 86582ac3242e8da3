//! The runtime's fused dynamic-int8 step against the node-by-node reference evaluators,
//! and per-row activation quantization against a naive implementation.

use lowbit::graph::ops::{BinaryOp, Cast, Gemm};
use lowbit::graph::{Dim, Fact, Graph, Node, Op};
use lowbit::quant::dynamic::{
    quantize_dynamic, ActivationGranularity, DynamicConfig, DynamicRecord, WeightGranularity, METADATA_KEY,
};
use lowbit::runtime::{Plan, PlanOptions};
use lowbit::tensor::{DType, Tensor};
use rand::{rngs::StdRng, Rng, SeedableRng};

fn random(rng: &mut StdRng, len: usize, scale: f32) -> Vec<f32> {
    (0..len).map(|_| rng.gen_range(-scale..scale)).collect()
}

/// `x [..., k] · W [k, n] (+ b)`; the input shape is symbolic in its leading dims.
fn matmul_graph(rank: usize, k: usize, n: usize, bias: bool, rng: &mut StdRng) -> Graph {
    let mut g = Graph::new("matmul");
    let mut dims: Vec<Dim> = (0..rank - 1).map(|i| Dim::Sym(format!("d{i}"))).collect();
    dims.push(Dim::Known(k));
    let x = g.add_input("x", Fact::new(DType::F32, dims)).unwrap();
    let w = g
        .add_const("w", Tensor::new(vec![k, n], random(rng, k * n, 1.0)).unwrap())
        .unwrap();
    let y = g.add_value("y", Fact::unknown()).unwrap();
    g.add_node(node("mm", Op::MatMul, &[x, w], y));
    let mut out = y;
    if bias {
        let b = g
            .add_const("b", Tensor::new(vec![n], random(rng, n, 1.0)).unwrap())
            .unwrap();
        out = g.add_value("z", Fact::unknown()).unwrap();
        g.add_node(node("bias", Op::Binary(BinaryOp::Add), &[b, y], out));
    }
    g.outputs.push(out);
    g
}

fn node(name: &str, op: Op, inputs: &[lowbit::graph::ValueId], out: lowbit::graph::ValueId) -> Node {
    Node {
        name: name.into(),
        op,
        inputs: inputs.iter().copied().map(Some).collect(),
        outputs: vec![out],
    }
}

fn run(graph: &Graph, optimize: bool, x: &Tensor) -> Vec<Tensor> {
    let plan = Plan::new(graph.clone(), &PlanOptions { threads: 1, optimize }).unwrap();
    plan.run(std::slice::from_ref(x)).unwrap()
}

/// The names of the values an optimized run computes, in order.
fn computed_values(graph: &Graph, x: &Tensor) -> Vec<String> {
    let plan = Plan::new(
        graph.clone(),
        &PlanOptions {
            threads: 1,
            optimize: true,
        },
    )
    .unwrap();
    let mut names = Vec::new();
    let mut observe = |name: &str, _: lowbit::graph::ValueId, _: &Tensor| names.push(name.to_string());
    plan.run_observed(std::slice::from_ref(x), &mut observe).unwrap();
    names
}

fn config(weights: WeightGranularity, activations: ActivationGranularity) -> DynamicConfig {
    DynamicConfig {
        weights,
        activations,
        ..DynamicConfig::default()
    }
}

fn assert_bit_equal(a: &Tensor, b: &Tensor, what: &str) {
    assert_eq!(a.shape(), b.shape(), "{what}: shapes");
    let (a, b) = (a.as_slice::<f32>().unwrap(), b.as_slice::<f32>().unwrap());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert_eq!(x.to_bits(), y.to_bits(), "{what}: element {i}: {x} vs {y}");
    }
}

/// Edge shapes: `(input shape, n)`; the last input dim is K.
const SHAPES: &[(&[usize], usize)] = &[
    (&[1, 1], 1),
    (&[3, 5], 7),
    (&[17, 33], 65),
    (&[2, 9, 64], 48),
    (&[1, 4, 3, 31], 17),
    (&[40], 9),
    (&[0, 8], 5),
];

#[test]
fn fused_per_tensor_is_bit_exact_with_the_reference_ops() {
    let mut rng = StdRng::seed_from_u64(7);
    for &(shape, n) in SHAPES {
        let k = *shape.last().unwrap();
        for bias in [false, true] {
            let g = matmul_graph(shape.len(), k, n, bias, &mut rng);
            for weights in [WeightGranularity::PerChannel, WeightGranularity::PerTensor] {
                let q = quantize_dynamic(&g, &config(weights, ActivationGranularity::PerTensor)).unwrap();
                assert_eq!(q.quantized, vec!["mm".to_string()]);
                let len: usize = shape.iter().product();
                // Skewed inputs, so that the zero point is not in the middle.
                let values: Vec<f32> = random(&mut rng, len, 3.0).into_iter().map(|v| v + 1.0).collect();
                let x = Tensor::new(shape.to_vec(), values).unwrap();
                let fused = run(&q.graph, true, &x);
                let reference = run(&q.graph, false, &x);
                assert_bit_equal(
                    &fused[0],
                    &reference[0],
                    &format!("{shape:?} n={n} bias={bias} {weights:?}"),
                );
                // And the INT8 result is close to FP32.
                let fp32 = run(&g, false, &x);
                let (a, b) = (
                    fused[0].as_slice::<f32>().unwrap(),
                    fp32[0].as_slice::<f32>().unwrap(),
                );
                let err = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
                let peak = b.iter().map(|v| v.abs()).fold(1e-3f32, f32::max);
                assert!(
                    err <= 0.05 * peak,
                    "{shape:?} n={n}: INT8 error {err} vs peak {peak}"
                );
            }
        }
    }
}

/// Naive per-row dynamic quantization: each row gets DynamicQuantizeLinear's rule.
fn per_row_reference(x: &[f32], k: usize, w: &Tensor, w_scales: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let n = w.shape()[1];
    let wq = w.as_slice::<i8>().unwrap();
    let mut out = Vec::new();
    for row in x.chunks_exact(k) {
        let min = row.iter().copied().fold(0f32, f32::min);
        let max = row.iter().copied().fold(0f32, f32::max);
        let scale = (max - min) / 255.0;
        let (zp, q): (i32, Vec<i32>) = if scale == 0.0 {
            (0, vec![0; k])
        } else {
            let zp = (-min / scale).clamp(0.0, 255.0).round_ties_even() as i32;
            (
                zp,
                row.iter()
                    .map(|v| ((v / scale).round_ties_even() as i32 + zp).clamp(0, 255))
                    .collect(),
            )
        };
        for j in 0..n {
            let acc: i32 = (0..k).map(|kk| (q[kk] - zp) * i32::from(wq[kk * n + j])).sum();
            let s = if w_scales.len() == 1 {
                w_scales[0]
            } else {
                w_scales[j]
            };
            let mut y = acc as f32 * (scale * s);
            if let Some(b) = bias {
                y += b[j];
            }
            out.push(y);
        }
    }
    out
}

#[test]
fn fused_per_row_matches_a_naive_per_row_quantization() {
    let mut rng = StdRng::seed_from_u64(11);
    for &(shape, n) in SHAPES {
        let k = *shape.last().unwrap();
        let g = matmul_graph(shape.len(), k, n, true, &mut rng);
        for weights in [WeightGranularity::PerChannel, WeightGranularity::PerTensor] {
            let q = quantize_dynamic(&g, &config(weights, ActivationGranularity::PerRow)).unwrap();
            let len: usize = shape.iter().product();
            // Rows of very different ranges: per-row must differ from per-tensor.
            let values: Vec<f32> = random(&mut rng, len, 1.0)
                .into_iter()
                .enumerate()
                .map(|(i, v)| v * (1 + (i / k.max(1)) % 5) as f32 + 0.3)
                .collect();
            let x = Tensor::new(shape.to_vec(), values.clone()).unwrap();
            let fused = run(&q.graph, true, &x);
            let constant = |name: &str| {
                q.graph
                    .initializer(q.graph.value_id(name).unwrap())
                    .unwrap()
                    .clone()
            };
            let w = constant("mm/w_quantized");
            let scales = constant("mm/w_scale");
            let bias = constant("b");
            let expected = per_row_reference(
                &values,
                k,
                &w,
                scales.as_slice::<f32>().unwrap(),
                Some(bias.as_slice::<f32>().unwrap()),
            );
            // The standard ops of the per-row form compute the fused kernel's bits.
            let reference = run(&q.graph, false, &x);
            assert_bit_equal(
                &fused[0],
                &reference[0],
                &format!("{shape:?} {weights:?} unfused"),
            );
            let got = fused[0].as_slice::<f32>().unwrap();
            assert_eq!(got.len(), expected.len());
            for (i, (a, b)) in got.iter().zip(&expected).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-5 * b.abs().max(1.0),
                    "{shape:?} {weights:?} element {i}: {a} vs {b}"
                );
            }
        }
    }
}

#[test]
fn per_row_file_computes_per_row_ranges_fused_or_not() {
    let mut rng = StdRng::seed_from_u64(3);
    let g = matmul_graph(2, 16, 8, false, &mut rng);
    let values: Vec<f32> = (0..4 * 16)
        .map(|i| ((i * 7 % 13) as f32 - 6.0) * (1 + i / 16) as f32)
        .collect();
    let x = Tensor::new(vec![4, 16], values).unwrap();
    let per_tensor = quantize_dynamic(
        &g,
        &config(WeightGranularity::PerChannel, ActivationGranularity::PerTensor),
    )
    .unwrap();
    let per_row = quantize_dynamic(
        &g,
        &config(WeightGranularity::PerChannel, ActivationGranularity::PerRow),
    )
    .unwrap();
    let a = run(&per_tensor.graph, true, &x);
    let b = run(&per_row.graph, true, &x);
    assert_ne!(a[0].as_slice::<f32>().unwrap(), b[0].as_slice::<f32>().unwrap());
    // The per-row chain fuses into one step: its intermediates are never computed.
    let computed = computed_values(&per_row.graph, &x);
    assert!(
        !computed.iter().any(|n| n == "mm/Scale_out"),
        "not fused: {computed:?}"
    );
    // The per-row file holds per-row semantics in its ops, with or without the metadata
    // record and the fusion.
    assert_bit_equal(&run(&per_row.graph, false, &x)[0], &b[0], "unfused per-row");
    let mut bare = per_row.graph.clone();
    bare.metadata.clear();
    assert_bit_equal(&run(&bare, true, &x)[0], &b[0], "without metadata");

    // Column sums that are not W's make the chain compute something else: no fusion, and
    // the ops run as written.
    let mut tampered = per_row.graph.clone();
    let sums_id = tampered.value_id("mm/w_column_sums").unwrap();
    let mut sums = tampered
        .initializer(sums_id)
        .unwrap()
        .as_slice::<i32>()
        .unwrap()
        .to_vec();
    sums[0] += 1;
    let sums = Tensor::new(vec![sums.len()], sums).unwrap();
    tampered.initializers.insert(sums_id, std::sync::Arc::new(sums));
    assert!(computed_values(&tampered, &x).iter().any(|n| n == "mm/Scale_out"));
    assert_bit_equal(
        &run(&tampered, true, &x)[0],
        &run(&tampered, false, &x)[0],
        "tampered sums",
    );

    // Files of the older form (DynamicQuantizeLinear chain with a per-row metadata record)
    // still run per-row in lowbit.
    let mut older = per_tensor.graph.clone();
    let mut record = DynamicRecord::from_json(&older.metadata[METADATA_KEY]).unwrap();
    record.activations = ActivationGranularity::PerRow;
    older.metadata.insert(METADATA_KEY.to_string(), record.to_json());
    assert_bit_equal(&run(&older, true, &x)[0], &b[0], "older per-row form");

    // An intermediate that is also a graph output blocks the fusion: the reference ops
    // run, with the same result, and the intermediate is computed.
    let mut exposed = per_row.graph.clone();
    let scale = exposed.value_id("mm/Scale_out").unwrap();
    exposed.outputs.push(scale);
    let outputs = run(&exposed, true, &x);
    assert_bit_equal(&outputs[0], &b[0], "exposed intermediate");
    assert_eq!(outputs[1].shape(), &[4, 1]);
    assert!(outputs[1].as_slice::<f32>().unwrap().iter().all(|&s| s > 0.0));
}

#[test]
fn gemm_with_transposed_weights_alpha_and_bias() {
    let mut rng = StdRng::seed_from_u64(5);
    let (m, k, n) = (6, 21, 10);
    let mut g = Graph::new("gemm");
    let x = g.add_input("x", Fact::known(DType::F32, &[m, k])).unwrap();
    let w = g
        .add_const(
            "w",
            Tensor::new(vec![n, k], random(&mut rng, n * k, 1.0)).unwrap(),
        )
        .unwrap();
    let c = g
        .add_const("c", Tensor::new(vec![n], random(&mut rng, n, 1.0)).unwrap())
        .unwrap();
    let y = g.add_value("y", Fact::unknown()).unwrap();
    let attrs = Gemm {
        alpha: 0.5,
        beta: 2.0,
        trans_a: false,
        trans_b: true,
    };
    g.add_node(node("fc", Op::Gemm(attrs), &[x, w, c], y));
    g.outputs.push(y);
    // Per-tensor ranges, so that the fused step must match the unfused ops bit for bit.
    let per_tensor = config(WeightGranularity::PerChannel, ActivationGranularity::PerTensor);
    let q = quantize_dynamic(&g, &per_tensor).unwrap();
    assert_eq!(q.quantized, vec!["fc".to_string()]);
    assert_eq!(q.graph.op_histogram().get("Gemm"), None);
    let input = Tensor::new(vec![m, k], random(&mut rng, m * k, 2.0)).unwrap();
    let fused = run(&q.graph, true, &input);
    assert_bit_equal(&fused[0], &run(&q.graph, false, &input)[0], "gemm");
    let fp32 = run(&g, false, &input);
    let (a, b) = (
        fused[0].as_slice::<f32>().unwrap(),
        fp32[0].as_slice::<f32>().unwrap(),
    );
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() < 0.05, "element {i}: {x} vs {y}");
    }
}

#[test]
fn all_zero_input_gives_the_bias() {
    let mut rng = StdRng::seed_from_u64(1);
    let g = matmul_graph(2, 8, 4, true, &mut rng);
    for activations in [ActivationGranularity::PerTensor, ActivationGranularity::PerRow] {
        let q = quantize_dynamic(&g, &config(WeightGranularity::PerChannel, activations)).unwrap();
        let x = Tensor::new(vec![3, 8], vec![0f32; 24]).unwrap();
        let out = run(&q.graph, true, &x);
        assert_bit_equal(
            &run(&q.graph, false, &x)[0],
            &out[0],
            &format!("{activations:?} unfused"),
        );
        let bias = g.initializer(g.value_id("b").unwrap()).unwrap();
        for row in out[0].as_slice::<f32>().unwrap().chunks(4) {
            assert_eq!(row, bias.as_slice::<f32>().unwrap());
        }
    }
}

/// The chains ONNX Runtime's `quantize_dynamic` writes for products that share an input
/// (a layer's Q, K and V projections): one DynamicQuantizeLinear read by three
/// MatMulIntegers, i8 weights with an explicit zero point, the scale product
/// `Mul(x_scale, w_scale)` per chain, a bias on two of the three.
fn shared_input_graph(k: usize, widths: &[usize], rng: &mut StdRng) -> Graph {
    let mut g = Graph::new("shared");
    let x = g
        .add_input(
            "x",
            Fact::new(DType::F32, vec![Dim::Sym("rows".into()), Dim::Known(k)]),
        )
        .unwrap();
    let [x_q, x_scale, x_zp] = ["x_q", "x_scale", "x_zp"].map(|v| g.add_value(v, Fact::unknown()).unwrap());
    g.add_node(Node {
        name: "dql".into(),
        op: Op::DynamicQuantizeLinear,
        inputs: vec![Some(x)],
        outputs: vec![x_q, x_scale, x_zp],
    });
    for (i, &n) in widths.iter().enumerate() {
        let w: Vec<i8> = (0..k * n).map(|_| rng.gen_range(-127..=127)).collect();
        let w = g
            .add_const(format!("w{i}"), Tensor::new(vec![k, n], w).unwrap())
            .unwrap();
        let w_zp = g.add_const(format!("w{i}_zp"), Tensor::scalar(0i8)).unwrap();
        let w_scale = g
            .add_const(
                format!("w{i}_scale"),
                Tensor::scalar(rng.gen_range(0.001f32..0.01)),
            )
            .unwrap();
        let value = |g: &mut Graph, name: &str| g.add_value(format!("{name}{i}"), Fact::unknown()).unwrap();
        let acc = value(&mut g, "acc");
        g.add_node(Node {
            name: format!("mm{i}"),
            op: Op::MatMulInteger,
            inputs: vec![Some(x_q), Some(w), Some(x_zp), Some(w_zp)],
            outputs: vec![acc],
        });
        let acc_f32 = value(&mut g, "acc_f32");
        g.add_node(node(
            &format!("cast{i}"),
            Op::Cast(Cast { to: DType::F32 }),
            &[acc],
            acc_f32,
        ));
        let scale = value(&mut g, "scale");
        g.add_node(node(
            &format!("scale{i}"),
            Op::Binary(BinaryOp::Mul),
            &[x_scale, w_scale],
            scale,
        ));
        let mut out = value(&mut g, "product");
        g.add_node(node(
            &format!("rescale{i}"),
            Op::Binary(BinaryOp::Mul),
            &[acc_f32, scale],
            out,
        ));
        if i > 0 {
            let b = g
                .add_const(
                    format!("b{i}"),
                    Tensor::new(vec![n], random(rng, n, 1.0)).unwrap(),
                )
                .unwrap();
            let biased = value(&mut g, "biased");
            g.add_node(node(
                &format!("bias{i}"),
                Op::Binary(BinaryOp::Add),
                &[out, b],
                biased,
            ));
            out = biased;
        }
        g.outputs.push(out);
    }
    g
}

#[test]
fn products_sharing_one_quantized_input_each_fuse_bit_exactly() {
    let mut rng = StdRng::seed_from_u64(11);
    for (rows, k) in [(1, 1), (5, 16), (19, 33), (128, 64)] {
        let g = shared_input_graph(k, &[7, 16, 33], &mut rng);
        let values: Vec<f32> = random(&mut rng, rows * k, 2.0)
            .into_iter()
            .map(|v| v - 0.5)
            .collect();
        let x = Tensor::new(vec![rows, k], values).unwrap();
        let fused = run(&g, true, &x);
        let reference = run(&g, false, &x);
        for (i, (f, r)) in fused.iter().zip(&reference).enumerate() {
            assert_bit_equal(f, r, &format!("rows={rows} k={k} product {i}"));
        }
        // Fused: no intermediate of any chain is computed, only the input and the results.
        let computed = computed_values(&g, &x);
        assert_eq!(
            computed,
            ["x", "product0", "biased1", "biased2"],
            "rows={rows} k={k}"
        );
    }
}
