//! Accuracy-driven static quantization of a model: [`lowbit_quant::tuning`]'s search,
//! with each trial quantized on the calibration data and compared with the FP32 model
//! on the evaluation data, and fallback candidates ranked by [`activation_sensitivity`].

use lowbit_data::Dataset;
use lowbit_graph::Graph;
use lowbit_quant::static_ptq::{QConfig, Quantized};
use lowbit_quant::tuning::{tune, Budget, Criterion, Score, Tuning};
use lowbit_runtime::{Plan, PlanOptions};

use crate::bench::{bench, synthetic_inputs};
use crate::compare::compare;
use crate::quantize_static::quantize_static;
use crate::sensitivity::activation_sensitivity;
use crate::{Error, Result};

/// Where a tuning run is, for progress display.
#[derive(Debug, Clone)]
pub enum TuneEvent {
    /// Trial `index` (from 0) starts, laying `change` over the best configuration.
    Trial { index: usize, change: String },
    /// The fallback step ranks the activation points of the first trial's model.
    Ranking,
}

/// The search and the model of its chosen trial.
pub struct Tuned {
    pub tuning: Tuning,
    pub model: Quantized,
}

/// The data and limits a tuning run quantizes and evaluates on.
pub struct TuneData<'a> {
    pub calibration: &'a dyn Dataset,
    pub calib_limit: Option<usize>,
    pub eval: &'a dyn Dataset,
    pub eval_limit: Option<usize>,
    /// Threads for the evaluation runs (0: all cores).
    pub threads: usize,
    /// Timed runs per latency measurement (batch 1, one thread; 0: no latencies).
    pub latency_iters: usize,
}

/// Fastest of `iters` runs of `graph` on synthetic batch-1 inputs, on one thread, in
/// milliseconds: the fastest, because tuning compares trials measured minutes apart on a
/// machine whose load changes.
pub fn latency_ms(graph: &Graph, iters: usize) -> Result<f64> {
    let options = PlanOptions {
        threads: 1,
        optimize: true,
    };
    let plan = Plan::new(graph.clone(), &options)?;
    let inputs = synthetic_inputs(graph, 1, &Default::default())?;
    Ok(bench(&plan, &inputs, 1, 1, 2, iters.max(1))?.min_ms)
}

/// Tunes the static quantization of `graph` from `base` until `criterion` holds on the
/// evaluation data or `budget` is spent; see [`lowbit_quant::tuning`] for the strategy.
pub fn tune_static(
    graph: &Graph,
    base: &QConfig,
    criterion: &Criterion,
    budget: Budget,
    data: &TuneData<'_>,
    progress: &mut dyn FnMut(TuneEvent),
) -> Result<Tuned> {
    if criterion.is_empty() {
        return Err(Error::Invalid(
            "tuning needs a criterion: a least SQNR, a least top-1 agreement or a largest top-1 drop".into(),
        ));
    }
    // Every trial's model is kept until the choice is made: the chosen one is returned
    // without quantizing again. The ranking scores the first trial's model.
    let fp32_latency_ms = match data.latency_iters {
        0 => None,
        iters => Some(latency_ms(graph, iters)?),
    };
    let mut models: Vec<Quantized> = Vec::new();
    let first_model = std::cell::OnceCell::new();
    let progress = std::cell::RefCell::new(progress);
    let tuning = {
        let mut evaluate = |qconfig: &QConfig| -> Result<Score> {
            (progress.borrow_mut())(TuneEvent::Trial {
                index: models.len(),
                change: describe(base, qconfig),
            });
            let quantized = quantize_static(
                graph.clone(),
                qconfig,
                data.calibration,
                data.calib_limit,
                &mut |_| {},
            )?;
            let c = compare(
                graph,
                &quantized.graph,
                data.eval,
                data.eval_limit,
                false,
                data.threads,
                &mut |_| {},
            )?;
            let latency = match data.latency_iters {
                0 => None,
                iters => Some(latency_ms(&quantized.graph, iters)?),
            };
            if first_model.get().is_none() {
                let _ = first_model.set(quantized.graph.clone());
            }
            models.push(quantized);
            Ok(Score {
                sqnr_db: c.sqnr_db,
                top1_agreement: c.top1_agreement,
                top1: c.test_top1,
                fp32_top1: c.reference_top1,
                latency_ms: latency,
                fp32_latency_ms,
            })
        };
        let mut rank_points = || -> Result<Vec<Vec<String>>> {
            (progress.borrow_mut())(TuneEvent::Ranking);
            let first: &Graph = first_model
                .get()
                .ok_or_else(|| Error::Invalid("no trial ran".into()))?;
            let sensitivity = activation_sensitivity(
                graph,
                first,
                data.calibration,
                data.calib_limit,
                data.threads,
                &mut |_, _| {},
            )?;
            // Model outputs have no readers to move to FP32 (`quantize_outputs` covers them).
            Ok(sensitivity
                .points
                .into_iter()
                .map(|p| p.readers)
                .filter(|readers| !readers.is_empty())
                .collect())
        };
        tune(base, criterion, budget, &mut evaluate, &mut rank_points)?
    };
    let model = models.swap_remove(tuning.chosen);
    Ok(Tuned { tuning, model })
}

/// A short label for progress: what `q` changes over `base`.
fn describe(base: &QConfig, q: &QConfig) -> String {
    let mut parts = Vec::new();
    if q.gptq_rounding != base.gptq_rounding {
        parts.push("gptq_rounding".to_string());
    }
    if q.activations.quantize_outputs != base.activations.quantize_outputs {
        parts.push("float outputs".to_string());
    }
    let fp32 = q.overrides.len().saturating_sub(base.overrides.len());
    if fp32 > 0 {
        parts.push(format!("{fp32} FP32 nodes"));
    }
    if parts.is_empty() {
        "as given".to_string()
    } else {
        parts.join(", ")
    }
}
