//! What a constructor sees of the node it converts: typed attribute access, resolved
//! inputs and outputs, and a way to add constants and helper nodes to the graph.

use std::sync::Arc;

use lowbit_graph::{Fact, Graph, Node, Op, ValueId};
use lowbit_tensor::Tensor;

use crate::pb::attribute_proto::AttributeType;
use crate::pb::{AttributeProto, NodeProto};
use crate::tensor_proto::tensor_from_proto;
use crate::{OnnxError, Result};

/// The outcome of a constructor.
pub(crate) enum Lowered {
    /// One node with this op, reading [`NodeCtx::inputs`] and writing [`NodeCtx::outputs`].
    Op(Op),
    /// The constructor has already added everything the node stands for.
    Done,
}

pub(crate) struct NodeCtx<'a> {
    pub origin: &'a str,
    pub proto: &'a NodeProto,
    /// The node's name, or a generated `<op>_<index>` when the file gives none.
    pub name: String,
    /// The version of the default ONNX domain the model imports.
    pub opset: i64,
    pub graph: &'a mut Graph,
    /// Inputs in ONNX order; `None` for an omitted optional input.
    pub inputs: Vec<Option<ValueId>>,
    pub outputs: Vec<ValueId>,
}

impl NodeCtx<'_> {
    pub fn op_type(&self) -> &str {
        &self.proto.op_type
    }

    // --- errors naming this node ---

    pub fn error(&self, message: impl Into<String>) -> OnnxError {
        OnnxError::Node {
            origin: self.origin.to_string(),
            node: self.name.clone(),
            op: self.proto.op_type.clone(),
            message: message.into(),
        }
    }

    pub fn unsupported(&self, message: impl Into<String>) -> OnnxError {
        OnnxError::UnsupportedFeature {
            origin: self.origin.to_string(),
            node: self.name.clone(),
            op: self.proto.op_type.clone(),
            message: message.into(),
        }
    }

    pub fn bad_attr(&self, attribute: &str, message: impl Into<String>) -> OnnxError {
        OnnxError::BadAttribute {
            origin: self.origin.to_string(),
            node: self.name.clone(),
            op: self.proto.op_type.clone(),
            attribute: attribute.to_string(),
            message: message.into(),
        }
    }

    // --- attributes ---

    pub fn has_attr(&self, name: &str) -> bool {
        self.proto.attribute.iter().any(|a| a.name == name)
    }

    /// The attribute `name`, checked to be of type `expected`. Files written before
    /// the type field existed (type UNDEFINED) are trusted.
    fn attr(&self, name: &str, expected: AttributeType) -> Result<Option<&AttributeProto>> {
        let Some(attr) = self.proto.attribute.iter().find(|a| a.name == name) else {
            return Ok(None);
        };
        if attr.r#type != expected as i32 && attr.r#type != AttributeType::Undefined as i32 {
            let found = AttributeType::try_from(attr.r#type).map_or("an unknown type", |t| t.as_str_name());
            return Err(self.bad_attr(
                name,
                format!("expected {}, found {found}", expected.as_str_name()),
            ));
        }
        Ok(Some(attr))
    }

    pub fn int(&self, name: &str) -> Result<Option<i64>> {
        Ok(self.attr(name, AttributeType::Int)?.map(|a| a.i))
    }

    pub fn int_or(&self, name: &str, default: i64) -> Result<i64> {
        Ok(self.int(name)?.unwrap_or(default))
    }

    /// A 0/1 integer attribute read as a flag.
    pub fn flag(&self, name: &str, default: bool) -> Result<bool> {
        match self.int(name)? {
            None => Ok(default),
            Some(0) => Ok(false),
            Some(1) => Ok(true),
            Some(v) => Err(self.bad_attr(name, format!("must be 0 or 1, found {v}"))),
        }
    }

    /// A non-negative integer attribute as a size.
    pub fn usize_or(&self, name: &str, default: usize) -> Result<usize> {
        match self.int(name)? {
            None => Ok(default),
            Some(v) => {
                usize::try_from(v).map_err(|_| self.bad_attr(name, format!("must be >= 0, found {v}")))
            }
        }
    }

    pub fn float_or(&self, name: &str, default: f32) -> Result<f32> {
        Ok(self.attr(name, AttributeType::Float)?.map_or(default, |a| a.f))
    }

    pub fn float(&self, name: &str) -> Result<Option<f32>> {
        Ok(self.attr(name, AttributeType::Float)?.map(|a| a.f))
    }

    pub fn ints(&self, name: &str) -> Result<Option<Vec<i64>>> {
        Ok(self.attr(name, AttributeType::Ints)?.map(|a| a.ints.clone()))
    }

    pub fn floats(&self, name: &str) -> Result<Option<Vec<f32>>> {
        Ok(self.attr(name, AttributeType::Floats)?.map(|a| a.floats.clone()))
    }

    pub fn string(&self, name: &str) -> Result<Option<String>> {
        match self.attr(name, AttributeType::String)? {
            None => Ok(None),
            Some(a) => String::from_utf8(a.s.clone())
                .map(Some)
                .map_err(|_| self.bad_attr(name, "is not valid UTF-8")),
        }
    }

    pub fn tensor(&self, name: &str) -> Result<Option<Tensor>> {
        match self.attr(name, AttributeType::Tensor)? {
            None => Ok(None),
            Some(a) => {
                let proto =
                    a.t.as_ref()
                        .ok_or_else(|| self.bad_attr(name, "holds no tensor"))?;
                tensor_from_proto(proto, self.origin).map(Some)
            }
        }
    }

    // --- inputs ---

    pub fn input(&self, index: usize) -> Option<ValueId> {
        self.inputs.get(index).copied().flatten()
    }

    pub fn require_input(&self, index: usize) -> Result<ValueId> {
        self.input(index)
            .ok_or_else(|| self.error(format!("input #{index} is required but missing")))
    }

    pub fn input_fact(&self, index: usize) -> Option<&Fact> {
        self.input(index).map(|id| &self.graph.value(id).fact)
    }

    /// The constant value of input `index`, when it is an initializer.
    pub fn const_input(&self, index: usize) -> Option<Arc<Tensor>> {
        self.input(index)
            .and_then(|id| self.graph.initializer(id).cloned())
    }

    /// Makes input `index` a new constant holding `tensor` (used to turn attributes of
    /// old opsets into the inputs of newer ones).
    pub fn set_const_input(&mut self, index: usize, suffix: &str, tensor: Tensor) {
        let id = self.add_const(suffix, tensor);
        if self.inputs.len() <= index {
            self.inputs.resize(index + 1, None);
        }
        self.inputs[index] = Some(id);
    }

    /// Keeps only the first `count` inputs.
    pub fn truncate_inputs(&mut self, count: usize) {
        self.inputs.truncate(count);
    }

    // --- building helper values and nodes ---

    pub fn add_const(&mut self, suffix: &str, tensor: Tensor) -> ValueId {
        let id = self.temp_value(suffix);
        self.bind_const(id, tensor);
        id
    }

    /// Makes an existing value (e.g. this node's output) a constant.
    pub fn bind_const(&mut self, id: ValueId, tensor: Tensor) {
        self.graph.value_mut(id).fact = Fact::known(tensor.dtype(), tensor.shape());
        self.graph.initializers.insert(id, Arc::new(tensor));
    }

    /// A fresh value named after this node.
    pub fn temp_value(&mut self, suffix: &str) -> ValueId {
        let base = format!("{}_{suffix}", self.name);
        self.graph.add_value_unique(&base, Fact::unknown())
    }

    /// Adds a helper node named after this one.
    pub fn emit(&mut self, suffix: &str, op: Op, inputs: Vec<Option<ValueId>>, outputs: Vec<ValueId>) {
        let name = format!("{}/{suffix}", self.name);
        self.graph.add_node(Node {
            name,
            op,
            inputs,
            outputs,
        });
    }
}
