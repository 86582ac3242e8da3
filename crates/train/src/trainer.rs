//! The training loop: epochs of shuffled, augmented mini-batches, SGD with momentum and
//! weight decay under a learning-rate schedule, a test-set evaluation and a checkpoint
//! after every epoch.
//!
//! Reproducibility contract: given the same starting graph, configuration and data, a
//! run produces bit-identical weights whether or not it was stopped at an epoch boundary
//! and resumed from that epoch's checkpoint. Everything random is a function of
//! `(seed, epoch)`: the loader's order and augmentation, and the dropout masks, because
//! the autograd executor (whose dropout seed advances with every forward pass) is rebuilt
//! at the start of each epoch with a seed drawn from that epoch's stream.

use std::path::{Path, PathBuf};
use std::time::Instant;

use lowbit_autograd::{softmax_cross_entropy, Mode, Sgd, TrainingExecutor};
use lowbit_data::{Augment, DataLoader, Dataset, LoaderOptions, SplitMix64};
use lowbit_graph::Graph;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{self, Checkpoint, TrainState, CHECKPOINT_FORMAT};
use crate::error::{Result, TrainError};
use crate::eval::{class_indices, evaluate_graph};
use crate::meter::Meter;
use crate::schedule::LrSchedule;

/// Stream tag of the per-epoch executor seed (the loader uses its own tags).
const EXECUTOR_STREAM: u64 = 0x4558_4543;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    /// Stop each epoch after this many batches (the first ones of its shuffled order).
    pub batches_per_epoch: Option<usize>,
    pub schedule: LrSchedule,
    pub momentum: f32,
    pub weight_decay: f32,
    pub seed: u64,
    pub augment: Option<Augment>,
    pub eval_batch_size: usize,
    /// Runtime threads for evaluation (0: all cores).
    pub eval_threads: usize,
}

impl TrainConfig {
    pub fn validate(&self) -> Result<()> {
        let fail = |reason: &str| Err(TrainError::Config(reason.to_string()));
        if self.epochs == 0 {
            return fail("train for at least one epoch");
        }
        if self.batch_size < 2 {
            return fail("the batch size must be at least 2 (BatchNorm needs batch statistics)");
        }
        if self.batches_per_epoch == Some(0) {
            return fail("batches per epoch must be at least 1");
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return fail("momentum must be in [0, 1)");
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return fail("weight decay must be ≥ 0");
        }
        self.schedule.validate()
    }
}

/// What one epoch did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochReport {
    /// 1-based.
    pub epoch: usize,
    pub train: Meter,
    pub test: Option<Meter>,
    /// Learning rate of the epoch's last step.
    pub lr: f32,
    /// Wall time of the training steps (loading included, evaluation excluded).
    pub train_seconds: f64,
    pub images_per_sec: f64,
    pub checkpoint: Option<PathBuf>,
}

/// Events for progress display; epochs and batches are 1-based.
#[derive(Debug)]
pub enum Progress<'a> {
    EpochStart {
        epoch: usize,
        batches: usize,
    },
    Batch {
        epoch: usize,
        batch: usize,
        batches: usize,
        lr: f32,
        meter: &'a Meter,
        images_per_sec: f64,
    },
    Evaluating {
        epoch: usize,
        done: usize,
        total: usize,
    },
    EpochEnd(&'a EpochReport),
}

pub struct Trainer {
    exec: TrainingExecutor,
    sgd: Sgd,
    config: TrainConfig,
    epochs_done: usize,
    step: usize,
    history: Vec<EpochReport>,
}

impl Trainer {
    /// Makes glibc keep the memory of freed activations for the next step. A step frees
    /// every activation (hundreds of MB) at its end; by default glibc then returns the
    /// heap top to the kernel (or unmaps large blocks), and the next step's kernels
    /// page-fault it back in and zero it, which cost about a tenth of the step's CPU time
    /// on MobileNetV2 at batch 128. Blocks up to 32 MB (a 128×48×28×28 activation is
    /// 19 MB) then come from the heap. Process-wide; [`Trainer::fit`] calls it, and so can
    /// other training loops. A no-op off glibc.
    pub fn keep_freed_memory() {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        {
            // glibc's largest allowed mmap threshold on 64-bit targets, and the freed heap
            // memory kept before any is returned to the kernel.
            const MMAP_THRESHOLD: i32 = 32 << 20;
            const TRIM_THRESHOLD: i32 = 1 << 30;
            // SAFETY: mallopt only changes glibc's tuning parameters; it is thread-safe
            // and refuses (returning 0) a value out of range without other effect.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
                libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
            }
        }
    }

    /// Starts a run from `graph` (one image input, logits as its first output).
    pub fn new(graph: &Graph, config: TrainConfig) -> Result<Self> {
        config.validate()?;
        if graph.inputs.len() != 1 || graph.outputs.is_empty() {
            return Err(TrainError::Config(format!(
                "the model needs one input and a logits output, it has {} inputs and {} outputs",
                graph.inputs.len(),
                graph.outputs.len()
            )));
        }
        Ok(Trainer {
            exec: TrainingExecutor::new(graph, 0)?,
            sgd: Sgd::new(config.schedule.base_lr, config.momentum, config.weight_decay),
            config,
            epochs_done: 0,
            step: 0,
            history: Vec::new(),
        })
    }

    /// Continues the run saved in `checkpoint` under `config`: the checkpoint's own
    /// configuration continues it exactly; a larger `epochs` extends it.
    pub fn resume(checkpoint: Checkpoint, config: TrainConfig) -> Result<Self> {
        let mut trainer = Trainer::new(&checkpoint.graph, config)?;
        let graph = trainer.exec.graph().clone();
        trainer.sgd.set_velocity_by_name(&graph, checkpoint.velocity)?;
        trainer.epochs_done = checkpoint.state.epochs_done;
        trainer.step = checkpoint.state.step;
        trainer.history = checkpoint.state.history;
        Ok(trainer)
    }

    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    pub fn epochs_done(&self) -> usize {
        self.epochs_done
    }

    pub fn history(&self) -> &[EpochReport] {
        &self.history
    }

    /// The model with its current weights and BatchNorm statistics.
    pub fn graph(&self) -> Graph {
        self.exec.to_graph()
    }

    /// Trains the remaining epochs on `train`, scoring on `test` after each epoch and
    /// checkpointing into `checkpoint_dir` when given.
    pub fn fit(
        &mut self,
        train: &dyn Dataset,
        test: Option<&dyn Dataset>,
        checkpoint_dir: Option<&Path>,
        on_progress: &mut dyn FnMut(Progress),
    ) -> Result<&[EpochReport]> {
        Self::keep_freed_memory();
        let loader = DataLoader::new(
            train,
            LoaderOptions {
                batch_size: self.config.batch_size,
                shuffle: true,
                // A last batch of a few samples gives BatchNorm noisy statistics.
                drop_last: train.len() >= self.config.batch_size,
                seed: self.config.seed,
                augment: self.config.augment.clone(),
            },
        )?;
        let batches = self
            .config
            .batches_per_epoch
            .map_or(loader.batches_per_epoch(), |limit| {
                limit.min(loader.batches_per_epoch())
            });
        let total_steps = batches * self.config.epochs;
        while self.epochs_done < self.config.epochs {
            let epoch = self.epochs_done;
            on_progress(Progress::EpochStart {
                epoch: epoch + 1,
                batches,
            });
            let (train_meter, lr, seconds) =
                self.train_epoch(&loader, epoch, batches, total_steps, on_progress)?;
            let test_meter = match test {
                Some(test) => Some(self.evaluate(test, epoch, on_progress)?),
                None => None,
            };
            self.epochs_done += 1;
            let mut report = EpochReport {
                epoch: epoch + 1,
                train: train_meter,
                test: test_meter,
                lr,
                train_seconds: seconds,
                images_per_sec: train_meter.samples as f64 / seconds.max(1e-9),
                checkpoint: None,
            };
            if let Some(dir) = checkpoint_dir {
                report.checkpoint = Some(self.save_checkpoint(dir, &report)?);
            }
            self.history.push(report);
            on_progress(Progress::EpochEnd(self.history.last().expect("just pushed")));
        }
        Ok(&self.history)
    }

    /// One epoch of steps; returns the running metrics, the last rate and the wall time.
    fn train_epoch(
        &mut self,
        loader: &DataLoader,
        epoch: usize,
        batches: usize,
        total_steps: usize,
        on_progress: &mut dyn FnMut(Progress),
    ) -> Result<(Meter, f32, f64)> {
        let seed = SplitMix64::for_stream(&[EXECUTOR_STREAM, self.config.seed, epoch as u64]).next_u64();
        self.exec = TrainingExecutor::new(&self.exec.to_graph(), seed)?;
        let (input, output) = (self.exec.graph().inputs[0], self.exec.graph().outputs[0]);
        let mut meter = Meter::default();
        let mut lr = self.config.schedule.base_lr;
        let start = Instant::now();
        for (b, batch) in loader.epoch(epoch as u64).take(batches).enumerate() {
            let batch = batch?;
            let labels = class_indices(&batch.labels)?;
            lr = self.config.schedule.lr(self.step, batches, total_steps);
            self.sgd.lr = lr;
            let tape = self.exec.forward(&[(input, batch.inputs)], Mode::Train)?;
            let logits = tape
                .output()
                .ok_or_else(|| TrainError::Config("the model has no output".into()))?;
            let ce = softmax_cross_entropy(logits, &labels)?;
            meter.add_batch(ce.loss, logits.as_slice::<f32>()?, &labels);
            if !ce.loss.is_finite() {
                return Err(TrainError::Config(format!(
                    "the loss diverged ({}) at epoch {}, batch {}: lower the learning rate",
                    ce.loss,
                    epoch + 1,
                    b + 1
                )));
            }
            let grads = tape.backward(&[(output, ce.grad)])?;
            self.sgd.step(&mut self.exec, &grads)?;
            self.step += 1;
            on_progress(Progress::Batch {
                epoch: epoch + 1,
                batch: b + 1,
                batches,
                lr,
                meter: &meter,
                images_per_sec: meter.samples as f64 / start.elapsed().as_secs_f64().max(1e-9),
            });
        }
        Ok((meter, lr, start.elapsed().as_secs_f64()))
    }

    fn evaluate(
        &self,
        test: &dyn Dataset,
        epoch: usize,
        on_progress: &mut dyn FnMut(Progress),
    ) -> Result<Meter> {
        let total = test.len();
        evaluate_graph(
            self.exec.to_graph(),
            test,
            self.config.eval_batch_size,
            self.config.eval_threads,
            &mut |done| {
                on_progress(Progress::Evaluating {
                    epoch: epoch + 1,
                    done,
                    total,
                })
            },
        )
    }

    fn save_checkpoint(&self, dir: &Path, report: &EpochReport) -> Result<PathBuf> {
        let graph = self.exec.to_graph();
        let mut history = self.history.clone();
        history.push(report.clone());
        let state = TrainState {
            format: CHECKPOINT_FORMAT,
            epochs_done: self.epochs_done,
            step: self.step,
            config: self.config.clone(),
            history,
            model_file: String::new(),
            velocity_file: String::new(),
            velocity: Vec::new(),
        };
        checkpoint::save(dir, &graph, state, &self.sgd.velocity_by_name(&graph))
    }
}
