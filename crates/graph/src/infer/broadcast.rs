//! Dimension arithmetic shared by the op rules: numpy broadcasting, products, equality.

use super::ctx::NodeCtx;
use crate::{Dim, Result};

/// Multidirectional (numpy) broadcasting of several shapes.
///
/// `Ok(None)` when the result cannot be told statically (two different symbols meet);
/// an error when two known dimensions are neither equal nor 1.
pub(crate) fn broadcast(ctx: &NodeCtx, shapes: &[&[Dim]]) -> Result<Option<Vec<Dim>>> {
    let rank = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = Vec::with_capacity(rank);
    for axis in 0..rank {
        let mut acc = Dim::Known(1);
        for shape in shapes {
            let Some(dim) = (axis + shape.len()).checked_sub(rank).map(|i| &shape[i]) else {
                continue;
            };
            acc = match broadcast_pair(&acc, dim) {
                Pair::Dim(d) => d,
                Pair::Unknown => return Ok(None),
                Pair::Mismatch => {
                    let shapes: Vec<String> = shapes.iter().map(|s| format_dims(s)).collect();
                    return Err(ctx.error(format!(
                        "shapes {} cannot be broadcast together",
                        shapes.join(" and ")
                    )));
                }
            };
        }
        out.push(acc);
    }
    Ok(Some(out))
}

enum Pair {
    Dim(Dim),
    Unknown,
    Mismatch,
}

fn broadcast_pair(a: &Dim, b: &Dim) -> Pair {
    match (a, b) {
        (Dim::Known(1), d) | (d, Dim::Known(1)) => Pair::Dim(d.clone()),
        (Dim::Known(x), Dim::Known(y)) if x == y => Pair::Dim(a.clone()),
        (Dim::Known(_), Dim::Known(_)) => Pair::Mismatch,
        // A symbol meeting n > 1 must be n (or 1, which broadcasts to n).
        (Dim::Sym(_), Dim::Known(n)) | (Dim::Known(n), Dim::Sym(_)) => Pair::Dim(Dim::Known(*n)),
        (Dim::Sym(x), Dim::Sym(y)) if x == y => Pair::Dim(a.clone()),
        (Dim::Sym(_), Dim::Sym(_)) => Pair::Unknown,
    }
}

/// Whether `from` broadcasts to exactly `to` (ONNX unidirectional broadcasting).
/// Symbols are given the benefit of the doubt: only known mismatches are rejected.
pub(crate) fn broadcasts_to(from: &[Dim], to: &[Dim]) -> bool {
    if from.len() > to.len() {
        return false;
    }
    from.iter().rev().zip(to.iter().rev()).all(|(f, t)| match (f, t) {
        (Dim::Known(1), _) => true,
        (Dim::Known(x), Dim::Known(y)) => x == y,
        _ => true,
    })
}

/// Product of dimensions, when it can be written as one dimension: all known, or one
/// symbol times known dimensions that multiply to 1.
pub(crate) fn product(dims: &[Dim]) -> Option<Dim> {
    let mut known = 1usize;
    let mut symbol = None;
    for dim in dims {
        match dim {
            Dim::Known(n) => known *= n,
            Dim::Sym(_) if symbol.is_some() => return None,
            Dim::Sym(_) => symbol = Some(dim.clone()),
        }
    }
    match symbol {
        None => Some(Dim::Known(known)),
        Some(sym) if known == 1 => Some(sym),
        // `batch * 0` is still 0 elements.
        Some(_) if known == 0 => Some(Dim::Known(0)),
        Some(_) => None,
    }
}

/// Whether two dimensions may be equal: known ones must match, symbols might.
pub(crate) fn compatible(a: &Dim, b: &Dim) -> bool {
    match (a, b) {
        (Dim::Known(x), Dim::Known(y)) => x == y,
        _ => true,
    }
}

/// `[a,b,c]` for messages.
pub(crate) fn format_dims(dims: &[Dim]) -> String {
    let parts: Vec<String> = dims.iter().map(Dim::to_string).collect();
    format!("[{}]", parts.join(","))
}
