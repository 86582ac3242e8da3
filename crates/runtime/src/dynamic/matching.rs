//! Recognition of the dynamic-quantization chain in a sorted graph.

use std::collections::HashSet;

use lowbit_graph::ops::BinaryOp;
use lowbit_graph::{Graph, GraphError, Node, NodeId, Op, ValueId};
use lowbit_tensor::{DType, Tensor};
use serde_json::Value;

use super::kernel::{DynamicMatMul, DynamicWeights};
use super::row_matching::find_row_parts;
use crate::RuntimeError;

/// Metadata key naming the products that use per-row activation ranges.
const METADATA_KEY: &str = "lowbit.dynamic";

/// A recognised chain: the nodes it replaces (besides the DynamicQuantizeLinear that
/// anchors it) and its one step.
pub(crate) struct Chain {
    pub x: ValueId,
    pub output: ValueId,
    /// The other nodes of the chain, fused away.
    pub absorbed: Vec<NodeId>,
    /// `"<MatMulInteger name>"`, the name errors report.
    pub name: String,
    pub kernel: DynamicMatMul,
}

/// The MatMulInteger names the graph's metadata asks to run with per-row ranges.
pub(crate) fn per_row_nodes(graph: &Graph) -> Result<HashSet<String>, RuntimeError> {
    let Some(text) = graph.metadata.get(METADATA_KEY) else {
        return Ok(HashSet::new());
    };
    let bad = |message: String| {
        RuntimeError::Graph(GraphError::Invalid(format!(
            "metadata '{METADATA_KEY}': {message}"
        )))
    };
    let record: Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    if record.get("activations").and_then(Value::as_str) != Some("per_row") {
        return Ok(HashSet::new());
    }
    let nodes = record
        .get("nodes")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("'nodes' must be a list of node names".to_string()))?;
    nodes
        .iter()
        .map(|n| {
            n.as_str()
                .map(str::to_string)
                .ok_or_else(|| bad("'nodes' must hold strings".to_string()))
        })
        .collect()
}

/// The chains anchored at node `anchor`, if the whole pattern is there with constant
/// weights and intermediates read only inside it: a DynamicQuantizeLinear anchors the
/// per-tensor form (per-row when `per_row` names its MatMulInteger), one chain per
/// MatMulInteger that reads its output; a ReduceMin anchors the per-row form in standard
/// ops (`row_matching.rs`), one chain.
pub(crate) fn match_chains(
    graph: &Graph,
    consumers: &[Vec<NodeId>],
    anchor: NodeId,
    per_row: &HashSet<String>,
) -> Result<Vec<Chain>, RuntimeError> {
    let (parts, row_form) = match graph.nodes[anchor].op {
        Op::Reduce(_) => (
            find_row_parts(graph, consumers, anchor).into_iter().collect(),
            true,
        ),
        _ => (find_parts(graph, consumers, anchor).unwrap_or_default(), false),
    };
    parts
        .into_iter()
        .map(|parts| {
            let matmul = &graph.nodes[parts.matmul];
            let error = |message: String| RuntimeError::node(&matmul.name, matmul.op.name(), message);
            let weights = DynamicWeights {
                w: parts.w,
                w_zero_points: parts.w_zero_points,
                w_scales: parts.w_scales,
                bias: parts.bias,
            };
            let kernel =
                DynamicMatMul::new(weights, row_form || per_row.contains(&matmul.name)).map_err(error)?;
            Ok(Chain {
                x: parts.x,
                output: parts.output,
                absorbed: parts.absorbed,
                name: matmul.name.clone(),
                kernel,
            })
        })
        .collect()
}

/// What [`find_parts`] (or the per-row `find_row_parts`) gathers from the graph.
pub(super) struct Parts<'g> {
    pub x: ValueId,
    pub output: ValueId,
    pub matmul: NodeId,
    pub absorbed: Vec<NodeId>,
    pub w: &'g Tensor,
    pub w_zero_points: Option<&'g Tensor>,
    pub w_scales: &'g Tensor,
    pub bias: Option<&'g Tensor>,
}

/// Every chain reading the DynamicQuantizeLinear `anchor`, or `None` unless all its
/// readers are chains. Several products may share one quantized input (ONNX Runtime's
/// `quantize_dynamic` quantizes the input of the Q, K and V projections once): each
/// becomes its own step that quantizes `x` again, which gives the same bytes, since the
/// per-tensor range depends on `x` alone.
fn find_parts<'g>(graph: &'g Graph, consumers: &[Vec<NodeId>], anchor: NodeId) -> Option<Vec<Parts<'g>>> {
    let dql = &graph.nodes[anchor];
    let (Op::DynamicQuantizeLinear, [y, x_scale, x_zp]) = (&dql.op, dql.outputs.as_slice()) else {
        return None;
    };
    // The readers of `v`, when `v` is not a graph output.
    let readers = |v: ValueId| Some(consumers[v.0].as_slice()).filter(|_| !graph.is_output(v));
    let matmuls = readers(*y)?;
    if matmuls.is_empty() || readers(*x_zp)? != matmuls {
        return None;
    }
    let parts: Vec<Parts> = matmuls
        .iter()
        .map(|&matmul| find_product(graph, consumers, dql, matmul))
        .collect::<Option<_>>()?;
    // x_scale must feed the chains' scale products and nothing else.
    let mut scale_products: Vec<NodeId> = parts.iter().map(|p| p.absorbed[0]).collect();
    scale_products.sort_unstable();
    (readers(*x_scale)? == scale_products.as_slice()).then_some(parts)
}

/// The chain from `matmul`, one reader of the DynamicQuantizeLinear `dql`'s outputs, to
/// the rescaled (and maybe biased) result. Its scale product is the first absorbed node.
fn find_product<'g>(
    graph: &'g Graph,
    consumers: &[Vec<NodeId>],
    dql: &Node,
    matmul: NodeId,
) -> Option<Parts<'g>> {
    let ([y, x_scale, x_zp], Some(x)) = (dql.outputs.as_slice(), dql.input(0)) else {
        return None;
    };
    // The single reader of `v`, when `v` is not a graph output.
    let only = |v: ValueId| match consumers[v.0].as_slice() {
        [c] if !graph.is_output(v) => Some(*c),
        _ => None,
    };
    let constant = |v: Option<ValueId>| v.and_then(|v| graph.initializer(v)).map(|t| &**t);

    let mm = &graph.nodes[matmul];
    let mm_ok = matches!(mm.op, Op::MatMulInteger) && mm.input(0) == Some(*y) && mm.input(2) == Some(*x_zp);
    if !mm_ok {
        return None;
    }
    let w = constant(mm.input(1)).filter(|w| w.dtype() == DType::I8 && w.rank() == 2)?;
    let w_zero_points = match mm.input(3) {
        None => None,
        Some(v) => Some(constant(Some(v)).filter(|t| t.dtype() == DType::I8)?),
    };

    let cast = only(*mm.outputs.first()?)?;
    let cast_node = &graph.nodes[cast];
    if !matches!(&cast_node.op, Op::Cast(c) if c.to == DType::F32) {
        return None;
    }
    let acc_f32 = *cast_node.outputs.first()?;

    let rescale = only(acc_f32)?;
    let rs = &graph.nodes[rescale];
    let scale = other_operand(rs, BinaryOp::Mul, acc_f32)?;
    let scale_product = *consumers[x_scale.0]
        .iter()
        .find(|&&c| graph.nodes[c].outputs.first() == Some(&scale))?;
    let sp = &graph.nodes[scale_product];
    let w_scales = other_operand(sp, BinaryOp::Mul, *x_scale).and_then(|v| constant(Some(v)))?;
    if only(scale) != Some(rescale) {
        return None;
    }
    let mut output = *rs.outputs.first()?;
    let mut absorbed = vec![scale_product, matmul, cast, rescale];
    let mut bias = None;
    if let Some(add) = only(output) {
        let add_node = &graph.nodes[add];
        let b = other_operand(add_node, BinaryOp::Add, output).and_then(|v| constant(Some(v)));
        if let Some(b) = b.filter(|b| b.dtype() == DType::F32 && b.rank() == 1) {
            bias = Some(b);
            output = *add_node.outputs.first()?;
            absorbed.push(add);
        }
    }
    Some(Parts {
        x,
        output,
        matmul,
        absorbed,
        w,
        w_zero_points,
        w_scales,
        bias,
    })
}

/// For a two-input `op` node that reads `value`, its other input.
fn other_operand(node: &Node, op: BinaryOp, value: ValueId) -> Option<ValueId> {
    if node.op != Op::Binary(op) || node.inputs.len() != 2 {
        return None;
    }
    match (node.input(0)?, node.input(1)?) {
        (a, b) if a == value && b != value => Some(b),
        (a, b) if b == value && a != value => Some(a),
        _ => None,
    }
}
