//! `Gemm` (`Y = α·op(A)·op(B) + β·C`, C broadcast to `[M, N]`) and 2-D `MatMul`. Transposes
//! are expressed as strides, so the gradients of op(A) and op(B) are written straight into
//! A's and B's own layouts by the f32 GEMM.

use std::sync::Arc;

use lowbit_graph::ops::Gemm;
use lowbit_kernels::f32::gemm;
use lowbit_tensor::Tensor;

use super::{broadcast, f32s, grad, input, Backward, Inputs, Step};
use crate::error::{RuleError, RuleResult};

pub(crate) fn gemm_op(spec: &Gemm, inputs: Inputs) -> RuleResult<Step> {
    let c = inputs.get(2).and_then(Option::as_ref).cloned();
    product(spec.clone(), input(inputs, 0, "A")?, input(inputs, 1, "B")?, c)
}

/// `MatMul` of two matrices (batched MatMul has no rule yet).
pub(crate) fn matmul(inputs: Inputs) -> RuleResult<Step> {
    let spec = Gemm {
        beta: 0.0,
        ..Gemm::default()
    };
    product(spec, input(inputs, 0, "A")?, input(inputs, 1, "B")?, None)
}

/// A `rows×cols` operand and its (row, column) strides as the product reads it.
#[derive(Clone, Copy)]
struct Layout {
    rs: isize,
    cs: isize,
}

fn layout(stored_cols: usize, transposed: bool) -> Layout {
    if transposed {
        Layout {
            rs: 1,
            cs: stored_cols as isize,
        }
    } else {
        Layout {
            rs: stored_cols as isize,
            cs: 1,
        }
    }
}

fn product(spec: Gemm, a: &Arc<Tensor>, b: &Arc<Tensor>, c: Option<Arc<Tensor>>) -> RuleResult<Step> {
    let (&[ar, ac], &[br, bc]) = (a.shape(), b.shape()) else {
        return Err(RuleError::new(format!(
            "A {:?} and B {:?} must be matrices",
            a.shape(),
            b.shape()
        )));
    };
    let (m, k) = if spec.trans_a { (ac, ar) } else { (ar, ac) };
    let (kb, n) = if spec.trans_b { (bc, br) } else { (br, bc) };
    if k != kb {
        return Err(RuleError::new(format!(
            "inner sizes differ: op(A) is {m}x{k}, op(B) is {kb}x{n}"
        )));
    }
    let (la, lb) = (layout(ac, spec.trans_a), layout(bc, spec.trans_b));
    let mut y = vec![0.0; m * n];
    let (av, bv) = (f32s(a, "A")?, f32s(b, "B")?);
    gemm(
        m, n, k, spec.alpha, av, la.rs, la.cs, bv, lb.rs, lb.cs, 0.0, &mut y, n as isize, 1,
    );
    let c_map = match &c {
        Some(c) if spec.beta != 0.0 => {
            let out = broadcast::shape(&[m, n], c.shape())?;
            if out != [m, n] {
                return Err(RuleError::new(format!(
                    "C {:?} does not broadcast to [{m}, {n}]",
                    c.shape()
                )));
            }
            let map = broadcast::index_map(&[m, n], c.shape());
            let cv = f32s(c, "C")?;
            y.iter_mut().zip(&map).for_each(|(y, &i)| *y += spec.beta * cv[i]);
            Some(map)
        }
        _ => None,
    };
    let saved = ProductBackward {
        spec,
        dims: [m, n, k],
        a: a.clone(),
        b: b.clone(),
        la,
        lb,
        c: c.zip(c_map),
    };
    Ok(Step::new(Tensor::new(vec![m, n], y)?, saved))
}

struct ProductBackward {
    spec: Gemm,
    /// `[M, N, K]`.
    dims: [usize; 3],
    a: Arc<Tensor>,
    b: Arc<Tensor>,
    la: Layout,
    lb: Layout,
    /// The bias and its broadcast map, when it contributes.
    c: Option<(Arc<Tensor>, Vec<usize>)>,
}

impl Backward for ProductBackward {
    fn backward(&self, dy: Vec<f32>, needed: &[bool]) -> RuleResult<Vec<Option<Tensor>>> {
        let dy = dy.as_slice();
        let [m, n, k] = self.dims;
        let (av, bv) = (f32s(&self.a, "A")?, f32s(&self.b, "B")?);
        let (la, lb, alpha) = (self.la, self.lb, self.spec.alpha);
        let mut grads = vec![None, None];
        if needed[0] {
            // d op(A)[M, K] = α·dY[M, N] · op(B)ᵀ[N, K], written in A's layout.
            let mut da = vec![0.0; self.a.len()];
            gemm(
                m, k, n, alpha, dy, n as isize, 1, bv, lb.cs, lb.rs, 0.0, &mut da, la.rs, la.cs,
            );
            grads[0] = grad(self.a.shape(), da)?;
        }
        if needed.get(1) == Some(&true) {
            // d op(B)[K, N] = α·op(A)ᵀ[K, M] · dY[M, N], written in B's layout.
            let mut db = vec![0.0; self.b.len()];
            gemm(
                k, n, m, alpha, av, la.cs, la.rs, dy, n as isize, 1, 0.0, &mut db, lb.rs, lb.cs,
            );
            grads[1] = grad(self.b.shape(), db)?;
        }
        if let Some((c, map)) = &self.c {
            let mut dc = broadcast::reduce(dy, map, c.len());
            dc.iter_mut().for_each(|v| *v *= self.spec.beta);
            grads.push(grad(c.shape(), dc)?);
        }
        Ok(grads)
    }
}
