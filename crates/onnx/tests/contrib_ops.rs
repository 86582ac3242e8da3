//! ONNX Runtime's contrib quantized ops (`com.microsoft`): a QOperator file of the kind
//! its quantizer writes imports, runs on lowbit's integer steps, and computes what the
//! ops' definitions say (dequantize, float op, quantize with round-half-to-even).

mod common;

use common::proto::value_info;
use lowbit_onnx::pb::attribute_proto::AttributeType;
use lowbit_onnx::pb::tensor_proto::DataType;
use lowbit_onnx::pb::{AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto};
use lowbit_runtime::{Plan, PlanOptions};
use lowbit_tensor::Tensor;
use prost::Message;

const CHANNELS: usize = 4;
const PIXELS: usize = 9;
const OUTPUTS: usize = 3;

const A: (f32, u8) = (0.05, 120);
const B: (f32, u8) = (0.03, 130);
const SUM: (f32, u8) = (0.06, 125);
const POOL: (f32, u8) = (0.02, 100);
const Y: (f32, u8) = (0.04, 128);

fn weights() -> Vec<i8> {
    (0..OUTPUTS * CHANNELS)
        .map(|i| ((i * 37) % 101) as i8 - 50)
        .collect()
}
const W_SCALES: [f32; OUTPUTS] = [0.011, 0.007, 0.019];
const BIAS: [i32; OUTPUTS] = [250, -400, 37];

fn tensor(name: &str, data_type: DataType, dims: &[i64], raw_data: Vec<u8>) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: data_type as i32,
        raw_data,
        ..Default::default()
    }
}

fn f32s(name: &str, values: &[f32]) -> TensorProto {
    let dims: &[i64] = if values.len() == 1 {
        &[]
    } else {
        &[values.len() as i64]
    };
    let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    tensor(name, DataType::Float, dims, raw)
}

fn u8_scalar(name: &str, value: u8) -> TensorProto {
    tensor(name, DataType::Uint8, &[], vec![value])
}

fn contrib(op: &str, inputs: &[&str], output: &str, attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        name: output.into(),
        op_type: op.into(),
        domain: "com.microsoft".into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        attribute,
        ..Default::default()
    }
}

/// `y = QGemm(Flatten(QLinearGlobalAveragePool(QLinearAdd(a, b))), W, bias)`, and the
/// same QGemm without an output scale (float `yf`), as ONNX Runtime writes a
/// classifier's residual Add, pooling and head.
fn model() -> ModelProto {
    let trans_b = AttributeProto {
        name: "transB".into(),
        r#type: AttributeType::Int as i32,
        i: 1,
        ..Default::default()
    };
    let image = [1, CHANNELS as i64, 3, 3];
    let initializer = vec![
        f32s("a_s", &[A.0]),
        u8_scalar("a_z", A.1),
        f32s("b_s", &[B.0]),
        u8_scalar("b_z", B.1),
        f32s("c_s", &[SUM.0]),
        u8_scalar("c_z", SUM.1),
        f32s("p_s", &[POOL.0]),
        u8_scalar("p_z", POOL.1),
        f32s("y_s", &[Y.0]),
        u8_scalar("y_z", Y.1),
        tensor(
            "w",
            DataType::Int8,
            &[OUTPUTS as i64, CHANNELS as i64],
            weights().iter().map(|&v| v as u8).collect(),
        ),
        f32s("w_s", &W_SCALES),
        tensor("w_z", DataType::Int8, &[OUTPUTS as i64], vec![0; OUTPUTS]),
        tensor(
            "bias",
            DataType::Int32,
            &[OUTPUTS as i64],
            BIAS.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ),
    ];
    let gemm_inputs = ["f", "p_s", "p_z", "w", "w_s", "w_z", "bias"];
    let node = vec![
        contrib(
            "QLinearAdd",
            &["a", "a_s", "a_z", "b", "b_s", "b_z", "c_s", "c_z"],
            "c",
            vec![],
        ),
        contrib(
            "QLinearGlobalAveragePool",
            &["c", "c_s", "c_z", "p_s", "p_z"],
            "p",
            vec![],
        ),
        NodeProto {
            name: "flatten".into(),
            op_type: "Flatten".into(),
            input: vec!["p".into()],
            output: vec!["f".into()],
            ..Default::default()
        },
        contrib(
            "QGemm",
            &[&gemm_inputs[..], &["y_s", "y_z"]].concat(),
            "y",
            vec![trans_b.clone()],
        ),
        contrib("QGemm", &gemm_inputs, "yf", vec![trans_b]),
    ];
    let graph = GraphProto {
        name: "contrib".into(),
        node,
        initializer,
        input: vec![
            value_info("a", DataType::Uint8, &image),
            value_info("b", DataType::Uint8, &image),
        ],
        output: vec![
            value_info("c", DataType::Uint8, &image),
            value_info("p", DataType::Uint8, &[1, CHANNELS as i64, 1, 1]),
            value_info("y", DataType::Uint8, &[1, OUTPUTS as i64]),
            value_info("yf", DataType::Float, &[1, OUTPUTS as i64]),
        ],
        ..Default::default()
    };
    let opset = |domain: &str, version| OperatorSetIdProto {
        domain: domain.into(),
        version,
    };
    ModelProto {
        ir_version: 8,
        opset_import: vec![opset("", 17), opset("com.microsoft", 1)],
        graph: Some(graph),
        ..Default::default()
    }
}

fn quantize(v: f32, (scale, zero_point): (f32, u8)) -> u8 {
    ((v / scale).round_ties_even() + zero_point as f32).clamp(0.0, 255.0) as u8
}

fn dequantize(q: u8, (scale, zero_point): (f32, u8)) -> f32 {
    (q as i32 - zero_point as i32) as f32 * scale
}

/// The ops' definitions, computed plainly: `(c, p, y, yf)`.
fn reference(a: &[u8], b: &[u8]) -> (Vec<u8>, Vec<u8>, Vec<u8>, Vec<f32>) {
    let c: Vec<u8> = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| quantize(dequantize(x, A) + dequantize(y, B), SUM))
        .collect();
    let p: Vec<u8> = c
        .chunks(PIXELS)
        .map(|plane| {
            quantize(
                plane.iter().map(|&v| dequantize(v, SUM)).sum::<f32>() / PIXELS as f32,
                POOL,
            )
        })
        .collect();
    let w = weights();
    let yf: Vec<f32> = (0..OUTPUTS)
        .map(|n| {
            let dot: f32 = (0..CHANNELS)
                .map(|k| dequantize(p[k], POOL) * w[n * CHANNELS + k] as f32 * W_SCALES[n])
                .sum();
            dot + BIAS[n] as f32 * POOL.0 * W_SCALES[n]
        })
        .collect();
    let y = yf.iter().map(|&v| quantize(v, Y)).collect();
    (c, p, y, yf)
}

fn pseudo_random(len: usize, seed: u32) -> Vec<u8> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 24) as u8
        })
        .collect()
}

fn assert_within_one_step(got: &Tensor, want: &[u8], what: &str) {
    let got = got.as_slice::<u8>().unwrap();
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!((g as i32 - w as i32).abs() <= 1, "{what}[{i}]: {g} vs {w}");
    }
}

#[test]
fn onnx_runtime_contrib_qoperator_ops_run_on_integer_steps() {
    let bytes = model().encode_to_vec();
    let graph = lowbit_onnx::from_bytes(&bytes, "contrib.onnx").unwrap();
    let plan = Plan::new(graph.clone(), &PlanOptions::default()).unwrap();
    let kernels: Vec<String> = plan.integer_steps().into_iter().map(|(_, k)| k).collect();
    assert_eq!(kernels, ["qadd", "qglobal_avg_pool", "QLinear"], "{kernels:?}");
    // A QGemm with float output has no integer kernel: it runs in f32, listed.
    let fallbacks: Vec<(&str, &str)> = plan
        .fallbacks()
        .iter()
        .map(|(n, o)| (n.as_str(), o.as_str()))
        .collect();
    assert_eq!(fallbacks, [("yf/float", "Gemm")]);
    let unfused = Plan::new(
        graph,
        &PlanOptions {
            optimize: false,
            ..Default::default()
        },
    )
    .unwrap();
    for seed in 1..6 {
        let (a, b) = (
            pseudo_random(CHANNELS * PIXELS, seed),
            pseudo_random(CHANNELS * PIXELS, seed + 100),
        );
        let shape = [1, CHANNELS, 3, 3];
        let inputs = [
            Tensor::new(shape, a.clone()).unwrap(),
            Tensor::new(shape, b.clone()).unwrap(),
        ];
        let (c, p, y, yf) = reference(&a, &b);
        for (run, outputs) in [
            ("fused", plan.run(&inputs).unwrap()),
            ("reference", unfused.run(&inputs).unwrap()),
        ] {
            assert_within_one_step(&outputs[0], &c, &format!("{run} QLinearAdd, seed {seed}"));
            assert_within_one_step(
                &outputs[1],
                &p,
                &format!("{run} QLinearGlobalAveragePool, seed {seed}"),
            );
            assert_within_one_step(&outputs[2], &y, &format!("{run} QGemm, seed {seed}"));
            let got = outputs[3].as_slice::<f32>().unwrap();
            for (g, w) in got.iter().zip(&yf) {
                assert!(
                    (g - w).abs() <= 1e-4 * w.abs().max(1.0),
                    "{run} float QGemm: {g} vs {w}"
                );
            }
        }
    }
}

#[test]
fn channels_last_pooling_is_a_clear_error() {
    let mut m = model();
    let graph = m.graph.as_mut().unwrap();
    graph.node[1].attribute.push(AttributeProto {
        name: "channels_last".into(),
        r#type: AttributeType::Int as i32,
        i: 1,
        ..Default::default()
    });
    let err = lowbit_onnx::from_bytes(&m.encode_to_vec(), "contrib.onnx").unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("contrib.onnx") && text.contains("'p'") && text.contains("channels_last"),
        "{text}"
    );
}

/// `QLinearSoftmax` over the last axis of a u8 `[2, 5]` input, as ONNX Runtime writes an
/// attention's softmax: `(x, x_scale, x_zp, y_scale, y_zp)`, output scale 1/256.
fn softmax_model(attribute: Vec<AttributeProto>) -> ModelProto {
    let mut m = model();
    let graph = m.graph.as_mut().unwrap();
    graph.node = vec![contrib(
        "QLinearSoftmax",
        &["a", "a_s", "a_z", "s_s", "s_z"],
        "s",
        attribute,
    )];
    graph.initializer.push(f32s("s_s", &[1.0 / 256.0]));
    graph.initializer.push(u8_scalar("s_z", 0));
    graph.input = vec![value_info("a", DataType::Uint8, &[2, 5])];
    graph.output = vec![value_info("s", DataType::Uint8, &[2, 5])];
    m
}

#[test]
fn qlinear_softmax_follows_its_definition() {
    let opset = |v: i64| AttributeProto {
        name: "opset".into(),
        r#type: AttributeType::Int as i32,
        i: v,
        ..Default::default()
    };
    let graph =
        lowbit_onnx::from_bytes(&softmax_model(vec![opset(13)]).encode_to_vec(), "softmax.onnx").unwrap();
    let plan = Plan::new(graph, &PlanOptions::default()).unwrap();
    let a = pseudo_random(10, 7);
    let out = plan.run(&[Tensor::new([2usize, 5], a.clone()).unwrap()]).unwrap();
    for (row, got) in a.chunks(5).zip(out[0].as_slice::<u8>().unwrap().chunks(5)) {
        let x: Vec<f32> = row.iter().map(|&v| dequantize(v, A)).collect();
        let top = x.iter().copied().fold(f32::MIN, f32::max);
        let sum: f32 = x.iter().map(|v| (v - top).exp()).sum();
        for (v, &g) in x.iter().zip(got) {
            let want = quantize((v - top).exp() / sum, (1.0 / 256.0, 0));
            assert!((g as i32 - want as i32).abs() <= 1, "{g} vs {want}");
        }
    }

    // Before opset 13, an axis other than the last flattened from there: refused.
    let axis0 = AttributeProto {
        name: "axis".into(),
        r#type: AttributeType::Int as i32,
        i: 0,
        ..Default::default()
    };
    let err = lowbit_onnx::from_bytes(
        &softmax_model(vec![opset(11), axis0]).encode_to_vec(),
        "softmax.onnx",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("softmax.onnx") && err.contains("opset < 13"),
        "{err}"
    );
}
