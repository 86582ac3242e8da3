//! The layer methods of [`GraphBuilder`], one per PyTorch module or function, exported
//! the way `torch.onnx.export` writes them.

use lowbit_tensor::Tensor;

use super::GraphBuilder;
use crate::ops::{BatchNorm, BinaryOp, Conv, Gemm, Pool, Reduce, ReduceKind, UnaryOp};
use crate::{GraphError, Op, Result, ValueId};

/// The hyper-parameters of `nn.Conv2d` that the weight's shape does not give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dSpec {
    pub stride: [usize; 2],
    /// Symmetric padding `[along height, along width]`, as PyTorch's `padding`.
    pub padding: [usize; 2],
    pub dilation: [usize; 2],
    pub groups: usize,
}

impl Default for Conv2dSpec {
    fn default() -> Self {
        Conv2dSpec {
            stride: [1, 1],
            padding: [0, 0],
            dilation: [1, 1],
            groups: 1,
        }
    }
}

impl Conv2dSpec {
    pub fn stride(self, stride: usize) -> Self {
        Conv2dSpec {
            stride: [stride; 2],
            ..self
        }
    }

    pub fn padding(self, padding: usize) -> Self {
        Conv2dSpec {
            padding: [padding; 2],
            ..self
        }
    }

    pub fn dilation(self, dilation: usize) -> Self {
        Conv2dSpec {
            dilation: [dilation; 2],
            ..self
        }
    }

    pub fn groups(self, groups: usize) -> Self {
        Conv2dSpec { groups, ..self }
    }
}

/// Parameters and buffers of `nn.BatchNorm2d`, each with one value per channel.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchNormWeights {
    pub weight: Tensor,
    pub bias: Tensor,
    pub running_mean: Tensor,
    pub running_var: Tensor,
    pub eps: f32,
}

impl BatchNormWeights {
    /// A freshly constructed `nn.BatchNorm2d(channels)`: weight 1, bias 0, running mean
    /// 0, running variance 1, eps 1e-5.
    pub fn fresh(channels: usize) -> Self {
        let filled = |value: f32| Tensor::new(vec![channels], vec![value; channels]).expect("length matches");
        BatchNormWeights {
            weight: filled(1.0),
            bias: filled(0.0),
            running_mean: filled(0.0),
            running_var: filled(1.0),
            eps: 1e-5,
        }
    }
}

impl GraphBuilder {
    /// `nn.Conv2d` with `weight` `[out, in/groups, kh, kw]` and an optional `bias` `[out]`.
    pub fn conv2d(
        &mut self,
        name: &str,
        x: ValueId,
        spec: Conv2dSpec,
        weight: Tensor,
        bias: Option<Tensor>,
    ) -> Result<ValueId> {
        let out = self.reserve(name);
        let node = self.graph.value(out).name.clone();
        let &[_, _, kh, kw] = weight.shape() else {
            return Err(GraphError::node(
                &node,
                "Conv",
                format!(
                    "the weight must be 4-D [out, in/groups, kh, kw], got {:?}",
                    weight.shape()
                ),
            ));
        };
        let [ph, pw] = spec.padding;
        let conv = Conv {
            kernel: [kh, kw],
            strides: spec.stride,
            pads: [ph, pw, ph, pw],
            dilations: spec.dilation,
            group: spec.groups,
        };
        let w = self.graph.add_const(format!("{node}.weight"), weight)?;
        let b = bias
            .map(|b| self.graph.add_const(format!("{node}.bias"), b))
            .transpose()?;
        self.add_node(node, Op::Conv(conv), vec![Some(x), Some(w), b], vec![out])
            .map(|o| o[0])
    }

    /// `nn.BatchNorm2d` in inference mode (running statistics).
    pub fn batch_norm(&mut self, name: &str, x: ValueId, weights: BatchNormWeights) -> Result<ValueId> {
        let out = self.reserve(name);
        let node = self.graph.value(out).name.clone();
        let mut inputs = vec![Some(x)];
        let tensors = [
            ("weight", weights.weight),
            ("bias", weights.bias),
            ("running_mean", weights.running_mean),
            ("running_var", weights.running_var),
        ];
        for (suffix, tensor) in tensors {
            inputs.push(Some(self.graph.add_const(format!("{node}.{suffix}"), tensor)?));
        }
        // PyTorch's default momentum 0.1 is ONNX's 0.9 (the weight of the old value).
        let op = Op::BatchNorm(BatchNorm {
            epsilon: weights.eps,
            momentum: 0.9,
        });
        self.add_node(node, op, inputs, vec![out]).map(|o| o[0])
    }

    /// `nn.ReLU`.
    pub fn relu(&mut self, name: &str, x: ValueId) -> Result<ValueId> {
        self.op1(name, Op::Unary(UnaryOp::Relu), &[x])
    }

    /// `nn.ReLU6`, exported as `Clip` with constant min 0 and max 6 inputs.
    pub fn relu6(&mut self, name: &str, x: ValueId) -> Result<ValueId> {
        let out = self.reserve(name);
        let node = self.graph.value(out).name.clone();
        let min = self
            .graph
            .add_const(format!("{node}.min"), Tensor::scalar(0f32))?;
        let max = self
            .graph
            .add_const(format!("{node}.max"), Tensor::scalar(6f32))?;
        self.add_node(node, Op::Clip, vec![Some(x), Some(min), Some(max)], vec![out])
            .map(|o| o[0])
    }

    /// `nn.MaxPool2d(kernel, stride, padding)` with square windows.
    pub fn max_pool2d(
        &mut self,
        name: &str,
        x: ValueId,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> Result<ValueId> {
        let pool = Pool {
            kernel: [kernel; 2],
            strides: [stride; 2],
            pads: [padding; 4],
            dilations: [1, 1],
            ceil_mode: false,
            count_include_pad: false,
        };
        self.op1(name, Op::MaxPool(pool), &[x])
    }

    /// `nn.AdaptiveAvgPool2d((1, 1))`, exported as `GlobalAveragePool`.
    pub fn global_avg_pool(&mut self, name: &str, x: ValueId) -> Result<ValueId> {
        self.op1(name, Op::GlobalAveragePool, &[x])
    }

    /// `nn.Dropout(p)`; an identity at inference.
    pub fn dropout(&mut self, name: &str, x: ValueId, p: f32) -> Result<ValueId> {
        self.op1(name, Op::Dropout { ratio: p }, &[x])
    }

    /// `nn.Linear` with `weight` `[out, in]`: `Gemm(transB=1)`, as PyTorch exports it.
    pub fn linear(
        &mut self,
        name: &str,
        x: ValueId,
        weight: Tensor,
        bias: Option<Tensor>,
    ) -> Result<ValueId> {
        let out = self.reserve(name);
        let node = self.graph.value(out).name.clone();
        let w = self.graph.add_const(format!("{node}.weight"), weight)?;
        let b = bias
            .map(|b| self.graph.add_const(format!("{node}.bias"), b))
            .transpose()?;
        let gemm = Gemm {
            trans_b: true,
            ..Gemm::default()
        };
        self.add_node(node, Op::Gemm(gemm), vec![Some(x), Some(w), b], vec![out])
            .map(|o| o[0])
    }

    /// `x + y` (`torch.add`), broadcasting.
    pub fn add(&mut self, x: ValueId, y: ValueId) -> Result<ValueId> {
        self.op1("add", Op::Binary(BinaryOp::Add), &[x, y])
    }

    /// `torch.flatten(x, 1)`: keeps the batch axis, flattens the rest.
    pub fn flatten(&mut self, x: ValueId) -> Result<ValueId> {
        self.op1("flatten", Op::Flatten { axis: 1 }, &[x])
    }

    /// `x.mean(dims, keepdim)`, exported as `ReduceMean`.
    pub fn mean(&mut self, x: ValueId, dims: &[i64], keepdim: bool) -> Result<ValueId> {
        let reduce = Reduce {
            kind: ReduceKind::Mean,
            axes: Some(dims.to_vec()),
            keepdims: keepdim,
            noop_with_empty_axes: false,
        };
        self.op1("mean", Op::Reduce(reduce), &[x])
    }
}
