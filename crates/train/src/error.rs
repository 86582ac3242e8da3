//! Typed errors of the training layer; checkpoint errors name the file.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("invalid training configuration: {0}")]
    Config(String),
    #[error("{}: {reason}", path.display())]
    Checkpoint { path: PathBuf, reason: String },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Autograd(#[from] lowbit_autograd::AutogradError),
    #[error(transparent)]
    Data(#[from] lowbit_data::DataError),
    #[error(transparent)]
    Graph(#[from] lowbit_graph::GraphError),
    #[error(transparent)]
    Onnx(#[from] lowbit_onnx::OnnxError),
    #[error(transparent)]
    Runtime(#[from] lowbit_runtime::RuntimeError),
    #[error(transparent)]
    Tensor(#[from] lowbit_tensor::TensorError),
}

pub type Result<T, E = TrainError> = std::result::Result<T, E>;

impl TrainError {
    pub(crate) fn checkpoint(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        TrainError::Checkpoint {
            path: path.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TrainError::Io {
            path: path.into(),
            source,
        }
    }
}
