//! Removes Identity and inference-time Dropout nodes.

use super::{use_counts, Pass};
use crate::{Graph, Op, Result};

/// Bypasses `Identity` and `Dropout` (whose mask output is unused): readers of the output
/// read the input instead.
///
/// Graph output names are kept: when the node's output is a graph output, the producer of
/// the input is made to write that output directly, which requires the input to be a node
/// output read by nothing else. Otherwise such a node stays.
pub struct RemoveIdentity;

impl Pass for RemoveIdentity {
    fn name(&self) -> &'static str {
        "remove-identity"
    }

    fn apply(&self, graph: &mut Graph) -> Result<usize> {
        let mut removed = 0;
        let mut n = 0;
        // Removed nodes leave the graph at once so that use counts only see live readers.
        while n < graph.nodes.len() {
            if !bypass(graph, n) {
                n += 1;
                continue;
            }
            graph.nodes.remove(n);
            removed += 1;
        }
        graph.sort()?;
        Ok(removed)
    }
}

/// Rewires the readers of node `n`'s output if `n` is a removable Identity/Dropout;
/// returns whether the node can now be removed.
fn bypass(graph: &mut Graph, n: usize) -> bool {
    let node = &graph.nodes[n];
    if !matches!(node.op, Op::Identity | Op::Dropout { .. }) {
        return false;
    }
    let (Some(input), Some(&output)) = (node.input(0), node.outputs.first()) else {
        return false;
    };
    let uses = use_counts(graph);
    let extra_outputs_used = node.outputs[1..]
        .iter()
        .any(|o| uses[o.0] > 0 || graph.is_output(*o));
    if extra_outputs_used {
        return false;
    }
    if !graph.is_output(output) {
        graph.replace_uses(output, input);
    } else {
        let producer = graph.producer(input);
        let private = uses[input.0] == 1 && !graph.is_output(input);
        let Some(p) = producer.filter(|_| private) else {
            return false;
        };
        for o in &mut graph.nodes[p].outputs {
            if *o == input {
                *o = output;
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Fact, Node};
    use lowbit_tensor::DType;

    fn node(name: &str, op: Op, inputs: &[crate::ValueId], outputs: &[crate::ValueId]) -> Node {
        Node {
            name: name.into(),
            op,
            inputs: inputs.iter().map(|&i| Some(i)).collect(),
            outputs: outputs.to_vec(),
        }
    }

    #[test]
    fn bypasses_inner_identity_and_keeps_output_names() {
        let mut g = Graph::new("g");
        let f = Fact::known(DType::F32, &[2]);
        let x = g.add_input("x", f.clone()).unwrap();
        let a = g.add_value("a", f.clone()).unwrap();
        let b = g.add_value("b", f.clone()).unwrap();
        let c = g.add_value("c", f.clone()).unwrap();
        let y = g.add_value("y", f).unwrap();
        g.add_node(node("relu", Op::Unary(crate::ops::UnaryOp::Relu), &[x], &[a]));
        g.add_node(node("id", Op::Identity, &[a], &[b]));
        g.add_node(node("drop", Op::Dropout { ratio: 0.5 }, &[b], &[c]));
        g.add_node(node("out", Op::Identity, &[c], &[y]));
        g.outputs.push(y);
        assert_eq!(RemoveIdentity.apply(&mut g).unwrap(), 3);
        assert_eq!(g.nodes.len(), 1);
        assert_eq!(g.nodes[0].name, "relu");
        assert_eq!(g.nodes[0].outputs, vec![y]);
        assert_eq!(g.outputs, vec![y]);
        g.validate().unwrap();
    }

    #[test]
    fn keeps_identity_from_input_to_output() {
        let mut g = Graph::new("g");
        let f = Fact::known(DType::F32, &[2]);
        let x = g.add_input("x", f.clone()).unwrap();
        let y = g.add_value("y", f).unwrap();
        g.add_node(node("id", Op::Identity, &[x], &[y]));
        g.outputs.push(y);
        assert_eq!(RemoveIdentity.apply(&mut g).unwrap(), 0);
        assert_eq!(g.nodes.len(), 1);
    }
}
