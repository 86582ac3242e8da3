//! Typed errors of static quantization. Each names the node, value or file at fault.

use lowbit_graph::GraphError;
use lowbit_runtime::RuntimeError;
use lowbit_tensor::TensorError;

use crate::QuantError;

#[derive(Debug, thiserror::Error)]
pub enum PtqError {
    /// The recipe text is not valid TOML or does not match the recipe schema.
    #[error("quantization recipe: {0}")]
    Recipe(String),
    /// An override names a node that the model does not have.
    #[error("quantization recipe: override names node '{node}', which the model does not have")]
    UnknownNode { node: String },
    /// The calibration data does not fit the model.
    #[error("calibration data: {0}")]
    Calibration(String),
    /// `convert` was called before any calibration sample reached the observer of `value`.
    #[error("value '{value}' was never observed: calibrate before converting")]
    NotCalibrated { value: String },
    /// Parameters given in place of calibration do not fit the model.
    #[error("fixed quantization parameters: {0}")]
    FixedParams(String),
    #[error("quantization of '{name}': {source}")]
    Quant {
        name: String,
        #[source]
        source: QuantError,
    },
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Data(#[from] lowbit_data::DataError),
    #[error(transparent)]
    Tensor(#[from] TensorError),
}

impl PtqError {
    /// Wraps an observer or scheme error with the value or node it concerns.
    pub(crate) fn quant(name: &str) -> impl FnOnce(QuantError) -> PtqError + '_ {
        move |source| PtqError::Quant {
            name: name.to_string(),
            source,
        }
    }
}

pub(crate) type Result<T, E = PtqError> = std::result::Result<T, E>;
