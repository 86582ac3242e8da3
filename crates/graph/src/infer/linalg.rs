//! Inference rules of matrix products (MatMul, Gemm), shared with their integer forms.

use super::broadcast::{broadcast, broadcasts_to, compatible, format_dims};
use super::ctx::NodeCtx;
use super::nn::check_same_dtype;
use crate::ops::Gemm;
use crate::{Dim, Fact, Op, Result};

pub(super) fn infer(ctx: &NodeCtx) -> Result<Vec<Fact>> {
    let a = ctx.required(0, "A")?;
    ctx.required(1, "B")?;
    check_same_dtype(ctx, 0, 1)?;
    let shape = match &ctx.node.op {
        Op::Gemm(gemm) => gemm_shape(ctx, gemm)?,
        _ => matmul_shape(ctx, 0, 1)?,
    };
    Ok(vec![Fact {
        dtype: a.dtype,
        shape,
    }])
}

/// numpy `matmul` shape of inputs `a` and `b`: 1-D operands are promoted to matrices and
/// the promoted axis dropped again; leading (batch) axes broadcast.
pub(super) fn matmul_shape(ctx: &NodeCtx, a: usize, b: usize) -> Result<Option<Vec<Dim>>> {
    let (Some(sa), Some(sb)) = (ctx.shape(a), ctx.shape(b)) else {
        return Ok(None);
    };
    if sa.is_empty() || sb.is_empty() {
        return Err(ctx.error(format!(
            "operands must have rank 1 or more, got {} and {}",
            ctx.describe(a),
            ctx.describe(b)
        )));
    }
    let ma: Vec<Dim> = if sa.len() == 1 {
        vec![Dim::Known(1), sa[0].clone()]
    } else {
        sa.to_vec()
    };
    let mb: Vec<Dim> = if sb.len() == 1 {
        vec![sb[0].clone(), Dim::Known(1)]
    } else {
        sb.to_vec()
    };
    let (ka, kb) = (&ma[ma.len() - 1], &mb[mb.len() - 2]);
    if !compatible(ka, kb) {
        return Err(ctx.error(format!(
            "inner dimensions differ: {} has {ka} columns but {} has {kb} rows",
            ctx.describe(a),
            ctx.describe(b)
        )));
    }
    let Some(mut out) = broadcast(ctx, &[&ma[..ma.len() - 2], &mb[..mb.len() - 2]])? else {
        return Ok(None);
    };
    if sa.len() > 1 {
        out.push(ma[ma.len() - 2].clone());
    }
    if sb.len() > 1 {
        out.push(mb[mb.len() - 1].clone());
    }
    Ok(Some(out))
}

fn gemm_shape(ctx: &NodeCtx, gemm: &Gemm) -> Result<Option<Vec<Dim>>> {
    let (Some(sa), Some(sb)) = (ctx.shape(0), ctx.shape(1)) else {
        return Ok(None);
    };
    if sa.len() != 2 || sb.len() != 2 {
        return Err(ctx.error(format!(
            "A and B must be 2-D, got {} and {}",
            ctx.describe(0),
            ctx.describe(1)
        )));
    }
    let (m, ka) = if gemm.trans_a {
        (&sa[1], &sa[0])
    } else {
        (&sa[0], &sa[1])
    };
    let (kb, n) = if gemm.trans_b {
        (&sb[1], &sb[0])
    } else {
        (&sb[0], &sb[1])
    };
    if !compatible(ka, kb) {
        return Err(ctx.error(format!(
            "inner dimensions differ: A {} gives K={ka} (transA={}) but B {} gives K={kb} (transB={})",
            ctx.describe(0),
            gemm.trans_a as u8,
            ctx.describe(1),
            gemm.trans_b as u8
        )));
    }
    let out = vec![m.clone(), n.clone()];
    if let Some(c) = ctx.shape(2) {
        if !broadcasts_to(c, &out) {
            return Err(ctx.error(format!(
                "C {} does not broadcast to the output {}",
                ctx.describe(2),
                format_dims(&out)
            )));
        }
    }
    Ok(Some(out))
}
