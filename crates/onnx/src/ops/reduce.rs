//! Reductions and ArgMax.

use lowbit_graph::ops::{Reduce, ReduceKind};
use lowbit_graph::Op;

use super::Registry;
use crate::import::context::{Lowered, NodeCtx};
use crate::Result;

pub(super) fn register_all_ops(registry: &mut Registry) {
    registry.register("ReduceMean", |ctx| reduce(ctx, ReduceKind::Mean));
    registry.register("ReduceSum", |ctx| reduce(ctx, ReduceKind::Sum));
    registry.register("ReduceMax", |ctx| reduce(ctx, ReduceKind::Max));
    registry.register("ReduceMin", |ctx| reduce(ctx, ReduceKind::Min));
    registry.register("ReduceProd", |ctx| reduce(ctx, ReduceKind::Prod));
    registry.register("ReduceSumSquare", |ctx| reduce(ctx, ReduceKind::SumSquare));
    registry.register("ReduceL2", |ctx| reduce(ctx, ReduceKind::L2));
    registry.register("ArgMax", arg_max);
}

/// The first opset in which `kind` takes `axes` as an input instead of an attribute.
pub(crate) fn axes_input_since(kind: ReduceKind) -> i64 {
    match kind {
        ReduceKind::Sum => 13,
        _ => 18,
    }
}

fn reduce(ctx: &mut NodeCtx, kind: ReduceKind) -> Result<Lowered> {
    let axes = if ctx.opset < axes_input_since(kind) {
        ctx.ints("axes")?
    } else {
        None
    };
    Ok(Lowered::Op(Op::Reduce(Reduce {
        kind,
        axes,
        keepdims: ctx.flag("keepdims", true)?,
        noop_with_empty_axes: ctx.flag("noop_with_empty_axes", false)?,
    })))
}

fn arg_max(ctx: &mut NodeCtx) -> Result<Lowered> {
    Ok(Lowered::Op(Op::ArgMax {
        axis: ctx.int_or("axis", 0)?,
        keepdims: ctx.flag("keepdims", true)?,
        select_last_index: ctx.flag("select_last_index", false)?,
    }))
}
