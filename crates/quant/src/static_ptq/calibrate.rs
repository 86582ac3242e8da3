//! `calibrate`: stream data through the fused graph and feed every observer.

use std::collections::HashMap;

use lowbit_data::{batch, Dataset, Sample};
use lowbit_graph::ValueId;
use lowbit_runtime::{Plan, PlanOptions};
use lowbit_tensor::Tensor;

use super::error::{PtqError, Result};
use super::prepare::Prepared;

/// Samples per calibration run when the model's batch dimension is free. Observers are
/// batch-size independent, except the moving-average one (which averages per batch, as
/// in PyTorch).
pub const CALIBRATION_BATCH: usize = 4;

/// What a calibration call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Calibration {
    pub samples: usize,
    pub batches: usize,
}

/// Where an observed value goes.
#[derive(Clone, Copy)]
enum Target {
    Point(usize),
    Bias(super::bias::Tap),
}

impl Prepared {
    /// PyTorch's calibration loop: runs the first `limit` samples of `dataset` (all when
    /// `None`) through the model in batches. `progress` gets the number of samples done.
    /// Errors, before running anything, when the data is empty or its sample shape is not
    /// one the model's input takes.
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
        let mut batches = 0;
        for start in (0..count).step_by(batch_size) {
            let end = (start + batch_size).min(count);
            let samples: Vec<Sample> = (start..end).map(|i| dataset.get(i)).collect::<Result<_, _>>()?;
            let (inputs, _) = batch(&samples)?;
            self.run_observed(&plan, &targets, inputs)?;
            self.samples += samples.len();
            batches += 1;
            progress(end);
        }
        Ok(Calibration {
            samples: count,
            batches,
        })
    }

    /// Calibrates on one ready batch (`[N, ...]` per model input).
    pub fn calibrate_batch(&mut self, inputs: Tensor) -> Result<()> {
        let shape = inputs.shape().get(1..).unwrap_or_default().to_vec();
        self.check_sample_shape(&shape)?;
        let (plan, targets) = self.calibration_plan()?;
        let n = inputs.shape().first().copied().unwrap_or(1);
        self.run_observed(&plan, &targets, inputs)?;
        self.samples += n;
        Ok(())
    }

    fn run_observed(
        &mut self,
        plan: &Plan,
        targets: &HashMap<ValueId, Vec<Target>>,
        inputs: Tensor,
    ) -> Result<()> {
        let mut failure = None;
        let observers = &mut self.observers;
        let correction = &mut self.correction;
        let mut observe = |name: &str, id: ValueId, tensor: &Tensor| {
            for target in targets.get(&id).into_iter().flatten() {
                let result = match target {
                    Target::Point(i) => observers[*i]
                        .observe_tensor(tensor)
                        .map_err(PtqError::quant(name)),
                    Target::Bias(tap) => correction.as_mut().map_or(Ok(()), |c| c.observe(*tap, tensor)),
                };
                if let Err(e) = result {
                    failure.get_or_insert(e);
                }
            }
        };
        plan.run_observed(&[inputs], &mut observe)?;
        failure.map_or(Ok(()), Err)
    }

    /// An unoptimised plan (every value of the fused graph is computed and observed),
    /// with the bias-correction shadows when asked for.
    fn calibration_plan(&self) -> Result<(Plan, HashMap<ValueId, Vec<Target>>)> {
        let mut targets: HashMap<ValueId, Vec<Target>> = self
            .layout
            .points
            .iter()
            .enumerate()
            .map(|(i, p)| (p.value, vec![Target::Point(i)]))
            .collect();
        let graph = match &self.correction {
            None => self.graph.clone(),
            Some(c) => {
                let (graph, taps) = c.shadow_graph(&self.graph, &self.weighted)?;
                for (id, tap) in taps {
                    targets.entry(id).or_default().push(Target::Bias(tap));
                }
                graph
            }
        };
        let options = PlanOptions {
            threads: 0,
            optimize: false,
        };
        Ok((Plan::new(graph, &options)?, targets))
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
