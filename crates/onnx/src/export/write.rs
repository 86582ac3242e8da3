//! Atomic file writes: a temporary file in the destination's directory, then a rename,
//! so a reader never sees half a model and a failed write leaves the old file intact.

use std::io::Write;
use std::path::Path;

use crate::{OnnxError, Result};

pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let origin = path.display().to_string();
    let io_err = |source| OnnxError::Io {
        origin: origin.clone(),
        source,
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| OnnxError::model(&origin, "the destination is not a file path"))?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let temp = dir.join(format!(
        ".{}.{}.tmp",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        // Best effort: the temporary file may not exist if creating it failed.
        let _ = std::fs::remove_file(&temp);
    }
    result.map_err(io_err)
}
