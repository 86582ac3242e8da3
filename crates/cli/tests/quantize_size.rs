//! The static INT8 QDQ file of the embedded model: at most 0.27× the FP32 file, every
//! conv on lowbit's integer kernels, the same outputs as the longer form that stores each
//! bias scale and keeps the Relu before a zero-point-0 quantizer, and (when python3 has
//! onnxruntime) every conv fused into ONNX Runtime's QLinearConv.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use lowbit::graph::ops::{BinaryOp, UnaryOp};
use lowbit::graph::{Fact, Graph, Node, Op};
use lowbit::tensor::Tensor;

const EMBEDDED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../embedded");

fn fp32_model() -> PathBuf {
    Path::new(EMBEDDED).join("mobilenet_v2_fashion_mnist.onnx")
}

fn calib_spec() -> String {
    format!("fashion-mnist:{EMBEDDED}/fashion-mnist")
}

/// `lowbit quantize --approach static --preset x86` of the embedded model, as the README
/// runs it.
fn quantize_x86(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lowbit-size-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let output = dir.join("fm_x86.onnx");
    let out = Command::new(env!("CARGO_BIN_EXE_lowbit"))
        .args(["quantize", "--model"])
        .arg(fp32_model())
        .args(["--approach", "static", "--calib", &calib_spec()])
        .args(["--calib-limit", "256", "--preset", "x86", "--output"])
        .arg(&output)
        .output()
        .expect("the lowbit binary runs");
    assert!(
        out.status.success(),
        "lowbit quantize failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    output
}

fn conv_names(graph: &Graph) -> Vec<String> {
    graph
        .nodes
        .iter()
        .filter(|n| matches!(n.op, Op::Conv(_)))
        .map(|n| n.name.clone())
        .collect()
}

#[test]
fn x86_file_is_at_most_0_27_of_fp32_and_every_conv_runs_on_integer_kernels() {
    let int8 = quantize_x86("ratio");
    let fp32_bytes = std::fs::metadata(fp32_model()).unwrap().len();
    let int8_bytes = std::fs::metadata(&int8).unwrap().len();
    let ratio = int8_bytes as f64 / fp32_bytes as f64;
    eprintln!("size: {fp32_bytes} -> {int8_bytes} bytes ({ratio:.4}x)");
    assert!(ratio <= 0.27, "INT8 file is {ratio:.4} of the FP32 file");

    let out = Command::new(env!("CARGO_BIN_EXE_lowbit"))
        .args(["inspect", "--json"])
        .arg(&int8)
        .output()
        .expect("the lowbit binary runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    let steps: Vec<&str> = report["integer_steps"]
        .as_array()
        .expect("integer_steps")
        .iter()
        .filter(|s| s["op"].as_str().is_some_and(|op| op.starts_with("QConv2d")))
        .filter_map(|s| s["node"].as_str())
        .collect();
    let convs = conv_names(&lowbit::onnx::load(&int8).unwrap());
    assert_eq!(convs.len(), 52);
    for conv in &convs {
        assert!(
            steps.contains(&conv.as_str()),
            "conv '{conv}' is not an integer step"
        );
    }
    let fallbacks = report["fp32_fallbacks"].as_array().expect("fp32_fallbacks");
    assert!(fallbacks.iter().all(|f| f["op"] == "ReduceMean"), "{fallbacks:?}");
    onnxruntime_fuses_every_conv(&int8, convs.len());
}

/// ONNX Runtime's optimized graph of `model`: every Conv became a QLinearConv. Skips when
/// python3 cannot import onnxruntime.
fn onnxruntime_fuses_every_conv(model: &Path, convs: usize) {
    let optimized = model.with_extension("ort.onnx");
    let script = "import sys, onnxruntime as ort, onnx, collections\n\
        so = ort.SessionOptions()\n\
        so.optimized_model_filepath = sys.argv[2]\n\
        ort.InferenceSession(sys.argv[1], so, providers=['CPUExecutionProvider'])\n\
        c = collections.Counter(n.op_type for n in onnx.load(sys.argv[2]).graph.node)\n\
        print(c['QLinearConv'], c['Conv'])\n";
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(model)
        .arg(&optimized)
        .output();
    let Some(out) = out.ok().filter(|o| o.status.success()) else {
        eprintln!("skipped the ONNX Runtime check: python3 with onnxruntime and onnx is unavailable");
        return;
    };
    let counts = String::from_utf8_lossy(&out.stdout).trim().to_string();
    eprintln!("onnxruntime: QLinearConv, Conv = {counts}");
    assert_eq!(counts, format!("{convs} 0"), "ONNX Runtime left float convs");
}

/// The longer QDQ form: every bias scale stored as a constant instead of
/// `Mul(x_scale, w_scale)`, and a Relu before every u8 QuantizeLinear with zero point 0
/// that reads a Conv or Add.
fn longer_form(graph: &Graph) -> Graph {
    let mut g = graph.clone();
    let mut folded = Vec::new();
    for (n, node) in g.nodes.iter().enumerate() {
        let Op::Binary(BinaryOp::Mul) = node.op else {
            continue;
        };
        let a = g
            .initializer(node.input(0).unwrap())
            .expect("x_scale constant")
            .to_f32_vec();
        let b = g.initializer(node.input(1).unwrap()).expect("w_scale constant");
        assert_eq!(a.len(), 1, "the activation scale is a scalar");
        let product: Vec<f32> = b.to_f32_vec().iter().map(|&w| a[0] * w).collect();
        folded.push((n, Tensor::new(b.shape().to_vec(), product).unwrap()));
    }
    assert!(!folded.is_empty(), "no computed bias scale");
    let muls: Vec<usize> = folded.iter().map(|(n, _)| *n).collect();
    for (n, tensor) in folded {
        let out = g.nodes[n].outputs[0];
        g.initializers.insert(out, Arc::new(tensor));
    }
    g.remove_nodes(&muls);
    let mut relus = 0;
    for q in 0..g.nodes.len() {
        let node = &g.nodes[q];
        let zero = node
            .input(2)
            .and_then(|z| g.initializer(z))
            .is_some_and(|z| z.to_f32_vec() == [0.0]);
        let x = node.input(0).unwrap();
        let after_anchor = g
            .producer(x)
            .is_some_and(|p| matches!(g.nodes[p].op, Op::Conv(_) | Op::Binary(BinaryOp::Add)));
        if !matches!(node.op, Op::QuantizeLinear(_)) || !zero || !after_anchor {
            continue;
        }
        let relu_out = g.add_value_unique(&format!("{}_relu", g.value(x).name), Fact::unknown());
        g.nodes[q].inputs[0] = Some(relu_out);
        g.add_node(Node {
            name: format!("{}_relu", g.value(x).name),
            op: Op::Unary(UnaryOp::Relu),
            inputs: vec![Some(x)],
            outputs: vec![relu_out],
        });
        relus += 1;
    }
    assert!(relus > 0, "no Relu to restore");
    g.sort().unwrap();
    g
}

#[test]
fn short_form_runs_bit_for_bit_like_the_longer_form() {
    let int8 = lowbit::onnx::load(&quantize_x86("form")).unwrap();
    let longer = longer_form(&int8);
    let preprocess = lowbit::model::stored_preprocess(&int8)
        .unwrap()
        .expect("stored preprocessing");
    let data = lowbit::data::open(&calib_spec(), &preprocess).unwrap();
    let c =
        lowbit::compare::compare(&longer, &int8, data.as_ref(), Some(500), false, 0, &mut |_| {}).unwrap();
    eprintln!(
        "short vs longer form on {} images: top-1 agreement {}, sqnr {} dB",
        c.n, c.top1_agree, c.sqnr_db
    );
    assert_eq!(c.top1_agree, c.n);
    assert!(c.sqnr_db.is_infinite(), "outputs differ: sqnr {} dB", c.sqnr_db);
}
