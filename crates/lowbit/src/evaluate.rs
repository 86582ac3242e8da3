//! Classification accuracy of a model over a labelled dataset.

use lowbit_data::{batch, Dataset, Sample};
use lowbit_runtime::Plan;
use rayon::prelude::*;

use crate::metrics::Accuracy;
use crate::{Error, Result};

/// Runs `plan` over the first `limit` samples of `dataset` in batches of `batch_size`
/// and scores its first output, `[N, classes]`, against the labels. `on_batch` receives
/// the number of samples done so far (for progress bars).
pub fn evaluate(
    plan: &Plan,
    dataset: &dyn Dataset,
    limit: Option<usize>,
    batch_size: usize,
    on_batch: &mut dyn FnMut(usize),
) -> Result<Accuracy> {
    let count = limit.map_or(dataset.len(), |l| l.min(dataset.len()));
    if count == 0 {
        return Err(Error::Invalid("the dataset is empty: nothing to evaluate".into()));
    }
    let batch_size = batch_size.max(1);
    let mut accuracy = Accuracy::default();
    for start in (0..count).step_by(batch_size) {
        let end = (start + batch_size).min(count);
        // Decoding images dominates for small models: decode a batch in parallel.
        let samples: Vec<Sample> = (start..end)
            .into_par_iter()
            .map(|i| dataset.get(i))
            .collect::<Result<_, _>>()?;
        let (inputs, labels) = batch(&samples)?;
        let outputs = plan.run(&[inputs])?;
        let logits = outputs
            .first()
            .ok_or_else(|| Error::Invalid("the model has no output".into()))?
            .to_f32_vec();
        let classes = logits.len() / samples.len();
        for (row, label) in logits.chunks(classes).zip(labels) {
            let label = label.ok_or_else(|| Error::Invalid("the dataset has no labels".into()))?;
            let label = usize::try_from(label)
                .map_err(|_| Error::Invalid(format!("label {label} is not a class index")))?;
            accuracy.add(row, label);
        }
        on_batch(end);
    }
    Ok(accuracy)
}
