//! Plans and executes lowbit graphs on the CPU.
//!
//! [`Plan::new`] turns a [`Graph`](lowbit_graph::Graph) into an executable plan once:
//! 1. validate the graph;
//! 2. when [`PlanOptions::optimize`] is set, run the rewrite pipeline of
//!    `lowbit_graph::passes` (Identity/Dropout removal, BatchNorm folding), infer every
//!    value's dtype and shape (imported files declare few), fold every
//!    node whose inputs are all constants into a new initializer, and fuse a Conv with a
//!    following Relu/Clip into the conv kernel's activation;
//! 3. compile each node into a step: convolutions with constant weights get their
//!    kernel object (packed weights) built here, once, dynamic-int8 MatMul chains
//!    become one step with packed i8 weights (`dynamic`), and static QDQ / QOperator
//!    patterns become integer steps that keep activations in u8 (`int8`, matched
//!    before constant folding; [`Plan::fallbacks`] lists what still runs in f32);
//! 4. compute, for every value, the step after which it is dead, so that [`Plan::run`]
//!    drops intermediates early and recycles their f32 buffers.
//!
//! Evaluation follows ONNX semantics (opsets 13–18); one module per op family lives in
//! `eval/`. [`Observer`]s see every value as it is computed, which is how calibration
//! collects ranges. A fused Conv+Relu computes only the Relu's output, so the
//! pre-activation value is not observed; build the plan with `optimize: false` to see
//! every value of the graph as given.

mod buffers;
mod compile;
mod dynamic;
mod error;
mod eval;
mod exec;
mod fold;
mod int8;
mod observer;
mod plan;

pub use error::RuntimeError;
pub use observer::Observer;
pub use plan::{Plan, PlanOptions};
