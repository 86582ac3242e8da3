//! Data specs: the one-string description of a dataset that CLI flags take.
//!
//! Grammar (`DIR`, `FILE` are paths; the first `:` after the prefix starts the path):
//! ```text
//! images:DIR                       photos named <anything>_<label>.<jpg|jpeg|png>
//! fashion-mnist:DIR[:train|:test]  the IDX files of (Fashion-)MNIST; default split test
//! npy:INPUTS.npy[:LABELS.npy]      preprocessed inputs [N, ...] and int64 labels [N]
//! PATH                             auto-detected: a .npy file, a directory holding
//!                                  t10k-/train-images-idx3-ubyte[.gz], or a directory of images
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use crate::dataset::Dataset;
use crate::error::{DataError, Result};
use crate::fashion_mnist::{idx_files, FashionMnist, Split};
use crate::image_folder::{image_files, ImageFolder};
use crate::npy_dataset::NpyDataset;
use crate::preprocess::Preprocess;

/// A parsed data spec; see the module documentation for the grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataSpec {
    Images {
        dir: PathBuf,
    },
    FashionMnist {
        dir: PathBuf,
        split: Split,
    },
    Npy {
        inputs: PathBuf,
        labels: Option<PathBuf>,
    },
}

impl DataSpec {
    /// Parses `spec`. Prefixed specs are parsed without touching the file system; a bare
    /// path is inspected to decide what it holds.
    pub fn parse(spec: &str) -> Result<DataSpec> {
        let fail = |reason: String| DataError::Spec {
            spec: spec.to_string(),
            reason,
        };
        let nonempty = |path: &str| {
            if path.is_empty() {
                Err(fail("the path after the prefix is empty".to_string()))
            } else {
                Ok(PathBuf::from(path))
            }
        };
        if let Some(dir) = spec.strip_prefix("images:") {
            return Ok(DataSpec::Images { dir: nonempty(dir)? });
        }
        if let Some(rest) = spec.strip_prefix("fashion-mnist:") {
            let (dir, split) = match rest.rsplit_once(':') {
                Some((dir, split @ ("train" | "test"))) => (dir, split.parse().map_err(fail)?),
                _ => (rest, Split::default()),
            };
            return Ok(DataSpec::FashionMnist {
                dir: nonempty(dir)?,
                split,
            });
        }
        if let Some(rest) = spec.strip_prefix("npy:") {
            let (inputs, labels) = match rest.split_once(".npy:") {
                Some((inputs, labels)) => (format!("{inputs}.npy"), Some(nonempty(labels)?)),
                None => (rest.to_string(), None),
            };
            return Ok(DataSpec::Npy {
                inputs: nonempty(&inputs)?,
                labels,
            });
        }
        Self::detect(Path::new(spec)).map_err(fail)
    }

    fn detect(path: &Path) -> Result<DataSpec, String> {
        let expected = "expected images:DIR, fashion-mnist:DIR[:train|test], npy:INPUTS.npy[:LABELS.npy], \
                        a .npy file or a directory of images or IDX files";
        if path.is_file() && path.extension().is_some_and(|e| e == "npy") {
            return Ok(DataSpec::Npy {
                inputs: path.to_path_buf(),
                labels: None,
            });
        }
        if !path.is_dir() {
            return Err(format!(
                "{} is neither a .npy file nor a directory ({expected})",
                path.display()
            ));
        }
        let dir = path.to_path_buf();
        if idx_files(path, Split::Test).is_some() || idx_files(path, Split::Train).is_some() {
            let split = if idx_files(path, Split::Test).is_some() {
                Split::Test
            } else {
                Split::Train
            };
            return Ok(DataSpec::FashionMnist { dir, split });
        }
        match image_files(path) {
            Ok(files) if !files.is_empty() => Ok(DataSpec::Images { dir }),
            Ok(_) => Err(format!(
                "{} holds no images and no IDX files ({expected})",
                path.display()
            )),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Opens the dataset. `preprocess` applies to images and Fashion-MNIST; `.npy`
    /// inputs are used as stored.
    pub fn open(&self, preprocess: &Preprocess) -> Result<Box<dyn Dataset>> {
        Ok(match self {
            DataSpec::Images { dir } => Box::new(ImageFolder::open(dir, preprocess.clone())?),
            DataSpec::FashionMnist { dir, split } => {
                Box::new(FashionMnist::open(dir, *split, preprocess.clone())?)
            }
            DataSpec::Npy { inputs, labels } => Box::new(NpyDataset::open(inputs, labels.as_deref())?),
        })
    }
}

/// Parses and opens `spec` in one step.
pub fn open(spec: &str, preprocess: &Preprocess) -> Result<Box<dyn Dataset>> {
    DataSpec::parse(spec)?.open(preprocess)
}

impl fmt::Display for DataSpec {
    /// The canonical, prefixed form, which [`DataSpec::parse`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataSpec::Images { dir } => write!(f, "images:{}", dir.display()),
            DataSpec::FashionMnist { dir, split } => write!(f, "fashion-mnist:{}:{split}", dir.display()),
            DataSpec::Npy { inputs, labels: None } => write!(f, "npy:{}", inputs.display()),
            DataSpec::Npy {
                inputs,
                labels: Some(labels),
            } => write!(f, "npy:{}:{}", inputs.display(), labels.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prefixed_specs() {
        assert_eq!(
            DataSpec::parse("images:/data/photos").unwrap(),
            DataSpec::Images {
                dir: "/data/photos".into()
            }
        );
        assert_eq!(
            DataSpec::parse("fashion-mnist:/d:train").unwrap(),
            DataSpec::FashionMnist {
                dir: "/d".into(),
                split: Split::Train
            }
        );
        assert_eq!(
            DataSpec::parse("fashion-mnist:/d").unwrap(),
            DataSpec::FashionMnist {
                dir: "/d".into(),
                split: Split::Test
            }
        );
        assert_eq!(
            DataSpec::parse("npy:a/x.npy:a/y.npy").unwrap(),
            DataSpec::Npy {
                inputs: "a/x.npy".into(),
                labels: Some("a/y.npy".into())
            }
        );
        assert_eq!(
            DataSpec::parse("npy:x.npy").unwrap(),
            DataSpec::Npy {
                inputs: "x.npy".into(),
                labels: None
            }
        );
    }

    #[test]
    fn display_round_trips() {
        for spec in [
            "images:d",
            "fashion-mnist:d:train",
            "npy:x.npy",
            "npy:x.npy:y.npy",
        ] {
            assert_eq!(DataSpec::parse(spec).unwrap().to_string(), spec);
        }
    }

    #[test]
    fn bad_specs_explain_what_was_expected() {
        for bad in ["images:", "npy:", "npy:x.npy:", "fashion-mnist::test"] {
            let err = DataSpec::parse(bad).unwrap_err().to_string();
            assert!(err.contains("empty"), "{bad}: {err}");
        }
        let err = DataSpec::parse("/no/such/place").unwrap_err().to_string();
        assert!(
            err.contains("/no/such/place") && err.contains("expected images:DIR"),
            "{err}"
        );
    }
}
