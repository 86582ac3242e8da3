//! The facade's error type: one enum over the layers' typed errors.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Onnx(#[from] lowbit_onnx::OnnxError),
    #[error(transparent)]
    Runtime(#[from] lowbit_runtime::RuntimeError),
    #[error(transparent)]
    Data(#[from] lowbit_data::DataError),
    #[error(transparent)]
    Graph(#[from] lowbit_graph::GraphError),
    #[error(transparent)]
    Tensor(#[from] lowbit_tensor::TensorError),
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
