//! ONNX model → lowbit graph.
//!
//! Contract:
//! - Initializers become constants; a graph input that is also an initializer is a
//!   constant, not an input (lowbit does not override weights at run time).
//! - Facts come from the graph inputs, outputs and `value_info`; other values start
//!   unknown. Anonymous dimensions become distinct symbols `unk_N`.
//! - Each node goes through the op registry ([`crate::ops`]); nodes may be stored in
//!   any order, the graph is sorted topologically at the end.

pub(crate) mod context;
mod facts;

use std::collections::{HashMap, HashSet};

use lowbit_graph::{Fact, Graph, ValueId};

use crate::ops::registry;
use crate::pb::{ModelProto, NodeProto, ValueInfoProto};
use crate::tensor_proto::tensor_from_proto;
use crate::{ModelInfo, OnnxError, Result};
use context::{Lowered, NodeCtx};
use facts::DimNamer;

/// The default ONNX operator set is named "" or "ai.onnx".
pub(crate) fn is_default_domain(domain: &str) -> bool {
    domain.is_empty() || domain == "ai.onnx"
}

pub(crate) fn import_model(model: ModelProto, origin: &str) -> Result<(Graph, ModelInfo)> {
    let info = ModelInfo {
        ir_version: model.ir_version,
        opsets: model
            .opset_import
            .iter()
            .map(|o| (o.domain.clone(), o.version))
            .collect(),
        producer_name: model.producer_name,
        producer_version: model.producer_version,
        doc_string: model.doc_string,
    };
    let opset = info
        .opsets
        .iter()
        .filter(|(domain, _)| is_default_domain(domain))
        .map(|&(_, version)| version)
        .max()
        // Files older than IR 3 carry no opset_import and mean opset 1.
        .unwrap_or(1);
    let proto = model
        .graph
        .ok_or_else(|| OnnxError::model(origin, "the model contains no graph"))?;
    if !proto.sparse_initializer.is_empty() {
        return Err(OnnxError::model(origin, "sparse initializers are not supported"));
    }

    let mut graph = Graph::new(proto.name.clone());
    let mut dims = DimNamer::default();
    let graph_err = |e| OnnxError::graph(origin, e);

    for init in &proto.initializer {
        let tensor = tensor_from_proto(init, origin)?;
        graph.add_const(init.name.clone(), tensor).map_err(graph_err)?;
    }
    for input in &proto.input {
        if graph.find_value(&input.name).is_none() {
            let fact = dims.fact(input, origin)?;
            graph.add_input(input.name.clone(), fact).map_err(graph_err)?;
        }
    }
    let declared: HashMap<&str, &ValueInfoProto> = proto
        .value_info
        .iter()
        .chain(&proto.output)
        .map(|v| (v.name.as_str(), v))
        .collect();
    let names = node_names(&proto.node);
    for (node, name) in proto.node.iter().zip(&names) {
        for output in node.output.iter().filter(|o| !o.is_empty()) {
            let fact = match declared.get(output.as_str()) {
                Some(info) => dims.fact(info, origin)?,
                None => Fact::unknown(),
            };
            graph
                .add_value(output.clone(), fact)
                .map_err(|_| OnnxError::Node {
                    origin: origin.to_string(),
                    node: name.clone(),
                    op: node.op_type.clone(),
                    message: format!("output '{output}' is already defined elsewhere in the graph"),
                })?;
        }
    }

    for (node, name) in proto.node.iter().zip(names) {
        import_node(&mut graph, node, name, opset, origin)?;
    }

    for output in &proto.output {
        let id = graph.find_value(&output.name).ok_or_else(|| {
            OnnxError::model(
                origin,
                format!("graph output '{}' is never produced", output.name),
            )
        })?;
        graph.outputs.push(id);
    }
    graph.sort().map_err(graph_err)?;
    graph.metadata = model
        .metadata_props
        .into_iter()
        .map(|p| (p.key, p.value))
        .collect();
    Ok((graph, info))
}

/// Node names as given, with empty or repeated ones replaced by `<op>_<index>`, so that
/// errors and helper values always have a name to refer to.
fn node_names(nodes: &[NodeProto]) -> Vec<String> {
    let mut seen = HashSet::new();
    nodes
        .iter()
        .enumerate()
        .map(|(index, node)| {
            let name = if node.name.is_empty() || seen.contains(&node.name) {
                format!("{}_{index}", node.op_type)
            } else {
                node.name.clone()
            };
            seen.insert(name.clone());
            name
        })
        .collect()
}

fn import_node(graph: &mut Graph, node: &NodeProto, name: String, opset: i64, origin: &str) -> Result<()> {
    let constructor =
        registry()
            .get(&node.domain, &node.op_type)
            .ok_or_else(|| OnnxError::UnsupportedOp {
                origin: origin.to_string(),
                node: name.clone(),
                op: node.op_type.clone(),
                domain: node.domain.clone(),
            })?;
    let inputs = node
        .input
        .iter()
        .map(|input| match input.as_str() {
            "" => Ok(None),
            input => graph
                .find_value(input)
                .map(Some)
                .ok_or_else(|| OnnxError::MissingInput {
                    origin: origin.to_string(),
                    node: name.clone(),
                    op: node.op_type.clone(),
                    input: input.to_string(),
                }),
        })
        .collect::<Result<Vec<Option<ValueId>>>>()?;
    let outputs = node_outputs(graph, node, &name);
    let mut ctx = NodeCtx {
        origin,
        proto: node,
        name,
        opset,
        graph,
        inputs,
        outputs,
    };
    if let Lowered::Op(op) = constructor(&mut ctx)? {
        // Trailing omitted inputs carry no meaning; dropping them keeps nodes canonical.
        while ctx.inputs.last() == Some(&None) {
            ctx.inputs.pop();
        }
        let node = lowbit_graph::Node {
            name: ctx.name,
            op,
            inputs: ctx.inputs,
            outputs: ctx.outputs,
        };
        ctx.graph.add_node(node);
    }
    Ok(())
}

/// The node's outputs. An omitted output before a used one gets a placeholder value, so
/// that outputs keep their positions; omitted trailing outputs are dropped.
fn node_outputs(graph: &mut Graph, node: &NodeProto, name: &str) -> Vec<ValueId> {
    let used = node
        .output
        .iter()
        .rposition(|o| !o.is_empty())
        .map_or(0, |i| i + 1);
    node.output[..used]
        .iter()
        .map(|output| match graph.find_value(output) {
            Some(id) if !output.is_empty() => id,
            _ => graph.add_value_unique(&format!("{name}_unused"), Fact::unknown()),
        })
        .collect()
}
