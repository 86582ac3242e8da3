//! lowbit graph → ONNX model (IR version 8, default-domain opset 17).
//!
//! Contract: initializers are written as `raw_data`; graph inputs and outputs get
//! value infos with their dtype and (maybe symbolic) shape; `Graph::metadata` becomes
//! `metadata_props`. Attributes follow opset 17 (see [`node`]).

mod attrs;
mod node;
mod write;

use std::collections::HashSet;

use lowbit_graph::{Dim, Graph, ValueId};
use lowbit_tensor::Tensor;

use crate::pb::tensor_shape_proto::dimension::Value as DimValue;
use crate::pb::tensor_shape_proto::Dimension;
use crate::pb::type_proto::{Tensor as TensorType, Value as TypeValue};
use crate::pb::{
    GraphProto, ModelProto, OperatorSetIdProto, StringStringEntryProto, TensorProto, TensorShapeProto,
    TypeProto, ValueInfoProto,
};
use crate::tensor_proto::{dtype_to_onnx, tensor_to_proto};
use crate::{OnnxError, Result};
pub(crate) use write::write_atomically;

/// The IR version written by [`crate::to_bytes`].
pub const EXPORT_IR_VERSION: i64 = 8;
/// The default-domain opset written by [`crate::to_bytes`].
pub const EXPORT_OPSET: i64 = 17;

/// State of one export: the graph and the initializers added for attributes that
/// opset 17 takes as inputs.
pub(crate) struct Exporter<'g> {
    graph: &'g Graph,
    origin: &'g str,
    extra_initializers: Vec<TensorProto>,
    taken_names: HashSet<String>,
}

impl<'g> Exporter<'g> {
    fn new(graph: &'g Graph, origin: &'g str) -> Self {
        Exporter {
            graph,
            origin,
            extra_initializers: Vec::new(),
            taken_names: HashSet::new(),
        }
    }

    /// Adds an initializer whose name clashes with no value of the graph.
    fn add_initializer(&mut self, base: &str, tensor: Tensor) -> String {
        let mut name = base.to_string();
        let mut k = 0;
        while self.graph.find_value(&name).is_some() || self.taken_names.contains(&name) {
            k += 1;
            name = format!("{base}_{k}");
        }
        self.taken_names.insert(name.clone());
        self.extra_initializers.push(tensor_to_proto(&name, &tensor));
        name
    }

    fn value_info(&self, id: ValueId, require_dtype: bool) -> Result<ValueInfoProto> {
        let value = self.graph.value(id);
        if require_dtype && value.fact.dtype.is_none() {
            return Err(OnnxError::model(
                self.origin,
                format!("graph input '{}' has no known element type", value.name),
            ));
        }
        let shape = value.fact.shape.as_ref().map(|dims| TensorShapeProto {
            dim: dims
                .iter()
                .map(|d| Dimension {
                    value: Some(match d {
                        Dim::Known(n) => DimValue::DimValue(*n as i64),
                        Dim::Sym(s) => DimValue::DimParam(s.clone()),
                    }),
                    ..Default::default()
                })
                .collect(),
        });
        let tensor_type = TensorType {
            elem_type: value.fact.dtype.map_or(0, dtype_to_onnx),
            shape,
        };
        Ok(ValueInfoProto {
            name: value.name.clone(),
            r#type: Some(TypeProto {
                value: Some(TypeValue::TensorType(tensor_type)),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    fn model(mut self) -> Result<ModelProto> {
        let graph = self.graph;
        graph.validate().map_err(|e| OnnxError::graph(self.origin, e))?;
        let node = graph
            .nodes
            .iter()
            .map(|n| self.node(n))
            .collect::<Result<Vec<_>>>()?;
        let input = graph
            .inputs
            .iter()
            .map(|&id| self.value_info(id, true))
            .collect::<Result<Vec<_>>>()?;
        let output = graph
            .outputs
            .iter()
            .map(|&id| self.value_info(id, false))
            .collect::<Result<Vec<_>>>()?;
        let mut initializer: Vec<TensorProto> = graph
            .initializers
            .iter()
            .map(|(&id, t)| tensor_to_proto(&graph.value(id).name, t))
            .collect();
        initializer.append(&mut self.extra_initializers);
        Ok(ModelProto {
            ir_version: EXPORT_IR_VERSION,
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: EXPORT_OPSET,
            }],
            producer_name: "lowbit".to_string(),
            producer_version: env!("CARGO_PKG_VERSION").to_string(),
            graph: Some(GraphProto {
                node,
                name: graph.name.clone(),
                initializer,
                input,
                output,
                ..Default::default()
            }),
            metadata_props: graph
                .metadata
                .iter()
                .map(|(key, value)| StringStringEntryProto {
                    key: key.clone(),
                    value: value.clone(),
                })
                .collect(),
            ..Default::default()
        })
    }
}

/// Converts a graph to an ONNX model message. `origin` names the destination in errors.
pub(crate) fn export_model(graph: &Graph, origin: &str) -> Result<ModelProto> {
    Exporter::new(graph, origin).model()
}
