//! A printable, serialisable summary of a graph: what `lowbit inspect` shows.

use std::collections::BTreeMap;

use lowbit_graph::Graph;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct ValueSummary {
    pub name: String,
    /// dtype and shape, e.g. `f32[batch,3,224,224]`.
    pub fact: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct NodeSummary {
    pub name: String,
    pub op: String,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GraphSummary {
    pub name: String,
    pub inputs: Vec<ValueSummary>,
    pub outputs: Vec<ValueSummary>,
    pub ops: BTreeMap<String, usize>,
    pub node_count: usize,
    pub params: usize,
    pub weight_bytes: usize,
    pub metadata: BTreeMap<String, String>,
    pub nodes: Vec<NodeSummary>,
}

impl GraphSummary {
    pub fn of(graph: &Graph) -> GraphSummary {
        let value = |id| {
            let v = graph.value(id);
            ValueSummary {
                name: v.name.clone(),
                fact: v.fact.to_string(),
            }
        };
        let name_of = |id: Option<lowbit_graph::ValueId>| match id {
            Some(id) => graph.value(id).name.clone(),
            None => String::new(),
        };
        GraphSummary {
            name: graph.name.clone(),
            inputs: graph.inputs.iter().map(|&id| value(id)).collect(),
            outputs: graph.outputs.iter().map(|&id| value(id)).collect(),
            ops: graph
                .op_histogram()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            node_count: graph.nodes.len(),
            params: graph.param_count(),
            weight_bytes: graph.weight_bytes(),
            metadata: graph.metadata.clone(),
            nodes: graph
                .nodes
                .iter()
                .map(|n| NodeSummary {
                    name: n.name.clone(),
                    op: n.op.name().to_string(),
                    inputs: n.inputs.iter().map(|&i| name_of(i)).collect(),
                    outputs: n.outputs.iter().map(|&o| name_of(Some(o))).collect(),
                })
                .collect(),
        }
    }
}
