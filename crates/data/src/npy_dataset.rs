//! Preprocessed inputs stored as `.npy`: `[N, ...]` inputs plus optional `[N]` labels.

use std::path::Path;

use lowbit_tensor::Tensor;

use crate::dataset::{item, Dataset, Sample};
use crate::error::{DataError, Result};
use crate::npy::read_npy;

/// Samples are the items of the inputs' leading axis, used as stored (no preprocessing).
#[derive(Debug)]
pub struct NpyDataset {
    inputs: Tensor,
    labels: Option<Vec<i64>>,
}

impl NpyDataset {
    /// Loads `inputs` (any supported dtype, rank ≥ 1) and optional integer `labels`
    /// of shape `[N]` or `[N, 1]`.
    pub fn open(inputs_path: &Path, labels_path: Option<&Path>) -> Result<Self> {
        let inputs = read_npy(inputs_path)?;
        let Some(&count) = inputs.shape().first() else {
            return Err(DataError::dataset(
                inputs_path,
                "inputs must have a leading sample axis, not be a scalar",
            ));
        };
        let labels = labels_path
            .map(|path| read_labels(path, count, inputs_path))
            .transpose()?;
        Ok(NpyDataset { inputs, labels })
    }
}

fn read_labels(path: &Path, count: usize, inputs_path: &Path) -> Result<Vec<i64>> {
    let labels = read_npy(path)?;
    if !labels.dtype().is_integer() {
        return Err(DataError::dataset(
            path,
            format!("labels must be integers (int64), found {}", labels.dtype()),
        ));
    }
    if !matches!(labels.shape(), [n] | [n, 1] if *n == count) {
        return Err(DataError::dataset(
            path,
            format!(
                "labels have shape {:?}, expected [{count}] to match {}",
                labels.shape(),
                inputs_path.display()
            ),
        ));
    }
    Ok(labels.to_i64_vec())
}

impl Dataset for NpyDataset {
    fn len(&self) -> usize {
        self.inputs.shape()[0]
    }

    fn get(&self, index: usize) -> Result<Sample> {
        // `item` checks the index, which also bounds the labels (same length).
        let input = item(&self.inputs, index)?;
        Ok(Sample {
            input,
            label: self.labels.as_ref().map(|labels| labels[index]),
        })
    }

    fn sample_shape(&self) -> Vec<usize> {
        self.inputs.shape()[1..].to_vec()
    }
}
