//! Dynamic quantization of a graph's matrix products: weights become i8 ahead of time,
//! activations are quantized to u8 on the fly, from their live range, just before each
//! integer product. No calibration data is needed.
//!
//! [`quantize_dynamic`] rewrites every `MatMul` (and `Gemm`) whose B input is a constant
//! f32 matrix into the ONNX Runtime–compatible QOperator form
//!
//! ```text
//! x ─ DynamicQuantizeLinear ─┬ x_q ─────── MatMulInteger(x_q, W_q, x_zp) ─ Cast(f32) ─┐
//!                            ├ x_scale ─ Mul(x_scale, w_scale) ───────────────────────┴ Mul ─ [Add bias] ─ y
//!                            └ x_zp
//! ```
//!
//! so the written file runs in any ONNX runtime. Products of two activations (attention
//! scores) have no constant B and are left alone.
//!
//! Design choices:
//! - Weights are symmetric i8 in `[-127, 127]` (zero point 0, so MatMulInteger's B zero
//!   point is omitted), one scale per output column by default ([`WeightGranularity`]).
//! - Each product gets its own DynamicQuantizeLinear, even when several products read
//!   the same activation (Q, K and V projections): the runtime fuses each chain
//!   `DynamicQuantizeLinear → MatMulInteger → Cast → Mul [→ Add]` into one step, which
//!   needs single-consumer intermediates.
//! - Embedding tables (Gather of a constant f32 matrix) become i8 with one scale per
//!   row, dequantized after the lookup with standard ops (see `embedding.rs`); for text
//!   encoders they hold most of the weights. [`DynamicConfig::quantize_embeddings`].
//! - Per-row activation quantization ([`ActivationGranularity::PerRow`], the default) has
//!   no single ONNX op: it is written as ReduceMin/ReduceMax → scale and zero point per
//!   row → u8 → MatMulInteger without zero points → exact i32 zero-point correction →
//!   rescale (`per_row.rs`), standard ops that any runtime executes with the same
//!   results as lowbit's fused per-row kernel. The choices are also recorded in the
//!   metadata key [`METADATA_KEY`] ([`DynamicRecord`]).

mod config;
mod embedding;
mod error;
mod ops_of;
mod pattern;
mod per_row;
mod record;
mod rewrite;
mod weights;

pub use config::{ActivationGranularity, DynamicConfig, WeightGranularity};
pub use error::DynamicError;
pub use pattern::glob_match;
pub use record::{DynamicRecord, METADATA_KEY};
pub use rewrite::{quantize_dynamic, DynamicQuantized};
pub use weights::{quantize_weights, QuantizedWeights};
