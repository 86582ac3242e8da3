//! Typed errors of ONNX import and export. Every variant names the file (`origin`), and
//! node problems also name the node and its op type.

use lowbit_graph::GraphError;

#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    #[error("{origin}: {source}")]
    Io {
        origin: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}: not a valid ONNX protobuf (truncated or corrupt file?): {source}")]
    Decode {
        origin: String,
        #[source]
        source: prost::DecodeError,
    },
    #[error("{origin}: node '{node}': unsupported op '{op}'{}", domain_note(.domain))]
    UnsupportedOp {
        origin: String,
        node: String,
        op: String,
        domain: String,
    },
    /// A valid ONNX construct that lowbit does not implement (e.g. a 3-D convolution).
    #[error("{origin}: node '{node}' ({op}): not supported by lowbit: {message}")]
    UnsupportedFeature {
        origin: String,
        node: String,
        op: String,
        message: String,
    },
    #[error("{origin}: tensor '{tensor}': element type {dtype} is not supported by lowbit")]
    UnsupportedDType {
        origin: String,
        tensor: String,
        dtype: String,
    },
    /// A graph value that is not a plain tensor (sequence, map, optional, sparse).
    #[error("{origin}: value '{value}' is {kind}; lowbit supports only dense tensors")]
    UnsupportedType {
        origin: String,
        value: String,
        kind: String,
    },
    #[error("{origin}: node '{node}' ({op}): attribute '{attribute}': {message}")]
    BadAttribute {
        origin: String,
        node: String,
        op: String,
        attribute: String,
        message: String,
    },
    #[error("{origin}: node '{node}' ({op}): input '{input}' is not a graph input, an initializer or the output of any node")]
    MissingInput {
        origin: String,
        node: String,
        op: String,
        input: String,
    },
    #[error("{origin}: node '{node}' ({op}): {message}")]
    Node {
        origin: String,
        node: String,
        op: String,
        message: String,
    },
    #[error("{origin}: tensor '{tensor}': {message}")]
    Tensor {
        origin: String,
        tensor: String,
        message: String,
    },
    #[error("{origin}: {message}")]
    Model { origin: String, message: String },
    #[error("{origin}: {source}")]
    Graph {
        origin: String,
        #[source]
        source: GraphError,
    },
}

fn domain_note(domain: &str) -> String {
    if domain.is_empty() {
        String::new()
    } else {
        format!(" in domain '{domain}'")
    }
}

impl OnnxError {
    pub(crate) fn model(origin: &str, message: impl Into<String>) -> Self {
        OnnxError::Model {
            origin: origin.to_string(),
            message: message.into(),
        }
    }

    pub(crate) fn tensor(origin: &str, tensor: &str, message: impl Into<String>) -> Self {
        OnnxError::Tensor {
            origin: origin.to_string(),
            tensor: tensor.to_string(),
            message: message.into(),
        }
    }

    pub(crate) fn graph(origin: &str, source: GraphError) -> Self {
        OnnxError::Graph {
            origin: origin.to_string(),
            source,
        }
    }

    /// Whether the error means "lowbit does not implement this" rather than "this
    /// model is broken": conformance runners count the two apart.
    pub fn is_unsupported(&self) -> bool {
        matches!(
            self,
            OnnxError::UnsupportedOp { .. }
                | OnnxError::UnsupportedFeature { .. }
                | OnnxError::UnsupportedDType { .. }
                | OnnxError::UnsupportedType { .. }
        )
    }
}

pub type Result<T, E = OnnxError> = std::result::Result<T, E>;
