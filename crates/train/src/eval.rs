//! Test-set evaluation of the model being trained, through the inference runtime.
//!
//! The graph from `TrainingExecutor::to_graph` is planned with the optimising pipeline,
//! which folds every BatchNorm (running statistics) into its convolution and drops
//! Dropout: the model is scored exactly as `lowbit eval` will score the saved file, and
//! faster than an autograd forward in evaluation mode.

use lowbit_autograd::softmax_cross_entropy;
use lowbit_data::{Dataset, Sample};
use lowbit_graph::Graph;
use lowbit_runtime::{Plan, PlanOptions};
use rayon::prelude::*;

use crate::error::{Result, TrainError};
use crate::meter::Meter;

/// Scores `graph`'s first output, `[N, classes]` logits, on every sample of `dataset` in
/// batches of `batch_size`, with `threads` runtime threads (0: all cores). `on_batch`
/// receives the samples done so far.
pub fn evaluate_graph(
    graph: Graph,
    dataset: &dyn Dataset,
    batch_size: usize,
    threads: usize,
    on_batch: &mut dyn FnMut(usize),
) -> Result<Meter> {
    let plan = Plan::new(
        graph,
        &PlanOptions {
            threads,
            optimize: true,
        },
    )?;
    let mut meter = Meter::default();
    let batch_size = batch_size.max(1);
    for start in (0..dataset.len()).step_by(batch_size) {
        let end = (start + batch_size).min(dataset.len());
        let samples: Vec<Sample> = (start..end)
            .into_par_iter()
            .map(|i| dataset.get(i))
            .collect::<Result<_, _>>()?;
        let (inputs, labels) = lowbit_data::batch(&samples)?;
        let labels = class_indices(&labels)?;
        let outputs = plan.run(&[inputs])?;
        let logits = outputs
            .into_iter()
            .next()
            .ok_or_else(|| TrainError::Config("the model has no output".into()))?;
        let ce = softmax_cross_entropy(&logits, &labels)?;
        meter.add_batch(ce.loss, logits.as_slice::<f32>()?, &labels);
        on_batch(end);
    }
    Ok(meter)
}

/// Dataset labels as class indices; training and scoring need every sample labelled.
pub(crate) fn class_indices(labels: &[Option<i64>]) -> Result<Vec<usize>> {
    labels
        .iter()
        .map(|label| match label {
            Some(l) => {
                usize::try_from(*l).map_err(|_| TrainError::Config(format!("label {l} is not a class index")))
            }
            None => Err(TrainError::Config("the dataset has unlabelled samples".into())),
        })
        .collect()
}
