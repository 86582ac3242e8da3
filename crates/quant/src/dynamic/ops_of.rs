//! Small constructors of the nodes the rewrite emits.

use lowbit_graph::ops::BinaryOp;
use lowbit_graph::{Node, Op, ValueId};

pub(super) fn add_node(name: String, op: Op, inputs: Vec<ValueId>, outputs: Vec<ValueId>) -> Node {
    Node {
        name,
        op,
        inputs: inputs.into_iter().map(Some).collect(),
        outputs,
    }
}

pub(super) fn binary(name: String, op: BinaryOp, a: ValueId, b: ValueId, out: ValueId) -> Node {
    add_node(name, Op::Binary(op), vec![a, b], vec![out])
}
