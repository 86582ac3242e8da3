//! `prepare`: fuse, lay out the quantization points and attach their observers.

use std::collections::{HashMap, HashSet};

use lowbit_graph::Graph;

use super::error::{PtqError, Result};
use super::fuse::fuse;
use super::points::{layout, Layout};
use super::qconfig::QConfig;
use super::weights::WeightedNode;
use crate::Observer;

/// A graph ready for calibration: fused, with one observer per activation quantization
/// point and its weights already quantized (weights need no data).
pub struct Prepared {
    pub(crate) graph: Graph,
    pub(crate) qconfig: QConfig,
    pub(crate) layout: Layout,
    /// Parallel to `layout.points`.
    pub(crate) observers: Vec<Box<dyn Observer>>,
    pub(crate) weighted: Vec<WeightedNode>,
    /// Bias corrections measured so far, keyed by index into `weighted`.
    pub(crate) corrections: HashMap<usize, Vec<f32>>,
    pub(crate) samples: usize,
}

/// PyTorch's `prepare`: checks the qconfig against the graph, fuses, and attaches
/// observers. An override naming a node the graph does not have is an error.
pub fn prepare(mut graph: Graph, qconfig: &QConfig) -> Result<Prepared> {
    let names: HashSet<&str> = graph.nodes.iter().map(|n| n.name.as_str()).collect();
    if let Some(node) = qconfig
        .overrides
        .iter()
        .filter_map(|o| o.node.as_deref())
        .find(|n| !names.contains(n))
    {
        return Err(PtqError::UnknownNode {
            node: node.to_string(),
        });
    }
    graph.validate()?;
    let groups = fuse(&mut graph)?;
    let layout = layout(&graph, &groups, qconfig);
    let observers = layout.points.iter().map(|p| p.observer.build()).collect();
    let mut weighted = Vec::new();
    for n in 0..graph.nodes.len() {
        if !layout.quantized[n] {
            continue;
        }
        let node = &graph.nodes[n];
        let per_channel = qconfig.per_channel_for(&node.name, node.op.name());
        if let Some(w) = WeightedNode::new(&graph, n, per_channel) {
            weighted.push(w?);
        }
    }
    Ok(Prepared {
        graph,
        qconfig: qconfig.clone(),
        layout,
        observers,
        weighted,
        corrections: HashMap::new(),
        samples: 0,
    })
}

impl Prepared {
    /// The fused FP32 graph that calibration runs.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    pub fn qconfig(&self) -> &QConfig {
        &self.qconfig
    }

    /// Names of the values that get a QuantizeLinear/DequantizeLinear pair.
    pub fn quantization_points(&self) -> Vec<&str> {
        self.layout
            .points
            .iter()
            .map(|p| self.graph.value(p.value).name.as_str())
            .collect()
    }

    /// Each quantization point's value name and the name of its observer.
    pub fn observed_points(&self) -> Vec<(&str, &'static str)> {
        self.layout
            .points
            .iter()
            .map(|p| (self.graph.value(p.value).name.as_str(), p.observer.name()))
            .collect()
    }

    /// Nodes that stay FP32 because their op has no integer kernel plan.
    pub fn warnings(&self) -> &[String] {
        &self.layout.warnings
    }

    /// Calibration samples seen so far.
    pub fn samples(&self) -> usize {
        self.samples
    }
}
