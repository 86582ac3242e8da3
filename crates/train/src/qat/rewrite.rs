//! The Conv+BatchNorm QAT unit as a graph rewrite, in the manner of PyTorch's
//! `ConvBn2d._forward_approximate`.
//!
//! Why a rewrite rather than a fused training rule: every step of the unit is an op the
//! autograd engine already differentiates (Mul, Reshape, Conv, Div, Add, BatchNorm), so
//! the gradients with respect to the weight, the conv bias and γ (which enters twice,
//! through the scale factor) come out of the existing, gradient-checked rules, and the
//! fake-quantized folded weight is an ordinary value the executor's observer hook sees.
//!
//! `conv(x, W, b) → BN(γ, β, μ, σ²)` becomes, per output channel `c`:
//!
//! ```text
//! f      = γ · inv_std            inv_std = 1/sqrt(σ²_running + ε), refreshed every step
//! W_f    = fake_quant(W · f[c])   per-channel symmetric i8 (the folded weight)
//! u      = conv(x, W_f) / f[c] + b[c]
//! y      = BN(u, γ, β, μ, σ²)     batch statistics while training
//! ```
//!
//! With fake quantization off, `u = conv(x, W) + b` up to rounding: the unit trains like
//! the FP32 pair. In evaluation, `y = conv(x, W_f) + (b − μ)·f + β`, which is exactly the
//! BN-folded conv that conversion emits. [`freeze_bn`] swaps the BatchNorm for that
//! running-statistics form, `y = (u − μ)·f + β`, so BN stops updating while training
//! continues (PyTorch's `freeze_bn_stats`).
//!
//! The rewrite only adds values: every value of the input graph keeps its id, so the
//! trained parameters map back onto the FP32 graph one to one.

use std::sync::Arc;

use lowbit_graph::ops::{BatchNorm, BinaryOp};
use lowbit_graph::{Fact, Graph, Node, NodeId, Op, ValueId};
use lowbit_tensor::{DType, Tensor};

use super::error::{QatError, Result};

/// One rewritten Conv+BN pair and the values QAT reads or refreshes.
#[derive(Debug, Clone)]
pub(crate) struct ConvBnUnit {
    /// The conv node's name (also the name static PTQ's fused node keeps).
    pub conv: String,
    pub weight: ValueId,
    pub bias: Option<ValueId>,
    pub gamma: ValueId,
    pub beta: ValueId,
    pub running_mean: ValueId,
    pub running_var: ValueId,
    pub epsilon: f32,
    /// `1/sqrt(σ²_running + ε)`, a constant of the graph that QAT recomputes after each
    /// training step (BatchNorm updates σ² as the step ends).
    pub inv_std: ValueId,
    /// The folded weight `W · f`: the weight's fake-quantize site.
    pub folded_weight: ValueId,
    /// The per-channel factor `f` reshaped to `[1, C, 1, 1]`.
    pub factor_nchw: ValueId,
    /// The BatchNorm's input `u` and output `y`.
    pub bn_input: ValueId,
    pub bn_output: ValueId,
}

/// A Conv→BN pair that static PTQ's BatchNorm folding also folds.
struct Pair {
    conv: NodeId,
    bn: NodeId,
    epsilon: f32,
}

/// The same conditions as `FoldBatchNormIntoConv`, so every unit trained here is folded
/// the same way on conversion: constant f32 conv weight (and bias) and BN parameters of
/// one value per output channel, a conv output read only by the BN, and no use of the BN's
/// optional training outputs.
fn find_pairs(graph: &Graph) -> Vec<Pair> {
    let mut uses = vec![0usize; graph.value_count()];
    for node in &graph.nodes {
        for id in node.inputs.iter().flatten() {
            uses[id.0] += 1;
        }
    }
    let f32_len = |id: Option<ValueId>| {
        let t = graph.initializer(id?)?;
        t.as_slice::<f32>().ok().map(|v| v.len())
    };
    let mut pairs = Vec::new();
    for (bn, node) in graph.nodes.iter().enumerate() {
        let Op::BatchNorm(BatchNorm { epsilon, .. }) = node.op else {
            continue;
        };
        let Some(x) = node.input(0) else { continue };
        if uses[x.0] != 1 || graph.is_output(x) {
            continue;
        }
        if node.outputs[1..]
            .iter()
            .any(|o| uses[o.0] > 0 || graph.is_output(*o))
        {
            continue;
        }
        let Some(conv) = graph.producer(x) else { continue };
        let conv_node = &graph.nodes[conv];
        if !matches!(conv_node.op, Op::Conv(_)) || conv_node.outputs.len() != 1 {
            continue;
        }
        let Some(w) = conv_node.input(1).and_then(|w| graph.initializer(w)) else {
            continue;
        };
        let channels = w.shape().first().copied().unwrap_or(0);
        let fits = w.rank() == 4
            && w.dtype() == DType::F32
            && channels > 0
            && conv_node
                .input(2)
                .is_none_or(|b| f32_len(Some(b)) == Some(channels))
            && (1..5).all(|i| f32_len(node.input(i)) == Some(channels));
        if fits {
            pairs.push(Pair { conv, bn, epsilon });
        }
    }
    pairs
}

/// Adds a node computing one new value named `name`; returns the value.
fn add_op(graph: &mut Graph, name: &str, op: Op, inputs: &[ValueId]) -> ValueId {
    let out = graph.add_value_unique(name, Fact::unknown());
    graph.add_node(Node {
        name: graph.value(out).name.clone(),
        op,
        inputs: inputs.iter().copied().map(Some).collect(),
        outputs: vec![out],
    });
    out
}

fn reshape_to(graph: &mut Graph, name: &str, x: ValueId, shape: [i64; 4]) -> ValueId {
    let shape_id = graph.add_value_unique(&format!("{name}_shape"), Fact::known(DType::I64, &[4]));
    let tensor = Tensor::new(vec![4], shape.to_vec()).expect("4 values for shape [4]");
    graph.initializers.insert(shape_id, Arc::new(tensor));
    add_op(graph, name, Op::Reshape { allowzero: false }, &[x, shape_id])
}

fn binary(graph: &mut Graph, name: &str, kind: BinaryOp, a: ValueId, b: ValueId) -> ValueId {
    add_op(graph, name, Op::Binary(kind), &[a, b])
}

/// `1/sqrt(var + ε)` per channel.
pub(crate) fn inverse_std(var: &[f32], epsilon: f32) -> Vec<f32> {
    var.iter().map(|v| 1.0 / (v + epsilon).sqrt()).collect()
}

/// Rewrites every foldable Conv+BN pair of `graph` into a QAT unit; sorts the graph.
pub(crate) fn rewrite_conv_bn(graph: &mut Graph) -> Result<Vec<ConvBnUnit>> {
    let pairs = find_pairs(graph);
    let mut units = Vec::with_capacity(pairs.len());
    for pair in pairs {
        units.push(rewrite_pair(graph, &pair)?);
    }
    graph.sort()?;
    graph.validate()?;
    Ok(units)
}

fn rewrite_pair(graph: &mut Graph, pair: &Pair) -> Result<ConvBnUnit> {
    let conv = graph.nodes[pair.conv].clone();
    let bn = graph.nodes[pair.bn].clone();
    let missing = |what: &str| QatError::Invalid(format!("node '{}' has no {what}", conv.name));
    let weight = conv.input(1).ok_or_else(|| missing("weight"))?;
    let [gamma, beta, running_mean, running_var] =
        [1, 2, 3, 4].map(|i| bn.input(i).ok_or_else(|| missing("BatchNorm parameter")));
    let (gamma, beta, running_mean, running_var) = (gamma?, beta?, running_mean?, running_var?);
    let var = graph
        .initializer(running_var)
        .ok_or_else(|| missing("running variance"))?
        .to_f32_vec();
    let channels = var.len() as i64;
    let base = format!("{}.qat", conv.name);
    let inv_std = graph.add_value_unique(&format!("{base}.inv_std"), Fact::known(DType::F32, &[var.len()]));
    let inv = Tensor::new(vec![var.len()], inverse_std(&var, pair.epsilon))?;
    graph.initializers.insert(inv_std, Arc::new(inv));

    let factor = binary(graph, &format!("{base}.factor"), BinaryOp::Mul, gamma, inv_std);
    let factor_oihw = reshape_to(graph, &format!("{base}.factor_oihw"), factor, [channels, 1, 1, 1]);
    let folded_weight = binary(
        graph,
        &format!("{base}.folded_weight"),
        BinaryOp::Mul,
        weight,
        factor_oihw,
    );
    let factor_nchw = reshape_to(graph, &format!("{base}.factor_nchw"), factor, [1, channels, 1, 1]);
    let conv_out = conv.outputs[0];
    let unscaled = binary(
        graph,
        &format!("{base}.unscaled"),
        BinaryOp::Div,
        conv_out,
        factor_nchw,
    );
    let bias = conv.input(2);
    let bn_input = match bias {
        None => unscaled,
        Some(b) => {
            let b_nchw = reshape_to(graph, &format!("{base}.bias_nchw"), b, [1, channels, 1, 1]);
            binary(graph, &format!("{base}.biased"), BinaryOp::Add, unscaled, b_nchw)
        }
    };
    let conv_node = &mut graph.nodes[pair.conv];
    conv_node.inputs = vec![conv.input(0), Some(folded_weight)];
    graph.nodes[pair.bn].inputs[0] = Some(bn_input);
    Ok(ConvBnUnit {
        conv: conv.name.clone(),
        weight,
        bias,
        gamma,
        beta,
        running_mean,
        running_var,
        epsilon: pair.epsilon,
        inv_std,
        folded_weight,
        factor_nchw,
        bn_input,
        bn_output: bn.outputs[0],
    })
}

/// Replaces each unit's BatchNorm by its running-statistics form `(u − μ)·f + β`, which
/// keeps γ and β trainable but stops the statistics from moving. Sorts the graph.
pub(crate) fn freeze_bn(graph: &mut Graph, units: &[ConvBnUnit]) -> Result<()> {
    let mut removed = Vec::new();
    for unit in units {
        let Some(bn) = graph
            .nodes
            .iter()
            .position(|n| matches!(n.op, Op::BatchNorm(_)) && n.outputs.first() == Some(&unit.bn_output))
        else {
            continue;
        };
        let channels = graph.initializer(unit.running_mean).map_or(0, |t| t.len()) as i64;
        let base = format!("{}.qat", unit.conv);
        let nchw = [1, channels, 1, 1];
        let mean = reshape_to(graph, &format!("{base}.mean_nchw"), unit.running_mean, nchw);
        let beta = reshape_to(graph, &format!("{base}.beta_nchw"), unit.beta, nchw);
        let centred = binary(
            graph,
            &format!("{base}.centred"),
            BinaryOp::Sub,
            unit.bn_input,
            mean,
        );
        let scaled = binary(
            graph,
            &format!("{base}.rescaled"),
            BinaryOp::Mul,
            centred,
            unit.factor_nchw,
        );
        let name = format!("{base}.frozen_bn");
        graph.add_node(Node {
            name,
            op: Op::Binary(BinaryOp::Add),
            inputs: vec![Some(scaled), Some(beta)],
            outputs: vec![unit.bn_output],
        });
        removed.push(bn);
    }
    graph.remove_nodes(&removed);
    graph.sort()?;
    graph.validate()?;
    Ok(())
}
