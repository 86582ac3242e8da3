//! Training on top of the autograd engine: the loop, its schedules and checkpoints, and
//! quantization-aware training (`qat`).
//!
//! Design:
//! - [`Trainer::fit`] runs epochs of mini-batches from a seeded
//!   [`lowbit_data::DataLoader`] (random crop with padding, horizontal flip) through a
//!   [`lowbit_autograd::TrainingExecutor`], updates with [`lowbit_autograd::Sgd`] under an
//!   [`LrSchedule`] (constant, step or cosine, optional linear warm-up, evaluated per
//!   step), scores the test set after each epoch through the inference runtime (BatchNorm
//!   folded, as `lowbit eval` scores the saved file) and reports [`Progress`] events; the
//!   caller draws any progress bar.
//! - Checkpoints ([`checkpoint`]) are the ONNX model with training-mode BatchNorm kept
//!   plus a JSON state and the optimizer velocities; resuming from one gives bit-identical
//!   weights to an uninterrupted run, because all randomness is a function of the seed
//!   and the epoch.
//! - [`Meter`] keeps `AverageMeter`-style running loss, top-1 and top-5.
//!
//! The Fashion-MNIST MobileNetV2 of `lowbit train` (28×28, one channel) uses
//! [`FASHION_MNIST_STEM_STRIDE`] and [`FASHION_MNIST_STAGE_STRIDES`].

pub mod checkpoint;
mod error;
mod eval;
mod meter;
pub mod qat;
mod recipe;
mod schedule;
mod trainer;

pub use checkpoint::{Checkpoint, TrainState};
pub use error::{Result, TrainError};
pub use eval::evaluate_graph;
pub use meter::Meter;
pub use recipe::{
    fashion_mnist_mobilenet_v2, fashion_mnist_preprocess, FASHION_MNIST_STAGE_STRIDES,
    FASHION_MNIST_STEM_STRIDE,
};
pub use schedule::{Decay, LrSchedule};
pub use trainer::{EpochReport, Progress, TrainConfig, Trainer};
