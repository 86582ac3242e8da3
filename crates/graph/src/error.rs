//! Typed errors of the graph layer. Each names the node (and op) it concerns.

use lowbit_tensor::TensorError;

#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error("node '{node}' ({op}): {message}")]
    Node {
        node: String,
        op: String,
        message: String,
    },
    #[error("value '{0}' is not defined in the graph")]
    UnknownValue(String),
    #[error("the graph has a cycle through node '{0}'")]
    Cycle(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Tensor(#[from] TensorError),
}

impl GraphError {
    pub fn node(node: &str, op: &str, message: impl Into<String>) -> Self {
        GraphError::Node {
            node: node.to_string(),
            op: op.to_string(),
            message: message.into(),
        }
    }
}

pub type Result<T, E = GraphError> = std::result::Result<T, E>;
