//! Typed errors of the autograd layer. Errors about the model name the node and its op.

use lowbit_graph::GraphError;
use lowbit_kernels::f32::KernelError;
use lowbit_tensor::TensorError;

#[derive(Debug, thiserror::Error)]
pub enum AutogradError {
    #[error("node '{node}' ({op}): {message}")]
    Node {
        node: String,
        op: &'static str,
        message: String,
    },
    #[error("node '{node}': op {op} has no training rule")]
    Unsupported { node: String, op: &'static str },
    #[error("value '{0}' is needed but was neither fed nor computed")]
    MissingValue(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error(transparent)]
    Tensor(#[from] TensorError),
    #[error(transparent)]
    Kernel(#[from] KernelError),
}

pub type Result<T, E = AutogradError> = std::result::Result<T, E>;

/// What a rule reports when its inputs do not fit it; the executor adds the node and op.
#[derive(Debug)]
pub(crate) struct RuleError(pub String);

impl RuleError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        RuleError(message.into())
    }
}

impl From<TensorError> for RuleError {
    fn from(e: TensorError) -> Self {
        RuleError(e.to_string())
    }
}

impl From<KernelError> for RuleError {
    fn from(e: KernelError) -> Self {
        RuleError(e.to_string())
    }
}

pub(crate) type RuleResult<T> = std::result::Result<T, RuleError>;
