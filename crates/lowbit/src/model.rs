//! A model ready to run: its graph compiled into a plan, plus what its file says about
//! preprocessing.

use std::path::{Path, PathBuf};

use lowbit_data::{DataError, Preprocess, PREPROCESS_METADATA_KEY};
use lowbit_graph::Graph;
use lowbit_runtime::{Plan, PlanOptions};

use crate::{Error, Result};

pub struct Model {
    pub path: PathBuf,
    /// The graph as loaded, before any optimisation.
    pub graph: Graph,
    pub plan: Plan,
    /// Size of the model file in bytes.
    pub file_bytes: u64,
}

impl Model {
    /// Loads an ONNX file and compiles it for execution.
    pub fn load(path: &Path, options: &PlanOptions) -> Result<Model> {
        let graph = lowbit_onnx::load(path)?;
        let file_bytes = std::fs::metadata(path)
            .map_err(|e| Error::File {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?
            .len();
        let plan = Plan::new(graph.clone(), options)?;
        Ok(Model {
            path: path.to_path_buf(),
            graph,
            plan,
            file_bytes,
        })
    }

    /// The preprocessing stored in the model's metadata, if any.
    pub fn preprocess(&self) -> Result<Option<Preprocess>> {
        stored_preprocess(&self.graph).map_err(|e| Error::File {
            path: self.path.clone(),
            message: format!("metadata '{PREPROCESS_METADATA_KEY}': {e}"),
        })
    }
}

/// The preprocessing stored in `graph`'s metadata (key [`PREPROCESS_METADATA_KEY`]), if any.
pub fn stored_preprocess(graph: &Graph) -> Result<Option<Preprocess>, DataError> {
    graph
        .metadata
        .get(PREPROCESS_METADATA_KEY)
        .map(|json| Preprocess::from_metadata_json(json))
        .transpose()
}
