//! Finds the quantized patterns of a graph and builds their integer kernels.
//!
//! Runs on the graph *before* constant folding: folding turns `DequantizeLinear(W_i8)`
//! into f32 weights and drops the i8 tensor and its scales, which the integer kernels need.
//! Nodes are recorded by their first output (value ids survive folding; node indices and
//! names need not).

use std::collections::{HashMap, HashSet};

use lowbit_graph::ops::{BinaryOp, UnaryOp};
use lowbit_graph::{Graph, Node, Op, ValueId};
use lowbit_kernels::int8::ops::{Layout, OutputType, PoolGeometry, PoolQuant, QParams, SIGN_FLIP_SHIFT};
use lowbit_kernels::int8::{selected_tier, Tier};
use lowbit_tensor::{DType, Tensor};

use super::build;
use super::kernel::Int8Kernel;
use super::params::{same_params, NodeQuant};

/// One pattern compiled into an integer step, executed where its QuantizeLinear was.
pub(crate) struct Group {
    /// The core node's name and op, for errors and listings.
    pub name: String,
    pub op: Op,
    pub inputs: Vec<Option<ValueId>>,
    /// The pattern's quantized output (the QuantizeLinear's output, or the QOperator's).
    pub output: ValueId,
    pub kernel: Int8Kernel,
}

/// Every pattern found, and the nodes they replace.
#[derive(Default)]
pub(crate) struct Matches {
    pub groups: Vec<Group>,
    /// First outputs of the nodes the groups replace, including each group's anchor, and
    /// of activation DequantizeLinear nodes whose float output nothing else reads.
    pub absorbed: HashSet<ValueId>,
}

/// Finds every fusable pattern of the sorted graph.
pub(crate) fn find(graph: &Graph) -> Matches {
    let m = Matcher::new(graph);
    let mut matches = Matches::default();
    for node in &graph.nodes {
        let found = match node.op {
            Op::QuantizeLinear(_) => m.qdq(node).or_else(|| m.quantize(node)),
            Op::QLinearConv(_) | Op::QLinearMatMul => m.qoperator(node),
            _ => None,
        };
        if let Some((group, absorbed)) = found {
            matches.absorbed.extend(absorbed);
            matches.groups.push(group);
        }
    }
    // What is left of the quantized convs: those whose float output f32 ops read.
    for node in &graph.nodes {
        let out = node.outputs[0];
        let Op::Conv(attrs) = &node.op else { continue };
        if matches.absorbed.contains(&out) {
            continue;
        }
        if let Some((inputs, kernel)) = build::pointwise_to_float(&m, node, attrs) {
            matches.absorbed.insert(out);
            matches.groups.push(Group {
                name: node.name.clone(),
                op: node.op.clone(),
                inputs,
                output: out,
                kernel,
            });
        }
    }
    for node in &graph.nodes {
        let out = node.outputs[0];
        let unread = m.consumers[out.0]
            .iter()
            .all(|&c| matches.absorbed.contains(&graph.nodes[c].outputs[0]));
        if matches!(node.op, Op::DequantizeLinear(_)) && !graph.is_output(out) && unread {
            matches.absorbed.insert(out);
        }
    }
    matches
}

pub(super) struct Matcher<'g> {
    pub graph: &'g Graph,
    producer: HashMap<ValueId, usize>,
    consumers: Vec<Vec<usize>>,
    pub tier: Tier,
}

/// The end of a QDQ pattern: the QuantizeLinear, an optional Relu/Clip before it, and the
/// core node they follow.
struct Tail<'g> {
    core: &'g Node,
    y: QParams,
    output_type: OutputType,
    range: (i32, i32),
    has_activation: bool,
    absorbed: Vec<ValueId>,
}

impl<'g> Matcher<'g> {
    fn new(graph: &'g Graph) -> Self {
        let mut producer = HashMap::new();
        let mut consumers = vec![Vec::new(); graph.value_count()];
        for (n, node) in graph.nodes.iter().enumerate() {
            for &o in &node.outputs {
                producer.insert(o, n);
            }
            for input in node.inputs.iter().flatten() {
                if consumers[input.0].last() != Some(&n) {
                    consumers[input.0].push(n);
                }
            }
        }
        Matcher {
            graph,
            producer,
            consumers,
            tier: selected_tier(),
        }
    }

    fn node_of(&self, v: ValueId) -> Option<&'g Node> {
        self.producer.get(&v).map(|&n| &self.graph.nodes[n])
    }

    /// Whether `v` is f32, by its inferred fact (`Plan::new` infers every value's).
    fn is_f32(&self, v: ValueId) -> bool {
        self.graph.value(v).fact.dtype == Some(DType::F32)
    }

    /// Read by one node only, and not a graph output: safe to stop materialising.
    fn private(&self, v: ValueId) -> bool {
        self.consumers[v.0].len() == 1 && !self.graph.is_output(v)
    }

    /// `v` is `DequantizeLinear(x_q)` of a computed u8 or i8 tensor with constant
    /// per-tensor parameters: returns `x_q` and its parameters as the u8 kernels read it.
    pub fn activation(&self, v: ValueId) -> Option<(ValueId, QParams)> {
        let node = self.node_of(v)?;
        let x = node.input(0)?;
        if !matches!(node.op, Op::DequantizeLinear(_)) || self.graph.initializer(x).is_some() {
            return None;
        }
        Some((x, NodeQuant::of(self.graph, node)?.per_tensor_activation()?))
    }

    /// `v` is `DequantizeLinear(constant)` with constant parameters.
    pub fn constant(&self, v: ValueId) -> Option<(&'g Tensor, NodeQuant)> {
        let node = self.node_of(v)?;
        if !matches!(node.op, Op::DequantizeLinear(_)) {
            return None;
        }
        let t = self.graph.initializer(node.input(0)?)?;
        Some((t, NodeQuant::of(self.graph, node)?))
    }

    fn tail(&self, q: &'g Node) -> Option<Tail<'g>> {
        let yq = NodeQuant::of(self.graph, q)?;
        let output_type = match yq.dtype {
            DType::U8 => OutputType::U8,
            DType::I8 => OutputType::I8,
            _ => return None,
        };
        if yq.scales.len() != 1 {
            return None;
        }
        let y = QParams::new(yq.scales[0], yq.zero_points[0]);
        let mut v = q.input(0).filter(|&v| self.private(v))?;
        let mut node = self.node_of(v)?;
        let mut absorbed = vec![q.outputs[0]];
        let mut range = output_type.range();
        let mut has_activation = false;
        if let Some(r) = activation_range(self.graph, node, y, output_type) {
            range = r;
            has_activation = true;
            absorbed.push(node.outputs[0]);
            v = node.input(0).filter(|&v| self.private(v))?;
            node = self.node_of(v)?;
        }
        if node.outputs.len() != 1 {
            return None;
        }
        absorbed.push(node.outputs[0]);
        Some(Tail {
            core: node,
            y,
            output_type,
            range,
            has_activation,
            absorbed,
        })
    }

    /// A QuantizeLinear of a computed f32 tensor to per-tensor u8 that ends no pattern
    /// (a model's entry, or the exit of an f32 fallback): the vector quantize kernel,
    /// which can also write NHWC for the integer convs it feeds.
    fn quantize(&self, q: &'g Node) -> Option<(Group, Vec<ValueId>)> {
        let x = q.input(0)?;
        if self.graph.initializer(x).is_some() || !self.is_f32(x) {
            return None;
        }
        let yq = NodeQuant::of(self.graph, q)?;
        let y = yq.per_tensor_activation()?;
        let kernel = Int8Kernel::Quantize {
            tier: self.tier,
            y,
            output: Layout::Nchw,
        };
        let group = Group {
            name: q.name.clone(),
            op: q.op.clone(),
            inputs: vec![Some(x)],
            output: q.outputs[0],
            kernel: signed_if(yq.dtype == DType::I8, kernel),
        };
        Some((group, vec![q.outputs[0]]))
    }

    /// DQ → op → [Relu/Clip] → Q.
    fn qdq(&self, q: &'g Node) -> Option<(Group, Vec<ValueId>)> {
        let t = self.tail(q)?;
        let core = t.core;
        // Kernels with u8 outputs only compute an i8 result in the u8 view (every value
        // + 128) and flip the bytes back when they store it.
        let signed = t.output_type == OutputType::I8;
        let shift = if signed { SIGN_FLIP_SHIFT } else { 0 };
        let y_u8 = QParams::new(t.y.scale, t.y.zero_point + shift);
        let range_u8 = (t.range.0 + shift, t.range.1 + shift);
        let quant = |x: QParams| PoolQuant {
            input: x,
            output: y_u8,
            range: range_u8,
        };
        let (inputs, kernel) = match &core.op {
            Op::Conv(attrs) => build::conv(self, core, attrs, t.y, t.range, t.output_type)?,
            Op::Gemm(_) | Op::MatMul => build::linear(self, core, t.y, t.range, t.output_type)?,
            Op::Binary(BinaryOp::Add) => {
                let (a, ap) = self.activation(core.input(0)?)?;
                let (b, bp) = self.activation(core.input(1)?)?;
                let kernel = Int8Kernel::Add {
                    tier: self.tier,
                    a: ap,
                    b: bp,
                    y: y_u8,
                    range: range_u8,
                };
                (vec![Some(a), Some(b)], signed_if(signed, kernel))
            }
            Op::GlobalAveragePool => {
                let (x, xp) = self.activation(core.input(0)?)?;
                let kernel = Int8Kernel::GlobalAveragePool {
                    tier: self.tier,
                    quant: quant(xp),
                    input: Layout::Nchw,
                };
                (vec![Some(x)], signed_if(signed, kernel))
            }
            Op::MaxPool(p) | Op::AveragePool(p) => {
                let (x, xp) = self.activation(core.input(0)?)?;
                let geometry = PoolGeometry {
                    kernel: p.kernel,
                    strides: p.strides,
                    pads: p.pads,
                    dilations: p.dilations,
                    ceil_mode: p.ceil_mode,
                    count_include_pad: p.count_include_pad,
                };
                if [p.kernel, p.strides, p.dilations].iter().any(|a| a.contains(&0)) {
                    return None;
                }
                let kernel = Int8Kernel::Pool {
                    max: matches!(core.op, Op::MaxPool(_)),
                    geometry,
                    quant: quant(xp),
                };
                (vec![Some(x)], signed_if(signed, kernel))
            }
            Op::Concat { axis } => {
                let mut inputs = Vec::new();
                let mut params = Vec::new();
                for v in &core.inputs {
                    let (x, xp) = self.activation((*v)?)?;
                    inputs.push(Some(x));
                    params.push(xp);
                }
                let kernel = Int8Kernel::Concat {
                    axis: *axis,
                    inputs: params,
                    y: y_u8,
                    range: range_u8,
                };
                (inputs, signed_if(signed, kernel))
            }
            // The bytes pass through, so input and output must be the same type too.
            Op::Reshape { .. } | Op::Flatten { .. } if !t.has_activation => {
                let (x, xp) = self.activation(core.input(0)?)?;
                if !same_params(xp, y_u8)
                    || self.graph.value(x).fact.dtype != Some(output_dtype(t.output_type))
                {
                    return None;
                }
                let mut inputs = core.inputs.clone();
                inputs[0] = Some(x);
                (inputs, Int8Kernel::Relayout(core.op.clone()))
            }
            _ => return None,
        };
        let group = Group {
            name: core.name.clone(),
            op: core.op.clone(),
            inputs,
            output: q.outputs[0],
            kernel,
        };
        Some((group, t.absorbed))
    }

    /// QLinearConv / QLinearMatMul with constant weights.
    fn qoperator(&self, node: &'g Node) -> Option<(Group, Vec<ValueId>)> {
        let (inputs, kernel) = match &node.op {
            Op::QLinearConv(attrs) => build::qlinear_conv(self, node, attrs)?,
            Op::QLinearMatMul => build::qlinear_matmul(self, node)?,
            _ => return None,
        };
        let group = Group {
            name: node.name.clone(),
            op: node.op.clone(),
            inputs,
            output: node.outputs[0],
            kernel,
        };
        Some((group, vec![node.outputs[0]]))
    }
}

/// The output clamp range equivalent to a Relu or constant Clip before the
/// QuantizeLinear: quantization is monotonic, so `Q(clip(v, a, b)) = clip(Q(v), Q(a), Q(b))`.
/// `None` when `node` is no such activation, or its range would exclude the zero point
/// (the kernels require it inside).
fn activation_range(graph: &Graph, node: &Node, y: QParams, t: OutputType) -> Option<(i32, i32)> {
    let (lo, hi) = t.range();
    let q = |v: f32| {
        ((v / y.scale).round_ties_even() as i64 + i64::from(y.zero_point)).clamp(lo.into(), hi.into()) as i32
    };
    let range = match node.op {
        Op::Unary(UnaryOp::Relu) => (y.zero_point.max(lo), hi),
        Op::Clip => {
            let bound = |i: usize| -> Option<Option<f32>> {
                match node.input(i) {
                    None => Some(None),
                    Some(v) => {
                        let values = graph.initializer(v)?.as_slice::<f32>().ok()?.to_vec();
                        (values.len() == 1).then(|| Some(values[0]))
                    }
                }
            };
            let a = bound(1)?.map_or(lo, q);
            let b = bound(2)?.map_or(hi, q);
            (a, b)
        }
        _ => return None,
    };
    (range.0 <= y.zero_point && y.zero_point <= range.1).then_some(range)
}

/// `kernel`, wrapped to store its u8-view result as i8 when `signed`.
fn signed_if(signed: bool, kernel: Int8Kernel) -> Int8Kernel {
    if signed {
        Int8Kernel::Signed(Box::new(kernel))
    } else {
        kernel
    }
}

fn output_dtype(t: OutputType) -> DType {
    match t {
        OutputType::U8 => DType::U8,
        OutputType::I8 => DType::I8,
    }
}
