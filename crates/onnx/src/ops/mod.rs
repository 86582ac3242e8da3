//! The op registry: one small constructor per ONNX op type, registered per op family.
//!
//! A constructor reads the node's attributes (with the differences between opset
//! versions) and returns the lowbit [`Op`](lowbit_graph::Op), possibly after editing the
//! node's inputs (old attributes become constant inputs) or adding helper nodes.
//! Besides the default domain, the registry holds the ONNX Runtime contrib ops
//! (`com.microsoft`) that quantized files from its quantizer use ([`contrib`]).

mod contrib;
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
use crate::import::is_default_domain;
use crate::Result;

pub(crate) type Constructor = fn(&mut NodeCtx) -> Result<Lowered>;

/// ONNX Runtime's contrib operator domain.
pub(crate) const MICROSOFT_DOMAIN: &str = "com.microsoft";

/// Constructors by (domain, op type); the default domain is stored as "".
#[derive(Default)]
pub(crate) struct Registry {
    constructors: HashMap<(&'static str, &'static str), Constructor>,
}

impl Registry {
    /// Registers an op of the default ONNX domain.
    pub fn register(&mut self, op_type: &'static str, constructor: Constructor) {
        self.constructors.insert(("", op_type), constructor);
    }

    /// Registers an op of another domain.
    pub fn register_in(&mut self, domain: &'static str, op_type: &'static str, constructor: Constructor) {
        self.constructors.insert((domain, op_type), constructor);
    }

    pub fn get(&self, domain: &str, op_type: &str) -> Option<Constructor> {
        let domain = if is_default_domain(domain) { "" } else { domain };
        self.constructors.get(&(domain, op_type)).copied()
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
        contrib::register_all_ops(&mut registry);
        registry
    })
}

/// The ONNX op types (default domain) the importer understands, sorted.
pub fn supported_ops() -> Vec<&'static str> {
    let mut ops: Vec<&'static str> = registry()
        .constructors
        .keys()
        .filter(|(domain, _)| domain.is_empty())
        .map(|&(_, op)| op)
        .collect();
    ops.sort_unstable();
    ops
}
