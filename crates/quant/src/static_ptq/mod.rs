//! Post-training static quantization, in PyTorch's `torch.ao.quantization` verbs:
//! fuse → qconfig → [`prepare`] → [`Prepared::calibrate`] → [`Prepared::convert`].
//!
//! The result is an ONNX QDQ graph (ONNX Runtime's convention): every activation
//! quantization point becomes `QuantizeLinear → DequantizeLinear` (u8), weights are i8
//! initializers read through a `DequantizeLinear`, and biases are i32 initializers whose
//! scale `x_scale * w_scale[c]` is a `Mul` of the two scales already stored (not a third
//! per-channel vector: the file stays small). Any ONNX runtime loads it; lowbit's
//! reference evaluators run it as simulated quantization ([`qdq`] writes it).
//!
//! Design choices:
//! - Fusion is grouping, not rewriting: BatchNorm is folded into its Conv, then a
//!   Conv/Gemm/MatMul/Add followed by its only consumer Relu or Clip forms one group whose
//!   single quantization point is the activation's output ([`fuse`]).
//! - Activation quantization points are the inputs of ops with an integer kernel plan and
//!   the outputs of their groups. Ops without one stay FP32 between a DequantizeLinear
//!   and the next QuantizeLinear, and are listed as warnings.
//! - Calibration runs an unoptimised plan (every value of the fused graph is observed)
//!   in batches; observers keep bounded state, so memory does not grow with the data.
//! - Empirical bias correction (Nagel et al. 2019) runs after the observers, on the QDQ
//!   model their ranges define: a shadow copy of each conv/linear with the FP32 weight
//!   reads the node's input before its quantization, and the per-channel mean of
//!   `y_shadow − y` is folded into the bias ([`Prepared::correct_bias`]). With
//!   `gptq_rounding`, the weights of layers with enough calibration data are first
//!   rounded with error feedback (GPTQ, [`rounding`]) rather than to nearest, against
//!   input moments gathered during the observer pass.
//! - Dequantized values keep the FP32 value names, so the two models can be compared
//!   layer by layer.

mod bias;
mod calibrate;
mod convert;
mod error;
mod fixed;
mod fuse;
mod points;
mod prepare;
mod qconfig;
mod qdq;
mod recipe;
mod rounding;
mod weights;

pub use calibrate::{Calibration, BIAS_CORRECTION_SAMPLES};
pub use convert::{ChosenRange, Quantized, QUANTIZATION_METADATA_KEY};
pub use error::PtqError;
pub use fixed::WeightSite;
pub use fuse::{fuse, FusedGroup};
pub use prepare::{prepare, Prepared};
pub use qconfig::{ActivationQConfig, ObserverKind, Override, Preset, QConfig, WeightQConfig};
pub use recipe::parse_recipe;
