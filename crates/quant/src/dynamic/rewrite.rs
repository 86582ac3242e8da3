//! The rewrite itself: one MatMul/Gemm with a constant f32 weight becomes the
//! DynamicQuantizeLinear → MatMulInteger → Cast → Mul [→ Add] chain (per-tensor
//! activations) or the per-row chain of `per_row.rs`.

use std::sync::Arc;

use lowbit_graph::ops::{Cast, Gemm};
use lowbit_graph::{Dim, Fact, Graph, Node, Op, ValueId};
use lowbit_tensor::{DType, Tensor};

use super::embedding::{emit_embedding, is_embedding};
use super::ops_of::{add_node, binary};
use super::per_row::{emit_per_row, PerRowProduct};
use super::{
    quantize_weights, ActivationGranularity, DynamicConfig, DynamicError, DynamicRecord, METADATA_KEY,
};

/// The pass's result: the rewritten graph and what was (not) quantized.
#[derive(Debug, Clone)]
pub struct DynamicQuantized {
    pub graph: Graph,
    /// Names of the quantized MatMul/Gemm nodes (their MatMulInteger keeps the name).
    pub quantized: Vec<String>,
    /// Names of the Gather nodes whose embedding table became i8.
    pub embeddings: Vec<String>,
    /// Names of candidates left in FP32 because a `keep_fp32` pattern matched them.
    pub kept_fp32: Vec<String>,
}

/// A product `x · W (+ bias)` with W constant, K×N row-major.
struct Candidate {
    x: ValueId,
    out: ValueId,
    k: usize,
    n: usize,
    weights: Vec<f32>,
    bias: Option<Tensor>,
}

/// Quantizes every MatMul/Gemm of `graph` whose weight is a constant f32 matrix (see the
/// module docs for the form written and [`DynamicConfig`] for the choices).
pub fn quantize_dynamic(graph: &Graph, config: &DynamicConfig) -> Result<DynamicQuantized, DynamicError> {
    let mut graph = graph.clone();
    graph.sort()?;
    let mut quantized = Vec::new();
    let mut kept_fp32 = Vec::new();
    let mut embeddings = Vec::new();
    let mut nodes = Vec::with_capacity(graph.nodes.len());
    for node in std::mem::take(&mut graph.nodes) {
        match candidate(&graph, &node) {
            Some(_) if config.keeps_fp32(&node.name) => {
                kept_fp32.push(node.name.clone());
                nodes.push(node);
            }
            Some(c) => {
                emit(&mut graph, &mut nodes, &node, c, config)?;
                quantized.push(node.name);
            }
            None if config.quantize_embeddings && is_embedding(&graph, &node) => {
                if config.keeps_fp32(&node.name) {
                    kept_fp32.push(node.name.clone());
                    nodes.push(node);
                } else {
                    emit_embedding(&mut graph, &mut nodes, &node)?;
                    embeddings.push(node.name);
                }
            }
            None => nodes.push(node),
        }
    }
    graph.nodes = nodes;
    graph.prune();
    if !quantized.is_empty() {
        let mut names = match graph.metadata.get(METADATA_KEY) {
            Some(json) => DynamicRecord::from_json(json)?.nodes,
            None => Vec::new(),
        };
        names.extend(quantized.iter().cloned());
        let record = DynamicRecord {
            activations: config.activations,
            weights: config.weights,
            nodes: names,
        };
        graph.metadata.insert(METADATA_KEY.to_string(), record.to_json());
    }
    Ok(DynamicQuantized {
        graph,
        quantized,
        embeddings,
        kept_fp32,
    })
}

/// The constant f32 rank-2 initializer behind `value`, if any.
fn constant_matrix(graph: &Graph, value: Option<ValueId>) -> Option<&Arc<Tensor>> {
    let t = graph.initializer(value?)?;
    (t.dtype() == DType::F32 && t.rank() == 2).then_some(t)
}

fn candidate(graph: &Graph, node: &Node) -> Option<Candidate> {
    let x = node.input(0)?;
    let out = *node.outputs.first()?;
    match &node.op {
        Op::MatMul => {
            let w = constant_matrix(graph, node.input(1))?;
            let (k, n) = (w.shape()[0], w.shape()[1]);
            Some(Candidate {
                x,
                out,
                k,
                n,
                weights: w.as_slice::<f32>().ok()?.to_vec(),
                bias: None,
            })
        }
        Op::Gemm(attrs) => gemm_candidate(graph, node, attrs, x, out),
        _ => None,
    }
}

/// A Gemm qualifies when A is not transposed and C is absent or constant; `alpha` is
/// folded into the weights and `beta` into the bias.
fn gemm_candidate(graph: &Graph, node: &Node, attrs: &Gemm, x: ValueId, out: ValueId) -> Option<Candidate> {
    if attrs.trans_a || !attrs.alpha.is_finite() {
        return None;
    }
    let w = constant_matrix(graph, node.input(1))?;
    let values = w.as_slice::<f32>().ok()?;
    let (rows, cols) = (w.shape()[0], w.shape()[1]);
    let (k, n) = if attrs.trans_b { (cols, rows) } else { (rows, cols) };
    let weights: Vec<f32> = (0..k * n)
        .map(|i| {
            let (kk, j) = (i / n, i % n);
            let v = if attrs.trans_b {
                values[j * k + kk]
            } else {
                values[i]
            };
            v * attrs.alpha
        })
        .collect();
    let bias = match node.input(2) {
        Some(_) if attrs.beta == 0.0 => None,
        Some(c) => {
            let c = graph.initializer(c)?;
            let scaled: Vec<f32> = c.as_slice::<f32>().ok()?.iter().map(|v| v * attrs.beta).collect();
            Some(Tensor::new(c.shape(), scaled).ok()?)
        }
        None => None,
    };
    Some(Candidate {
        x,
        out,
        k,
        n,
        weights,
        bias,
    })
}

fn emit(
    graph: &mut Graph,
    nodes: &mut Vec<Node>,
    node: &Node,
    c: Candidate,
    config: &DynamicConfig,
) -> Result<(), DynamicError> {
    let name = &node.name;
    let q = quantize_weights(&c.weights, c.k, c.n, config.weights).ok_or_else(|| DynamicError::Node {
        node: name.clone(),
        op: node.op.name(),
        message: "the weight holds a non-finite value".to_string(),
    })?;
    if config.activations == ActivationGranularity::PerRow {
        let product = PerRowProduct {
            name,
            x: c.x,
            out: c.out,
            k: c.k,
            n: c.n,
            weights: q,
            bias: c.bias,
        };
        return emit_per_row(graph, nodes, product);
    }
    let x_fact = graph.value(c.x).fact.clone();
    let out_fact = graph.value(c.out).fact.clone();
    let with_dtype = |fact: &Fact, dtype| Fact {
        dtype: Some(dtype),
        shape: fact.shape.clone(),
    };
    let x_q = graph.add_value_unique(&format!("{name}/x_quantized"), with_dtype(&x_fact, DType::U8));
    let x_scale = graph.add_value_unique(&format!("{name}/x_scale"), Fact::known(DType::F32, &[]));
    let x_zp = graph.add_value_unique(&format!("{name}/x_zero_point"), Fact::known(DType::U8, &[]));
    let w_q = add_const(
        graph,
        &format!("{name}/w_quantized"),
        Tensor::new(vec![c.k, c.n], q.values)?,
    );
    let scale_shape: Vec<usize> = if q.scales.len() == 1 { vec![] } else { vec![c.n] };
    let w_scale = add_const(
        graph,
        &format!("{name}/w_scale"),
        Tensor::new(scale_shape.clone(), q.scales)?,
    );
    let acc = graph.add_value_unique(&format!("{name}/accumulator"), with_dtype(&out_fact, DType::I32));
    let acc_f32 = graph.add_value_unique(
        &format!("{name}/accumulator_f32"),
        with_dtype(&out_fact, DType::F32),
    );
    let scale_fact = Fact::new(DType::F32, scale_shape.iter().map(|&d| Dim::Known(d)));
    let scale = graph.add_value_unique(&format!("{name}/scale"), scale_fact);
    nodes.push(add_node(
        format!("{name}/QuantizeInput"),
        Op::DynamicQuantizeLinear,
        vec![c.x],
        vec![x_q, x_scale, x_zp],
    ));
    nodes.push(binary(
        format!("{name}/ScaleProduct"),
        lowbit_graph::ops::BinaryOp::Mul,
        x_scale,
        w_scale,
        scale,
    ));
    nodes.push(add_node(
        name.clone(),
        Op::MatMulInteger,
        vec![x_q, w_q, x_zp],
        vec![acc],
    ));
    nodes.push(add_node(
        format!("{name}/Cast"),
        Op::Cast(Cast { to: DType::F32 }),
        vec![acc],
        vec![acc_f32],
    ));
    let mul = lowbit_graph::ops::BinaryOp::Mul;
    match c.bias {
        None => nodes.push(binary(format!("{name}/Rescale"), mul, acc_f32, scale, c.out)),
        Some(bias) => {
            let product = graph.add_value_unique(&format!("{name}/product"), out_fact);
            let bias = add_const(graph, &format!("{name}/bias"), bias);
            nodes.push(binary(format!("{name}/Rescale"), mul, acc_f32, scale, product));
            let add = lowbit_graph::ops::BinaryOp::Add;
            nodes.push(binary(format!("{name}/Bias"), add, product, bias, c.out));
        }
    }
    Ok(())
}

/// Adds an initializer under a fresh name based on `base`.
pub(super) fn add_const(graph: &mut Graph, base: &str, tensor: Tensor) -> ValueId {
    let id = graph.add_value_unique(base, Fact::known(tensor.dtype(), tensor.shape()));
    graph.initializers.insert(id, Arc::new(tensor));
    id
}
