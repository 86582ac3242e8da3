//! Helpers shared by the integration tests: finding assets and skipping without them,
//! and ([`proto`]) building hand-written models.

#![allow(dead_code)]

pub mod proto;

use std::path::PathBuf;

/// `$LOWBIT_ASSETS`, else the shared assets next to the workspace.
pub fn assets_dir() -> PathBuf {
    match std::env::var_os("LOWBIT_ASSETS") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/assets")),
    }
}

/// The asset at `relative`, or `None` (with a printed reason) when it is absent.
/// With `LOWBIT_REQUIRE_ASSETS=1` a missing asset fails the test instead.
pub fn asset(relative: &str) -> Option<PathBuf> {
    let path = assets_dir().join(relative);
    if path.exists() {
        return Some(path);
    }
    let message = format!("asset {} not found", path.display());
    if std::env::var("LOWBIT_REQUIRE_ASSETS").as_deref() == Ok("1") {
        panic!("{message} and LOWBIT_REQUIRE_ASSETS=1");
    }
    eprintln!("skipping: {message}");
    None
}

/// A fresh, empty scratch directory for one test.
pub fn scratch_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lowbit-onnx-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}
