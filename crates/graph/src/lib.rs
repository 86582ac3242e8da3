//! The lowbit graph IR: one representation for every front end (ONNX, the builder API,
//! and later the quantizer and the trainer).
//!
//! - A [`Graph`] owns [`Value`]s (named edges with a [`Fact`]: dtype and maybe-symbolic
//!   shape), [`Node`]s (an [`Op`] with its attributes, input and output values) and
//!   initializers (constant tensors bound to values).
//! - Ops are a closed enum ([`Op`]) of attribute records, so rewrite passes can pattern
//!   match on them. Each op family lives in its own module under [`ops`]; evaluation is
//!   the runtime's job, shape inference is here.
//! - Nodes are kept in topological order by [`Graph::sort`]; passes that edit the graph
//!   call it before they return.

mod dim;
mod error;
mod graph;
pub mod ops;

pub use dim::{Dim, Fact};
pub use error::{GraphError, Result};
pub use graph::{Graph, Node, NodeId, Value, ValueId};
pub use ops::Op;

pub mod builder;
pub mod infer;
pub mod passes;
