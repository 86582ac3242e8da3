//! Dynamic-int8 matrix products: the chain a dynamic quantizer writes,
//!
//! ```text
//! DynamicQuantizeLinear(x) → MatMulInteger(x_q, W_q const i8, x_zp, W_zp const?)
//!   → Cast(f32) → Mul(·, Mul(x_scale, w_scale const)) [→ Add(·, bias const [N])]
//! ```
//!
//! is recognised at plan time ([`match_chain`]) and executed as one step
//! ([`DynamicMatMul`]) whose weights are packed once for the INT8 GEMM.
//!
//! The chain fuses only when every intermediate (x_q, x_scale, x_zp, the accumulators,
//! the scale product, the unbiased product) has a single consumer and is not a graph
//! output; otherwise the reference evaluators run it node by node.
//!
//! The per-row form `lowbit_quant::dynamic` writes in standard ops (ReduceMin/ReduceMax
//! per row → u8 → MatMulInteger → i32 zero-point correction → rescale, see
//! `row_matching.rs`) fuses into the same step with per-row ranges, whatever the metadata.
//!
//! In older files, per-row ranges are chosen by the graph's `lowbit.dynamic` metadata (a JSON
//! object `{"activations": "per_row", "nodes": [MatMulInteger names], ...}` written by
//! `lowbit_quant::dynamic`): listed products of a fused chain quantize each row of the
//! flattened `[M, K]` input with its own range. Unfused chains, and other runtimes,
//! keep ONNX's per-tensor semantics.

mod kernel;
mod matching;
mod row_matching;

pub(crate) use kernel::DynamicMatMul;
pub(crate) use matching::{match_chain, per_row_nodes};
