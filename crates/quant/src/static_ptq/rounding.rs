//! Error-feedback weight rounding (GPTQ, Frantar et al. 2023, at 8 bits): each i8
//! weight row is rounded one input at a time, and the error each rounding makes is
//! pushed onto the inputs not rounded yet, in proportion to how the calibration inputs
//! correlate, so the row's output error `Σ ((w − ŵ)·x)²` over the calibration data is
//! what is kept small rather than each weight's own error. Scales stay the per-channel
//! min-max ones; only the rounding direction of each weight changes.
//!
//! The inputs are the node's inputs in the FP32 model, gathered into the second moment
//! `H = Σ x xᵀ` ([`hessian`]) from a bounded, seeded subsample of each sample's input
//! vectors ([`SAMPLED_VECTORS_PER_DIMENSION`]): a 9- to 144-wide `H` is settled by a few
//! thousand vectors, and the full 112×112 grids of the first layers made this step cost
//! as much as the rest of calibration. [`Prepared::calibrate`] feeds the moments from its
//! observer pass, so the FP32 model runs once. The update needs the upper Cholesky
//! factor of `H⁻¹`, damped by 1% of the mean diagonal so that inputs the data never
//! excites do not make it singular. `H` must be estimated from many more vectors than
//! its dimension, or the rounding fits the calibration samples instead of the data: on
//! EfficientNet-Lite0 with 10 images, the wide 1×1 convs of the late, low-resolution
//! stages and the classifier keep round-to-nearest.

mod hessian;

use std::collections::HashMap;

use lowbit_data::{batch, Dataset, Sample};
use lowbit_graph::{Graph, Op, ValueId};
use lowbit_runtime::{Plan, PlanOptions};
use lowbit_tensor::Tensor;

use self::hessian::{Moments, Reader};
use super::error::{PtqError, Result};
use super::prepare::Prepared;
use super::weights::WeightedNode;
use crate::QuantScheme;

/// Relative damping added to the diagonal of `H`.
const DAMPING: f64 = 0.01;

/// Input vectors per dimension of `H` below which a group keeps round-to-nearest: a
/// second moment estimated from fewer vectors describes the calibration samples rather
/// than the data, and rounding against it overfits them.
const VECTORS_PER_DIMENSION: usize = 10;

/// Input vectors per dimension of `H` gathered per group over the whole calibration
/// set, spread evenly over the samples ([`Moments::per_sample`]); a group with fewer
/// gives all it has. Above [`VECTORS_PER_DIMENSION`], so that subsampling alone never
/// turns a layer back to round-to-nearest, and small enough that the high-resolution
/// layers cost about what the low-resolution ones do. On EfficientNet-Lite0 (10
/// images), budgets of 16 to 128 gave logits SQNRs within 0.5 dB of the full moments'
/// on either calibration half, the spread of which samples happen to be drawn.
const SAMPLED_VECTORS_PER_DIMENSION: usize = 32;

/// How one weighted node's rows are laid out and read.
struct Site {
    weighted: usize,
    reader: Reader,
    moments: Moments,
}

/// The input second moments of every quantized conv/linear node, gathered from the
/// FP32 model's values as a plan run reports them.
pub(crate) struct MomentCollector {
    sites: Vec<Site>,
    by_input: HashMap<ValueId, Vec<usize>>,
    /// Samples still to be gathered.
    remaining: usize,
}

impl MomentCollector {
    /// A collector for the first `count` samples.
    pub fn new(prepared: &Prepared, count: usize) -> MomentCollector {
        let mut sites: Vec<Site> = Vec::new();
        let mut by_input: HashMap<ValueId, Vec<usize>> = HashMap::new();
        for (i, w) in prepared.weighted.iter().enumerate() {
            let node = &prepared.graph.nodes[w.node];
            let Some(weight) = prepared.graph.initializer(w.weight) else {
                continue;
            };
            let Some(x) = node.input(0) else { continue };
            let dim = weight.len() / w.channels.max(1);
            let (reader, groups) = match &node.op {
                Op::Conv(conv) => (Reader::Conv(conv.clone()), conv.group.max(1)),
                _ => (Reader::Linear { dim }, 1),
            };
            by_input.entry(x).or_default().push(sites.len());
            let mut moments = Moments::new(groups, dim);
            moments.per_sample = (SAMPLED_VECTORS_PER_DIMENSION * dim).div_ceil(count.max(1));
            sites.push(Site {
                weighted: i,
                reader,
                moments,
            });
        }
        MomentCollector {
            sites,
            by_input,
            remaining: count,
        }
    }

    /// Whether more samples are wanted.
    pub fn wants_more(&self) -> bool {
        self.remaining > 0
    }

    /// Feeds one value of a batch of `batch` samples.
    pub fn observe(&mut self, name: &str, id: ValueId, tensor: &Tensor, batch: usize) -> Result<()> {
        let samples = self.remaining.min(batch);
        for &s in self.by_input.get(&id).into_iter().flatten() {
            let site = &mut self.sites[s];
            site.moments.observe(&site.reader, tensor, samples, name)?;
        }
        Ok(())
    }

    /// Marks a batch of `batch` samples as done.
    pub fn end_batch(&mut self, batch: usize) {
        self.remaining = self.remaining.saturating_sub(batch);
    }

    /// Re-rounds every node with enough input vectors ([`VECTORS_PER_DIMENSION`]).
    pub fn round(self, prepared: &mut Prepared) -> Result<()> {
        use rayon::prelude::*;
        let (graph, weighted) = (&prepared.graph, &prepared.weighted);
        let rounded: Vec<Vec<i8>> = self
            .sites
            .par_iter()
            .map(|site| round_node(graph, &weighted[site.weighted], site))
            .collect::<Result<_>>()?;
        for (site, quantized) in self.sites.iter().zip(rounded) {
            prepared.weighted[site.weighted].quantized = quantized;
        }
        Ok(())
    }
}

/// Re-rounds the weights of every quantized conv/linear node against its inputs on the
/// first `count` samples of `dataset`, run in batches of `batch_size`. Groups with too
/// few input vectors ([`VECTORS_PER_DIMENSION`]) keep their round-to-nearest weights.
pub(crate) fn round_weights(
    prepared: &mut Prepared,
    dataset: &dyn Dataset,
    count: usize,
    batch_size: usize,
) -> Result<()> {
    let mut collector = MomentCollector::new(prepared, count);
    let options = PlanOptions {
        threads: 0,
        optimize: false,
    };
    let plan = Plan::new(prepared.graph.clone(), &options)?;
    for start in (0..count).step_by(batch_size.max(1)) {
        let end = (start + batch_size).min(count);
        let samples: Vec<Sample> = (start..end).map(|i| dataset.get(i)).collect::<Result<_, _>>()?;
        let (inputs, _) = batch(&samples)?;
        let mut failure = None;
        let mut observe = |name: &str, id: ValueId, tensor: &Tensor| {
            if let Err(e) = collector.observe(name, id, tensor, end - start) {
                failure.get_or_insert(e);
            }
        };
        plan.run_observed(&[inputs], &mut observe)?;
        failure.map_or(Ok(()), Err)?;
        collector.end_batch(end - start);
    }
    collector.round(prepared)
}

/// The node's weights re-rounded group by group (round-to-nearest where data is short).
fn round_node(graph: &Graph, w: &WeightedNode, site: &Site) -> Result<Vec<i8>> {
    let name = &graph.nodes[w.node].name;
    let weight = graph
        .initializer(w.weight)
        .ok_or_else(|| PtqError::Calibration(format!("node '{name}' has no constant weight")))?;
    let values = weight.as_slice::<f32>()?;
    let dim = site.moments.dim;
    let groups = site.moments.sums.len();
    let rows_per_group = w.channels / groups;
    // Row c's element k: contiguous rows when the output axis is the weight's first.
    let index = |c: usize, k: usize| {
        if w.weight_axis == 0 {
            c * dim + k
        } else {
            k * w.channels + c
        }
    };
    let qrange = QuantScheme::i8_symmetric().qrange();
    let mut quantized = w.quantized.clone();
    for g in 0..groups {
        if site.moments.counts[g] < VECTORS_PER_DIMENSION * dim {
            continue;
        }
        let Some(u) = inverse_factor(site.moments.full(g), dim) else {
            continue;
        };
        for c in g * rows_per_group..(g + 1) * rows_per_group {
            let scale = w.params.scale[if w.params.scale.len() == 1 { 0 } else { c }] as f64;
            let row: Vec<f64> = (0..dim).map(|k| values[index(c, k)] as f64).collect();
            for (k, q) in feedback_round(&row, scale, &u, qrange).into_iter().enumerate() {
                quantized[index(c, k)] = q;
            }
        }
    }
    Ok(quantized)
}

/// `row` rounded to multiples of `scale` in order, each rounding error pushed onto the
/// later weights through the factor `u` of [`inverse_factor`] (GPTQ's update).
fn feedback_round(row: &[f64], scale: f64, u: &[f64], (qmin, qmax): (i32, i32)) -> Vec<i8> {
    let d = row.len();
    let mut row = row.to_vec();
    let mut quantized = Vec::with_capacity(d);
    for i in 0..d {
        let q = (row[i] / scale).round_ties_even().clamp(qmin as f64, qmax as f64);
        quantized.push(q as i8);
        let err = (row[i] - q * scale) / u[i * d + i];
        for j in i + 1..d {
            row[j] -= err * u[i * d + j];
        }
    }
    quantized
}

/// The upper triangular `U` with `UᵀU = (H + λI)⁻¹`, row-major; `None` when the data
/// never reached this group.
fn inverse_factor(mut h: Vec<f64>, d: usize) -> Option<Vec<f64>> {
    let mean_diag = (0..d).map(|i| h[i * d + i]).sum::<f64>() / d as f64;
    if mean_diag <= 0.0 {
        return None;
    }
    for i in 0..d {
        if h[i * d + i] <= 0.0 {
            h[i * d + i] = mean_diag;
        }
        h[i * d + i] += DAMPING * mean_diag;
    }
    // With P the index reversal, P H P = L Lᵀ gives H = R Rᵀ for the upper R = P L P,
    // so H⁻¹ = R⁻ᵀ R⁻¹ and U = R⁻¹ = P L⁻¹ P: one factorisation and one triangular
    // inverse.
    let reversed: Vec<f64> = (0..d * d).map(|n| h[d * d - 1 - n]).collect();
    let l = cholesky(reversed, d)?;
    let li = lower_inverse(&l, d);
    Some((0..d * d).map(|n| li[d * d - 1 - n]).collect())
}

/// The inverse of the lower triangular `l`, built row by row: row `i` is
/// `(eᵢ − Σ_{k<i} l[i][k] · row k) / l[i][i]`, contiguous updates that vectorize.
fn lower_inverse(l: &[f64], d: usize) -> Vec<f64> {
    let mut x = vec![0.0; d * d];
    for i in 0..d {
        let (done, rest) = x.split_at_mut(i * d);
        let row = &mut rest[..d];
        row[i] = 1.0;
        for k in 0..i {
            let f = l[i * d + k];
            if f != 0.0 {
                for (r, &v) in row[..=k].iter_mut().zip(&done[k * d..k * d + k + 1]) {
                    *r -= f * v;
                }
            }
        }
        let pivot = l[i * d + i];
        for r in &mut row[..=i] {
            *r /= pivot;
        }
    }
    x
}

/// The lower Cholesky factor of the symmetric positive definite `a`.
fn cholesky(mut a: Vec<f64>, d: usize) -> Option<Vec<f64>> {
    for j in 0..d {
        let s: f64 = (0..j).map(|k| a[j * d + k] * a[j * d + k]).sum();
        let diag = a[j * d + j] - s;
        if diag <= 0.0 {
            return None;
        }
        let diag = diag.sqrt();
        a[j * d + j] = diag;
        for i in j + 1..d {
            let s: f64 = (0..j).map(|k| a[i * d + k] * a[j * d + k]).sum();
            a[i * d + j] = (a[i * d + j] - s) / diag;
        }
    }
    for i in 0..d {
        for j in i + 1..d {
            a[i * d + j] = 0.0;
        }
    }
    Some(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matmul(a: &[f64], b: &[f64], d: usize) -> Vec<f64> {
        let mut c = vec![0.0; d * d];
        for i in 0..d {
            for j in 0..d {
                c[i * d + j] = (0..d).map(|k| a[i * d + k] * b[k * d + j]).sum();
            }
        }
        c
    }

    fn transpose(a: &[f64], d: usize) -> Vec<f64> {
        (0..d * d).map(|n| a[(n % d) * d + n / d]).collect()
    }

    /// Deterministic pseudo-random values in [-1, 1].
    fn noise(n: usize, seed: u64) -> Vec<f64> {
        let mut state = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..n)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
            })
            .collect()
    }

    /// `Σ x xᵀ` over `n` correlated vectors of `d` values (each mixes its neighbours).
    fn second_moment(n: usize, d: usize, seed: u64) -> (Vec<Vec<f64>>, Vec<f64>) {
        let raw = noise(n * d, seed);
        let xs: Vec<Vec<f64>> = raw
            .chunks(d)
            .map(|r| (0..d).map(|i| r[i] + 0.8 * r[(i + 1) % d] + 0.5).collect())
            .collect();
        let mut h = vec![0.0; d * d];
        for x in &xs {
            for i in 0..d {
                for j in 0..d {
                    h[i * d + j] += x[i] * x[j];
                }
            }
        }
        (xs, h)
    }

    #[test]
    fn inverse_factor_is_the_cholesky_of_the_damped_inverse() {
        for d in [1, 2, 5, 17] {
            let (_, h) = second_moment(4 * d + 3, d, d as u64);
            let u = inverse_factor(h.clone(), d).unwrap();
            for i in 0..d {
                for j in 0..i {
                    assert_eq!(u[i * d + j], 0.0, "d={d}: U is upper triangular");
                }
            }
            let mean_diag = (0..d).map(|i| h[i * d + i]).sum::<f64>() / d as f64;
            let mut damped = h.clone();
            for i in 0..d {
                damped[i * d + i] += DAMPING * mean_diag;
            }
            // (UᵀU) (H + λI) = I.
            let identity = matmul(&matmul(&transpose(&u, d), &u, d), &damped, d);
            for i in 0..d {
                for j in 0..d {
                    let want = if i == j { 1.0 } else { 0.0 };
                    assert!((identity[i * d + j] - want).abs() < 1e-9, "d={d} ({i},{j})");
                }
            }
        }
    }

    #[test]
    fn singular_and_empty_moments() {
        // Never-excited inputs (zero rows) still factor; no data at all does not.
        let h = vec![4.0, 0.0, 0.0, 0.0];
        assert!(inverse_factor(h, 2).is_some());
        assert!(inverse_factor(vec![0.0; 4], 2).is_none());
        assert!(cholesky(vec![1.0, 2.0, 2.0, 1.0], 2).is_none());
    }

    /// `Σ ((w − ŵ)·x)²` over the vectors.
    fn output_error(w: &[f64], q: &[i8], scale: f64, xs: &[Vec<f64>]) -> f64 {
        xs.iter()
            .map(|x| {
                let e: f64 = (0..w.len()).map(|k| (w[k] - q[k] as f64 * scale) * x[k]).sum();
                e * e
            })
            .sum()
    }

    #[test]
    fn error_feedback_beats_round_to_nearest_on_correlated_inputs() {
        for (d, seed) in [(9usize, 2u64), (27, 3), (64, 4)] {
            let (xs, h) = second_moment(20 * d, d, seed);
            let u = inverse_factor(h, d).unwrap();
            let scale = 0.3 / 127.5;
            let (mut nearest_total, mut fed_back_total) = (0.0, 0.0);
            for row in 0..8 {
                let w: Vec<f64> = noise(d, seed * 100 + row).iter().map(|v| 0.3 * v).collect();
                let nearest: Vec<i8> = w.iter().map(|v| (v / scale).round_ties_even() as i8).collect();
                let fed_back = feedback_round(&w, scale, &u, (-128, 127));
                nearest_total += output_error(&w, &nearest, scale, &xs);
                fed_back_total += output_error(&w, &fed_back, scale, &xs);
                // Unsaturated weights move by at most two steps from their nearest value.
                for (n, f) in nearest.iter().zip(&fed_back) {
                    assert!((*n as i32 - *f as i32).abs() <= 2, "d={d}");
                }
            }
            eprintln!("d={d}: error feedback {fed_back_total:.3e} vs nearest {nearest_total:.3e}");
            assert!(fed_back_total < 0.8 * nearest_total, "d={d}");
        }
    }

    #[test]
    fn rounding_saturates_at_the_integer_range() {
        let u = inverse_factor(vec![1.0, 0.0, 0.0, 1.0], 2).unwrap();
        assert_eq!(
            feedback_round(&[10.0, -10.0], 0.01, &u, (-128, 127)),
            vec![127, -128]
        );
    }
}
