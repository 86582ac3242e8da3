//! Folds an inference BatchNormalization into the Conv that feeds it.

use std::sync::Arc;

use lowbit_tensor::Tensor;

use super::{use_counts, Pass};
use crate::{Graph, NodeId, Op, Result, ValueId};

/// `BN(conv(x, W, b))` becomes `conv(x, W', b')` with, per output channel `c`,
/// `s = gamma[c] / sqrt(var[c] + eps)`, `W'[c] = W[c] * s` and
/// `b'[c] = (b[c] - mean[c]) * s + beta[c]`.
///
/// Applies when the conv's weights (and bias, if any) and the BN's parameters are f32
/// constants of matching sizes, the conv output is read only by the BN and is not a
/// graph output, and the BN's optional training outputs are unused. The folded weights
/// are new initializers, so weights shared with another conv are left alone.
pub struct FoldBatchNormIntoConv;

impl Pass for FoldBatchNormIntoConv {
    fn name(&self) -> &'static str {
        "fold-batchnorm-into-conv"
    }

    fn apply(&self, graph: &mut Graph) -> Result<usize> {
        let mut removed = Vec::new();
        let uses = use_counts(graph);
        for bn in 0..graph.nodes.len() {
            let Some(fold) = match_fold(graph, bn, &uses) else {
                continue;
            };
            apply_fold(graph, bn, fold)?;
            removed.push(bn);
        }
        graph.remove_nodes(&removed);
        graph.sort()?;
        Ok(removed.len())
    }
}

/// A matched Conv→BN pair and the folded parameters.
struct Fold {
    conv: NodeId,
    weights: Tensor,
    bias: Tensor,
}

fn constant_f32(graph: &Graph, id: Option<ValueId>) -> Option<(&Arc<Tensor>, &[f32])> {
    let t = graph.initializer(id?)?;
    Some((t, t.as_slice::<f32>().ok()?))
}

fn match_fold(graph: &Graph, bn: NodeId, uses: &[usize]) -> Option<Fold> {
    let node = &graph.nodes[bn];
    let Op::BatchNorm(attrs) = &node.op else {
        return None;
    };
    let (_, extra_outputs) = node.outputs.split_first()?;
    if extra_outputs.iter().any(|o| uses[o.0] > 0 || graph.is_output(*o)) {
        return None;
    }
    let x = node.input(0)?;
    if uses[x.0] != 1 || graph.is_output(x) {
        return None;
    }
    let conv = graph.producer(x)?;
    let conv_node = &graph.nodes[conv];
    if !matches!(conv_node.op, Op::Conv(_)) || conv_node.outputs.len() != 1 {
        return None;
    }
    let (w_tensor, w) = constant_f32(graph, conv_node.input(1))?;
    let channels = *w_tensor.shape().first()?;
    let old_bias = match conv_node.input(2) {
        None => vec![0.0; channels],
        Some(b) => constant_f32(graph, Some(b))?.1.to_vec(),
    };
    let param = |i: usize| {
        constant_f32(graph, node.input(i))
            .map(|(_, v)| v)
            .filter(|v| v.len() == channels)
    };
    let (gamma, beta, mean, var) = (param(1)?, param(2)?, param(3)?, param(4)?);
    if old_bias.len() != channels || channels == 0 || w.len() % channels != 0 {
        return None;
    }
    let per_channel = w.len() / channels;
    let mut weights = w.to_vec();
    let mut bias = Vec::with_capacity(channels);
    for c in 0..channels {
        let s = gamma[c] / (var[c] + attrs.epsilon).sqrt();
        weights[c * per_channel..(c + 1) * per_channel]
            .iter_mut()
            .for_each(|v| *v *= s);
        bias.push((old_bias[c] - mean[c]) * s + beta[c]);
    }
    Some(Fold {
        conv,
        weights: Tensor::new(w_tensor.shape(), weights).ok()?,
        bias: Tensor::new(vec![channels], bias).ok()?,
    })
}

fn apply_fold(graph: &mut Graph, bn: NodeId, fold: Fold) -> Result<()> {
    let conv_name = graph.nodes[fold.conv].name.clone();
    let w_id = graph.add_value_unique(&format!("{conv_name}.weight_bn"), Default::default());
    let b_id = graph.add_value_unique(&format!("{conv_name}.bias_bn"), Default::default());
    for (id, tensor) in [(w_id, fold.weights), (b_id, fold.bias)] {
        graph.value_mut(id).fact = crate::Fact::known(tensor.dtype(), tensor.shape());
        graph.initializers.insert(id, Arc::new(tensor));
    }
    let y = graph.nodes[bn].outputs[0];
    let conv = &mut graph.nodes[fold.conv];
    conv.inputs.resize(3, None);
    conv.inputs[1] = Some(w_id);
    conv.inputs[2] = Some(b_id);
    conv.outputs[0] = y;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{BatchNorm, Conv};
    use crate::{Fact, Node};
    use lowbit_tensor::DType;

    fn conv_bn_graph(share_conv_output: bool) -> Graph {
        let mut g = Graph::new("g");
        let x = g.add_input("x", Fact::known(DType::F32, &[1, 1, 2, 2])).unwrap();
        let w = g
            .add_const("w", Tensor::new(vec![2, 1, 1, 1], vec![1f32, 2.0]).unwrap())
            .unwrap();
        let c = g.add_value("c", Fact::unknown()).unwrap();
        let y = g.add_value("y", Fact::unknown()).unwrap();
        let p = |g: &mut Graph, name: &str, v: [f32; 2]| {
            g.add_const(name, Tensor::new(vec![2], v.to_vec()).unwrap())
                .unwrap()
        };
        let (gamma, beta, mean, var) = (
            p(&mut g, "gamma", [2.0, 1.0]),
            p(&mut g, "beta", [0.5, -1.0]),
            p(&mut g, "mean", [1.0, 0.0]),
            p(&mut g, "var", [3.0, 0.0]),
        );
        let conv = Conv {
            kernel: [1, 1],
            strides: [1, 1],
            pads: [0; 4],
            dilations: [1, 1],
            group: 1,
        };
        g.add_node(Node {
            name: "conv".into(),
            op: Op::Conv(conv),
            inputs: vec![Some(x), Some(w)],
            outputs: vec![c],
        });
        g.add_node(Node {
            name: "bn".into(),
            op: Op::BatchNorm(BatchNorm {
                epsilon: 1.0,
                momentum: 0.9,
            }),
            inputs: [c, gamma, beta, mean, var].map(Some).to_vec(),
            outputs: vec![y],
        });
        g.outputs.push(y);
        if share_conv_output {
            g.outputs.push(c);
        }
        g
    }

    #[test]
    fn folds_scale_and_shift_into_weights_and_bias() {
        let mut g = conv_bn_graph(false);
        assert_eq!(FoldBatchNormIntoConv.apply(&mut g).unwrap(), 1);
        assert_eq!(g.nodes.len(), 1);
        let conv = &g.nodes[0];
        assert_eq!(conv.outputs, vec![g.value_id("y").unwrap()]);
        let w = g
            .initializer(conv.input(1).unwrap())
            .unwrap()
            .as_slice::<f32>()
            .unwrap()
            .to_vec();
        let b = g
            .initializer(conv.input(2).unwrap())
            .unwrap()
            .as_slice::<f32>()
            .unwrap()
            .to_vec();
        // s = [2/sqrt(4), 1/sqrt(1)] = [1, 1]; b' = (0 - mean) * s + beta.
        assert_eq!(w, vec![1.0, 2.0]);
        assert_eq!(b, vec![-0.5, -1.0]);
        // The original weights are untouched.
        assert_eq!(
            g.initializer(g.value_id("w").unwrap())
                .unwrap()
                .as_slice::<f32>()
                .unwrap(),
            &[1.0, 2.0]
        );
        g.validate().unwrap();
    }

    #[test]
    fn leaves_conv_whose_output_is_also_a_graph_output() {
        let mut g = conv_bn_graph(true);
        assert_eq!(FoldBatchNormIntoConv.apply(&mut g).unwrap(), 0);
        assert_eq!(g.nodes.len(), 2);
    }
}
