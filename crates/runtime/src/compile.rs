//! Compiles graph nodes into executable steps.
//!
//! Conv+activation fusion happens here rather than as a graph pass: the IR's Conv has no
//! activation field, so the graph keeps its Relu/Clip nodes and only the compiled step
//! carries the activation into the conv kernel. A Conv is fused with its output's
//! consumer when that consumer is the only one, the conv output is not a graph output,
//! and the consumer is a Relu or a Clip whose bounds are absent or constant.
//!
//! Erf GELU chains (Mul, Div, Erf, Add, Mul) become one step at their first node, with
//! the same result bit for bit (see `eval::gelu`).
//!
//! Dynamic-int8 chains (DynamicQuantizeLinear → MatMulInteger → Cast → Mul [→ Add]) are
//! fused the same way, into one step per MatMulInteger at the DynamicQuantizeLinear
//! they share (see [`crate::dynamic`]).

use std::collections::HashMap;

use lowbit_graph::ops::{Conv as ConvAttrs, UnaryOp};
use lowbit_graph::{Graph, Node, Op, ValueId};
use lowbit_kernels::f32::Activation;

use crate::dynamic::{self, DynamicMatMul};
use crate::eval::{self, PreparedConv};
use crate::int8::{self, Int8Kernel};
use crate::RuntimeError;

/// One unit of execution: a node, or a Conv with its fused activation node.
pub(crate) struct Step {
    /// The node's name and op, for errors; a fused step reports the conv.
    pub name: String,
    pub op: Op,
    pub inputs: Vec<Option<ValueId>>,
    /// For a fused step, the activation node's outputs.
    pub outputs: Vec<ValueId>,
    pub kernel: Kernel,
}

pub(crate) enum Kernel {
    /// Evaluated by `eval::eval` on every run.
    Generic,
    /// A convolution with its fused activation.
    Conv(Box<ConvKernel>),
    /// A fused dynamic-int8 product; the step's one input is the f32 activation.
    DynamicMatMul(Box<DynamicMatMul>),
    /// A quantized pattern on the integer kernels (see [`crate::int8`]).
    Int8(Box<Int8Kernel>),
    /// An erf GELU chain; the step's one input is `x` (see `eval::gelu`).
    Gelu(eval::Gelu),
}

pub(crate) struct ConvKernel {
    pub attrs: ConvAttrs,
    pub activation: Activation,
    /// Built once when the weights (and bias) are constants.
    pub prepared: Option<PreparedConv>,
}

impl Step {
    pub(crate) fn error(&self, message: impl Into<String>) -> RuntimeError {
        RuntimeError::node(&self.name, self.op.name(), message)
    }
}

/// Compiles every node of the (sorted, validated) graph; `fuse` enables activation fusion.
/// `quantized` holds the integer patterns found before constant folding.
pub(crate) fn compile(
    graph: &Graph,
    fuse: bool,
    quantized: int8::Matches,
) -> Result<Vec<Step>, RuntimeError> {
    let mut consumers: Vec<Vec<usize>> = vec![Vec::new(); graph.value_count()];
    for (n, node) in graph.nodes.iter().enumerate() {
        for input in node.inputs.iter().flatten() {
            if consumers[input.0].last() != Some(&n) {
                consumers[input.0].push(n);
            }
        }
    }
    let per_row = if fuse {
        dynamic::per_row_nodes(graph)?
    } else {
        Default::default()
    };
    let mut fused_away = vec![false; graph.nodes.len()];
    let mut integer_steps = int8::schedule(graph, quantized, &mut fused_away);
    let mut gelus: HashMap<usize, Step> = HashMap::new();
    for chain in eval::find_gelu_chains(graph, &consumers)
        .into_iter()
        .filter(|_| fuse)
    {
        let mut nodes = chain.absorbed.iter().chain([&chain.anchor]);
        if nodes.any(|&n| fused_away[n] || integer_steps.contains_key(&n)) {
            continue;
        }
        chain.absorbed.iter().for_each(|&n| fused_away[n] = true);
        let step = Step {
            name: chain.name,
            op: Op::Unary(UnaryOp::Erf),
            inputs: vec![Some(chain.x)],
            outputs: vec![chain.y],
            kernel: Kernel::Gelu(chain.gelu),
        };
        gelus.insert(chain.anchor, step);
    }
    let mut steps = Vec::with_capacity(graph.nodes.len());
    for (n, node) in graph.nodes.iter().enumerate() {
        if let Some(step) = gelus.remove(&n) {
            steps.push(step);
            continue;
        }
        if let Some(step) = integer_steps.remove(&n) {
            steps.push(step);
            continue;
        }
        if fused_away[n] {
            continue;
        }
        check_arity(node)?;
        let mut step = Step {
            name: node.name.clone(),
            op: node.op.clone(),
            inputs: node.inputs.clone(),
            outputs: node.outputs.clone(),
            kernel: Kernel::Generic,
        };
        if let (Op::DynamicQuantizeLinear | Op::Reduce(_), true) = (&node.op, fuse) {
            let chains = dynamic::match_chains(graph, &consumers, n, &per_row)?;
            if !chains.is_empty() {
                // Every chain reads only the anchor's input, so all can run here.
                for chain in chains {
                    chain.absorbed.iter().for_each(|&a| fused_away[a] = true);
                    steps.push(Step {
                        name: chain.name,
                        op: Op::MatMulInteger,
                        inputs: vec![Some(chain.x)],
                        outputs: vec![chain.output],
                        kernel: Kernel::DynamicMatMul(Box::new(chain.kernel)),
                    });
                }
                continue;
            }
        }
        if let Op::Conv(attrs) = &node.op {
            let mut activation = Activation::None;
            let out = node.outputs[0];
            if let ([next], true) = (consumers[out.0].as_slice(), fuse && !graph.is_output(out)) {
                let next_node = &graph.nodes[*next];
                let activation_of_out = next_node.input(0) == Some(out);
                if let Some(a) = fusable_activation(graph, next_node).filter(|_| activation_of_out) {
                    activation = a;
                    fused_away[*next] = true;
                    step.outputs = graph.nodes[*next].outputs.clone();
                    step.name = format!("{}+{}", node.name, graph.nodes[*next].name);
                }
            }
            let constant = |i: usize| node.input(i).and_then(|v| graph.initializer(v));
            let prepared = match (constant(1), node.input(2).is_none() || constant(2).is_some()) {
                (Some(w), true) => Some(
                    PreparedConv::new(attrs, w, constant(2).map(|b| &**b), activation)
                        .map_err(|e| step.error(e.0))?,
                ),
                _ => None,
            };
            step.kernel = Kernel::Conv(Box::new(ConvKernel {
                attrs: attrs.clone(),
                activation,
                prepared,
            }));
        }
        steps.push(step);
    }
    int8::assign_layouts(graph, &mut steps);
    Ok(steps)
}

fn check_arity(node: &Node) -> Result<(), RuntimeError> {
    let (min, max) = eval::arity(&node.op);
    let count = node.inputs.len();
    if count < min || count > max {
        let expected = if max == usize::MAX {
            format!("at least {min}")
        } else if min == max {
            format!("{min}")
        } else {
            format!("{min} to {max}")
        };
        return Err(RuntimeError::node(
            &node.name,
            node.op.name(),
            format!("takes {expected} inputs, got {count}"),
        ));
    }
    if node.outputs.is_empty() {
        return Err(RuntimeError::node(&node.name, node.op.name(), "has no outputs"));
    }
    Ok(())
}

/// The kernel activation equivalent to `node`, if it is a Relu or a Clip with constant
/// scalar f32 bounds.
fn fusable_activation(graph: &Graph, node: &Node) -> Option<Activation> {
    match node.op {
        Op::Unary(UnaryOp::Relu) => Some(Activation::Relu),
        Op::Clip => {
            let bound = |i: usize, default: f32| -> Option<f32> {
                match node.input(i) {
                    None => Some(default),
                    Some(v) => {
                        let t = graph.initializer(v)?;
                        let values = t.as_slice::<f32>().ok()?;
                        (values.len() == 1).then(|| values[0])
                    }
                }
            };
            Some(Activation::Clip {
                min: bound(1, f32::NEG_INFINITY)?,
                max: bound(2, f32::INFINITY)?,
            })
        }
        _ => None,
    }
}
