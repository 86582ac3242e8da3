//! Typed errors of the data layer; every variant about a file names it.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: not a valid .npy file: {reason}", path.display())]
    Npy { path: PathBuf, reason: String },
    #[error("{}: not a valid IDX file: {reason}", path.display())]
    Idx { path: PathBuf, reason: String },
    #[error("{}: cannot decode image: {source}", path.display())]
    Image {
        path: PathBuf,
        source: image::ImageError,
    },
    #[error("{}: {reason}", path.display())]
    Dataset { path: PathBuf, reason: String },
    #[error("invalid data spec '{spec}': {reason}")]
    Spec { spec: String, reason: String },
    #[error("invalid preprocessing: {0}")]
    Preprocess(String),
    #[error("sample {index} is out of range for a dataset of {len} samples")]
    OutOfRange { index: usize, len: usize },
    #[error("cannot batch samples: {0}")]
    Batch(String),
    #[error(transparent)]
    Tensor(#[from] lowbit_tensor::TensorError),
}

pub type Result<T, E = DataError> = std::result::Result<T, E>;

impl DataError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn npy(path: &Path, reason: impl Into<String>) -> Self {
        DataError::Npy {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }

    pub(crate) fn idx(path: &Path, reason: impl Into<String>) -> Self {
        DataError::Idx {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }

    pub(crate) fn dataset(path: &Path, reason: impl Into<String>) -> Self {
        DataError::Dataset {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }
}
