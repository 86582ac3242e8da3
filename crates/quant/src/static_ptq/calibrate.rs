//! `calibrate`: stream data through the fused graph and feed every observer.

use std::collections::HashMap;

use lowbit_data::{batch, Dataset, Sample};
use lowbit_graph::ValueId;
use lowbit_runtime::{Plan, PlanOptions};
use lowbit_tensor::Tensor;

use super::error::{PtqError, Result};
use super::prepare::Prepared;
use super::rounding::MomentCollector;
use super::{bias, rounding};

/// Samples per calibration run when the model's batch dimension is free. Observers are
/// batch-size independent, except the moving-average one (which averages per batch, as
/// in PyTorch).
pub const CALIBRATION_BATCH: usize = 4;

/// Samples [`Prepared::calibrate`] corrects the weight error on (the first ones): the
/// inputs weights are re-rounded against, and the samples bias corrections are measured
/// on. A correction is a per-channel mean over samples × positions, settled long before
/// this; each sample costs an FP32 run plus a run of the QDQ model with every conv
/// computed twice, which would otherwise double the cost of a large calibration set.
pub const BIAS_CORRECTION_SAMPLES: usize = 32;

/// What a calibration call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Calibration {
    pub samples: usize,
    pub batches: usize,
}

impl Prepared {
    /// PyTorch's calibration loop: runs the first `limit` samples of `dataset` (all when
    /// `None`) through the model in batches. `progress` gets the number of samples done.
    /// When the qconfig asks for bias correction, the weight error is then corrected on
    /// the first [`BIAS_CORRECTION_SAMPLES`] of them ([`Prepared::correct_bias`]); with
    /// `gptq_rounding`, the input moments the weights are re-rounded against come from
    /// the same pass, rather than from a second FP32 run.
    /// Errors, before running anything, when the data is empty or its sample shape is
    /// not one the model's input takes.
    pub fn calibrate(
        &mut self,
        dataset: &dyn Dataset,
        limit: Option<usize>,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Calibration> {
        let count = limit.map_or(dataset.len(), |l| l.min(dataset.len()));
        if count == 0 {
            return Err(PtqError::Calibration("the calibration set is empty".into()));
        }
        self.check_sample_shape(&dataset.sample_shape())?;
        let (plan, targets) = self.calibration_plan()?;
        let batch_size = self.batch_size();
        let corrected = count.min(BIAS_CORRECTION_SAMPLES);
        // The weights are re-rounded against the FP32 inputs this pass computes anyway.
        let mut moments = (self.qconfig.bias_correction && self.qconfig.gptq_rounding)
            .then(|| MomentCollector::new(self, corrected));
        let mut batches = 0;
        for start in (0..count).step_by(batch_size) {
            let end = (start + batch_size).min(count);
            let samples: Vec<Sample> = (start..end).map(|i| dataset.get(i)).collect::<Result<_, _>>()?;
            let (inputs, _) = batch(&samples)?;
            let collector = moments.as_mut().filter(|m| m.wants_more());
            self.run_observed(&plan, &targets, inputs, collector)?;
            self.samples += samples.len();
            batches += 1;
            progress(end);
        }
        // The observed plan's buffers are not needed by bias correction's own plan.
        drop(plan);
        if let Some(moments) = moments {
            moments.round(self)?;
        }
        if self.qconfig.bias_correction {
            self.solve_bias(dataset, corrected)?;
        }
        Ok(Calibration {
            samples: count,
            batches,
        })
    }

    /// Corrects the weight error on the first `limit` samples of `dataset` (all when
    /// `None`), with the ranges observed so far: with `gptq_rounding`, each weight row is
    /// first re-rounded against the node's FP32 inputs (error-feedback rounding, see
    /// `rounding`); then the mean output error left is measured and folded into the bias
    /// (empirical bias correction). Replaces any earlier correction. Returns the number
    /// of nodes whose bias is corrected.
    pub fn correct_bias(&mut self, dataset: &dyn Dataset, limit: Option<usize>) -> Result<usize> {
        let count = limit.map_or(dataset.len(), |l| l.min(dataset.len()));
        if count == 0 {
            return Err(PtqError::Calibration("the bias-correction set is empty".into()));
        }
        self.check_sample_shape(&dataset.sample_shape())?;
        if self.qconfig.gptq_rounding {
            rounding::round_weights(self, dataset, count, self.batch_size())?;
        }
        self.solve_bias(dataset, count)
    }

    /// The bias-correction half of [`Prepared::correct_bias`], on weights already final.
    fn solve_bias(&mut self, dataset: &dyn Dataset, count: usize) -> Result<usize> {
        let batch_size = if self.batch_size() == CALIBRATION_BATCH {
            bias::BATCH
        } else {
            self.batch_size()
        };
        self.corrections = bias::solve(self, dataset, count, batch_size)?;
        Ok(self.corrections.len())
    }

    /// Calibrates the observers on one ready batch (`[N, ...]` per model input). Bias
    /// correction needs the final ranges: call [`Prepared::correct_bias`] after the
    /// last batch.
    pub fn calibrate_batch(&mut self, inputs: Tensor) -> Result<()> {
        let shape = inputs.shape().get(1..).unwrap_or_default().to_vec();
        self.check_sample_shape(&shape)?;
        let (plan, targets) = self.calibration_plan()?;
        let n = inputs.shape().first().copied().unwrap_or(1);
        self.run_observed(&plan, &targets, inputs, None)?;
        self.samples += n;
        Ok(())
    }

    /// Runs one batch, feeding the observers and, when given, the moment collector.
    fn run_observed(
        &mut self,
        plan: &Plan,
        targets: &HashMap<ValueId, usize>,
        inputs: Tensor,
        mut moments: Option<&mut MomentCollector>,
    ) -> Result<()> {
        let n = inputs.shape().first().copied().unwrap_or(1);
        let mut failure = None;
        let observers = &mut self.observers;
        let mut observe = |name: &str, id: ValueId, tensor: &Tensor| {
            if let Some(&i) = targets.get(&id) {
                if let Err(e) = observers[i].observe_tensor(tensor).map_err(PtqError::quant(name)) {
                    failure.get_or_insert(e);
                }
            }
            if let Some(m) = moments.as_deref_mut() {
                if let Err(e) = m.observe(name, id, tensor, n) {
                    failure.get_or_insert(e);
                }
            }
        };
        plan.run_observed(&[inputs], &mut observe)?;
        if let Some(m) = moments {
            m.end_batch(n);
        }
        failure.map_or(Ok(()), Err)
    }

    /// An unoptimised plan (every value of the fused graph is computed and observed),
    /// and the observer index of each quantization point.
    fn calibration_plan(&self) -> Result<(Plan, HashMap<ValueId, usize>)> {
        let targets = self
            .layout
            .points
            .iter()
            .enumerate()
            .map(|(i, p)| (p.value, i))
            .collect();
        let options = PlanOptions {
            threads: 0,
            optimize: false,
        };
        Ok((Plan::new(self.graph.clone(), &options)?, targets))
    }

    /// The model's fixed batch size, or [`CALIBRATION_BATCH`] when it is symbolic.
    fn batch_size(&self) -> usize {
        let fixed = self.graph.inputs.first().and_then(|&i| {
            let dims = self.graph.value(i).fact.shape.as_ref()?;
            dims.first()?.known()
        });
        fixed.filter(|&b| b > 0).unwrap_or(CALIBRATION_BATCH)
    }

    fn check_sample_shape(&self, sample: &[usize]) -> Result<()> {
        let [input] = self.graph.inputs[..] else {
            return Err(PtqError::Calibration(format!(
                "the model has {} inputs; calibration feeds exactly one",
                self.graph.inputs.len()
            )));
        };
        let value = self.graph.value(input);
        let Some(dims) = &value.fact.shape else {
            return Ok(());
        };
        let fits = dims.len() == sample.len() + 1
            && dims[1..]
                .iter()
                .zip(sample)
                .all(|(d, &s)| d.known().is_none_or(|k| k == s));
        if fits {
            return Ok(());
        }
        let wanted: Vec<String> = dims
            .iter()
            .map(|d| d.known().map_or("?".into(), |k| k.to_string()))
            .collect();
        Err(PtqError::Calibration(format!(
            "samples are {sample:?} but the model's input '{}' takes [{}]",
            value.name,
            wanted.join(", ")
        )))
    }
}
