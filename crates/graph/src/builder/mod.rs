//! The builder API: write models the way a PyTorch user writes `nn.Module`s.
//!
//! A [`GraphBuilder`] keeps a name scope, the path of the module being built, like
//! PyTorch's module paths. Layer methods take the layer's name within that scope, so a
//! convolution named `"0"` built inside scopes `"features"` and `"1"` becomes node
//! `features.1.0` with weight `features.1.0.weight`, the names torchvision's
//! `state_dict()` uses. Functional ops (`add`, `flatten`, `mean`) are named after the op
//! in the current scope (`layer1.0.add`); repeated names get `_1`, `_2`… suffixes.
//!
//! Weights are given as tensors by the caller (the zoo initialises them the way
//! torchvision does). Every node's output facts are inferred as soon as it is added, so
//! a weight that does not fit its input fails at the call that added it, with the node's
//! name, and [`GraphBuilder::fact`] tells shapes while building.
//!
//! ```
//! use lowbit_graph::builder::{BatchNormWeights, Conv2dSpec, GraphBuilder};
//! use lowbit_graph::Dim;
//! use lowbit_tensor::{DType, Tensor};
//!
//! # fn main() -> lowbit_graph::Result<()> {
//! let mut b = GraphBuilder::new("tiny");
//! let x = b.input("input", DType::F32, [Dim::from("N"), 3.into(), 8.into(), 8.into()])?;
//! // features = Sequential(Conv2d(3, 4, 3, stride=2, padding=1, bias=False), BatchNorm2d(4), ReLU6())
//! let x = b.scope("features", |b| {
//!     let spec = Conv2dSpec::default().stride(2).padding(1);
//!     let x = b.conv2d("0", x, spec, Tensor::zeros(DType::F32, [4, 3, 3, 3]), None)?;
//!     let x = b.batch_norm("1", x, BatchNormWeights::fresh(4))?;
//!     b.relu6("2", x)
//! })?;
//! let x = b.global_avg_pool("avgpool", x)?;
//! let x = b.flatten(x)?;
//! let y = b.linear("fc", x, Tensor::zeros(DType::F32, [10, 4]), Some(Tensor::zeros(DType::F32, [10])))?;
//! b.output(y);
//! let graph = b.finish()?;
//!
//! assert!(graph.find_value("features.0.weight").is_some());
//! assert_eq!(graph.value(graph.outputs[0]).fact.to_string(), "f32[N,10]");
//! # Ok(())
//! # }
//! ```

mod layers;

use std::fmt::Display;

use lowbit_tensor::{DType, Tensor};

use crate::infer::{infer_facts, Inferencer};
use crate::{Dim, Fact, Graph, GraphError, Node, Op, Result, ValueId};

pub use layers::{BatchNormWeights, Conv2dSpec};

/// Builds a [`Graph`] layer by layer under a module-path name scope.
#[derive(Debug)]
pub struct GraphBuilder {
    graph: Graph,
    scope: Vec<String>,
    inferencer: Inferencer,
}

impl GraphBuilder {
    pub fn new(name: impl Into<String>) -> Self {
        GraphBuilder {
            graph: Graph::new(name),
            scope: Vec::new(),
            inferencer: Inferencer::default(),
        }
    }

    /// Runs `body` inside the child scope `name`, like building a submodule.
    pub fn scope<T>(&mut self, name: impl Display, body: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        self.scope.push(name.to_string());
        let result = body(self);
        self.scope.pop();
        result
    }

    /// `name` prefixed by the current scope: `features.1` + `conv` → `features.1.conv`.
    pub fn path(&self, name: &str) -> String {
        let mut parts: Vec<&str> = self.scope.iter().map(String::as_str).collect();
        parts.push(name);
        parts.retain(|p| !p.is_empty());
        parts.join(".")
    }

    /// Declares a graph input. Its name is used as given, outside any scope.
    pub fn input<D: Into<Dim>>(
        &mut self,
        name: &str,
        dtype: DType,
        dims: impl IntoIterator<Item = D>,
    ) -> Result<ValueId> {
        let fact = Fact::new(dtype, dims.into_iter().map(Into::into));
        self.graph.add_input(name, fact)
    }

    /// Adds a constant tensor named `name` in the current scope (a parameter or buffer).
    pub fn param(&mut self, name: &str, tensor: Tensor) -> Result<ValueId> {
        let path = self.path(name);
        self.graph.add_const(path, tensor)
    }

    /// Adds one node of any op. Its first output, and the node, are named `path(name)`
    /// (made unique); further outputs get `:1`, `:2`… suffixes.
    pub fn op(
        &mut self,
        name: &str,
        op: Op,
        inputs: &[Option<ValueId>],
        outputs: usize,
    ) -> Result<Vec<ValueId>> {
        let first = self.reserve(name);
        let node_name = self.graph.value(first).name.clone();
        let mut ids = vec![first];
        for k in 1..outputs {
            ids.push(
                self.graph
                    .add_value_unique(&format!("{node_name}:{k}"), Fact::unknown()),
            );
        }
        self.add_node(node_name, op, inputs.to_vec(), ids)
    }

    /// Adds a single-output node whose inputs are all present.
    pub(crate) fn op1(&mut self, name: &str, op: Op, inputs: &[ValueId]) -> Result<ValueId> {
        let inputs: Vec<Option<ValueId>> = inputs.iter().copied().map(Some).collect();
        Ok(self.op(name, op, &inputs, 1)?[0])
    }

    /// Creates the (unique) output value for a node about to be named `path(name)`, so
    /// that the node's own constants can be named after it first.
    pub(crate) fn reserve(&mut self, name: &str) -> ValueId {
        let path = self.path(name);
        self.graph.add_value_unique(&path, Fact::unknown())
    }

    /// Appends a node producing the reserved `outputs` and infers their facts.
    pub(crate) fn add_node(
        &mut self,
        name: String,
        op: Op,
        inputs: Vec<Option<ValueId>>,
        outputs: Vec<ValueId>,
    ) -> Result<Vec<ValueId>> {
        let id = self.graph.add_node(Node {
            name,
            op,
            inputs,
            outputs: outputs.clone(),
        });
        self.inferencer.infer_node(&mut self.graph, id)?;
        Ok(outputs)
    }

    /// Marks `value` as a graph output.
    pub fn output(&mut self, value: ValueId) {
        self.graph.outputs.push(value);
    }

    /// What is known about `value` so far.
    pub fn fact(&self, value: ValueId) -> &Fact {
        &self.graph.value(value).fact
    }

    /// The graph built so far.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Sorts and validates the graph and infers every fact.
    pub fn finish(mut self) -> Result<Graph> {
        if self.graph.outputs.is_empty() {
            return Err(GraphError::Invalid(format!(
                "graph '{}' has no outputs: mark them with GraphBuilder::output",
                self.graph.name
            )));
        }
        self.graph.sort()?;
        self.graph.validate()?;
        infer_facts(&mut self.graph)?;
        Ok(self.graph)
    }
}

#[cfg(test)]
mod tests;
