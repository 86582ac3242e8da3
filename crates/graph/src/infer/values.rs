//! Known contents of small integer tensors that describe shapes.
//!
//! Exporters compute target shapes at run time (`Shape` → `Gather` → `Concat` →
//! `Reshape`). Tracking those values, with symbolic dimensions as symbols, lets inference
//! give such a `Reshape` a shape without running anything.

use lowbit_tensor::Tensor;

use super::ctx::NodeCtx;
use super::movement::slice_indices;
use crate::ops::BinaryOp;
use crate::{Dim, Op};

/// One element of a shape value: an integer, or a symbolic dimension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SymInt {
    Int(i64),
    Sym(String),
}

impl SymInt {
    /// The dimension this element denotes; negative integers are not dimensions.
    pub fn to_dim(&self) -> Option<Dim> {
        match self {
            SymInt::Int(n) => usize::try_from(*n).ok().map(Dim::Known),
            SymInt::Sym(s) => Some(Dim::Sym(s.clone())),
        }
    }
}

impl From<&Dim> for SymInt {
    fn from(dim: &Dim) -> Self {
        match dim {
            Dim::Known(n) => SymInt::Int(*n as i64),
            Dim::Sym(s) => SymInt::Sym(s.clone()),
        }
    }
}

/// The elements of a rank-0 or rank-1 integer tensor, row-major. The rank is in the
/// value's fact.
pub type ShapeValue = Vec<SymInt>;

/// Shapes have a handful of elements; bigger integer tensors are data, not shapes.
const MAX_TRACKED: usize = 64;

/// The shape value held by a constant tensor, if it is a small integer vector or scalar.
pub(crate) fn shape_value_of_tensor(tensor: &Tensor) -> Option<ShapeValue> {
    let small = tensor.rank() <= 1 && tensor.len() <= MAX_TRACKED;
    (small && tensor.dtype().is_integer()).then(|| tensor.to_i64_vec().into_iter().map(SymInt::Int).collect())
}

/// The shape value of the node's first output, for the ops that build shapes.
pub(crate) fn propagate(ctx: &NodeCtx) -> Option<ShapeValue> {
    match &ctx.node.op {
        Op::Shape { start, end } => {
            let dims = ctx.shape(0)?;
            let (first, last) = shape_op_range(dims.len(), *start, *end);
            Some(dims[first..last].iter().map(SymInt::from).collect())
        }
        Op::Identity
        | Op::Squeeze { .. }
        | Op::Unsqueeze { .. }
        | Op::Reshape { .. }
        | Op::Flatten { .. } => ctx.shape_value(0),
        Op::Cast(cast) if cast.to.is_integer() => ctx.shape_value(0),
        Op::Gather { axis } => {
            let data = ctx.shape_value(0)?;
            if ctx.rank(0)? != 1 || !(*axis == 0 || *axis == -1) {
                return None;
            }
            let len = data.len() as i64;
            ctx.ints(1)?
                .into_iter()
                .map(|i| {
                    let i = if i < 0 { i + len } else { i };
                    (0..len).contains(&i).then(|| data[i as usize].clone())
                })
                .collect()
        }
        Op::Concat { .. } => {
            let mut all = Vec::new();
            for index in 0..ctx.node.inputs.len() {
                all.extend(ctx.shape_value(index)?);
            }
            Some(all)
        }
        Op::Slice(_) => {
            let data = ctx.shape_value(0)?;
            let (starts, ends) = (ctx.ints(1)?, ctx.ints(2)?);
            let steps = match ctx.node.input(4) {
                Some(_) => ctx.ints(4)?,
                None => vec![1],
            };
            if starts.len() != 1 || ends.len() != 1 || steps.len() != 1 || steps[0] == 0 {
                return None;
            }
            let picked = slice_indices(data.len(), starts[0], ends[0], steps[0]);
            Some(picked.into_iter().map(|i| data[i].clone()).collect())
        }
        Op::Binary(op) => integer_arithmetic(*op, &ctx.shape_value(0)?, &ctx.shape_value(1)?),
        _ => None,
    }
}

/// `[first, last)` of the dims that `Shape { start, end }` returns, clamped as ONNX does.
pub(crate) fn shape_op_range(rank: usize, start: i64, end: Option<i64>) -> (usize, usize) {
    let clamp = |i: i64| {
        let i = if i < 0 { i + rank as i64 } else { i };
        i.clamp(0, rank as i64) as usize
    };
    let first = clamp(start);
    let last = clamp(end.unwrap_or(rank as i64));
    (first, last.max(first))
}

/// Elementwise arithmetic on integer shape values, broadcasting a single element.
/// Symbols are kept only where the other side is a neutral element (`d * 1`, `d + 0`).
fn integer_arithmetic(op: BinaryOp, a: &ShapeValue, b: &ShapeValue) -> Option<ShapeValue> {
    let len = match (a.len(), b.len()) {
        (x, y) if x == y => x,
        (1, y) => y,
        (x, 1) => x,
        _ => return None,
    };
    let pick = |v: &ShapeValue, i: usize| v[if v.len() == 1 { 0 } else { i }].clone();
    (0..len)
        .map(|i| match (op, pick(a, i), pick(b, i)) {
            (_, SymInt::Int(x), SymInt::Int(y)) => {
                let value = match op {
                    BinaryOp::Add => x.checked_add(y),
                    BinaryOp::Sub => x.checked_sub(y),
                    BinaryOp::Mul => x.checked_mul(y),
                    // ONNX integer Div truncates toward zero, like Rust.
                    BinaryOp::Div => x.checked_div(y),
                    _ => None,
                };
                value.map(SymInt::Int)
            }
            (BinaryOp::Mul | BinaryOp::Div, s @ SymInt::Sym(_), SymInt::Int(1))
            | (BinaryOp::Mul, SymInt::Int(1), s @ SymInt::Sym(_))
            | (BinaryOp::Add | BinaryOp::Sub, s @ SymInt::Sym(_), SymInt::Int(0))
            | (BinaryOp::Add, SymInt::Int(0), s @ SymInt::Sym(_)) => Some(s),
            _ => None,
        })
        .collect()
}
