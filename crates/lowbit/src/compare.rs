//! Fidelity of one model against another on the same data: logits SQNR, top-1
//! agreement and cosine, and optionally the SQNR of every layer output the two graphs
//! share by name (a QDQ model keeps the FP32 names of its dequantized values).

use std::collections::{HashMap, HashSet};

use lowbit_data::{batch, Dataset, Sample};
use lowbit_graph::Graph;
use lowbit_runtime::{Plan, PlanOptions};
use lowbit_tensor::{DType, Tensor};
use serde::Serialize;

use crate::metrics::{cosine, top_k, Accuracy};
use crate::{Error, Result};

/// Signal and noise energy, summed over every compared element.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Energy {
    signal: f64,
    noise: f64,
}

impl Energy {
    pub(crate) fn add(&mut self, reference: &[f32], test: &[f32]) {
        for (&r, &t) in reference.iter().zip(test) {
            self.signal += r as f64 * r as f64;
            self.noise += (r as f64 - t as f64).powi(2);
        }
    }

    pub(crate) fn sqnr_db(&self) -> f64 {
        if self.noise == 0.0 {
            f64::INFINITY
        } else {
            10.0 * (self.signal / self.noise).log10()
        }
    }
}

/// SQNR of one layer output present in both models.
#[derive(Debug, Clone, Serialize)]
pub struct LayerSqnr {
    pub name: String,
    pub sqnr_db: f64,
}

/// How `test` compares with `reference`.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub n: usize,
    /// SQNR of the first output over all samples, in dB.
    pub sqnr_db: f64,
    /// Fraction of samples whose top-1 class is the same in both models.
    pub top1_agreement: f64,
    pub top1_agree: usize,
    /// Mean per-sample cosine of the first outputs.
    pub cosine: f64,
    /// Top-1 accuracies, when the data has labels.
    pub reference_top1: Option<f64>,
    pub test_top1: Option<f64>,
    /// Per-layer SQNR in the reference's node order (empty unless asked for).
    pub per_layer: Vec<LayerSqnr>,
}

/// Runs both graphs on the first `limit` samples of `dataset`. With `per_layer`, both
/// run unoptimised so that every named value exists, one sample at a time.
pub fn compare(
    reference: &Graph,
    test: &Graph,
    dataset: &dyn Dataset,
    limit: Option<usize>,
    per_layer: bool,
    threads: usize,
    progress: &mut dyn FnMut(usize),
) -> Result<Comparison> {
    let count = limit.map_or(dataset.len(), |l| l.min(dataset.len()));
    if count == 0 {
        return Err(Error::Invalid("the dataset is empty: nothing to compare".into()));
    }
    let options = PlanOptions {
        threads,
        optimize: !per_layer,
    };
    let reference_plan = Plan::new(reference.clone(), &options)?;
    let test_plan = Plan::new(test.clone(), &options)?;
    let layers = if per_layer {
        shared_layers(reference, test)
    } else {
        Vec::new()
    };
    let wanted: HashSet<&str> = layers.iter().map(String::as_str).collect();
    let mut layer_energy: HashMap<String, Energy> = HashMap::new();
    let (mut logits, mut agree, mut cosine_sum) = (Energy::default(), 0, 0.0);
    let (mut ref_acc, mut test_acc) = (Accuracy::default(), Accuracy::default());
    let batch_size = if per_layer { 1 } else { 4 };
    for start in (0..count).step_by(batch_size) {
        let end = (start + batch_size).min(count);
        let samples: Vec<Sample> = (start..end).map(|i| dataset.get(i)).collect::<Result<_, _>>()?;
        let (inputs, labels) = batch(&samples)?;
        let mut kept: HashMap<String, Vec<f32>> = HashMap::new();
        let mut keep = |name: &str, _: lowbit_graph::ValueId, t: &Tensor| {
            if wanted.contains(name) && t.dtype() == DType::F32 {
                kept.insert(name.to_string(), t.to_f32_vec());
            }
        };
        let a = first_output(reference_plan.run_observed(std::slice::from_ref(&inputs), &mut keep)?)?;
        let mut compare_layer = |name: &str, _: lowbit_graph::ValueId, t: &Tensor| {
            if let Some(r) = kept.get(name).filter(|r| r.len() == t.len()) {
                layer_energy
                    .entry(name.to_string())
                    .or_default()
                    .add(r, &t.to_f32_vec());
            }
        };
        let b = first_output(test_plan.run_observed(&[inputs], &mut compare_layer)?)?;
        if a.len() != b.len() {
            return Err(Error::Invalid(format!(
                "the models' first outputs differ in size: {} vs {} values",
                a.len(),
                b.len()
            )));
        }
        logits.add(&a, &b);
        let classes = a.len() / samples.len();
        for ((ra, rb), label) in a.chunks(classes).zip(b.chunks(classes)).zip(&labels) {
            agree += usize::from(top_k(ra, 1) == top_k(rb, 1));
            cosine_sum += cosine(ra, rb);
            if let Some(label) = label.and_then(|l| usize::try_from(l).ok()) {
                ref_acc.add(ra, label);
                test_acc.add(rb, label);
            }
        }
        progress(end);
    }
    let labelled = ref_acc.n == count;
    Ok(Comparison {
        n: count,
        sqnr_db: logits.sqnr_db(),
        top1_agreement: agree as f64 / count as f64,
        top1_agree: agree,
        cosine: cosine_sum / count as f64,
        reference_top1: labelled.then(|| ref_acc.top1()),
        test_top1: labelled.then(|| test_acc.top1()),
        per_layer: layers
            .into_iter()
            .filter_map(|name| {
                let sqnr_db = layer_energy.get(&name)?.sqnr_db();
                Some(LayerSqnr { name, sqnr_db })
            })
            .collect(),
    })
}

pub(crate) fn first_output(outputs: Vec<Tensor>) -> Result<Vec<f32>> {
    outputs
        .into_iter()
        .next()
        .map(|t| t.to_f32_vec())
        .ok_or_else(|| Error::Invalid("the model has no output".into()))
}

/// Names of node outputs of `reference` that `test` also computes, in node order.
fn shared_layers(reference: &Graph, test: &Graph) -> Vec<String> {
    let computed: HashSet<&str> = test
        .nodes
        .iter()
        .flat_map(|n| n.outputs.iter().map(|&o| test.value(o).name.as_str()))
        .collect();
    reference
        .nodes
        .iter()
        .flat_map(|n| n.outputs.iter().map(|&o| reference.value(o).name.clone()))
        .filter(|name| computed.contains(name.as_str()))
        .collect()
}
