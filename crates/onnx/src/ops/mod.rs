//! The op registry: one small constructor per ONNX op type, registered per op family.
//!
//! A constructor reads the node's attributes (with the differences between opset
//! versions) and returns the lowbit [`Op`](lowbit_graph::Op), possibly after editing the
//! node's inputs (old attributes become constant inputs) or adding helper nodes.

mod elementwise;
mod linalg;
mod nn;
mod quant;
mod reduce;
mod shape;
mod window;

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::import::context::{Lowered, NodeCtx};
use crate::Result;

pub(crate) type Constructor = fn(&mut NodeCtx) -> Result<Lowered>;

#[derive(Default)]
pub(crate) struct Registry {
    constructors: HashMap<&'static str, Constructor>,
}

impl Registry {
    pub fn register(&mut self, op_type: &'static str, constructor: Constructor) {
        self.constructors.insert(op_type, constructor);
    }

    pub fn get(&self, op_type: &str) -> Option<Constructor> {
        self.constructors.get(op_type).copied()
    }
}

/// The registry of every ONNX op lowbit imports, built on first use.
pub(crate) fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut registry = Registry::default();
        nn::register_all_ops(&mut registry);
        linalg::register_all_ops(&mut registry);
        elementwise::register_all_ops(&mut registry);
        shape::register_all_ops(&mut registry);
        reduce::register_all_ops(&mut registry);
        quant::register_all_ops(&mut registry);
        registry
    })
}

/// The ONNX op types (default domain) the importer understands, sorted.
pub fn supported_ops() -> Vec<&'static str> {
    let mut ops: Vec<&'static str> = registry().constructors.keys().copied().collect();
    ops.sort_unstable();
    ops
}
