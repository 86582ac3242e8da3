//! Inference tests: one small graph per rule, checked through the printed fact
//! (`f32[batch,seq,384]`, `?[?]` when unknown).

use lowbit_tensor::{DType, Tensor};

use super::infer_facts;
use crate::ops::*;
use crate::{Dim, Fact, Graph, GraphError, Node, Op, ValueId};

/// `"batch,3,224"` → dims; numbers are known, anything else a symbol.
fn dims(spec: &str) -> Vec<Dim> {
    spec.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map(Dim::Known)
                .unwrap_or_else(|_| Dim::Sym(s.to_string()))
        })
        .collect()
}

fn input(g: &mut Graph, name: &str, dtype: DType, spec: &str) -> ValueId {
    g.add_input(name, Fact::new(dtype, dims(spec))).unwrap()
}

fn ints(g: &mut Graph, name: &str, values: &[i64]) -> ValueId {
    g.add_const(name, Tensor::new(vec![values.len()], values.to_vec()).unwrap())
        .unwrap()
}

/// Appends a node named `name` with `outputs` outputs; returns them.
fn node_n(g: &mut Graph, name: &str, op: Op, inputs: &[Option<ValueId>], outputs: usize) -> Vec<ValueId> {
    let outs: Vec<ValueId> = (0..outputs)
        .map(|k| g.add_value(format!("{name}:{k}"), Fact::unknown()).unwrap())
        .collect();
    g.add_node(Node {
        name: name.to_string(),
        op,
        inputs: inputs.to_vec(),
        outputs: outs.clone(),
    });
    outs
}

fn node(g: &mut Graph, name: &str, op: Op, inputs: &[ValueId]) -> ValueId {
    let inputs: Vec<Option<ValueId>> = inputs.iter().copied().map(Some).collect();
    node_n(g, name, op, &inputs, 1)[0]
}

fn fact(g: &Graph, v: ValueId) -> String {
    g.value(v).fact.to_string()
}

fn infer_error(mut g: Graph) -> String {
    match infer_facts(&mut g) {
        Err(e @ GraphError::Node { .. }) => e.to_string(),
        other => panic!("expected a node error, got {other:?}"),
    }
}

fn conv(kernel: usize, stride: usize, pad: usize, group: usize) -> Conv {
    Conv {
        kernel: [kernel; 2],
        strides: [stride; 2],
        pads: [pad; 4],
        dilations: [1; 2],
        group,
    }
}

#[test]
fn matmul_carries_symbols_and_promotes_vectors() {
    let mut g = Graph::new("t");
    let x = input(&mut g, "x", DType::F32, "batch,seq,384");
    let w = input(&mut g, "w", DType::F32, "384,384");
    let v = input(&mut g, "v", DType::F32, "384");
    let b = input(&mut g, "b", DType::F32, "7,1,384,5");
    let y = node(&mut g, "mm", Op::MatMul, &[x, w]);
    let yv = node(&mut g, "mv", Op::MatMul, &[x, v]);
    let vm = node(&mut g, "vm", Op::MatMul, &[v, w]);
    let bb = node(&mut g, "bb", Op::MatMul, &[x, b]);
    infer_facts(&mut g).unwrap();
    assert_eq!(fact(&g, y), "f32[batch,seq,384]");
    assert_eq!(fact(&g, yv), "f32[batch,seq]");
    assert_eq!(fact(&g, vm), "f32[384]");
    assert_eq!(fact(&g, bb), "f32[7,batch,seq,5]");
}

#[test]
fn matmul_inner_mismatch_names_the_node() {
    let mut g = Graph::new("t");
    let x = input(&mut g, "x", DType::F32, "batch,4,384");
    let w = input(&mut g, "w", DType::F32, "256,10");
    node(&mut g, "encoder.q", Op::MatMul, &[x, w]);
    let message = infer_error(g);
    assert!(message.contains("'encoder.q' (MatMul)"), "{message}");
    assert!(
        message.contains("384 columns") && message.contains("256 rows"),
        "{message}"
    );
}

#[test]
fn gemm_transposes_and_checks_bias() {
    let mut g = Graph::new("t");
    let x = input(&mut g, "x", DType::F32, "N,1280");
    let w = input(&mut g, "w", DType::F32, "1000,1280");
    let c = input(&mut g, "c", DType::F32, "1000");
    let gemm = Gemm {
        trans_b: true,
        ..Gemm::default()
    };
    let y = node(&mut g, "fc", Op::Gemm(gemm.clone()), &[x, w, c]);
    infer_facts(&mut g).unwrap();
    assert_eq!(fact(&g, y), "f32[N,1000]");

    let mut g = Graph::new("t");
    let x = input(&mut g, "x", DType::F32, "N,1280");
    let w = input(&mut g, "w", DType::F32, "1000,1280");
    node(&mut g, "fc", Op::Gemm(Gemm::default()), &[x, w]);
    assert!(infer_error(g).contains("K=1280"));

    let mut g = Graph::new("t");
    let x = input(&mut g, "x", DType::F32, "N,1280");
    let w = input(&mut g, "w", DType::F32, "1000,1280");
    let c = input(&mut g, "c", DType::F32, "999");
    node(&mut g, "fc", Op::Gemm(gemm), &[x, w, c]);
    assert!(infer_error(g).contains("does not broadcast"));
}

#[test]
fn broadcasting_follows_numpy() {
    let mut g = Graph::new("t");
    let a = input(&mut g, "a", DType::F32, "N,3,1,5");
    let b = input(&mut g, "b", DType::F32, "4,1");
    let s = input(&mut g, "s", DType::F32, "M,1,1,1");
    let one = input(&mut g, "one", DType::F32, "1");
    let sum = node(&mut g, "add", Op::Binary(BinaryOp::Add), &[a, b]);
    let less = node(&mut g, "less", Op::Binary(BinaryOp::Less), &[a, one]);
    let unknown = node(&mut g, "mul", Op::Binary(BinaryOp::Mul), &[a, s]);
    infer_facts(&mut g).unwrap();
    assert_eq!(fact(&g, sum), "f32[N,3,4,5]");
    assert_eq!(fact(&g, less), "bool[N,3,1,5]");
    // N against M: the result is one of them or either, nothing we can name.
    assert_eq!(fact(&g, unknown), "f32[?]");

    let mut g = Graph::new("t");
    let a = input(&mut g, "a", DType::F32, "2,3");
    let b = input(&mut g, "b", DType::F32, "4,3");
    node(&mut g, "bad_add", Op::Binary(BinaryOp::Add), &[a, b]);
    assert!(infer_error(g).contains("[2,3] and [4,3] cannot be broadcast"));

    let mut g = Graph::new("t");
    let a = input(&mut g, "a", DType::F32, "2");
    let b = input(&mut g, "b", DType::I64, "2");
    node(&mut g, "mixed", Op::Binary(BinaryOp::Mul), &[a, b]);
    assert!(infer_error(g).contains("same dtype"));
}

#[test]
fn conv_output_sizes_and_groups() {
    let mut g = Graph::new("t");
    let x = input(&mut g, "x", DType::F32, "N,32,112,112");
    let dw = g
        .add_const("dw", Tensor::zeros(DType::F32, [32, 1, 3, 3]))
        .unwrap();
    let y = node(&mut g, "dw", Op::Conv(conv(3, 2, 1, 32)), &[x, dw]);
    let xs = input(&mut g, "xs", DType::F32, "N,32,H,W");
    let same = node(&mut g, "same", Op::Conv(conv(3, 1, 1, 32)), &[xs, dw]);
    let strided = node(&mut g, "strided", Op::Conv(conv(3, 2, 1, 32)), &[xs, dw]);
    infer_facts(&mut g).unwrap();
    assert_eq!(fact(&g, y), "f32[N,32,56,56]");
    assert_eq!(fact(&g, same), "f32[N,32,H,W]");
    // A stride-2 window over a symbolic size has no single-symbol result.
    assert_eq!(fact(&g, strided), "f32[?]");
}

#[test]
fn conv_with_wrong_weight_channels_names_node_and_expectation() {
    let mut g = Graph::new("t");
    let x = input(&mut g, "x", DType::F32, "1,16,28,28");
    let w = g
        .add_const(
            "features.3.conv.0.0.weight",
            Tensor::zeros(DType::F32, [96, 24, 1, 1]),
        )
        .unwrap();
    node(&mut g, "features.3.conv.0.0", Op::Conv(conv(1, 1, 0, 1)), &[x, w]);
    let message = infer_error(g);
    assert!(message.contains("'features.3.conv.0.0' (Conv)"), "{message}");
    assert!(
        message.contains("has 16 channels") && message.contains("expects 24"),
        "{message}"
    );
}

#[test]
fn conv_rejects_bad_bias_kernel_and_tiny_inputs() {
    let bad = |x_spec: &str, w_shape: [usize; 4], bias: Option<usize>, c: Conv| {
        let mut g = Graph::new("t");
        let x = input(&mut g, "x", DType::F32, x_spec);
        let w = g.add_const("w", Tensor::zeros(DType::F32, w_shape)).unwrap();
        let mut inputs = vec![x, w];
        if let Some(n) = bias {
            inputs.push(g.add_const("b", Tensor::zeros(DType::F32, [n])).unwrap());
        }
        node(&mut g, "c", Op::Conv(c), &inputs);
        infer_error(g)
    };
    assert!(
        bad("1,3,8,8", [4, 3, 3, 3], Some(5), conv(3, 1, 1, 1)).contains("one value per output channel (4)")
    );
    assert!(bad("1,3,8,8", [4, 3, 3, 3], None, conv(5, 1, 1, 1)).contains("kernel_shape"));
    assert!(bad("1,3,2,2", [4, 3, 3, 3], None, conv(3, 1, 0, 1)).contains("too small"));
    assert!(bad("1,4,8,8", [6, 1, 3, 3], None, conv(3, 1, 1, 4)).contains("cannot be split into 4 groups"));
    assert!(bad("1,3,8", [4, 3, 3, 3], None, conv(3, 1, 1, 1)).contains("4-D NCHW"));
}

#[test]
fn pools_and_norms() {
    let mut g = Graph::new("t");
    let x = input(&mut g, "x", DType::F32, "N,64,112,112");
    let pool = Pool {
        kernel: [3, 3],
        strides: [2, 2],
        pads: [1; 4],
        dilations: [1, 1],
        ceil_mode: false,
        count_include_pad: false,
    };
    let mp = node(&mut g, "maxpool", Op::MaxPool(pool.clone()), &[x]);
    let ceil = Pool {
        kernel: [2, 2],
        strides: [2, 2],
        pads: [0; 4],
        ceil_mode: true,
        ..pool
    };
    let odd = input(&mut g, "odd", DType::F32, "1,3,7,7");
    let ap = node(&mut g, "avg", Op::AveragePool(ceil), &[odd]);
    let gap = node(&mut g, "gap", Op::GlobalAveragePool, &[mp]);
    let p = g.add_const("p", Tensor::zeros(DType::F32, [3])).unwrap();
    let bn = BatchNorm {
        epsilon: 1e-5,
        momentum: 0.9,
    };
    let normed = node(&mut g, "bn", Op::BatchNorm(bn), &[odd, p, p, p, p]);
    let sm = node(&mut g, "softmax", Op::Softmax { axis: -1 }, &[gap]);
    infer_facts(&mut g).unwrap();
    assert_eq!(fact(&g, mp), "f32[N,64,56,56]");
    assert_eq!(fact(&g, ap), "f32[1,3,4,4]");
    assert_eq!(fact(&g, gap), "f32[N,64,1,1]");
    assert_eq!(fact(&g, sm), "f32[N,64,1,1]");
    assert_eq!(fact(&g, normed), "f32[1,3,7,7]");

    let mut g = Graph::new("t");
    let x = input(&mut g, "x", DType::F32, "1,3,7,7");
    let p = g.add_const("p", Tensor::zeros(DType::F32, [2])).unwrap();
    let bn = BatchNorm {
        epsilon: 1e-5,
        momentum: 0.9,
    };
    node(&mut g, "features.0.1", Op::BatchNorm(bn), &[x, p, p, p, p]);
    assert!(infer_error(g).contains("one value per channel (3)"));
}

#[test]
fn layer_norm_and_dropout_outputs() {
    let mut g = Graph::new("t");
    let x = input(&mut g, "x", DType::F32, "batch,seq,384");
    let s = input(&mut g, "s", DType::F32, "384");
    let ln = LayerNorm {
        axis: -1,
        epsilon: 1e-12,
    };
    let outs = node_n(&mut g, "ln", Op::LayerNorm(ln), &[Some(x), Some(s), Some(s)], 3);
    let drop = node_n(&mut g, "drop", Op::Dropout { ratio: 0.1 }, &[Some(x)], 2);
    infer_facts(&mut g).unwrap();
    assert_eq!(fact(&g, outs[0]), "f32[batch,seq,384]");
    assert_eq!(fact(&g, outs[1]), "f32[batch,seq,1]");
    assert_eq!(fact(&g, drop[1]), "bool[batch,seq,384]");
}

#[test]
fn reshape_with_constant_and_tracked_shapes() {
    let mut g = Graph::new("t");
    let x = input(&mut g, "x", DType::F32, "batch,12,64");
    let target = ints(&mut g, "target", &[0, -1]);
    let flat = node(&mut g, "flat", Op::Reshape { allowzero: false }, &[x, target]);
    // Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1, 2])), as exporters write it.
    let shape = node(&mut g, "shape", Op::Shape { start: 0, end: None }, &[x]);
    let zero = g.add_const("zero", Tensor::scalar(0i64)).unwrap();
    let batch = node(&mut g, "gather", Op::Gather { axis: 0 }, &[shape, zero]);
    let axes = ints(&mut g, "axes", &[0]);
    let batch1 = node(&mut g, "unsq", Op::Unsqueeze { axes: None }, &[batch, axes]);
    let rest = ints(&mut g, "rest", &[-1, 2]);
    let cat = node(&mut g, "cat", Op::Concat { axis: 0 }, &[batch1, rest]);
    let y = node(&mut g, "reshape", Op::Reshape { allowzero: false }, &[x, cat]);
    infer_facts(&mut g).unwrap();
    assert_eq!(fact(&g, flat), "f32[batch,768]");
    assert_eq!(fact(&g, shape), "i64[3]");
    assert_eq!(fact(&g, batch), "i64[]");
    assert_eq!(fact(&g, cat), "i64[3]");
    assert_eq!(fact(&g, y), "f32[batch,384,2]");

    let mut g = Graph::new("t");
    let x = input(&mut g, "x", DType::F32, "2,3");
    let target = ints(&mut g, "target", &[4, 2]);
    node(&mut g, "r", Op::Reshape { allowzero: false }, &[x, target]);
    assert!(infer_error(g).contains("6 elements"));
}

#[test]
fn reshape_with_unknown_target_leaves_shape_unknown() {
    let mut g = Graph::new("t");
    let x = input(&mut g, "x", DType::F32, "2,3");
    let t = input(&mut g, "t", DType::I64, "2");
    let y = node(&mut g, "r", Op::Reshape { allowzero: false }, &[x, t]);
    infer_facts(&mut g).unwrap();
    assert_eq!(fact(&g, y), "f32[?]");
}

#[test]
fn declared_fact_survives_when_inference_cannot_tell() {
    let mut g = Graph::new("t");
    let x = input(&mut g, "x", DType::F32, "2,3");
    let t = input(&mut g, "t", DType::I64, "2");
    let y = node(&mut g, "r", Op::Reshape { allowzero: false }, &[x, t]);
    g.value_mut(y).fact = Fact::known(DType::F32, &[3, 2]);
    infer_facts(&mut g).unwrap();
    assert_eq!(fact(&g, y), "f32[3,2]");
}

#[test]
fn flatten_transpose_squeeze_unsqueeze() {
    let mut g = Graph::new("t");
    let x = input(&mut g, "x", DType::F32, "N,1280,1,1");
    let flat = node(&mut g, "flat", Op::Flatten { axis: 1 }, &[x]);
    let all = node(&mut g, "all", Op::Flatten { axis: 0 }, &[x]);
    let t = node(
        &mut g,
        "t",
        Op::Transpose {
            perm: Some(vec![0, 2, 3, 1]),
        },
        &[x],
    );
    let rev = node(&mut g, "rev", Op::Transpose { perm: None }, &[x]);
    let sq = node(
        &mut g,
        "sq",
        Op::Squeeze {
            axes: Some(vec![-1, 2]),
        },
        &[x],
    );
    let axes = ints(&mut g, "axes", &[0, -1]);
    let unsq = node(&mut g, "unsq", Op::Unsqueeze { axes: None }, &[sq, axes]);
    let fixed = input(&mut g, "fixed", DType::F32, "1,5,1");
    let sq_all = node(&mut g, "sq_all", Op::Squeeze { axes: None }, &[fixed]);
    infer_facts(&mut g).unwrap();
    assert_eq!(fact(&g, flat), "f32[N,1280]");
    // N*1280 is not a single dimension.
    assert_eq!(fact(&g, all), "f32[?]");
    assert_eq!(fact(&g, t), "f32[N,1,1,1280]");
    assert_eq!(fact(&g, rev), "f32[1,1,1280,N]");
    assert_eq!(fact(&g, sq), "f32[N,1280]");
    assert_eq!(fact(&g, unsq), "f32[1,N,1280,1]");
    assert_eq!(fact(&g, sq_all), "f32[5]");

    let mut g = Graph::new("t");
    let x = input(&mut g, "x", DType::F32, "2,3");
    node(&mut g, "sq", Op::Squeeze { axes: Some(vec![1]) }, &[x]);
    assert!(infer_error(g).contains("axis 1 of size 3"));

    let mut g = Graph::new("t");
    let x = input(&mut g, "x", DType::F32, "2,3");
    node(
        &mut g,
        "t",
        Op::Transpose {
            perm: Some(vec![0, 0]),
        },
        &[x],
    );
    assert!(infer_error(g).contains("not a permutation"));
}

#[test]
fn concat_split_slice_gather() {
    let mut g = Graph::new("t");
    let a = input(&mut g, "a", DType::F32, "N,16,8,8");
    let b = input(&mut g, "b", DType::F32, "N,24,8,8");
    let cat = node(&mut g, "cat", Op::Concat { axis: 1 }, &[a, b]);
    let split = Split {
        axis: 1,
        split: None,
        num_outputs: None,
    };
    let halves = node_n(&mut g, "split", Op::Split(split), &[Some(cat)], 2);
    let sizes = ints(&mut g, "sizes", &[10, 30]);
    let split = Split {
        axis: -3,
        split: None,
        num_outputs: None,
    };
    let parts = node_n(&mut g, "split2", Op::Split(split), &[Some(cat), Some(sizes)], 2);
    let starts = ints(&mut g, "starts", &[1, -1]);
    let ends = ints(&mut g, "ends", &[i64::MAX, -100]);
    let axes = ints(&mut g, "saxes", &[2, 3]);
    let steps = ints(&mut g, "steps", &[2, -3]);
    let sl = node(
        &mut g,
        "slice",
        Op::Slice(Slice),
        &[cat, starts, ends, axes, steps],
    );
    let table = input(&mut g, "table", DType::F32, "30522,384");
    let ids = input(&mut g, "ids", DType::I64, "batch,seq");
    let emb = node(&mut g, "emb", Op::Gather { axis: 0 }, &[table, ids]);
    infer_facts(&mut g).unwrap();
    assert_eq!(fact(&g, cat), "f32[N,40,8,8]");
    assert_eq!(fact(&g, halves[1]), "f32[N,20,8,8]");
    assert_eq!(fact(&g, parts[1]), "f32[N,30,8,8]");
    // Rows 1,3,5,7 and columns 7,4,1.
    assert_eq!(fact(&g, sl), "f32[N,40,4,3]");
    assert_eq!(fact(&g, emb), "f32[batch,seq,384]");

    let mut g = Graph::new("t");
    let a = input(&mut g, "a", DType::F32, "2,3");
    let b = input(&mut g, "b", DType::F32, "2,4");
    node(&mut g, "cat", Op::Concat { axis: 0 }, &[a, b]);
    assert!(infer_error(g).contains("not the concat axis"));

    let mut g = Graph::new("t");
    let a = input(&mut g, "a", DType::F32, "5,3");
    let i = ints(&mut g, "i", &[0, 5]);
    node(&mut g, "g", Op::Gather { axis: 0 }, &[a, i]);
    assert!(infer_error(g).contains("index 5 is out of range"));
}

#[test]
fn slice_indices_follow_onnx_clamping() {
    use super::movement::slice_indices;
    assert_eq!(slice_indices(5, 1, 100, 1), vec![1, 2, 3, 4]);
    assert_eq!(slice_indices(5, -1, i64::MIN, -1), vec![4, 3, 2, 1, 0]);
    assert_eq!(slice_indices(5, 0, -1, 2), vec![0, 2]);
    assert_eq!(slice_indices(5, 3, 1, 1), Vec::<usize>::new());
    assert_eq!(slice_indices(5, 10, -10, -2), vec![4, 2, 0]);
}

#[test]
fn shape_cast_expand_constant_of_shape_range() {
    let mut g = Graph::new("t");
    let x = input(&mut g, "x", DType::F32, "batch,seq,384");
    let tail = node(&mut g, "shape", Op::Shape { start: -2, end: None }, &[x]);
    let cast = node(&mut g, "cast", Op::Cast(Cast { to: DType::I32 }), &[x]);
    let one = input(&mut g, "one", DType::F32, "1,seq,1");
    let target = node(&mut g, "full_shape", Op::Shape { start: 0, end: None }, &[x]);
    let expanded = node(&mut g, "expand", Op::Expand, &[one, target]);
    let cos = ConstantOfShape {
        value: Tensor::new(vec![1], vec![1i64]).unwrap(),
    };
    let ones = node(&mut g, "cos", Op::ConstantOfShape(cos), &[tail]);
    let start = g.add_const("start", Tensor::scalar(2i64)).unwrap();
    let limit = g.add_const("limit", Tensor::scalar(11i64)).unwrap();
    let delta = g.add_const("delta", Tensor::scalar(3i64)).unwrap();
    let range = node(&mut g, "range", Op::Range, &[start, limit, delta]);
    infer_facts(&mut g).unwrap();
    assert_eq!(fact(&g, tail), "i64[2]");
    assert_eq!(fact(&g, cast), "i32[batch,seq,384]");
    assert_eq!(fact(&g, expanded), "f32[batch,seq,384]");
    assert_eq!(fact(&g, ones), "i64[seq,384]");
    assert_eq!(fact(&g, range), "i64[3]");
}

#[test]
fn reductions_and_argmax() {
    let mut g = Graph::new("t");
    let x = input(&mut g, "x", DType::F32, "N,1280,7,7");
    let reduce = |axes: Option<Vec<i64>>, keepdims: bool| {
        Op::Reduce(Reduce {
            kind: ReduceKind::Mean,
            axes,
            keepdims,
            noop_with_empty_axes: false,
        })
    };
    let mean = node(&mut g, "mean", reduce(Some(vec![2, 3]), false), &[x]);
    let kept = node(&mut g, "kept", reduce(Some(vec![-1]), true), &[x]);
    let all = node(&mut g, "all", reduce(None, false), &[x]);
    let axes = ints(&mut g, "axes", &[1]);
    let by_input = node(&mut g, "by_input", reduce(None, true), &[x, axes]);
    let argmax = Op::ArgMax {
        axis: 1,
        keepdims: false,
        select_last_index: false,
    };
    let am = node(&mut g, "argmax", argmax, &[mean]);
    infer_facts(&mut g).unwrap();
    assert_eq!(fact(&g, mean), "f32[N,1280]");
    assert_eq!(fact(&g, kept), "f32[N,1280,7,1]");
    assert_eq!(fact(&g, all), "f32[]");
    assert_eq!(fact(&g, by_input), "f32[N,1,7,7]");
    assert_eq!(fact(&g, am), "i64[N]");

    let mut g = Graph::new("t");
    let x = input(&mut g, "x", DType::F32, "2,3");
    node(&mut g, "mean", reduce(Some(vec![2]), false), &[x]);
    assert!(infer_error(g).contains("axis 2 is out of range for rank 2"));
}

#[test]
fn quantization_ops() {
    let mut g = Graph::new("t");
    let x = input(&mut g, "x", DType::F32, "N,3,8,8");
    let scale = g.add_const("scale", Tensor::scalar(0.1f32)).unwrap();
    let zp = g.add_const("zp", Tensor::scalar(3u8)).unwrap();
    let q = node(
        &mut g,
        "q",
        Op::QuantizeLinear(QuantAxis::default()),
        &[x, scale, zp],
    );
    let q_default = node(
        &mut g,
        "q2",
        Op::QuantizeLinear(QuantAxis::default()),
        &[x, scale],
    );
    let dq = node(
        &mut g,
        "dq",
        Op::DequantizeLinear(QuantAxis::default()),
        &[q, scale, zp],
    );
    let w = g.add_const("w", Tensor::zeros(DType::I8, [4, 3, 3, 3])).unwrap();
    let wzp = g.add_const("wzp", Tensor::zeros(DType::I8, [4])).unwrap();
    let wscale = g
        .add_const("wscale", Tensor::new(vec![4], vec![0.1f32; 4]).unwrap())
        .unwrap();
    let bias = g.add_const("bias", Tensor::zeros(DType::I32, [4])).unwrap();
    let qconv = node(
        &mut g,
        "qconv",
        Op::QLinearConv(conv(3, 1, 1, 1)),
        &[q, scale, zp, w, wscale, wzp, scale, zp, bias],
    );
    let ci = node(&mut g, "ci", Op::ConvInteger(conv(3, 2, 1, 1)), &[q, w]);
    let dynq = node_n(&mut g, "dynq", Op::DynamicQuantizeLinear, &[Some(x)], 3);
    infer_facts(&mut g).unwrap();
    assert_eq!(fact(&g, q), "u8[N,3,8,8]");
    assert_eq!(fact(&g, q_default), "u8[N,3,8,8]");
    assert_eq!(fact(&g, dq), "f32[N,3,8,8]");
    assert_eq!(fact(&g, qconv), "u8[N,4,8,8]");
    assert_eq!(fact(&g, ci), "i32[N,4,4,4]");
    assert_eq!(fact(&g, dynq[1]), "f32[]");

    let mut g = Graph::new("t");
    let x = input(&mut g, "x", DType::F32, "4,3");
    let scale = g
        .add_const("scale", Tensor::new(vec![5], vec![0.1f32; 5]).unwrap())
        .unwrap();
    node(
        &mut g,
        "q",
        Op::QuantizeLinear(QuantAxis { axis: 0 }),
        &[x, scale],
    );
    assert!(infer_error(g).contains("has 5 entries but axis 0"));

    // A one-entry scale is per tensor, whatever the axis: ONNX Runtime's quantizer
    // writes `[1]` scales with the default axis 1 for 1-D biases.
    let mut g = Graph::new("t");
    let b = input(&mut g, "b", DType::I32, "384");
    let one = g
        .add_const("one", Tensor::new(vec![1], vec![0.1f32]).unwrap())
        .unwrap();
    let scalar_zp = g.add_const("zp", Tensor::scalar(0i32)).unwrap();
    let dq = node(
        &mut g,
        "dq",
        Op::DequantizeLinear(QuantAxis::default()),
        &[b, one, scalar_zp],
    );
    infer_facts(&mut g).unwrap();
    assert_eq!(fact(&g, dq), "f32[384]");
}
