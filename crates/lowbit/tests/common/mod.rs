//! Shared helpers of the facade's integration tests.

use std::path::PathBuf;

/// The asset at `relative` under the assets directory, or `None` (with the reason
/// printed) when it is absent. With `LOWBIT_REQUIRE_ASSETS=1` a missing asset fails.
pub fn asset(relative: &str) -> Option<PathBuf> {
    let path = lowbit::assets::assets_dir().map(|dir| dir.join(relative));
    match path {
        Some(p) if p.exists() => Some(p),
        _ => {
            let reason = format!("asset '{relative}' not found (set LOWBIT_ASSETS)");
            if std::env::var("LOWBIT_REQUIRE_ASSETS").as_deref() == Ok("1") {
                panic!("{reason}, and LOWBIT_REQUIRE_ASSETS=1");
            }
            eprintln!("skipped: {reason}");
            None
        }
    }
}
