//! Matrix products.

use lowbit_graph::ops::Gemm;
use lowbit_graph::Op;

use super::Registry;
use crate::import::context::{Lowered, NodeCtx};
use crate::Result;

pub(super) fn register_all_ops(registry: &mut Registry) {
    registry.register("Gemm", gemm);
    registry.register("MatMul", |_| Ok(Lowered::Op(Op::MatMul)));
}

/// Opsets before 7 had a `broadcast` flag for C; numpy broadcasting of C is a superset
/// of what it allowed, so the flag is ignored.
fn gemm(ctx: &mut NodeCtx) -> Result<Lowered> {
    Ok(Lowered::Op(Op::Gemm(Gemm {
        alpha: ctx.float_or("alpha", 1.0)?,
        beta: ctx.float_or("beta", 1.0)?,
        trans_a: ctx.flag("transA", false)?,
        trans_b: ctx.flag("transB", false)?,
    })))
}
