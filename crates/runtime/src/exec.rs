//! Executes compiled steps: checks inputs, evaluates in order, frees values after their
//! last use and recycles their buffers.

use std::borrow::Cow;
use std::collections::HashMap;

use lowbit_graph::{Dim, Graph, ValueId};
use lowbit_tensor::Tensor;

use crate::buffers::{BufferPool, PoolCache};
use crate::compile::{Kernel, Step};
use crate::eval::{self, Cx, Inputs};
use crate::{Observer, RuntimeError};

/// For each step, the values that are dead once it has run.
pub(crate) struct Lifetimes {
    free_after: Vec<Vec<ValueId>>,
}

impl Lifetimes {
    /// A value dies after its last reader, or right after its producer when nothing reads
    /// it. Graph outputs, inputs and initializers are never freed (inputs and
    /// initializers are borrowed, not owned, by a run).
    pub(crate) fn new(graph: &Graph, steps: &[Step]) -> Self {
        let mut last: HashMap<ValueId, usize> = HashMap::new();
        for (s, step) in steps.iter().enumerate() {
            for &out in &step.outputs {
                last.insert(out, s);
            }
        }
        for (s, step) in steps.iter().enumerate() {
            for input in step.inputs.iter().flatten() {
                if let Some(l) = last.get_mut(input) {
                    *l = (*l).max(s);
                }
            }
        }
        let mut free_after = vec![Vec::new(); steps.len()];
        for (value, s) in last {
            if !graph.is_output(value) {
                free_after[s].push(value);
            }
        }
        Lifetimes { free_after }
    }
}

/// What an observed run adds: the observer, and the pool each step is sent to so that
/// the observer itself stays on the calling thread.
pub(crate) struct Hooks<'a> {
    pub observer: &'a mut dyn Observer,
    pub pool: &'a rayon::ThreadPool,
}

/// The compiled parts of a plan that a run reads.
pub(crate) struct Program {
    pub graph: Graph,
    pub steps: Vec<Step>,
    pub lifetimes: Lifetimes,
    pub pools: PoolCache,
}

pub(crate) fn execute(
    program: &Program,
    inputs: &[Tensor],
    hooks: Option<Hooks>,
) -> Result<Vec<Tensor>, RuntimeError> {
    let mut buffers = program.pools.take();
    let result = execute_with(program, inputs, hooks, &mut buffers);
    program.pools.give_back(buffers);
    result
}

fn execute_with(
    program: &Program,
    inputs: &[Tensor],
    mut hooks: Option<Hooks>,
    buffers: &mut BufferPool,
) -> Result<Vec<Tensor>, RuntimeError> {
    let Program {
        graph,
        steps,
        lifetimes,
        ..
    } = program;
    check_inputs(graph, inputs)?;
    let mut slots: Vec<Option<Cow<Tensor>>> = vec![None; graph.value_count()];
    for (&id, tensor) in graph.inputs.iter().zip(inputs) {
        slots[id.0] = Some(Cow::Borrowed(tensor));
        if let Some(h) = hooks.as_mut() {
            h.observer.observe(&graph.value(id).name, id, tensor);
        }
    }
    for (s, step) in steps.iter().enumerate() {
        let args: Vec<Option<&Tensor>> = step
            .inputs
            .iter()
            .map(|input| input.map(|id| fetch(graph, &slots, id, step)).transpose())
            .collect::<Result<_, _>>()?;
        let outputs = match hooks.as_ref() {
            None => run_step(step, &args, buffers)?,
            Some(h) => h.pool.install(|| run_step(step, &args, buffers))?,
        };
        drop(args);
        for (&id, tensor) in step.outputs.iter().zip(outputs) {
            if let Some(h) = hooks.as_mut() {
                h.observer.observe(&graph.value(id).name, id, &tensor);
            }
            slots[id.0] = Some(Cow::Owned(tensor));
        }
        for id in &lifetimes.free_after[s] {
            if let Some(Cow::Owned(tensor)) = slots[id.0].take() {
                buffers.recycle(tensor);
            }
        }
    }
    // Owned outputs move out; borrowed ones (inputs, constants) and repeats are copied.
    let mut outputs = Vec::with_capacity(graph.outputs.len());
    for (i, &id) in graph.outputs.iter().enumerate() {
        let needed_again = graph.outputs[i + 1..].contains(&id);
        let tensor = match slots[id.0].take() {
            Some(Cow::Owned(t)) if !needed_again => t,
            Some(t) => {
                let copy = t.as_ref().clone();
                slots[id.0] = Some(t);
                copy
            }
            None => graph
                .initializer(id)
                .map(|t| t.as_ref().clone())
                .ok_or_else(|| missing(graph, id))?,
        };
        outputs.push(tensor);
    }
    // Whatever is still held (values also returned as outputs) goes back to the pool.
    for slot in slots {
        if let Some(Cow::Owned(tensor)) = slot {
            buffers.recycle(tensor);
        }
    }
    Ok(outputs)
}

fn missing(graph: &Graph, id: ValueId) -> RuntimeError {
    RuntimeError::Graph(lowbit_graph::GraphError::Invalid(format!(
        "value '{}' was never computed",
        graph.value(id).name
    )))
}

fn fetch<'a>(
    graph: &'a Graph,
    slots: &'a [Option<Cow<'a, Tensor>>],
    id: ValueId,
    step: &Step,
) -> Result<&'a Tensor, RuntimeError> {
    match &slots[id.0] {
        Some(t) => Ok(t.as_ref()),
        None => graph
            .initializer(id)
            .map(|t| t.as_ref())
            .ok_or_else(|| step.error(format!("input '{}' has no value", graph.value(id).name))),
    }
}

fn run_step(
    step: &Step,
    args: &[Option<&Tensor>],
    buffers: &mut BufferPool,
) -> Result<Vec<Tensor>, RuntimeError> {
    let inputs = Inputs::new(args);
    let mut cx = Cx { buffers };
    let result = match &step.kernel {
        Kernel::Generic => eval::eval(&step.op, &inputs, step.outputs.len(), &mut cx),
        Kernel::Conv(conv) => eval::conv(
            &conv.attrs,
            &inputs,
            conv.activation,
            conv.prepared.as_ref(),
            &mut cx,
        )
        .map(|t| vec![t]),
        Kernel::Int8(kernel) => kernel.run(&inputs, cx.buffers),
        Kernel::Gelu(gelu) => inputs
            .get(0)
            .and_then(|x| eval::gelu(x, gelu, &mut cx))
            .map(|t| vec![t]),
        Kernel::DynamicMatMul(kernel) => inputs
            .get(0)
            .and_then(|x| kernel.run(x, cx.buffers))
            .map(|t| vec![t]),
    };
    let outputs = result.map_err(|e| step.error(e.0))?;
    if outputs.len() < step.outputs.len() {
        return Err(step.error(format!(
            "produced {} outputs, the node declares {}",
            outputs.len(),
            step.outputs.len()
        )));
    }
    Ok(outputs)
}

/// Checks count, dtypes and shapes of the run inputs against the graph's declarations.
/// Symbolic dims must be consistent across inputs (every `batch` the same size).
fn check_inputs(graph: &Graph, inputs: &[Tensor]) -> Result<(), RuntimeError> {
    if inputs.len() != graph.inputs.len() {
        return Err(RuntimeError::InputCount {
            expected: graph.inputs.len(),
            got: inputs.len(),
        });
    }
    let mut symbols: HashMap<&str, usize> = HashMap::new();
    for (&id, tensor) in graph.inputs.iter().zip(inputs) {
        let value = graph.value(id);
        let fact = &value.fact;
        let dtype_ok = fact.dtype.is_none_or(|d| d == tensor.dtype());
        let shape_ok = match &fact.shape {
            None => true,
            Some(dims) => {
                dims.len() == tensor.rank()
                    && dims.iter().zip(tensor.shape()).all(|(dim, &n)| match dim {
                        Dim::Known(k) => *k == n,
                        Dim::Sym(name) => *symbols.entry(name.as_str()).or_insert(n) == n,
                    })
            }
        };
        if !dtype_ok || !shape_ok {
            return Err(RuntimeError::Input {
                name: value.name.clone(),
                expected: fact.to_string(),
                got: describe(tensor),
            });
        }
    }
    Ok(())
}

/// `dtype[d0,d1,...]`, the way a [`Fact`](lowbit_graph::Fact) prints.
fn describe(tensor: &Tensor) -> String {
    let dims: Vec<String> = tensor.shape().iter().map(usize::to_string).collect();
    format!("{}[{}]", tensor.dtype(), dims.join(","))
}
