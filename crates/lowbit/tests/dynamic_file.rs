//! `quantize_dynamic_file`: never overwrites its input, writes a loadable model.

use lowbit::graph::{Fact, Graph, Node, Op};
use lowbit::quant::dynamic::{DynamicConfig, DynamicRecord, METADATA_KEY};
use lowbit::quantize_dynamic::quantize_dynamic_file;
use lowbit::tensor::{DType, Tensor};

fn tiny_model() -> Graph {
    let mut g = Graph::new("tiny");
    // 64 × 64 weights: enough that the i8 weights outweigh the per-row chain's few
    // nodes and constants.
    let x = g.add_input("x", Fact::known(DType::F32, &[2, 64])).unwrap();
    let values: Vec<f32> = (0..64 * 64)
        .map(|i| ((i * 29 % 31) as f32 - 15.0) / 8.0)
        .collect();
    let w = g
        .add_const("w", Tensor::new(vec![64, 64], values).unwrap())
        .unwrap();
    let y = g.add_value("y", Fact::known(DType::F32, &[2, 64])).unwrap();
    g.add_node(Node {
        name: "mm".into(),
        op: Op::MatMul,
        inputs: vec![Some(x), Some(w)],
        outputs: vec![y],
    });
    g.outputs.push(y);
    g
}

#[test]
fn refuses_to_overwrite_the_input_and_writes_a_new_file() {
    let dir = std::env::temp_dir().join(format!("lowbit-dynamic-file-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    let input = dir.join("model.onnx");
    lowbit::onnx::save(&tiny_model(), &input).unwrap();
    let before = std::fs::read(&input).unwrap();
    for same in [input.clone(), dir.join("sub/../model.onnx")] {
        let err = quantize_dynamic_file(&input, &same, &DynamicConfig::default()).unwrap_err();
        assert!(err.to_string().contains("is the input model"), "{err}");
    }
    assert_eq!(std::fs::read(&input).unwrap(), before);

    let output = dir.join("q.onnx");
    let report = quantize_dynamic_file(&input, &output, &DynamicConfig::default()).unwrap();
    assert_eq!(report.quantized_matmuls, 1);
    assert!(report.int8_bytes < report.fp32_bytes);
    let q = lowbit::onnx::load(&output).unwrap();
    assert_eq!(q.op_histogram()["MatMulInteger"], 1);
    let record = DynamicRecord::from_json(&q.metadata[METADATA_KEY]).unwrap();
    assert_eq!(record.nodes, vec!["mm".to_string()]);

    let missing = quantize_dynamic_file(&dir.join("absent.onnx"), &output, &DynamicConfig::default());
    assert!(missing.unwrap_err().to_string().contains("absent.onnx"));
    std::fs::remove_dir_all(&dir).ok();
}
