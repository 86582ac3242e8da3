//! Typed access to a node's inputs, with messages that say which input is wrong.

use lowbit_tensor::{DType, Element, Tensor};

use super::{EvalError, EvalResult};

/// The inputs of one node; `None` marks an omitted optional input.
pub(crate) struct Inputs<'a> {
    values: &'a [Option<&'a Tensor>],
}

impl<'a> Inputs<'a> {
    pub(crate) fn new(values: &'a [Option<&'a Tensor>]) -> Self {
        Inputs { values }
    }

    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }

    /// A required input.
    pub(crate) fn get(&self, index: usize) -> EvalResult<&'a Tensor> {
        self.opt(index)
            .ok_or_else(|| EvalError(format!("input {index} is required but missing")))
    }

    /// An optional input.
    pub(crate) fn opt(&self, index: usize) -> Option<&'a Tensor> {
        self.values.get(index).copied().flatten()
    }

    /// A required input's values, which must be of type `T`.
    pub(crate) fn slice<T: Element>(&self, index: usize) -> EvalResult<&'a [T]> {
        typed(self.get(index)?, index)
    }

    /// A required f32 input of rank `rank`, with its shape.
    pub(crate) fn f32_of_rank(&self, index: usize, rank: usize) -> EvalResult<(&'a [f32], &'a [usize])> {
        let t = self.get(index)?;
        if t.rank() != rank {
            return Err(EvalError(format!(
                "input {index} must have rank {rank}, got shape {:?}",
                t.shape()
            )));
        }
        Ok((typed(t, index)?, t.shape()))
    }

    /// An optional integer input read as i64 values (axes, shapes, indices).
    pub(crate) fn opt_i64s(&self, index: usize) -> EvalResult<Option<Vec<i64>>> {
        match self.opt(index) {
            None => Ok(None),
            Some(t) if matches!(t.dtype(), DType::I64 | DType::I32) => Ok(Some(t.to_i64_vec())),
            Some(t) => Err(EvalError(format!(
                "input {index} must be an i64 or i32 tensor, got {}",
                t.dtype()
            ))),
        }
    }

    /// A required integer input read as i64 values.
    pub(crate) fn i64s(&self, index: usize) -> EvalResult<Vec<i64>> {
        self.opt_i64s(index)?
            .ok_or_else(|| EvalError(format!("input {index} is required but missing")))
    }
}

fn typed<T: Element>(t: &Tensor, index: usize) -> EvalResult<&[T]> {
    t.as_slice::<T>()
        .map_err(|_| EvalError(format!("input {index} must be {}, got {}", T::DTYPE, t.dtype())))
}

/// Resolves a possibly negative axis into `0..rank`.
pub(crate) fn resolve_axis(axis: i64, rank: usize) -> EvalResult<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if (0..r).contains(&a) {
        Ok(a as usize)
    } else {
        Err(EvalError(format!("axis {axis} is out of range for rank {rank}")))
    }
}
