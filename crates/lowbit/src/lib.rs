//! lowbit: the public Rust API.
//!
//! This crate re-exports the layers (tensor, kernels, graph, runtime, onnx, data, zoo)
//! and adds the measurements the command-line tool is made of: accuracy, fidelity
//! against a reference, latency, and ONNX conformance.
//!
//! Binaries get the integer engine's full speed with the cache-line allocator the
//! `lowbit` command uses: `#[global_allocator] static A: lowbit::tensor::CacheAligned =
//! lowbit::tensor::CacheAligned;` (6–9% on EfficientNet-Lite0 INT8, docs/PERFORMANCE.md).

pub use lowbit_data as data;
pub use lowbit_graph as graph;
pub use lowbit_kernels as kernels;
pub use lowbit_onnx as onnx;
pub use lowbit_quant as quant;
pub use lowbit_runtime as runtime;
pub use lowbit_tensor as tensor;
pub use lowbit_train as train;
pub use lowbit_zoo as zoo;

mod error;
pub use error::{Error, Result};

pub mod assets;
pub mod bench;
pub mod compare;
pub mod conformance;
pub mod embed;
pub mod embedded;
pub mod evaluate;
pub mod metrics;
pub mod model;
pub mod quantize_dynamic;
pub mod quantize_static;
pub mod sensitivity;
pub mod summary;
pub mod sysinfo;
pub mod tune;
