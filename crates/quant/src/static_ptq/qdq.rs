//! Writing the QDQ form: quantized constants, the QuantizeLinear/DequantizeLinear nodes
//! and their names.
//!
//! The file should be about a quarter of the FP32 one, and a small model with thousands
//! of depthwise channels spends a large share of its bytes on names and per-channel
//! vectors, so:
//! - dequantized activations keep their FP32 value name, and conv/linear nodes keep
//!   their names; the generated values get short names that share the id `k` of the
//!   FP32 value they come from: `q<k>` the quantized tensor (u8 activation, i8 weight,
//!   i32 bias), `s<k>` and `z<k>` its scale and zero point, `d<k>` a dequantized weight,
//!   bias or graph input, `f<k>` an activation before its QuantizeLinear. The
//!   QuantizeLinear, DequantizeLinear and bias-scale Mul nodes are unnamed (ONNX names
//!   are optional; lowbit's importer names them `<op>_<index>`).
//! - a bias scale is not stored: it is `Mul(x_scale, w_scale)` of the constants the
//!   activation's and the weight's DequantizeLinear already read. Runtimes fold it before
//!   matching QDQ patterns (ONNX Runtime folds constants before its QDQ fusion).
//! - a Relu right before a QuantizeLinear with zero point 0 is dropped: the u8 quantizer
//!   clamps at exactly 0 already (ONNX Runtime's ReluQuantFusion does the same).

use std::sync::Arc;

use lowbit_graph::ops::{BinaryOp, QuantAxis, UnaryOp};
use lowbit_graph::{Fact, Graph, Node, Op, ValueId};
use lowbit_tensor::{DType, Tensor};

use super::error::Result;
use super::weights::{quantize_bias, WeightedNode};

/// The constants of one activation quantization point, shared by its QuantizeLinear, its
/// DequantizeLinear and the bias scales of the convs reading it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ActivationParams {
    pub scale: f32,
    pub scale_id: ValueId,
    pub zero_point_id: ValueId,
}

/// Adds the scale and zero point constants of the point on `value`.
pub(crate) fn activation_params(
    graph: &mut Graph,
    value: ValueId,
    scale: f32,
    zero_point: i32,
) -> ActivationParams {
    ActivationParams {
        scale,
        scale_id: add_const(graph, &generated('s', value), Tensor::scalar(scale)),
        zero_point_id: add_const(graph, &generated('z', value), Tensor::scalar(zero_point as u8)),
    }
}

/// The name of the generated value of kind `kind` (see the module doc) in the family of
/// the FP32 value `family`.
fn generated(kind: char, family: ValueId) -> String {
    format!("{kind}{}", family.0)
}

/// Adds a constant named `base` (or `base_N`).
fn add_const(graph: &mut Graph, base: &str, tensor: Tensor) -> ValueId {
    let id = graph.add_value_unique(base, Fact::known(tensor.dtype(), tensor.shape()));
    graph.initializers.insert(id, Arc::new(tensor));
    id
}

/// `DequantizeLinear(q, scale)` producing a new f32 value named `base`. The zero point
/// is omitted: weights and biases are symmetric (zero point 0), which is ONNX's default.
fn add_dequantize(graph: &mut Graph, base: &str, inputs: [ValueId; 2], axis: usize, fact: Fact) -> ValueId {
    let out = graph.add_value_unique(base, fact);
    graph.add_node(Node {
        name: String::new(),
        op: Op::DequantizeLinear(QuantAxis { axis: axis as i64 }),
        inputs: inputs.map(Some).to_vec(),
        outputs: vec![out],
    });
    out
}

/// The scale constant: a scalar per tensor, `[C]` per channel.
fn add_scale(graph: &mut Graph, name: &str, scales: Vec<f32>) -> Result<ValueId> {
    let shape = if scales.len() == 1 {
        vec![]
    } else {
        vec![scales.len()]
    };
    Ok(add_const(graph, name, Tensor::new(shape, scales)?))
}

/// Replaces the node's weight by `DequantizeLinear(q<k>, s<k>)` and returns the id of
/// the scale constant.
pub(crate) fn quantize_weight_input(graph: &mut Graph, w: &WeightedNode) -> Result<ValueId> {
    let fact = graph.value(w.weight).fact.clone();
    let shape = graph
        .initializer(w.weight)
        .map(|t| t.shape().to_vec())
        .unwrap_or_default();
    let q = add_const(
        graph,
        &generated('q', w.weight),
        Tensor::new(shape, w.quantized.clone())?,
    );
    let s = add_scale(graph, &generated('s', w.weight), w.params.scale.clone())?;
    let deq = add_dequantize(graph, &generated('d', w.weight), [q, s], w.weight_axis, fact);
    graph.nodes[w.node].inputs[1] = Some(deq);
    Ok(s)
}

/// Where a bias's scale comes from: the node's input point and its weight scale constant.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BiasScale {
    pub input: ActivationParams,
    pub weight_scale_id: ValueId,
}

/// The bias (corrected when measured) as i32 with scale `x_scale * w_scale[c]`, computed
/// by a Mul of the two scale constants; kept FP32 when the input has no quantization
/// point to take its scale from.
pub(crate) fn quantize_bias_input(
    graph: &mut Graph,
    w: &WeightedNode,
    scale: Option<BiasScale>,
    correction: Option<&Vec<f32>>,
) -> Result<()> {
    let original = w.bias.and_then(|b| graph.initializer(b)).map(|t| t.to_f32_vec());
    let bias: Vec<f32> = match (original, correction) {
        (None, None) => return Ok(()),
        (Some(b), None) => b,
        (None, Some(c)) => c.clone(),
        (Some(b), Some(c)) => b.iter().zip(c).map(|(b, c)| b + c).collect(),
    };
    let fact = Fact::known(DType::F32, &[bias.len()]);
    // A node without a bias constant gets its bias from the correction alone; its
    // family is then the node's output.
    let family = w.bias.unwrap_or(graph.nodes[w.node].outputs[0]);
    let id = match scale {
        None => {
            let name = format!("{}_corrected", graph.value(family).name);
            add_const(graph, &name, Tensor::new(vec![bias.len()], bias)?)
        }
        Some(scale) => {
            // The same f32 product the Mul computes, so the i32 values match it exactly.
            let q = quantize_bias(&bias, |c| w.bias_scale(scale.input.scale, c));
            let q = add_const(graph, &generated('q', family), Tensor::new(vec![q.len()], q)?);
            let s_shape: &[usize] = if w.params.scale.len() > 1 {
                &[bias.len()]
            } else {
                &[]
            };
            let s_fact = Fact::known(DType::F32, s_shape);
            let s = graph.add_value_unique(&generated('s', family), s_fact);
            graph.add_node(Node {
                name: String::new(),
                op: Op::Binary(BinaryOp::Mul),
                inputs: vec![Some(scale.input.scale_id), Some(scale.weight_scale_id)],
                outputs: vec![s],
            });
            add_dequantize(graph, &generated('d', family), [q, s], 0, fact)
        }
    };
    let node = &mut graph.nodes[w.node];
    node.inputs.resize(3, None);
    node.inputs[2] = Some(id);
    Ok(())
}

/// Puts `QuantizeLinear → DequantizeLinear` on `value`. The dequantized value keeps the
/// id and name of `value`, and the producer's output becomes `f<k>`; a graph input keeps
/// its name and its readers move to `d<k>`.
pub(crate) fn insert_qdq(graph: &mut Graph, value: ValueId, p: ActivationParams) {
    let fact = graph.value(value).fact.clone();
    let q_fact = Fact {
        dtype: Some(DType::U8),
        shape: fact.shape.clone(),
    };
    let q = graph.add_value_unique(&generated('q', value), q_fact);
    let (float, dequantized) = match graph.producer(value) {
        Some(n) => {
            let float = graph.add_value_unique(&generated('f', value), fact);
            for out in &mut graph.nodes[n].outputs {
                if *out == value {
                    *out = float;
                }
            }
            (float, value)
        }
        None => {
            let dequantized = graph.add_value_unique(&generated('d', value), fact);
            graph.replace_uses(value, dequantized);
            (value, dequantized)
        }
    };
    graph.add_node(Node {
        name: String::new(),
        op: Op::QuantizeLinear(QuantAxis::default()),
        inputs: vec![Some(float), Some(p.scale_id), Some(p.zero_point_id)],
        outputs: vec![q],
    });
    graph.add_node(Node {
        name: String::new(),
        op: Op::DequantizeLinear(QuantAxis::default()),
        inputs: vec![Some(q), Some(p.scale_id), Some(p.zero_point_id)],
        outputs: vec![dequantized],
    });
}

/// Makes each u8 QuantizeLinear with zero point 0 that reads a Relu read the Relu's
/// input instead (`Q(relu(x)) = Q(x)`: Q saturates at code 0), when nothing else reads
/// either value, so the conv or add before it still ends a pattern with one reader.
/// The skipped Relus are left unread, for [`Graph::prune`]. Returns how many.
///
/// Applied to the model handed out, not to the one bias correction measures on: there,
/// a QuantizeLinear's input must stay the FP32 activation.
pub(crate) fn skip_relus_before_quantizers(graph: &mut Graph) -> usize {
    let mut readers = vec![0usize; graph.value_count()];
    for input in graph.nodes.iter().flat_map(|n| n.inputs.iter().flatten()) {
        readers[input.0] += 1;
    }
    let private = |g: &Graph, v: ValueId| readers[v.0] == 1 && !g.is_output(v);
    let mut skipped = 0;
    for q in 0..graph.nodes.len() {
        let node = &graph.nodes[q];
        let zero = node
            .input(2)
            .and_then(|z| graph.initializer(z))
            .and_then(|z| z.as_slice::<u8>().ok())
            .is_some_and(|z| z == [0]);
        let Some(relu_out) = node
            .input(0)
            .filter(|_| zero && matches!(node.op, Op::QuantizeLinear(_)))
        else {
            continue;
        };
        let Some(relu) = graph.producer(relu_out).map(|r| &graph.nodes[r]) else {
            continue;
        };
        let Some(x) = relu
            .input(0)
            .filter(|_| matches!(relu.op, Op::Unary(UnaryOp::Relu)))
        else {
            continue;
        };
        if private(graph, relu_out) && private(graph, x) && graph.producer(x).is_some() {
            graph.nodes[q].inputs[0] = Some(x);
            skipped += 1;
        }
    }
    skipped
}
