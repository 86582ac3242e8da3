//! One lowbit node → one ONNX node in the form opset 17 expects: `axes` and `split` as
//! constant inputs where that opset takes inputs, as attributes where it takes those.

use lowbit_graph::ops::{Conv, Pool, ReduceKind, UnaryOp};
use lowbit_graph::{Node, Op};
use lowbit_tensor::Tensor;

use super::attrs::{flag, float, int, ints, sizes, tensor};
use super::Exporter;
use crate::pb::{AttributeProto, NodeProto};
use crate::tensor_proto::dtype_to_onnx;
use crate::{OnnxError, Result};

impl Exporter<'_> {
    pub(super) fn node(&mut self, node: &Node) -> Result<NodeProto> {
        let mut inputs: Vec<String> = node
            .inputs
            .iter()
            .map(|input| input.map_or_else(String::new, |id| self.graph.value(id).name.clone()))
            .collect();
        let attribute = self.attributes(node, &mut inputs)?;
        while inputs.last().is_some_and(String::is_empty) {
            inputs.pop();
        }
        Ok(NodeProto {
            input: inputs,
            output: node
                .outputs
                .iter()
                .map(|&id| self.graph.value(id).name.clone())
                .collect(),
            name: node.name.clone(),
            op_type: node.op.name().to_string(),
            attribute,
            ..Default::default()
        })
    }

    fn error(&self, node: &Node, message: impl Into<String>) -> OnnxError {
        OnnxError::Node {
            origin: self.origin.to_string(),
            node: node.name.clone(),
            op: node.op.name().to_string(),
            message: message.into(),
        }
    }

    /// Sets the second input (`axes` or `split`) to a new 1-D i64 initializer.
    fn second_input(
        &mut self,
        node: &Node,
        inputs: &mut Vec<String>,
        suffix: &str,
        values: &[i64],
    ) -> Result<()> {
        let tensor =
            Tensor::new(vec![values.len()], values.to_vec()).map_err(|e| self.error(node, e.to_string()))?;
        let name = self.add_initializer(&format!("{}_{suffix}", node.name), tensor);
        if inputs.len() < 2 {
            inputs.resize(2, String::new());
        }
        inputs[1] = name;
        Ok(())
    }

    fn attributes(&mut self, node: &Node, inputs: &mut Vec<String>) -> Result<Vec<AttributeProto>> {
        Ok(match &node.op {
            Op::Conv(c) | Op::QLinearConv(c) | Op::ConvInteger(c) => conv_attributes(c),
            Op::BatchNorm(bn) => vec![float("epsilon", bn.epsilon), float("momentum", bn.momentum)],
            Op::MaxPool(p) => {
                let mut attrs = pool_attributes(p);
                attrs.push(sizes("dilations", &p.dilations));
                attrs
            }
            Op::AveragePool(p) => {
                if p.dilations != [1, 1] {
                    return Err(self.error(
                        node,
                        "AveragePool dilations need opset 19; lowbit writes opset 17",
                    ));
                }
                let mut attrs = pool_attributes(p);
                attrs.push(flag("count_include_pad", p.count_include_pad));
                attrs
            }
            Op::Softmax { axis } | Op::LogSoftmax { axis } => vec![int("axis", *axis)],
            Op::LayerNorm(ln) => vec![int("axis", ln.axis), float("epsilon", ln.epsilon)],
            Op::Dropout { ratio } => {
                // Inference ignores the ratio; it is kept only when it is not the default.
                inputs.truncate(1);
                if *ratio != 0.5 {
                    let name = self.add_initializer(&format!("{}_ratio", node.name), Tensor::scalar(*ratio));
                    inputs.push(name);
                }
                vec![]
            }
            Op::Gemm(g) => vec![
                float("alpha", g.alpha),
                float("beta", g.beta),
                flag("transA", g.trans_a),
                flag("transB", g.trans_b),
            ],
            Op::Unary(UnaryOp::Elu { alpha }) | Op::Unary(UnaryOp::LeakyRelu { alpha }) => {
                vec![float("alpha", *alpha)]
            }
            Op::Unary(UnaryOp::HardSigmoid { alpha, beta }) => {
                vec![float("alpha", *alpha), float("beta", *beta)]
            }
            Op::Reshape { allowzero } => vec![flag("allowzero", *allowzero)],
            Op::Flatten { axis } | Op::Concat { axis } | Op::Gather { axis } => vec![int("axis", *axis)],
            Op::Transpose { perm } => match perm {
                Some(perm) => vec![sizes("perm", perm)],
                None => vec![],
            },
            Op::Squeeze { axes } | Op::Unsqueeze { axes } => {
                if let Some(axes) = axes {
                    self.second_input(node, inputs, "axes", axes)?;
                }
                vec![]
            }
            Op::Split(split) => {
                // Opset 17 has no `num_outputs`: the number of outputs gives equal parts.
                if let Some(sizes) = &split.split {
                    self.second_input(node, inputs, "split", sizes)?;
                }
                vec![int("axis", split.axis)]
            }
            Op::Shape { start, end } => {
                let mut attrs = vec![int("start", *start)];
                attrs.extend(end.map(|end| int("end", end)));
                attrs
            }
            Op::Cast(cast) => vec![int("to", dtype_to_onnx(cast.to) as i64)],
            Op::ConstantOfShape(c) => vec![tensor("value", &c.value)],
            Op::Reduce(r) => {
                let mut attrs = vec![flag("keepdims", r.keepdims)];
                if r.kind == ReduceKind::Sum {
                    if let Some(axes) = &r.axes {
                        self.second_input(node, inputs, "axes", axes)?;
                    }
                    attrs.push(flag("noop_with_empty_axes", r.noop_with_empty_axes));
                } else {
                    let axes = self.reduce_axes_attribute(node, r.axes.as_deref(), inputs)?;
                    if axes.is_none() && r.noop_with_empty_axes {
                        return Err(self.error(
                            node,
                            "noop_with_empty_axes needs opset 18; lowbit writes opset 17",
                        ));
                    }
                    attrs.extend(axes);
                }
                attrs
            }
            Op::ArgMax {
                axis,
                keepdims,
                select_last_index,
            } => vec![
                int("axis", *axis),
                flag("keepdims", *keepdims),
                flag("select_last_index", *select_last_index),
            ],
            // 1 is the default axis; a QDQ model has hundreds of these nodes.
            Op::QuantizeLinear(q) | Op::DequantizeLinear(q) if q.axis == 1 => Vec::new(),
            Op::QuantizeLinear(q) | Op::DequantizeLinear(q) => vec![int("axis", q.axis)],
            Op::GlobalAveragePool
            | Op::GlobalMaxPool
            | Op::MatMul
            | Op::Unary(_)
            | Op::Binary(_)
            | Op::Clip
            | Op::Where
            | Op::Slice(_)
            | Op::Expand
            | Op::Range
            | Op::Identity
            | Op::DynamicQuantizeLinear
            | Op::QLinearMatMul
            | Op::MatMulInteger => vec![],
        })
    }

    /// Reductions other than ReduceSum take `axes` as an attribute up to opset 17. An
    /// axes input (from an opset-18 model) is folded into it when it is constant.
    fn reduce_axes_attribute(
        &self,
        node: &Node,
        axes: Option<&[i64]>,
        inputs: &mut Vec<String>,
    ) -> Result<Option<AttributeProto>> {
        if let Some(axes) = axes {
            return Ok(Some(ints("axes", axes.iter().copied())));
        }
        let Some(axes_input) = node.input(1) else {
            return Ok(None);
        };
        let values = self.graph.initializer(axes_input).ok_or_else(|| {
            self.error(
                node,
                "axes computed at run time cannot be written as an opset-17 attribute",
            )
        })?;
        inputs.truncate(1);
        Ok(Some(ints("axes", values.to_i64_vec())))
    }
}

/// Attributes at their ONNX default (unit strides and dilations, no padding, one group)
/// are left out: a quantized model has a Conv per few hundred bytes of weights.
fn conv_attributes(c: &Conv) -> Vec<AttributeProto> {
    let mut attrs = vec![sizes("kernel_shape", &c.kernel)];
    if c.strides != [1, 1] {
        attrs.push(sizes("strides", &c.strides));
    }
    if c.pads != [0; 4] {
        attrs.push(sizes("pads", &c.pads));
    }
    if c.dilations != [1, 1] {
        attrs.push(sizes("dilations", &c.dilations));
    }
    if c.group != 1 {
        attrs.push(int("group", c.group as i64));
    }
    attrs
}

fn pool_attributes(p: &Pool) -> Vec<AttributeProto> {
    vec![
        sizes("kernel_shape", &p.kernel),
        sizes("strides", &p.strides),
        sizes("pads", &p.pads),
        flag("ceil_mode", p.ceil_mode),
    ]
}
