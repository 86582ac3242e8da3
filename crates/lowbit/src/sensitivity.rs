//! Which activation quantization points of a QDQ model cost the most fidelity.
//!
//! Each point is scored alone: every other activation QuantizeLinear → DequantizeLinear
//! pair is bypassed (the weights stay as the file quantized them), and the output is
//! compared with the reference model's. Quantization noise from different points adds
//! up nearly independently, so the points that lose the most here are the ones worth an
//! FP32 override or a better range (docs/QUALITY.md derives a recipe this way).

use lowbit_data::{batch, Dataset, Sample};
use lowbit_graph::{Graph, Op, ValueId};
use lowbit_runtime::{Plan, PlanOptions};
use serde::Serialize;

use crate::compare::{first_output, Energy};
use crate::{Error, Result};

/// One activation point with every other one bypassed.
#[derive(Debug, Clone, Serialize)]
pub struct PointSqnr {
    /// The dequantized value (a lowbit QDQ file gives it the FP32 model's name).
    pub value: String,
    /// The node computing it; `None` for a graph input.
    pub producer: Option<String>,
    /// The nodes reading its dequantized form: keeping them all in FP32 removes the point
    /// (none for a model output).
    pub readers: Vec<String>,
    /// Output SQNR against the reference with only this point quantized, in dB.
    pub sqnr_db: f64,
}

/// Per-point fidelity of a QDQ model.
#[derive(Debug, Clone, Serialize)]
pub struct Sensitivity {
    /// Output SQNR with every activation point bypassed: the weights' share.
    pub weights_only_sqnr_db: f64,
    /// Costliest first (lowest SQNR).
    pub points: Vec<PointSqnr>,
}

/// An activation QuantizeLinear and the DequantizeLinear outputs that read it.
struct Point {
    input: ValueId,
    dequantized: Vec<ValueId>,
}

/// Scores every activation point of `qdq` against `reference` on the first `limit`
/// samples of `dataset`, calling `progress(done, points)` after each point. Runs the
/// model once per point: use a calibration-sized sample.
pub fn activation_sensitivity(
    reference: &Graph,
    qdq: &Graph,
    dataset: &dyn Dataset,
    limit: Option<usize>,
    threads: usize,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Sensitivity> {
    let count = limit.map_or(dataset.len(), |l| l.min(dataset.len()));
    if count == 0 {
        return Err(Error::Invalid("the dataset is empty: nothing to score".into()));
    }
    let points = activation_points(qdq);
    if points.is_empty() {
        return Err(Error::Invalid(
            "the model has no activation QuantizeLinear → DequantizeLinear pairs".into(),
        ));
    }
    let options = PlanOptions {
        threads,
        optimize: true,
    };
    let batches: Vec<_> = (0..count)
        .step_by(4)
        .map(|start| {
            let samples: Vec<Sample> = (start..(start + 4).min(count))
                .map(|i| dataset.get(i))
                .collect::<Result<_, _>>()?;
            Ok(batch(&samples)?.0)
        })
        .collect::<Result<_>>()?;
    let reference_plan = Plan::new(reference.clone(), &options)?;
    let expected: Vec<Vec<f32>> = batches
        .iter()
        .map(|b| first_output(reference_plan.run(std::slice::from_ref(b))?))
        .collect::<Result<_>>()?;
    let score = |keep: Option<usize>| -> Result<f64> {
        let plan = Plan::new(bypassed(qdq, &points, keep), &options)?;
        let mut energy = Energy::default();
        for (b, want) in batches.iter().zip(&expected) {
            let got = first_output(plan.run(std::slice::from_ref(b))?)?;
            if got.len() != want.len() {
                return Err(Error::Invalid(format!(
                    "the models' first outputs differ in size: {} vs {} values",
                    want.len(),
                    got.len()
                )));
            }
            energy.add(want, &got);
        }
        Ok(energy.sqnr_db())
    };
    let weights_only_sqnr_db = score(None)?;
    let mut scored = Vec::with_capacity(points.len());
    for (k, p) in points.iter().enumerate() {
        let readers = p
            .dequantized
            .iter()
            .flat_map(|&d| qdq.consumers(d))
            .map(|n| qdq.nodes[n].name.clone())
            .collect();
        scored.push(PointSqnr {
            value: qdq.value(p.dequantized[0]).name.clone(),
            producer: qdq.producer(p.input).map(|n| qdq.nodes[n].name.clone()),
            readers,
            sqnr_db: score(Some(k))?,
        });
        progress(k + 1, points.len());
    }
    scored.sort_by(|a, b| a.sqnr_db.total_cmp(&b.sqnr_db));
    Ok(Sensitivity {
        weights_only_sqnr_db,
        points: scored,
    })
}

/// QuantizeLinear nodes of computed values (not initializers) read only by
/// DequantizeLinear nodes, in node order.
fn activation_points(graph: &Graph) -> Vec<Point> {
    graph
        .nodes
        .iter()
        .filter(|n| matches!(n.op, Op::QuantizeLinear(_)))
        .filter_map(|q| {
            let input = q.input(0).filter(|&x| graph.initializer(x).is_none())?;
            let readers = graph.consumers(*q.outputs.first()?);
            let all_dequantize = readers
                .iter()
                .all(|&r| matches!(graph.nodes[r].op, Op::DequantizeLinear(_)));
            (all_dequantize && !readers.is_empty()).then(|| Point {
                input,
                dequantized: readers.iter().map(|&r| graph.nodes[r].outputs[0]).collect(),
            })
        })
        .collect()
}

/// `graph` with every point but `keep` bypassed: readers of the dequantized value read
/// the float value instead.
fn bypassed(graph: &Graph, points: &[Point], keep: Option<usize>) -> Graph {
    let mut g = graph.clone();
    for (k, p) in points.iter().enumerate() {
        if Some(k) == keep {
            continue;
        }
        for &d in &p.dequantized {
            g.replace_uses(d, p.input);
        }
    }
    g.prune();
    g
}
