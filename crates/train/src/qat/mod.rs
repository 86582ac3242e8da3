//! Quantization-aware training, as PyTorch's `torch.ao.quantization` QAT tutorial runs it:
//! [`prepare_qat`] → fine-tune with fake quantization → [`QatModel::freeze_bn_stats`] and
//! [`QatModel::disable_observer`] on a [`QatSchedule`] → [`convert`] to an ONNX QDQ model.
//!
//! Design:
//! - **Conv+BN units simulate BN folding** as PyTorch's `ConvBnReLU2d` does
//!   (`_forward_approximate`): the weight is scaled by `γ/sqrt(σ²_running + ε)`,
//!   fake-quantized per channel, convolved, divided back, and BatchNorm runs on the result
//!   with batch statistics. It is a graph rewrite into ops the autograd engine already
//!   differentiates (`rewrite`), so every gradient comes from gradient-checked rules.
//! - **Fake quantization sits where static PTQ puts QDQ pairs.** `prepare_qat` asks
//!   `static_ptq::prepare` for its quantization points and quantized weights, and the
//!   executor's observer hook fake-quantizes exactly those values (`sites`); the ReLU
//!   after a unit is covered because the point is the ReLU's output, as in PTQ's fusion.
//! - **Conversion is static PTQ's convert** with the learned parameters put in place of
//!   calibration (`Prepared::set_activation_range`, `Prepared::set_weight_scales`), so the
//!   QDQ layout, bias quantization and metadata are the PTQ ones and the result runs on
//!   the integer kernels like any PTQ model.
//! - [`quantize_aware_training`] is the tutorial's loop end to end, converting and scoring
//!   the INT8 model after each epoch.

mod convert;
mod error;
mod model;
mod rewrite;
mod schedule;
mod scoring;
mod sites;
mod workflow;

pub use convert::convert;
pub use error::{QatError, Result};
pub use model::{prepare_qat, qat_qconfig, QatModel, StepStats};
pub use schedule::{Freeze, QatSchedule};
pub use workflow::{quantize_aware_training, QatEpoch, QatOptions, QatReport};
