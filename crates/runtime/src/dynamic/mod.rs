//! Dynamic-int8 matrix products: the chain a dynamic quantizer writes,
//!
//! ```text
//! DynamicQuantizeLinear(x) → MatMulInteger(x_q, W_q const i8, x_zp, W_zp const?)
//!   → Cast(f32) → Mul(·, Mul(x_scale, w_scale const)) [→ Add(·, bias const [N])]
//! ```
//!
//! is recognised at plan time ([`match_chains`]) and executed as one step
//! ([`DynamicMatMul`]) whose weights are packed once for the INT8 GEMM.
//!
//! The chain fuses only when no intermediate is a graph output and every one is read
//! inside the pattern: the accumulators, the scale product and the unbiased product by
//! their chain alone; x_q, x_scale and x_zp by the chains of every MatMulInteger that
//! shares them (each becomes its own step). Otherwise the reference evaluators run the
//! chains node by node.
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
pub(crate) use matching::{match_chains, per_row_nodes};
