//! Checkpoints: the model as ONNX plus the sidecar state that resuming needs.
//!
//! A checkpoint after epoch `e` is three files in one directory:
//! - `epoch-{e:03}.onnx`: the graph of `TrainingExecutor::to_graph` (BatchNorm kept as a
//!   node with its running statistics, Dropout kept), loadable by every lowbit command;
//! - `epoch-{e:03}.velocity.bin`: the optimizer velocities, little-endian f32, in the
//!   order the state lists them;
//! - `epoch-{e:03}.state.json`: [`TrainState`], written last, so a checkpoint whose
//!   state file exists is complete.
//!
//! Each file is written to a temporary name, synced and renamed. No random-generator
//! state is stored because there is none to store: the loader's shuffle and
//! augmentation streams and the dropout seed are functions of the run's seed and the
//! epoch, and checkpoints are taken at epoch boundaries.

use std::io::Write;
use std::path::{Path, PathBuf};

use lowbit_graph::Graph;
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};
use crate::trainer::{EpochReport, TrainConfig};

/// Version of the sidecar layout; [`load`] refuses others.
pub const CHECKPOINT_FORMAT: u32 = 1;

const STATE_SUFFIX: &str = ".state.json";

/// Everything besides the weights that continues a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    pub format: u32,
    pub epochs_done: usize,
    /// Optimizer steps taken so far (the learning-rate schedule's position).
    pub step: usize,
    pub config: TrainConfig,
    pub history: Vec<EpochReport>,
    /// File names, relative to the state file's directory.
    pub model_file: String,
    pub velocity_file: String,
    /// Parameter name and value count of each velocity, in file order.
    pub velocity: Vec<(String, usize)>,
}

/// A loaded checkpoint.
#[derive(Debug)]
pub struct Checkpoint {
    pub graph: Graph,
    pub state: TrainState,
    pub velocity: Vec<(String, Vec<f32>)>,
    /// The state file it was read from.
    pub path: PathBuf,
}

/// The file stem of the checkpoint taken after `epoch` epochs.
fn stem(epoch: usize) -> String {
    format!("epoch-{epoch:03}")
}

/// Writes a checkpoint into `dir` (created if missing) and returns the model's path.
/// `state.model_file`, `velocity_file` and `velocity` are filled in here.
pub fn save(
    dir: &Path,
    graph: &Graph,
    mut state: TrainState,
    velocity: &[(String, &[f32])],
) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
    let stem = stem(state.epochs_done);
    state.model_file = format!("{stem}.onnx");
    state.velocity_file = format!("{stem}.velocity.bin");
    state.velocity = velocity.iter().map(|(n, v)| (n.clone(), v.len())).collect();

    let model_path = dir.join(&state.model_file);
    lowbit_onnx::save(graph, &model_path)?;
    let mut bytes = Vec::with_capacity(velocity.iter().map(|(_, v)| v.len() * 4).sum());
    for value in velocity.iter().flat_map(|(_, v)| v.iter()) {
        bytes.extend_from_slice(&value.to_le_bytes());
    }
    write_atomically(&dir.join(&state.velocity_file), &bytes)?;
    let json = serde_json::to_vec_pretty(&state)
        .map_err(|e| TrainError::checkpoint(dir, format!("cannot encode the state: {e}")))?;
    write_atomically(&dir.join(format!("{stem}{STATE_SUFFIX}")), &json)?;
    Ok(model_path)
}

/// Loads a checkpoint from its state file, its model file (`epoch-NNN.onnx`), or a
/// directory (the checkpoint with the most epochs).
pub fn load(path: &Path) -> Result<Checkpoint> {
    let state_path = state_path(path)?;
    let read = |p: &Path| std::fs::read(p).map_err(|e| TrainError::io(p, e));
    let state: TrainState = serde_json::from_slice(&read(&state_path)?)
        .map_err(|e| TrainError::checkpoint(&state_path, format!("not a training state file: {e}")))?;
    if state.format != CHECKPOINT_FORMAT {
        return Err(TrainError::checkpoint(
            &state_path,
            format!(
                "checkpoint format {} (this build reads {CHECKPOINT_FORMAT})",
                state.format
            ),
        ));
    }
    let dir = state_path.parent().unwrap_or(Path::new("."));
    let graph = lowbit_onnx::load(&dir.join(&state.model_file))?;
    let velocity_path = dir.join(&state.velocity_file);
    let bytes = read(&velocity_path)?;
    let expected: usize = state.velocity.iter().map(|(_, n)| n * 4).sum();
    if bytes.len() != expected {
        return Err(TrainError::checkpoint(
            &velocity_path,
            format!("{} bytes, the state lists {expected}", bytes.len()),
        ));
    }
    let mut values = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let velocity = state
        .velocity
        .iter()
        .map(|(name, n)| (name.clone(), values.by_ref().take(*n).collect()))
        .collect();
    Ok(Checkpoint {
        graph,
        state,
        velocity,
        path: state_path,
    })
}

/// The state file meant by `path`: itself, the sidecar of a model file, or the latest in
/// a directory.
fn state_path(path: &Path) -> Result<PathBuf> {
    if path.is_dir() {
        let entries = std::fs::read_dir(path).map_err(|e| TrainError::io(path, e))?;
        let latest = entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter_map(|p| {
                let name = p.file_name()?.to_str()?;
                let epoch: usize = name
                    .strip_prefix("epoch-")?
                    .strip_suffix(STATE_SUFFIX)?
                    .parse()
                    .ok()?;
                Some((epoch, p))
            })
            .max_by_key(|(epoch, _)| *epoch);
        return latest
            .map(|(_, p)| p)
            .ok_or_else(|| TrainError::checkpoint(path, "holds no epoch-NNN.state.json checkpoint"));
    }
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if name.ends_with(STATE_SUFFIX) {
        return Ok(path.to_path_buf());
    }
    if let Some(stem) = name.strip_suffix(".onnx") {
        let sidecar = path.with_file_name(format!("{stem}{STATE_SUFFIX}"));
        if sidecar.is_file() {
            return Ok(sidecar);
        }
        return Err(TrainError::checkpoint(
            path,
            format!(
                "no training state next to the model (expected {})",
                sidecar.display()
            ),
        ));
    }
    Err(TrainError::checkpoint(
        path,
        "expected a checkpoint directory, an epoch-NNN.onnx or an epoch-NNN.state.json",
    ))
}

/// Writes `bytes` to a temporary file beside `path`, syncs it and renames it into place,
/// so readers never see a partial file.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| TrainError::io(path, e))
}
