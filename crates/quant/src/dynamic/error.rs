//! Errors of the dynamic quantization pass; each names the node it concerns.

use lowbit_graph::GraphError;

#[derive(Debug, thiserror::Error)]
pub enum DynamicError {
    /// A weight cannot be quantized (non-finite values, wrong rank).
    #[error("node '{node}' ({op}): {message}")]
    Node {
        node: String,
        op: &'static str,
        message: String,
    },
    /// The `lowbit.dynamic` metadata of a graph cannot be read.
    #[error("metadata '{key}': {message}")]
    Metadata { key: &'static str, message: String },
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error(transparent)]
    Tensor(#[from] lowbit_tensor::TensorError),
}
