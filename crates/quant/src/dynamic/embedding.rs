//! Embedding tables (a Gather on axis 0 of a constant f32 `[rows, dim]` matrix) become
//! i8 with one symmetric scale per row, dequantized after the lookup:
//!
//! ```text
//! Gather(table_q i8, ids) → Cast(f32) ─┐
//! Gather(row_scales [rows, 1], ids) ───┴ Mul → y
//! ```
//!
//! Standard ops only, so the file still runs in any ONNX runtime. For a text encoder the
//! word-embedding table is most of the file, so this is what brings it near 1/4 size.

use lowbit_graph::ops::{BinaryOp, Cast};
use lowbit_graph::{Fact, Graph, Node, Op};
use lowbit_tensor::{DType, Tensor};

use super::ops_of::{add_node, binary};
use super::rewrite::add_const;
use super::{quantize_weights, DynamicError, WeightGranularity};

/// Whether `node` looks up rows of a constant f32 matrix.
pub(super) fn is_embedding(graph: &Graph, node: &Node) -> bool {
    let Op::Gather { axis: 0 } = node.op else {
        return false;
    };
    node.input(0)
        .and_then(|v| graph.initializer(v))
        .is_some_and(|t| t.dtype() == DType::F32 && t.rank() == 2)
        && node.input(1).is_some()
        && node.outputs.len() == 1
}

/// Emits the quantized lookup in place of `node` (which [`is_embedding`] accepted).
pub(super) fn emit_embedding(
    graph: &mut Graph,
    nodes: &mut Vec<Node>,
    node: &Node,
) -> Result<(), DynamicError> {
    let name = &node.name;
    let not_embedding = || DynamicError::Node {
        node: name.clone(),
        op: "Gather",
        message: "not a lookup in a constant table".into(),
    };
    let (Some(table), Some(ids), Some(&out)) = (node.input(0), node.input(1), node.outputs.first()) else {
        return Err(not_embedding());
    };
    let table = graph.initializer(table).cloned().ok_or_else(not_embedding)?;
    let (rows, dim) = (table.shape()[0], table.shape()[1]);
    let values = table.as_slice::<f32>()?;
    let mut quantized = Vec::with_capacity(rows * dim);
    let mut scales = Vec::with_capacity(rows);
    for row in values.chunks_exact(dim.max(1)) {
        let q = quantize_weights(row, 1, dim, WeightGranularity::PerTensor).ok_or_else(|| {
            DynamicError::Node {
                node: name.clone(),
                op: "Gather",
                message: "the table holds a non-finite value".into(),
            }
        })?;
        quantized.extend(q.values);
        scales.push(q.scales[0]);
    }
    let out_fact = graph.value(out).fact.clone();
    let table_q = add_const(
        graph,
        &format!("{name}/table_quantized"),
        Tensor::new(vec![rows, dim], quantized)?,
    );
    let row_scales = add_const(
        graph,
        &format!("{name}/row_scales"),
        Tensor::new(vec![rows, 1], scales)?,
    );
    let with_dtype = |dtype| Fact {
        dtype: Some(dtype),
        shape: out_fact.shape.clone(),
    };
    let looked_up = graph.add_value_unique(&format!("{name}/rows_quantized"), with_dtype(DType::I8));
    let looked_up_f32 = graph.add_value_unique(&format!("{name}/rows_f32"), with_dtype(DType::F32));
    let row_scale = graph.add_value_unique(&format!("{name}/rows_scale"), Fact::unknown());
    let gather = Op::Gather { axis: 0 };
    nodes.push(add_node(
        name.clone(),
        gather.clone(),
        vec![table_q, ids],
        vec![looked_up],
    ));
    nodes.push(add_node(
        format!("{name}/GatherScale"),
        gather,
        vec![row_scales, ids],
        vec![row_scale],
    ));
    nodes.push(add_node(
        format!("{name}/Cast"),
        Op::Cast(Cast { to: DType::F32 }),
        vec![looked_up],
        vec![looked_up_f32],
    ));
    nodes.push(binary(
        format!("{name}/Dequantize"),
        BinaryOp::Mul,
        looked_up_f32,
        row_scale,
        out,
    ));
    Ok(())
}
