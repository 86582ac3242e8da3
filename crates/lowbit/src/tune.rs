//! Accuracy-driven static quantization of a model: [`lowbit_quant::tuning`]'s search,
//! with each trial quantized on the calibration data and compared with the FP32 model
//! on the evaluation data, and fallback candidates ranked by [`activation_sensitivity`].

use std::cell::RefCell;

use lowbit_data::Dataset;
use lowbit_graph::Graph;
use lowbit_quant::static_ptq::{QConfig, Quantized};
use lowbit_quant::tuning::{tune, Budget, Criterion, Score, Tuning};
use lowbit_runtime::{Plan, PlanOptions};
use lowbit_tensor::Tensor;

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
    /// Timed runs of each trial and of FP32 beside it (batch 1, one thread; 0: none).
    pub latency_iters: usize,
}

/// Calibration samples the fallback ranking scores on: it runs the model once per
/// activation point, so it uses a calibration-sized sample even when the calibration set
/// is large (EfficientNet-Lite0's ranking from 10 photos is the recipe's).
const RANKING_SAMPLES: usize = 16;

/// Rounds the latency runs are split into, alternating the two models.
const LATENCY_ROUNDS: usize = 4;

/// Latencies of `quantized` and of `fp32` in milliseconds, batch 1 on one thread: the
/// fastest of `iters` runs each, in rounds that alternate the two models, so that both
/// see the same machine load (trials run minutes apart on a shared machine).
pub fn paired_latency_ms(
    fp32: &Plan,
    quantized: &Graph,
    inputs: &[Tensor],
    iters: usize,
) -> Result<(f64, f64)> {
    let plan = Plan::new(quantized.clone(), &one_thread())?;
    let per_round = iters.div_ceil(LATENCY_ROUNDS).max(1);
    let (mut q_ms, mut f_ms) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..LATENCY_ROUNDS {
        f_ms = f_ms.min(bench(fp32, inputs, 1, 1, 1, per_round)?.min_ms);
        q_ms = q_ms.min(bench(&plan, inputs, 1, 1, 1, per_round)?.min_ms);
    }
    Ok((q_ms, f_ms))
}

fn one_thread() -> PlanOptions {
    PlanOptions {
        threads: 1,
        optimize: true,
    }
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
    let latency_probe = match data.latency_iters {
        0 => None,
        _ => Some((
            Plan::new(graph.clone(), &one_thread())?,
            synthetic_inputs(graph, 1, &Default::default())?,
        )),
    };
    // Every trial's model is kept until the choice is made: the chosen one is returned
    // without quantizing again, and the ranking scores the first one.
    let models: RefCell<Vec<Quantized>> = RefCell::new(Vec::new());
    let progress = RefCell::new(progress);
    let mut evaluate = |qconfig: &QConfig, change: &str| -> Result<Score> {
        (progress.borrow_mut())(TuneEvent::Trial {
            index: models.borrow().len(),
            change: change.to_string(),
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
        let latency = match &latency_probe {
            None => None,
            Some((fp32, inputs)) => Some(paired_latency_ms(
                fp32,
                &quantized.graph,
                inputs,
                data.latency_iters,
            )?),
        };
        models.borrow_mut().push(quantized);
        Ok(Score {
            sqnr_db: c.sqnr_db,
            top1_agreement: c.top1_agreement,
            top1: c.test_top1,
            fp32_top1: c.reference_top1,
            latency_ms: latency.map(|l| l.0),
            fp32_latency_ms: latency.map(|l| l.1),
        })
    };
    let mut rank_points = || -> Result<Vec<Vec<String>>> {
        (progress.borrow_mut())(TuneEvent::Ranking);
        let models = models.borrow();
        let first = models
            .first()
            .ok_or_else(|| Error::Invalid("no trial ran".into()))?;
        let ranking_samples = data.calib_limit.unwrap_or(usize::MAX).min(RANKING_SAMPLES);
        let sensitivity = activation_sensitivity(
            graph,
            &first.graph,
            data.calibration,
            Some(ranking_samples),
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
    let tuning = tune(base, criterion, budget, &mut evaluate, &mut rank_points)?;
    let mut models = models.into_inner();
    let model = models.swap_remove(tuning.chosen);
    Ok(Tuned { tuning, model })
}
