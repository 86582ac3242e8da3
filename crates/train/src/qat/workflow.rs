//! The whole QAT workflow of the PyTorch tutorial: prepare, fine-tune with the freeze
//! schedule, convert and score the INT8 model after every epoch.

use std::time::Instant;

use lowbit_autograd::Sgd;
use lowbit_data::{batch, Dataset, Sample};
use lowbit_graph::Graph;
use lowbit_quant::static_ptq::{ChosenRange, Preset, QConfig};
use lowbit_runtime::{Plan, PlanOptions};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Serialize;

use super::convert::convert;
use super::error::{QatError, Result};
use super::model::{prepare_qat, qat_qconfig, QatModel};
use super::schedule::QatSchedule;
use super::scoring::logits;

/// Settings of [`quantize_aware_training`]. The defaults are the tutorial's schedule (8
/// epochs, BN frozen after epoch 3, observers after epoch 4) with the x86 QAT qconfig.
#[derive(Debug, Clone)]
pub struct QatOptions {
    pub qconfig: QConfig,
    pub schedule: QatSchedule,
    pub batches_per_epoch: usize,
    pub batch_size: usize,
    /// SGD learning rate, momentum and weight decay (`torch.optim.SGD`'s meaning).
    pub lr: f32,
    pub momentum: f32,
    pub weight_decay: f32,
    /// Score on the first N samples of the evaluation set only.
    pub eval_limit: Option<usize>,
    /// Batch size of evaluation runs.
    pub eval_batch_size: usize,
    /// Seed of the training-data order and dropout.
    pub seed: u64,
}

impl Default for QatOptions {
    fn default() -> Self {
        QatOptions {
            qconfig: qat_qconfig(Preset::X86),
            schedule: QatSchedule::default(),
            batches_per_epoch: 100,
            batch_size: 32,
            lr: 1e-3,
            momentum: 0.9,
            weight_decay: 0.0,
            eval_limit: None,
            eval_batch_size: 100,
            seed: 0,
        }
    }
}

/// One epoch: training figures, then the converted INT8 model's score.
#[derive(Debug, Clone, Serialize)]
pub struct QatEpoch {
    /// Counted from 0, as the schedule counts.
    pub epoch: usize,
    pub train_loss: f64,
    pub train_top1: f64,
    /// Top-1 of the INT8 model converted after this epoch (`None` without labels).
    pub int8_top1: Option<f64>,
    /// Agreement of that model's top-1 with the FP32 model's.
    pub top1_agreement: f64,
    /// The model's state after the epoch's freezes.
    pub observers_enabled: bool,
    pub bn_frozen: bool,
    pub seconds: f64,
}

/// What [`quantize_aware_training`] measured.
#[derive(Debug, Clone, Serialize)]
pub struct QatReport {
    pub qat_epochs: usize,
    pub batches_per_epoch: usize,
    pub batch_size: usize,
    pub lr: f32,
    /// Evaluation samples.
    pub n: usize,
    pub fp32_top1: Option<f64>,
    pub int8_top1: Option<f64>,
    pub top1_agreement: f64,
    /// SQNR of the INT8 logits against the FP32 ones.
    pub sqnr_db: f64,
    pub epochs: Vec<QatEpoch>,
    /// Quantized patterns that run on integer kernels, and nodes that fall back to FP32.
    pub integer_steps: usize,
    pub fallbacks: Vec<String>,
    pub ranges: Vec<ChosenRange>,
    pub warnings: Vec<String>,
}

/// Fine-tunes `fp32` with fake quantization on `train` and returns the converted QDQ model
/// with its report. After every epoch the schedule's freezes apply, then the model is
/// converted and scored on `eval` (as the tutorial does), and `on_epoch` hears the result.
pub fn quantize_aware_training(
    fp32: &Graph,
    train: &dyn Dataset,
    eval: &dyn Dataset,
    options: &QatOptions,
    on_epoch: &mut dyn FnMut(&QatEpoch),
) -> Result<(Graph, QatReport)> {
    check_options(options, train, eval)?;
    let eval_count = options.eval_limit.map_or(eval.len(), |l| l.min(eval.len()));
    let fp32_plan = Plan::new(fp32.clone(), &PlanOptions::default())?;
    let reference = logits(&fp32_plan, eval, eval_count, options.eval_batch_size)?;
    drop(fp32_plan);
    let mut model = prepare_qat(fp32, &options.qconfig)?;
    let mut sgd = Sgd::new(options.lr, options.momentum, options.weight_decay);
    let mut order = TrainOrder::new(train.len(), options.seed);
    let mut epochs = Vec::with_capacity(options.schedule.epochs);
    let mut last = None;
    for epoch in 0..options.schedule.epochs {
        let started = Instant::now();
        let (loss, top1) = train_epoch(&mut model, train, &mut order, &mut sgd, options)?;
        let freeze = options.schedule.after_epoch(epoch);
        if freeze.bn_stats {
            model.freeze_bn_stats()?;
        }
        if freeze.observers {
            model.disable_observer();
        }
        let quantized = convert(&model)?;
        let plan = Plan::new(quantized.graph.clone(), &PlanOptions::default())?;
        let scored = logits(&plan, eval, eval_count, options.eval_batch_size)?;
        let report = QatEpoch {
            epoch,
            train_loss: loss,
            train_top1: top1,
            int8_top1: scored.top1(),
            top1_agreement: scored.agreement(&reference),
            observers_enabled: model.observers_enabled(),
            bn_frozen: model.bn_frozen(),
            seconds: started.elapsed().as_secs_f64(),
        };
        on_epoch(&report);
        epochs.push(report);
        last = Some((quantized, plan, scored));
    }
    let (quantized, plan, scored) =
        last.ok_or_else(|| QatError::Invalid("the schedule has no epochs".into()))?;
    let report = QatReport {
        qat_epochs: options.schedule.epochs,
        batches_per_epoch: options.batches_per_epoch,
        batch_size: options.batch_size,
        lr: options.lr,
        n: eval_count,
        fp32_top1: reference.top1(),
        int8_top1: scored.top1(),
        top1_agreement: scored.agreement(&reference),
        sqnr_db: scored.sqnr_db(&reference),
        epochs,
        integer_steps: plan.integer_steps().len(),
        fallbacks: plan
            .fallbacks()
            .iter()
            .map(|(node, op)| format!("{node} ({op})"))
            .collect(),
        ranges: quantized.ranges,
        warnings: quantized.warnings,
    };
    Ok((quantized.graph, report))
}

fn check_options(options: &QatOptions, train: &dyn Dataset, eval: &dyn Dataset) -> Result<()> {
    let problem = if options.schedule.epochs == 0 {
        Some("the schedule needs at least one epoch".to_string())
    } else if options.batches_per_epoch == 0 || options.batch_size == 0 || options.eval_batch_size == 0 {
        Some("batches per epoch and batch sizes must be at least 1".to_string())
    } else if !(options.lr.is_finite() && options.lr > 0.0) {
        Some(format!("learning rate {} must be positive", options.lr))
    } else if train.is_empty() {
        Some("the training set is empty".to_string())
    } else if eval.is_empty() || options.eval_limit == Some(0) {
        Some("the evaluation set is empty".to_string())
    } else if train.sample_shape() != eval.sample_shape() {
        Some(format!(
            "training samples are {:?} but evaluation samples are {:?}",
            train.sample_shape(),
            eval.sample_shape()
        ))
    } else {
        None
    };
    problem.map_or(Ok(()), |p| Err(QatError::Invalid(p)))
}

/// Trains `batches_per_epoch` batches; returns the mean loss and the training top-1.
fn train_epoch(
    model: &mut QatModel,
    train: &dyn Dataset,
    order: &mut TrainOrder,
    sgd: &mut Sgd,
    options: &QatOptions,
) -> Result<(f64, f64)> {
    let (mut loss, mut correct, mut seen) = (0f64, 0usize, 0usize);
    for _ in 0..options.batches_per_epoch {
        let indices = order.next_batch(options.batch_size);
        let samples: Vec<Sample> = indices.iter().map(|&i| train.get(i)).collect::<Result<_, _>>()?;
        let (images, labels) = batch(&samples)?;
        let labels = labels
            .iter()
            .zip(&indices)
            .map(|(l, &i)| match l {
                Some(l) if *l >= 0 => Ok(*l as usize),
                _ => Err(QatError::Invalid(format!(
                    "training sample {i} has no class label"
                ))),
            })
            .collect::<Result<Vec<_>>>()?;
        let stats = model.train_step(images, &labels, sgd)?;
        loss += stats.loss as f64 * labels.len() as f64;
        correct += stats.correct;
        seen += labels.len();
    }
    Ok((loss / seen.max(1) as f64, correct as f64 / seen.max(1) as f64))
}

/// Sample order: a seeded permutation, reshuffled each time it runs out.
struct TrainOrder {
    rng: StdRng,
    permutation: Vec<usize>,
    cursor: usize,
}

impl TrainOrder {
    fn new(len: usize, seed: u64) -> Self {
        let mut order = TrainOrder {
            rng: StdRng::seed_from_u64(seed),
            permutation: (0..len).collect(),
            cursor: len,
        };
        order.reshuffle_if_done();
        order
    }

    fn reshuffle_if_done(&mut self) {
        if self.cursor >= self.permutation.len() {
            self.permutation.shuffle(&mut self.rng);
            self.cursor = 0;
        }
    }

    fn next_batch(&mut self, size: usize) -> Vec<usize> {
        let mut batch = Vec::with_capacity(size);
        while batch.len() < size {
            self.reshuffle_if_done();
            batch.push(self.permutation[self.cursor]);
            self.cursor += 1;
        }
        batch
    }
}
