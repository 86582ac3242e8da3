//! Where the shared test and demo assets live.

use std::path::PathBuf;

/// Environment variable naming the assets directory.
pub const ASSETS_ENV: &str = "LOWBIT_ASSETS";

/// The assets directory: `$LOWBIT_ASSETS`, else `../shared/assets` from the current
/// directory, else the same path from the source tree this binary was built from.
/// `None` when none of them exists.
pub fn assets_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(ASSETS_ENV) {
        let dir = PathBuf::from(dir);
        return dir.is_dir().then_some(dir);
    }
    let from_cwd = PathBuf::from("../shared/assets");
    if from_cwd.is_dir() {
        return Some(from_cwd);
    }
    let from_source = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/assets"));
    from_source.is_dir().then_some(from_source)
}
