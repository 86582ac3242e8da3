//! Fashion-MNIST (or MNIST) from its four IDX files, held in memory.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::dataset::{Dataset, Sample};
use crate::error::{DataError, Result};
use crate::idx::{read_idx_images, read_idx_labels};
use crate::pixels::Pixels;
use crate::preprocess::Preprocess;

/// Which half of the dataset: 60 000 training or 10 000 test images for Fashion-MNIST.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Split {
    Train,
    #[default]
    Test,
}

impl Split {
    /// The file-name prefix the IDX distribution uses.
    fn prefix(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "t10k",
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Split::Train => "train",
            Split::Test => "test",
        })
    }
}

impl FromStr for Split {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "train" => Ok(Split::Train),
            "test" => Ok(Split::Test),
            other => Err(format!("unknown split '{other}' (expected train or test)")),
        }
    }
}

/// The images and labels of one split; samples are `[1, H, W]` f32 after `preprocess`
/// (one channel whatever `preprocess.gray` says; `mean[0]`/`std[0]` apply).
#[derive(Debug)]
pub struct FashionMnist {
    images_path: PathBuf,
    rows: usize,
    cols: usize,
    pixels: Vec<u8>,
    labels: Vec<u8>,
    preprocess: Preprocess,
    sample_shape: Vec<usize>,
}

impl FashionMnist {
    /// Reads `{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]` from `dir`.
    pub fn open(dir: &Path, split: Split, preprocess: Preprocess) -> Result<Self> {
        preprocess.validate()?;
        let (images_path, labels_path) = idx_files(dir, split).ok_or_else(|| {
            DataError::dataset(
                dir,
                format!(
                    "no {p}-images-idx3-ubyte[.gz] and {p}-labels-idx1-ubyte[.gz] pair for the {split} split",
                    p = split.prefix()
                ),
            )
        })?;
        let images = read_idx_images(&images_path)?;
        let labels = read_idx_labels(&labels_path)?;
        let &[count, rows, cols] = images.shape() else {
            return Err(DataError::idx(&images_path, "image files have 3 dimensions"));
        };
        if labels.len() != count {
            return Err(DataError::dataset(
                &labels_path,
                format!(
                    "{} labels for {count} images in {}",
                    labels.len(),
                    images_path.display()
                ),
            ));
        }
        let mut dataset = FashionMnist {
            images_path,
            rows,
            cols,
            pixels: images.into_vec()?,
            labels,
            preprocess,
            sample_shape: vec![1, rows, cols],
        };
        if count > 0 {
            // The geometry of every sample is that of the first one.
            dataset.sample_shape = dataset.get(0)?.input.shape().to_vec();
        }
        Ok(dataset)
    }

    pub fn labels(&self) -> &[u8] {
        &self.labels
    }
}

impl Dataset for FashionMnist {
    fn len(&self) -> usize {
        self.labels.len()
    }

    fn get(&self, index: usize) -> Result<Sample> {
        if index >= self.labels.len() {
            return Err(DataError::OutOfRange {
                index,
                len: self.labels.len(),
            });
        }
        let size = self.rows * self.cols;
        let image = Pixels {
            width: self.cols,
            height: self.rows,
            channels: 1,
            data: self.pixels[index * size..(index + 1) * size].to_vec(),
        };
        Ok(Sample {
            input: self.preprocess.apply(image, &self.images_path)?,
            label: Some(self.labels[index] as i64),
        })
    }

    fn sample_shape(&self) -> Vec<usize> {
        self.sample_shape.clone()
    }
}

/// The image and label files of `split` in `dir`, preferring the gzip-compressed ones.
pub(crate) fn idx_files(dir: &Path, split: Split) -> Option<(PathBuf, PathBuf)> {
    let find = |stem: String| {
        [format!("{stem}.gz"), stem]
            .into_iter()
            .map(|name| dir.join(name))
            .find(|path| path.is_file())
    };
    let prefix = split.prefix();
    Some((
        find(format!("{prefix}-images-idx3-ubyte"))?,
        find(format!("{prefix}-labels-idx1-ubyte"))?,
    ))
}
