//! What an op's inference rule sees: the node, its input facts and known constants.

use std::collections::HashMap;

use lowbit_tensor::{DType, Tensor};

use super::values::{shape_value_of_tensor, ShapeValue, SymInt};
use crate::{Dim, Fact, Graph, GraphError, Node, Result, ValueId};

pub(crate) struct NodeCtx<'a> {
    pub graph: &'a Graph,
    pub node: &'a Node,
    shape_values: &'a HashMap<ValueId, ShapeValue>,
}

impl<'a> NodeCtx<'a> {
    pub fn new(graph: &'a Graph, node: &'a Node, shape_values: &'a HashMap<ValueId, ShapeValue>) -> Self {
        NodeCtx {
            graph,
            node,
            shape_values,
        }
    }

    /// An error about this node.
    pub fn error(&self, message: impl Into<String>) -> GraphError {
        GraphError::node(&self.node.name, self.node.op.name(), message)
    }

    /// The fact of input `index`, or `None` when that optional input is absent.
    pub fn input_fact(&self, index: usize) -> Option<&'a Fact> {
        self.node.input(index).map(|id| &self.graph.value(id).fact)
    }

    /// The fact of a required input; its absence is an error naming `what`.
    pub fn required(&self, index: usize, what: &str) -> Result<&'a Fact> {
        self.input_fact(index)
            .ok_or_else(|| self.error(format!("input {index} ({what}) is missing")))
    }

    /// The shape of input `index`, when present and known.
    pub fn shape(&self, index: usize) -> Option<&'a [Dim]> {
        self.input_fact(index)?.shape.as_deref()
    }

    /// The rank of input `index`, when its shape is known.
    pub fn rank(&self, index: usize) -> Option<usize> {
        self.shape(index).map(<[Dim]>::len)
    }

    pub fn dtype(&self, index: usize) -> Option<DType> {
        self.input_fact(index)?.dtype
    }

    /// The value of input `index` when it is an initializer.
    pub fn constant(&self, index: usize) -> Option<&'a Tensor> {
        self.node
            .input(index)
            .and_then(|id| self.graph.initializer(id))
            .map(|t| &**t)
    }

    /// The contents of input `index` when it is a known shape-like integer tensor.
    pub fn shape_value(&self, index: usize) -> Option<ShapeValue> {
        let id = self.node.input(index)?;
        if let Some(value) = self.shape_values.get(&id) {
            return Some(value.clone());
        }
        shape_value_of_tensor(self.graph.initializer(id)?)
    }

    /// The contents of input `index` when every element is a known integer.
    pub fn ints(&self, index: usize) -> Option<Vec<i64>> {
        if let Some(t) = self.constant(index) {
            return t.dtype().is_integer().then(|| t.to_i64_vec());
        }
        self.shape_value(index)?
            .into_iter()
            .map(|v| match v {
                SymInt::Int(n) => Some(n),
                SymInt::Sym(_) => None,
            })
            .collect()
    }

    /// A description of input `index` for messages: its name and fact.
    pub fn describe(&self, index: usize) -> String {
        match self.node.input(index) {
            Some(id) => {
                let value = self.graph.value(id);
                format!("'{}' {}", value.name, value.fact)
            }
            None => format!("input {index} (absent)"),
        }
    }
}
