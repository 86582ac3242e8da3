use lowbit_tensor::{DType, Tensor};

use super::{BatchNormWeights, Conv2dSpec, GraphBuilder};
use crate::{Dim, GraphError, Op};

fn image_input(b: &mut GraphBuilder, channels: usize, size: usize) -> crate::ValueId {
    b.input(
        "x",
        DType::F32,
        [Dim::from("N"), channels.into(), size.into(), size.into()],
    )
    .unwrap()
}

#[test]
fn names_follow_module_paths() {
    let mut b = GraphBuilder::new("m");
    let x = image_input(&mut b, 3, 16);
    let y = b
        .scope("layer1", |b| {
            b.scope(0, |b| {
                let w = Tensor::zeros(DType::F32, [8, 3, 3, 3]);
                let y = b.conv2d("conv1", x, Conv2dSpec::default().padding(1), w, None)?;
                let y = b.batch_norm("bn1", y, BatchNormWeights::fresh(8))?;
                let y = b.relu("relu", y)?;
                // Reusing a stateless module gets a fresh value name, as torch.onnx does.
                let z = b.relu("relu", y)?;
                b.add(y, z)
            })
        })
        .unwrap();
    b.output(y);
    let g = b.finish().unwrap();
    for name in [
        "layer1.0.conv1.weight",
        "layer1.0.bn1.running_var",
        "layer1.0.relu",
        "layer1.0.relu_1",
        "layer1.0.add",
    ] {
        assert!(g.find_value(name).is_some(), "missing {name}");
    }
    let names: Vec<&str> = g.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "layer1.0.conv1",
            "layer1.0.bn1",
            "layer1.0.relu",
            "layer1.0.relu_1",
            "layer1.0.add"
        ]
    );
    assert_eq!(g.value(y).fact.to_string(), "f32[N,8,16,16]");
}

#[test]
fn exports_like_torch_onnx() {
    let mut b = GraphBuilder::new("m");
    let x = image_input(&mut b, 4, 9);
    let x = b.relu6("act", x).unwrap();
    let x = b.max_pool2d("maxpool", x, 3, 2, 1).unwrap();
    let pooled = b.mean(x, &[2, 3], false).unwrap();
    let x = b.global_avg_pool("avgpool", x).unwrap();
    let x = b.flatten(x).unwrap();
    let x = b.dropout("drop", x, 0.2).unwrap();
    let w = Tensor::zeros(DType::F32, [10, 4]);
    let y = b.linear("fc", x, w, None).unwrap();
    assert_eq!(b.fact(pooled).to_string(), "f32[N,4]");
    b.output(y);
    let g = b.finish().unwrap();
    let clip = &g.nodes[0];
    assert_eq!(clip.op, Op::Clip);
    let max = g.initializer(clip.input(2).unwrap()).unwrap();
    assert_eq!(max.as_slice::<f32>().unwrap(), &[6.0]);
    let Op::Gemm(gemm) = &g.nodes.last().unwrap().op else {
        panic!("linear must export as Gemm");
    };
    assert!(gemm.trans_b && !gemm.trans_a);
    assert_eq!(g.value(y).fact.to_string(), "f32[N,10]");
    assert_eq!(g.value(g.nodes[1].outputs[0]).fact.to_string(), "f32[N,4,5,5]");
}

#[test]
fn bad_weight_fails_at_the_call_with_the_node_name() {
    let mut b = GraphBuilder::new("m");
    let x = image_input(&mut b, 3, 8);
    let err = b
        .scope("features", |b| {
            let w = Tensor::zeros(DType::F32, [8, 4, 3, 3]);
            b.conv2d("0", x, Conv2dSpec::default(), w, None)
        })
        .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("'features.0' (Conv)"), "{message}");
    assert!(message.contains("expects 4"), "{message}");

    let err = b
        .conv2d(
            "flat",
            x,
            Conv2dSpec::default(),
            Tensor::zeros(DType::F32, [8, 3]),
            None,
        )
        .unwrap_err();
    assert!(err.to_string().contains("must be 4-D"));
}

#[test]
fn finish_requires_an_output() {
    let mut b = GraphBuilder::new("empty");
    let x = image_input(&mut b, 1, 4);
    b.relu("relu", x).unwrap();
    assert!(matches!(b.finish(), Err(GraphError::Invalid(m)) if m.contains("no outputs")));
}
