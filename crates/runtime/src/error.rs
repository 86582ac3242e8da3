//! Errors of planning and execution. Each names the node and op, or the graph input.

use lowbit_graph::GraphError;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A node failed to compile or evaluate.
    #[error("node '{node}' ({op}): {message}")]
    Node {
        node: String,
        op: String,
        message: String,
    },
    #[error("the graph takes {expected} inputs but {got} were given")]
    InputCount { expected: usize, got: usize },
    /// A run input does not match the graph's declaration.
    #[error("input '{name}': expected {expected}, got {got}")]
    Input {
        name: String,
        expected: String,
        got: String,
    },
    #[error("cannot build a thread pool of {threads} threads: {message}")]
    ThreadPool { threads: usize, message: String },
    #[error(transparent)]
    Graph(#[from] GraphError),
}

impl RuntimeError {
    pub(crate) fn node(node: &str, op: &str, message: impl Into<String>) -> Self {
        RuntimeError::Node {
            node: node.to_string(),
            op: op.to_string(),
            message: message.into(),
        }
    }
}
