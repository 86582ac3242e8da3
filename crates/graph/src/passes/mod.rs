//! Graph rewrite passes: small named rules, each numerically a no-op, run as a pipeline.
//!
//! Each [`Pass`] rewrites the graph in place and reports how many rewrites it made; it
//! leaves the graph sorted and valid. [`optimize`] runs the inference pipeline that the
//! runtime applies before compiling a plan. Conv+Relu fusion is not a pass: the IR keeps
//! activations as nodes and the runtime fuses them into the conv kernel when it compiles.

mod batchnorm;
mod identity;

pub use batchnorm::FoldBatchNormIntoConv;
pub use identity::RemoveIdentity;

use crate::{Graph, Result};

/// A named graph rewrite.
pub trait Pass {
    fn name(&self) -> &'static str;
    /// Applies the rewrite everywhere it matches and returns the number of rewrites.
    fn apply(&self, graph: &mut Graph) -> Result<usize>;
}

/// The passes of [`optimize`], in order.
pub fn inference_pipeline() -> Vec<Box<dyn Pass>> {
    vec![Box::new(RemoveIdentity), Box::new(FoldBatchNormIntoConv)]
}

/// Runs [`inference_pipeline`], then drops what no output depends on. Returns each
/// pass's name and rewrite count.
pub fn optimize(graph: &mut Graph) -> Result<Vec<(&'static str, usize)>> {
    run_pipeline(graph, &inference_pipeline())
}

/// Runs `passes` in order, then prunes dead nodes and initializers.
pub fn run_pipeline(graph: &mut Graph, passes: &[Box<dyn Pass>]) -> Result<Vec<(&'static str, usize)>> {
    let mut report = Vec::with_capacity(passes.len());
    for pass in passes {
        let count = pass.apply(graph)?;
        report.push((pass.name(), count));
    }
    graph.prune();
    graph.sort()?;
    Ok(report)
}

/// How many node inputs read each value, indexed by value id.
pub(crate) fn use_counts(graph: &Graph) -> Vec<usize> {
    let mut counts = vec![0; graph.value_count()];
    for node in &graph.nodes {
        for input in node.inputs.iter().flatten() {
            counts[input.0] += 1;
        }
    }
    counts
}
