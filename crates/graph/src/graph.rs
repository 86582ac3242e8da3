//! The graph container: values, nodes, initializers, inputs, outputs and metadata.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use lowbit_tensor::Tensor;

use crate::{Fact, GraphError, Op, Result};

/// Index of a value in its graph. Stable for the graph's lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueId(pub usize);

/// Index of a node in [`Graph::nodes`]. Changes when nodes are removed or sorted.
pub type NodeId = usize;

/// A named edge of the graph.
#[derive(Debug, Clone)]
pub struct Value {
    pub name: String,
    pub fact: Fact,
}

/// One operation. A `None` input is an omitted optional input (ONNX's empty name).
#[derive(Debug, Clone)]
pub struct Node {
    pub name: String,
    pub op: Op,
    pub inputs: Vec<Option<ValueId>>,
    pub outputs: Vec<ValueId>,
}

impl Node {
    /// The input at `index`, if present.
    pub fn input(&self, index: usize) -> Option<ValueId> {
        self.inputs.get(index).copied().flatten()
    }
}

/// A computation graph. `nodes` is in topological order after [`Graph::sort`].
#[derive(Debug, Clone, Default)]
pub struct Graph {
    pub name: String,
    values: Vec<Value>,
    names: HashMap<String, ValueId>,
    pub nodes: Vec<Node>,
    pub inputs: Vec<ValueId>,
    pub outputs: Vec<ValueId>,
    /// Constant tensors (weights), keyed by the value they define.
    pub initializers: BTreeMap<ValueId, Arc<Tensor>>,
    /// Free-form key/value pairs, kept from and written to ONNX `metadata_props`.
    pub metadata: BTreeMap<String, String>,
}

impl Graph {
    pub fn new(name: impl Into<String>) -> Self {
        Graph {
            name: name.into(),
            ..Default::default()
        }
    }

    /// Adds a value. Names must be unique: a clash is an error.
    pub fn add_value(&mut self, name: impl Into<String>, fact: Fact) -> Result<ValueId> {
        let name = name.into();
        if self.names.contains_key(&name) {
            return Err(GraphError::Invalid(format!("value '{name}' is defined twice")));
        }
        let id = ValueId(self.values.len());
        self.names.insert(name.clone(), id);
        self.values.push(Value { name, fact });
        Ok(id)
    }

    /// Adds a value named `base`, or `base_1`, `base_2`… when the name is taken.
    pub fn add_value_unique(&mut self, base: &str, fact: Fact) -> ValueId {
        let mut name = base.to_string();
        let mut k = 0;
        while self.names.contains_key(&name) {
            k += 1;
            name = format!("{base}_{k}");
        }
        self.add_value(name, fact).expect("name is unique")
    }

    /// Adds a graph input.
    pub fn add_input(&mut self, name: impl Into<String>, fact: Fact) -> Result<ValueId> {
        let id = self.add_value(name, fact)?;
        self.inputs.push(id);
        Ok(id)
    }

    /// Adds a constant (initializer) value.
    pub fn add_const(&mut self, name: impl Into<String>, tensor: Tensor) -> Result<ValueId> {
        let fact = Fact::known(tensor.dtype(), tensor.shape());
        let id = self.add_value(name, fact)?;
        self.initializers.insert(id, Arc::new(tensor));
        Ok(id)
    }

    /// Appends a node and returns its id. Call [`Graph::sort`] if it is not appended
    /// in topological order.
    pub fn add_node(&mut self, node: Node) -> NodeId {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    pub fn value(&self, id: ValueId) -> &Value {
        &self.values[id.0]
    }

    pub fn value_mut(&mut self, id: ValueId) -> &mut Value {
        &mut self.values[id.0]
    }

    pub fn values(&self) -> impl Iterator<Item = (ValueId, &Value)> {
        self.values.iter().enumerate().map(|(i, v)| (ValueId(i), v))
    }

    pub fn value_count(&self) -> usize {
        self.values.len()
    }

    pub fn find_value(&self, name: &str) -> Option<ValueId> {
        self.names.get(name).copied()
    }

    /// The value named `name`, or an error saying it does not exist.
    pub fn value_id(&self, name: &str) -> Result<ValueId> {
        self.find_value(name)
            .ok_or_else(|| GraphError::UnknownValue(name.to_string()))
    }

    pub fn initializer(&self, id: ValueId) -> Option<&Arc<Tensor>> {
        self.initializers.get(&id)
    }

    /// The node that produces `id`, if any.
    pub fn producer(&self, id: ValueId) -> Option<NodeId> {
        self.nodes.iter().position(|n| n.outputs.contains(&id))
    }

    /// The nodes that read `id`, in node order.
    pub fn consumers(&self, id: ValueId) -> Vec<NodeId> {
        (0..self.nodes.len())
            .filter(|&n| self.nodes[n].inputs.contains(&Some(id)))
            .collect()
    }

    /// Whether `id` is read by anything other than nodes: a graph output.
    pub fn is_output(&self, id: ValueId) -> bool {
        self.outputs.contains(&id)
    }

    /// Redirects every use of `old` (node inputs and graph outputs) to `new`.
    pub fn replace_uses(&mut self, old: ValueId, new: ValueId) {
        for node in &mut self.nodes {
            for input in node.inputs.iter_mut().flatten() {
                if *input == old {
                    *input = new;
                }
            }
        }
        for output in &mut self.outputs {
            if *output == old {
                *output = new;
            }
        }
    }

    /// Removes the given nodes (indices into `nodes`).
    pub fn remove_nodes(&mut self, ids: &[NodeId]) {
        let mut index = 0;
        self.nodes.retain(|_| {
            let keep = !ids.contains(&index);
            index += 1;
            keep
        });
    }

    /// Drops initializers and nodes that no graph output depends on.
    pub fn prune(&mut self) {
        let mut live = vec![false; self.values.len()];
        for id in &self.outputs {
            live[id.0] = true;
        }
        let mut keep = vec![false; self.nodes.len()];
        for (n, node) in self.nodes.iter().enumerate().rev() {
            if node.outputs.iter().any(|o| live[o.0]) {
                keep[n] = true;
                for input in node.inputs.iter().flatten() {
                    live[input.0] = true;
                }
            }
        }
        let mut index = 0;
        self.nodes.retain(|_| {
            index += 1;
            keep[index - 1]
        });
        self.initializers.retain(|id, _| live[id.0]);
    }

    /// Orders nodes so that every node comes after the producers of its inputs.
    /// Ties keep their current order, so a sorted graph stays as it is.
    pub fn sort(&mut self) -> Result<()> {
        let mut produced_by: HashMap<ValueId, NodeId> = HashMap::new();
        for (n, node) in self.nodes.iter().enumerate() {
            for &o in &node.outputs {
                produced_by.insert(o, n);
            }
        }
        let count = self.nodes.len();
        let mut pending = vec![0usize; count];
        let mut users: Vec<Vec<NodeId>> = vec![Vec::new(); count];
        for (n, node) in self.nodes.iter().enumerate() {
            for input in node.inputs.iter().flatten() {
                if let Some(&p) = produced_by.get(input) {
                    pending[n] += 1;
                    users[p].push(n);
                }
            }
        }
        // A min-heap on the original index keeps the order stable.
        let mut ready: std::collections::BinaryHeap<std::cmp::Reverse<NodeId>> = (0..count)
            .filter(|&n| pending[n] == 0)
            .map(std::cmp::Reverse)
            .collect();
        let mut order = Vec::with_capacity(count);
        while let Some(std::cmp::Reverse(n)) = ready.pop() {
            order.push(n);
            for &u in &users[n] {
                pending[u] -= 1;
                if pending[u] == 0 {
                    ready.push(std::cmp::Reverse(u));
                }
            }
        }
        if order.len() != count {
            let stuck = (0..count).find(|&n| pending[n] > 0).unwrap_or(0);
            return Err(GraphError::Cycle(self.nodes[stuck].name.clone()));
        }
        let mut old: Vec<Option<Node>> = std::mem::take(&mut self.nodes).into_iter().map(Some).collect();
        self.nodes = order
            .into_iter()
            .map(|n| old[n].take().expect("each node once"))
            .collect();
        Ok(())
    }

    /// Checks that every node input is defined before use and every output is produced.
    pub fn validate(&self) -> Result<()> {
        let mut defined = vec![false; self.values.len()];
        for id in self.inputs.iter().chain(self.initializers.keys()) {
            defined[id.0] = true;
        }
        for node in &self.nodes {
            for input in node.inputs.iter().flatten() {
                if !defined[input.0] {
                    return Err(GraphError::node(
                        &node.name,
                        node.op.name(),
                        format!(
                            "input '{}' is not produced before this node",
                            self.value(*input).name
                        ),
                    ));
                }
            }
            for out in &node.outputs {
                defined[out.0] = true;
            }
        }
        for out in &self.outputs {
            if !defined[out.0] {
                return Err(GraphError::Invalid(format!(
                    "graph output '{}' is never produced",
                    self.value(*out).name
                )));
            }
        }
        Ok(())
    }

    /// Number of scalar parameters held in initializers.
    pub fn param_count(&self) -> usize {
        self.initializers.values().map(|t| t.len()).sum()
    }

    /// Bytes held in initializers.
    pub fn weight_bytes(&self) -> usize {
        self.initializers.values().map(|t| t.byte_size()).sum()
    }

    /// How many nodes of each op type, sorted by op name.
    pub fn op_histogram(&self) -> BTreeMap<&'static str, usize> {
        let mut hist = BTreeMap::new();
        for node in &self.nodes {
            *hist.entry(node.op.name()).or_insert(0) += 1;
        }
        hist
    }
}
