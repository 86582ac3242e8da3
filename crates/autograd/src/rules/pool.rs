//! `GlobalAveragePool` and `ReduceMean`: means over some axes, whose gradient spreads each
//! output gradient evenly over the elements it averaged.

use lowbit_graph::ops::{Reduce, ReduceKind};
use lowbit_kernels::f32::sum;
use lowbit_tensor::Tensor;
use rayon::prelude::*;

use super::{broadcast, f32s, grad, input, Backward, Inputs, Step};
use crate::error::{RuleError, RuleResult};

/// `[N, C, ...]` → `[N, C, 1, ...]`.
pub(crate) fn global_average(inputs: Inputs) -> RuleResult<Step> {
    let x = input(inputs, 0, "X")?;
    if x.rank() < 3 {
        return Err(RuleError::new(format!(
            "X must be [N, C, spatial...], got {:?}",
            x.shape()
        )));
    }
    let axes: Vec<usize> = (2..x.rank()).collect();
    mean(x, &axes, true)
}

/// `ReduceMean` with axes from the attribute or the optional second input.
pub(crate) fn reduce_mean(reduce: &Reduce, inputs: Inputs) -> RuleResult<Step> {
    if reduce.kind != ReduceKind::Mean {
        return Err(RuleError::new(format!(
            "{} has no training rule",
            reduce.kind.name()
        )));
    }
    let x = input(inputs, 0, "data")?;
    let raw = match (&reduce.axes, inputs.get(1).and_then(Option::as_ref)) {
        (Some(axes), _) => axes.clone(),
        (None, Some(t)) => t.to_i64_vec(),
        (None, None) => Vec::new(),
    };
    let rank = x.rank() as i64;
    let axes: Vec<usize> = if raw.is_empty() {
        if reduce.noop_with_empty_axes {
            Vec::new()
        } else {
            (0..x.rank()).collect()
        }
    } else {
        raw.iter()
            .map(|&a| {
                let a = if a < 0 { a + rank } else { a };
                if (0..rank).contains(&a) {
                    Ok(a as usize)
                } else {
                    Err(RuleError::new(format!(
                        "axis {a} is out of range for rank {rank}"
                    )))
                }
            })
            .collect::<RuleResult<_>>()?
    };
    mean(x, &axes, reduce.keepdims)
}

fn mean(x: &Tensor, axes: &[usize], keepdims: bool) -> RuleResult<Step> {
    let kept: Vec<usize> = x
        .shape()
        .iter()
        .enumerate()
        .map(|(i, &d)| if axes.contains(&i) { 1 } else { d })
        .collect();
    let out_shape: Vec<usize> = if keepdims {
        kept.clone()
    } else {
        kept.iter()
            .enumerate()
            .filter(|(i, _)| !axes.contains(i))
            .map(|(_, &d)| d)
            .collect()
    };
    let reduced: usize = kept.iter().product();
    let count = (x.len() / reduced.max(1)).max(1) as f32;
    let xs = f32s(x, "X")?;
    let layout = Layout::new(x.shape(), &kept, axes);
    let y = match &layout {
        Layout::Trailing { run } => xs
            .par_chunks(*run)
            .map(|chunk| (sum(chunk) / count as f64) as f32)
            .collect(),
        Layout::Mapped(map) => {
            let mut y = broadcast::reduce(xs, map, reduced);
            y.iter_mut().for_each(|v| *v /= count);
            y
        }
    };
    let saved = MeanBackward {
        shape: x.shape().to_vec(),
        layout,
        count,
    };
    Ok(Step::new(Tensor::new(out_shape, y)?, saved))
}

/// Which output element each input element is averaged into.
enum Layout {
    /// The averaged axes are the last ones (spatial pooling): output `o` averages the
    /// contiguous run `o·run..(o + 1)·run`, so no index map is needed.
    Trailing { run: usize },
    /// Any other axes: input element → output element.
    Mapped(Vec<usize>),
}

impl Layout {
    fn new(shape: &[usize], kept: &[usize], axes: &[usize]) -> Layout {
        // Axes are in range; with no repeats, `axes.len()` of them cover the last ones
        // exactly when each of those is listed.
        let first = shape
            .len()
            .checked_sub(axes.len())
            .filter(|&first| !axes.is_empty() && (first..shape.len()).all(|a| axes.contains(&a)));
        match first.map(|first| shape[first..].iter().product()) {
            Some(run) if run > 0 => Layout::Trailing { run },
            _ => Layout::Mapped(broadcast::index_map(shape, kept)),
        }
    }
}

struct MeanBackward {
    shape: Vec<usize>,
    layout: Layout,
    count: f32,
}

impl Backward for MeanBackward {
    fn backward(&self, dy: Vec<f32>, _needed: &[bool]) -> RuleResult<Vec<Option<Tensor>>> {
        let dy = dy.as_slice();
        let dx = match &self.layout {
            Layout::Trailing { run } => {
                let mut dx = vec![0.0; dy.len() * run];
                dx.par_chunks_mut(*run)
                    .zip(dy)
                    .for_each(|(chunk, &d)| chunk.fill(d / self.count));
                dx
            }
            Layout::Mapped(map) => map.iter().map(|&o| dy[o] / self.count).collect(),
        };
        Ok(vec![grad(&self.shape, dx)?, None])
    }
}
