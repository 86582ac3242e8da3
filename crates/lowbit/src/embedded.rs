//! The embedded default: the MobileNetV2 that `lowbit train` trained on Fashion-MNIST and
//! the Fashion-MNIST test set, both committed under `embedded/` so that `lowbit demo`
//! works from a fresh clone with no download.

use std::path::{Path, PathBuf};

use lowbit_data::{FashionMnist, Preprocess, Split};

use crate::{Error, Result};

/// Environment variable that points the demo at another `embedded/` folder.
pub const EMBEDDED_ENV: &str = "LOWBIT_EMBEDDED";

/// Where the full Fashion-MNIST package (with the training split) installs.
pub const FASHION_MNIST_SYSTEM_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// `$LOWBIT_EMBEDDED`, else the `embedded/` folder of the source tree this binary was
/// built from.
pub fn embedded_dir() -> PathBuf {
    std::env::var_os(EMBEDDED_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../embedded")))
}

/// The committed FP32 model.
pub fn fashion_mnist_model() -> Result<PathBuf> {
    existing(embedded_dir().join("mobilenet_v2_fashion_mnist.onnx"))
}

/// The committed 10 000-image test split, preprocessed as `preprocess` says.
pub fn fashion_mnist_test(preprocess: Preprocess) -> Result<FashionMnist> {
    let dir = existing(embedded_dir().join("fashion-mnist"))?;
    FashionMnist::open(&dir, Split::Test, preprocess).map_err(Error::from)
}

/// The 60 000-image training split from the system package, when it is installed.
pub fn fashion_mnist_train(preprocess: Preprocess) -> Result<Option<FashionMnist>> {
    let dir = Path::new(FASHION_MNIST_SYSTEM_DIR);
    if !dir.is_dir() {
        return Ok(None);
    }
    FashionMnist::open(dir, Split::Train, preprocess)
        .map(Some)
        .map_err(Error::from)
}

fn existing(path: PathBuf) -> Result<PathBuf> {
    if path.exists() {
        Ok(path)
    } else {
        Err(Error::File {
            message: format!("the embedded default is missing (set {EMBEDDED_ENV} to its folder)"),
            path,
        })
    }
}
