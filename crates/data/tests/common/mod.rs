//! Shared helpers of the integration tests: asset lookup and scratch directories.
#![allow(dead_code)] // Each test binary uses a different subset.

use std::path::{Path, PathBuf};

/// `LOWBIT_ASSETS` (relative paths resolve against the workspace root), else
/// `/work/shared/assets` next to the workspace.
pub fn assets_dir() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    match std::env::var_os("LOWBIT_ASSETS") {
        Some(dir) => workspace.join(dir),
        None => workspace.join("../shared/assets"),
    }
}

/// `Some(path)` when it exists; otherwise prints why the test is skipped, or fails
/// when `LOWBIT_REQUIRE_ASSETS=1`.
pub fn require(path: PathBuf) -> Option<PathBuf> {
    if path.exists() {
        return Some(path);
    }
    let reason = format!("{} is missing", path.display());
    if std::env::var("LOWBIT_REQUIRE_ASSETS").as_deref() == Ok("1") {
        panic!("{reason} and LOWBIT_REQUIRE_ASSETS=1");
    }
    eprintln!("skipped: {reason}");
    None
}

/// A fresh, empty directory for one test.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("lowbit-data")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}
