//! The importer reads the real models in the shared assets.

mod common;

use lowbit_graph::{Dim, Op};
use lowbit_tensor::DType;

#[test]
fn efficientnet_lite0_imports_every_node() {
    let Some(path) = common::asset("efficientnet-lite0/model.onnx") else {
        return;
    };
    let (graph, info) = lowbit_onnx::load_with_info(&path).unwrap();
    assert_eq!(info.opsets, vec![(String::new(), 13)]);
    let hist = graph.op_histogram();
    let expected = [
        ("Conv", 49),
        ("Clip", 33),
        ("Add", 9),
        ("GlobalAveragePool", 1),
        ("Flatten", 1),
        ("Gemm", 1),
    ];
    assert_eq!(hist.into_iter().collect::<Vec<_>>(), {
        let mut e = expected.to_vec();
        e.sort();
        e
    });
    assert_eq!(graph.initializers.len(), 102);
    // The sum of the initializers' sizes, as python onnx counts them.
    assert_eq!(graph.param_count(), 4_631_002);
    let input = graph.value(graph.inputs[0]);
    assert_eq!(input.name, "input");
    assert_eq!(input.fact.dtype, Some(DType::F32));
    assert_eq!(
        input.fact.shape.as_deref(),
        Some(
            &[
                Dim::Sym("N".into()),
                Dim::Known(3),
                Dim::Known(224),
                Dim::Known(224)
            ][..]
        )
    );
    // The stem: 3x3 stride 2 with TF-style asymmetric padding.
    let Op::Conv(stem) = &graph.nodes[0].op else {
        panic!("first node is {:?}", graph.nodes[0].op)
    };
    assert_eq!(stem.kernel, [3, 3]);
    assert_eq!(stem.strides, [2, 2]);
    graph.validate().unwrap();
}

#[test]
fn all_minilm_l6_v2_imports_every_node() {
    let Some(path) = common::asset("all-minilm-l6-v2/model.onnx") else {
        return;
    };
    let graph = lowbit_onnx::load(&path).unwrap();
    let hist = graph.op_histogram();
    assert_eq!(hist["MatMul"], 48);
    assert_eq!(hist["LayerNormalization"], 13);
    assert_eq!(hist["Softmax"], 6);
    assert_eq!(hist["Erf"], 6);
    assert_eq!(graph.nodes.len(), 218);
    let names: Vec<&str> = graph
        .inputs
        .iter()
        .map(|&id| graph.value(id).name.as_str())
        .collect();
    assert_eq!(names, ["input_ids", "attention_mask", "token_type_ids"]);
    let ids = graph.value(graph.inputs[0]);
    assert_eq!(ids.fact.dtype, Some(DType::I64));
    assert_eq!(
        ids.fact.shape.as_deref(),
        Some(&[Dim::Sym("batch".into()), Dim::Sym("sequence".into())][..])
    );
    graph.validate().unwrap();
}
