//! The training-mode executor: runs a graph forward while recording each node's gradient
//! record on a [`Tape`], then walks the tape backward from seed gradients.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use lowbit_graph::ops::UnaryOp;
use lowbit_graph::{Graph, Node, Op, ValueId};
use lowbit_tensor::{DType, Tensor};
use rayon::prelude::*;

use crate::error::{AutogradError, Result};
use crate::rules::fake_quant::StraightThrough;
use crate::rules::{self, Backward, Ctx};
use crate::FakeQuantize;

/// Whether a forward pass trains (batch statistics, dropout) or evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Train,
    Eval,
}

/// Sees the float tensor of every value before its readers do, in each forward pass, and
/// decides how it is fake-quantized: QAT's observers (PyTorch's `FakeQuantize` observes a
/// tensor, then quantizes it with the updated parameters, in the same call).
///
/// Called for graph inputs, initializers and node outputs; a value the observer does not
/// watch returns `Ok(None)`. A returned quantizer takes precedence over one set with
/// [`TrainingExecutor::set_fake_quant`] for that pass.
pub trait FakeQuantObserver: Send {
    fn observe(&mut self, value: ValueId, tensor: &Tensor, mode: Mode) -> Result<Option<FakeQuantize>>;
}

/// Holds a graph and its mutable state (parameters and BatchNorm buffers, initialised from
/// the graph's initializers) across training steps.
pub struct TrainingExecutor {
    graph: Graph,
    state: BTreeMap<ValueId, Arc<Tensor>>,
    /// Values whose gradient [`Tape::backward`] returns: the trainable parameters, plus any
    /// input marked with [`TrainingExecutor::set_requires_grad`].
    requires_grad: BTreeSet<ValueId>,
    /// Fake-quantize sites: readers of these values see them quantized-dequantized.
    fake_quant: BTreeMap<ValueId, FakeQuantize>,
    /// Behind a mutex because the forward pass reads `self` while the observer updates.
    fake_quant_observer: Option<Mutex<Box<dyn FakeQuantObserver>>>,
    seed: u64,
    steps: u64,
}

impl TrainingExecutor {
    /// Takes a copy of `graph` (sorted) and marks its trainable parameters: the f32
    /// initializers used as Conv/Gemm weights and biases, BatchNorm scale and shift, and
    /// MatMul operands.
    pub fn new(graph: &Graph, seed: u64) -> Result<Self> {
        let mut graph = graph.clone();
        graph.sort()?;
        graph.validate()?;
        let state: BTreeMap<ValueId, Arc<Tensor>> = graph
            .initializers
            .iter()
            .map(|(&id, t)| (id, t.clone()))
            .collect();
        let mut requires_grad = BTreeSet::new();
        for node in &graph.nodes {
            let slots: &[usize] = match node.op {
                Op::Conv(_) | Op::Gemm(_) | Op::BatchNorm(_) => &[1, 2],
                Op::MatMul => &[0, 1],
                _ => &[],
            };
            for id in slots.iter().filter_map(|&s| node.input(s)) {
                if state.get(&id).is_some_and(|t| t.dtype() == DType::F32) {
                    requires_grad.insert(id);
                }
            }
        }
        Ok(TrainingExecutor {
            graph,
            state,
            requires_grad,
            fake_quant: BTreeMap::new(),
            fake_quant_observer: None,
            seed,
            steps: 0,
        })
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Whether `backward` computes the gradient of `value`. Marking an initializer makes
    /// it trainable; marking a graph input returns its gradient too.
    pub fn set_requires_grad(&mut self, value: ValueId, requires: bool) {
        if requires {
            self.requires_grad.insert(value);
        } else {
            self.requires_grad.remove(&value);
        }
    }

    /// Fake-quantizes `value` (an initializer, graph input or node output) for every reader,
    /// with a straight-through gradient; `None` removes the site. This is how QAT inserts
    /// observers-turned-quantizers without a FakeQuantize op in the IR.
    pub fn set_fake_quant(&mut self, value: ValueId, quantizer: Option<FakeQuantize>) {
        match quantizer {
            Some(q) => self.fake_quant.insert(value, q),
            None => self.fake_quant.remove(&value),
        };
    }

    /// Installs (or, with `None`, removes) the observer that decides each pass how values
    /// are fake-quantized.
    pub fn set_fake_quant_observer(&mut self, observer: Option<Box<dyn FakeQuantObserver>>) {
        self.fake_quant_observer = observer.map(Mutex::new);
    }

    /// The quantizer the observer picks for `id` after seeing `tensor`, if any.
    fn observed_quantizer(&self, id: ValueId, tensor: &Tensor, mode: Mode) -> Result<Option<FakeQuantize>> {
        let Some(observer) = &self.fake_quant_observer else {
            return Ok(None);
        };
        let mut observer = observer
            .lock()
            .map_err(|_| AutogradError::Invalid("the fake-quantize observer panicked earlier".into()))?;
        observer.observe(id, tensor, mode)
    }

    /// Quantizes `tensor` (the value `id`) if it is a fake-quantize site, recording the
    /// straight-through gradient when the value is differentiable.
    fn fake_quantize(
        &self,
        id: ValueId,
        tensor: Arc<Tensor>,
        mode: Mode,
        differentiable: &BTreeSet<ValueId>,
        records: &mut Vec<Record>,
    ) -> Result<Arc<Tensor>> {
        let observed = self.observed_quantizer(id, &tensor, mode)?;
        let Some(quantizer) = observed.as_ref().or_else(|| self.fake_quant.get(&id)) else {
            return Ok(tensor);
        };
        let out = quantizer.forward(&tensor).map_err(|e| AutogradError::Node {
            node: self.graph.value(id).name.clone(),
            op: "FakeQuantize",
            message: e.to_string(),
        })?;
        if differentiable.contains(&id) {
            records.push(Record {
                node: self.graph.value(id).name.clone(),
                op: "FakeQuantize",
                inputs: vec![Some(id)],
                output: id,
                needed: vec![true],
                backward: Box::new(StraightThrough {
                    shape: tensor.shape().to_vec(),
                    pass: out.pass,
                }),
            });
        }
        Ok(Arc::new(out.output))
    }

    /// The trainable initializers, in value order.
    pub fn trainable(&self) -> impl Iterator<Item = ValueId> + '_ {
        self.requires_grad
            .iter()
            .copied()
            .filter(|id| self.state.contains_key(id))
    }

    /// The current value of an initializer (parameter or buffer).
    pub fn state(&self, value: ValueId) -> Option<&Tensor> {
        self.state.get(&value).map(Arc::as_ref)
    }

    /// Mutable access to an initializer, for optimizers. Copies it if a live tape still
    /// shares it.
    pub fn state_mut(&mut self, value: ValueId) -> Option<&mut Tensor> {
        self.state.get_mut(&value).map(Arc::make_mut)
    }

    /// The graph with every initializer replaced by its current value, for export or
    /// inference.
    pub fn to_graph(&self) -> Graph {
        let mut graph = self.graph.clone();
        for (id, tensor) in &self.state {
            graph.initializers.insert(*id, tensor.clone());
        }
        graph
    }

    /// The tensors of input `slots` (absent optional inputs stay `None`).
    fn resolve(
        &self,
        slots: &[Option<ValueId>],
        values: &HashMap<ValueId, Arc<Tensor>>,
    ) -> Result<Vec<Option<Arc<Tensor>>>> {
        slots
            .iter()
            .map(|slot| {
                slot.map(|id| {
                    values
                        .get(&id)
                        .or_else(|| self.state.get(&id))
                        .cloned()
                        .ok_or_else(|| AutogradError::MissingValue(self.graph.value(id).name.clone()))
                })
                .transpose()
            })
            .collect()
    }

    /// Whether `node` (at index `n`) is a BatchNorm whose output only `next`, a Relu or
    /// Clip, reads as its data input, so the two can run fused: the output must not be
    /// visible anywhere else (graph output, fake-quantize site or observed value, a value
    /// whose gradient is asked for).
    fn fusable_clamp(&self, node: &Node, next: &Node, n: usize, last_use: &HashMap<ValueId, usize>) -> bool {
        let (Op::BatchNorm(_), Op::Unary(UnaryOp::Relu) | Op::Clip) = (&node.op, &next.op) else {
            return false;
        };
        let [out] = node.outputs[..] else {
            return false;
        };
        next.input(0) == Some(out)
            && !next.inputs[1..].contains(&Some(out))
            && last_use.get(&out) == Some(&(n + 1))
            && !self.graph.is_output(out)
            && !self.fake_quant.contains_key(&out)
            && self.fake_quant_observer.is_none()
            && !self.requires_grad.contains(&out)
    }

    /// Runs the graph on `feeds` (graph inputs by value id) and returns a tape holding the
    /// graph outputs and each differentiable node's gradient record. In [`Mode::Train`]
    /// BatchNorm running statistics are updated in this executor as the step ends.
    pub fn forward(&mut self, feeds: &[(ValueId, Tensor)], mode: Mode) -> Result<Tape> {
        let step = self.steps;
        self.steps += 1;
        let mut last_use: HashMap<ValueId, usize> = HashMap::new();
        for (n, node) in self.graph.nodes.iter().enumerate() {
            for &id in node.inputs.iter().flatten() {
                last_use.insert(id, n);
            }
        }
        let mut differentiable: BTreeSet<ValueId> = self.requires_grad.clone();
        let mut records = Vec::new();
        // Fake-quantized feeds and initializers are quantized once, up front; their records
        // come first on the tape, so their gradients are complete when they are reached.
        let mut values: HashMap<ValueId, Arc<Tensor>> = HashMap::new();
        for (id, t) in feeds {
            let t = self.fake_quantize(*id, Arc::new(t.clone()), mode, &differentiable, &mut records)?;
            values.insert(*id, t);
        }
        for (&id, t) in &self.state {
            if self.fake_quant.contains_key(&id) || self.fake_quant_observer.is_some() {
                let t = self.fake_quantize(id, t.clone(), mode, &differentiable, &mut records)?;
                values.insert(id, t);
            }
        }
        let mut state_updates = Vec::new();
        let nodes = &self.graph.nodes;
        let mut n = 0;
        while let Some(node) = nodes.get(n) {
            let inputs = self.resolve(&node.inputs, &values)?;
            let ctx = Ctx {
                training: mode == Mode::Train,
                seed: mix(self.seed, step, n as u64),
            };
            let op = node.op.name();
            // A BatchNorm and the Relu/Clip that alone reads it run as one step, recorded
            // under the BatchNorm's name with the clamp's output.
            let fused = nodes
                .get(n + 1)
                .filter(|next| self.fusable_clamp(node, next, n, &last_use));
            let (step_result, last) = match fused {
                Some(next) => {
                    // Its data input, the BatchNorm's output, is never computed.
                    let bounds = [&[None], &next.inputs[1..]].concat();
                    let clamp_inputs = self.resolve(&bounds, &values)?;
                    let step = rules::batch_norm_then_clamp(&node.op, &inputs, &next.op, &clamp_inputs, ctx);
                    (step, next)
                }
                None => (rules::forward(&node.op, &inputs, ctx), node),
            };
            let step_out = step_result
                .ok_or_else(|| AutogradError::Unsupported {
                    node: node.name.clone(),
                    op,
                })?
                .map_err(|e| AutogradError::Node {
                    node: node.name.clone(),
                    op,
                    message: e.0,
                })?;
            for (slot, tensor) in step_out.state {
                if let Some(id) = node.input(slot) {
                    state_updates.push((id, tensor));
                }
            }
            let needed: Vec<bool> = node
                .inputs
                .iter()
                .map(|slot| slot.is_some_and(|id| differentiable.contains(&id)))
                .collect();
            if needed.iter().any(|&x| x) {
                differentiable.extend(last.outputs.iter().copied());
                records.push(Record {
                    node: node.name.clone(),
                    op,
                    inputs: node.inputs.clone(),
                    output: last.outputs[0],
                    needed,
                    backward: step_out.backward,
                });
            }
            for (&id, tensor) in last.outputs.iter().zip(step_out.outputs) {
                let tensor = self.fake_quantize(id, tensor, mode, &differentiable, &mut records)?;
                values.insert(id, tensor);
            }
            let next_node = n + if fused.is_some() { 2 } else { 1 };
            // Activations live on in the records that need them; drop the rest early.
            for &id in node.inputs.iter().chain(&last.inputs).flatten() {
                let used_last_here = last_use.get(&id).is_some_and(|&u| (n..next_node).contains(&u));
                if used_last_here && !self.graph.is_output(id) {
                    values.remove(&id);
                }
            }
            n = next_node;
        }
        if mode == Mode::Train {
            for (id, tensor) in &state_updates {
                self.state.insert(*id, Arc::new(tensor.clone()));
            }
        }
        let outputs = self
            .graph
            .outputs
            .iter()
            .map(|id| {
                values
                    .get(id)
                    .or_else(|| self.state.get(id))
                    .map(|t| (*id, t.clone()))
                    .ok_or_else(|| AutogradError::MissingValue(self.graph.value(*id).name.clone()))
            })
            .collect::<Result<_>>()?;
        Ok(Tape {
            outputs,
            records,
            state_updates,
            wanted: self.requires_grad.clone(),
        })
    }
}

/// A per-node, per-step seed (splitmix64 finaliser over the three words).
fn mix(seed: u64, step: u64, node: u64) -> u64 {
    let mut z = seed ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ node.wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

struct Record {
    node: String,
    op: &'static str,
    inputs: Vec<Option<ValueId>>,
    output: ValueId,
    needed: Vec<bool>,
    backward: Box<dyn Backward>,
}

/// What a forward pass recorded: the graph outputs, the gradient records of the nodes on
/// a path from a trainable value, and the BatchNorm running-statistics updates.
pub struct Tape {
    outputs: Vec<(ValueId, Arc<Tensor>)>,
    records: Vec<Record>,
    state_updates: Vec<(ValueId, Tensor)>,
    wanted: BTreeSet<ValueId>,
}

impl Tape {
    /// The graph outputs, in the graph's order.
    pub fn outputs(&self) -> impl Iterator<Item = (ValueId, &Tensor)> {
        self.outputs.iter().map(|(id, t)| (*id, t.as_ref()))
    }

    /// The first graph output (the logits of a classifier).
    pub fn output(&self) -> Option<&Tensor> {
        self.outputs.first().map(|(_, t)| t.as_ref())
    }

    /// New running mean and variance per BatchNorm buffer (empty in evaluation mode).
    pub fn state_updates(&self) -> &[(ValueId, Tensor)] {
        &self.state_updates
    }

    /// Back-propagates `seeds` (the loss gradient with respect to some outputs) and returns
    /// the gradients of every value that requires one.
    pub fn backward(self, seeds: &[(ValueId, Tensor)]) -> Result<Gradients> {
        let mut grads: HashMap<ValueId, Vec<f32>> = HashMap::new();
        for (id, seed) in seeds {
            accumulate(&mut grads, *id, seed.clone())?;
        }
        let mut wanted = BTreeMap::new();
        // Records are consumed so each one's saved activations are freed once used.
        for record in self.records.into_iter().rev() {
            let Some(dy) = grads.remove(&record.output) else {
                continue;
            };
            let fail = |message: String| AutogradError::Node {
                node: record.node.clone(),
                op: record.op,
                message,
            };
            let input_grads = record
                .backward
                .backward(dy, &record.needed)
                .map_err(|e| fail(e.0))?;
            for (slot, g) in input_grads.into_iter().enumerate() {
                let (Some(Some(id)), Some(g)) = (record.inputs.get(slot), g) else {
                    continue;
                };
                if record.needed[slot] {
                    if self.wanted.contains(id) {
                        wanted.insert(*id, g.shape().to_vec());
                    }
                    accumulate(&mut grads, *id, g)?;
                }
            }
        }
        let mut map = BTreeMap::new();
        for (id, shape) in wanted {
            if let Some(values) = grads.remove(&id) {
                map.insert(id, Tensor::new(shape, values)?);
            }
        }
        Ok(Gradients { map })
    }
}

/// Elements per parallel task when summing two gradients of a value (residual branches).
const ACCUMULATE_CHUNK: usize = 1 << 14;

/// Adds `g` to the gradient of `id`; the first gradient of a value is moved in, not copied.
fn accumulate(grads: &mut HashMap<ValueId, Vec<f32>>, id: ValueId, g: Tensor) -> Result<()> {
    match grads.get_mut(&id) {
        Some(acc) => acc
            .par_iter_mut()
            .with_min_len(ACCUMULATE_CHUNK)
            .zip(g.as_slice::<f32>()?)
            .for_each(|(a, b)| *a += b),
        None => {
            grads.insert(id, g.into_vec::<f32>()?);
        }
    }
    Ok(())
}

/// Gradients of the loss with respect to parameters and marked inputs.
#[derive(Debug, Clone, Default)]
pub struct Gradients {
    map: BTreeMap<ValueId, Tensor>,
}

impl Gradients {
    pub fn get(&self, value: ValueId) -> Option<&Tensor> {
        self.map.get(&value)
    }

    pub fn iter(&self) -> impl Iterator<Item = (ValueId, &Tensor)> {
        self.map.iter().map(|(id, t)| (*id, t))
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}
