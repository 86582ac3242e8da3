//! Hooks that see every tensor a run computes.

use lowbit_graph::ValueId;
use lowbit_tensor::Tensor;

/// Receives every value of a run: first the graph inputs, then each node output in
/// execution order. `name` and `value` refer to [`Plan::graph`](crate::Plan::graph).
pub trait Observer {
    fn observe(&mut self, name: &str, value: ValueId, tensor: &Tensor);
}

impl<F: FnMut(&str, ValueId, &Tensor)> Observer for F {
    fn observe(&mut self, name: &str, value: ValueId, tensor: &Tensor) {
        self(name, value, tensor)
    }
}
