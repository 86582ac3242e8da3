//! Typed errors of quantization-aware training. Each names the value, node or option at
//! fault; errors from the layers below keep their own context.

use lowbit_autograd::AutogradError;
use lowbit_data::DataError;
use lowbit_graph::GraphError;
use lowbit_quant::static_ptq::PtqError;
use lowbit_quant::QuantError;
use lowbit_runtime::RuntimeError;
use lowbit_tensor::TensorError;

#[derive(Debug, thiserror::Error)]
pub enum QatError {
    /// An option or input the QAT workflow cannot run with.
    #[error("QAT: {0}")]
    Invalid(String),
    /// `convert` was asked before any training step fed the observer of `value`.
    #[error("QAT: activation '{value}' was never observed: train at least one step before converting")]
    NotObserved { value: String },
    #[error(transparent)]
    Autograd(#[from] AutogradError),
    #[error(transparent)]
    Ptq(#[from] PtqError),
    #[error(transparent)]
    Quant(#[from] QuantError),
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Tensor(#[from] TensorError),
}

pub type Result<T, E = QatError> = std::result::Result<T, E>;
