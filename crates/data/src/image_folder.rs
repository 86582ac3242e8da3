//! A folder of labelled photos: `<anything>_<label>.<jpg|jpeg|png>`, read in file-name order.

use std::fs;
use std::path::{Path, PathBuf};

use crate::dataset::{Dataset, Sample};
use crate::error::{DataError, Result};
use crate::preprocess::Preprocess;

const IMAGE_EXTENSIONS: [&str; 3] = ["jpg", "jpeg", "png"];

/// Photos decoded lazily, one per [`Dataset::get`], with a fixed [`Preprocess`].
#[derive(Debug)]
pub struct ImageFolder {
    files: Vec<PathBuf>,
    labels: Vec<i64>,
    preprocess: Preprocess,
    sample_shape: Vec<usize>,
}

impl ImageFolder {
    /// Lists the images of `dir` and parses every label up front, so a misnamed file
    /// fails here rather than in the middle of an evaluation. `preprocess` must crop,
    /// so that every sample has the same shape.
    pub fn open(dir: &Path, preprocess: Preprocess) -> Result<Self> {
        preprocess.validate()?;
        let sample_shape = preprocess.output_shape().ok_or_else(|| {
            DataError::dataset(
                dir,
                "an image folder needs a crop size so every sample has one shape",
            )
        })?;
        let files = image_files(dir)?;
        if files.is_empty() {
            return Err(DataError::dataset(dir, "holds no .jpg, .jpeg or .png files"));
        }
        let labels = files
            .iter()
            .map(|file| {
                label_from_file_name(file).ok_or_else(|| {
                    DataError::dataset(
                        file,
                        "file name has no label: expected <name>_<class index>.<ext>",
                    )
                })
            })
            .collect::<Result<_>>()?;
        Ok(ImageFolder {
            files,
            labels,
            preprocess,
            sample_shape,
        })
    }

    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    pub fn labels(&self) -> &[i64] {
        &self.labels
    }
}

impl Dataset for ImageFolder {
    fn len(&self) -> usize {
        self.files.len()
    }

    fn get(&self, index: usize) -> Result<Sample> {
        let file = self.files.get(index).ok_or(DataError::OutOfRange {
            index,
            len: self.files.len(),
        })?;
        Ok(Sample {
            input: self.preprocess.load_image(file)?,
            label: Some(self.labels[index]),
        })
    }

    fn sample_shape(&self) -> Vec<usize> {
        self.sample_shape.clone()
    }
}

/// The image files of `dir` (by extension, case-insensitive), sorted by file name.
pub(crate) fn image_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| DataError::io(dir, e))?.path();
        let is_image = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()));
        if is_image && path.is_file() {
            files.push(path);
        }
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(files)
}

/// The decimal number between the last `_` and the extension, e.g. 243 for
/// `imagenet_00_243.jpg`.
fn label_from_file_name(path: &Path) -> Option<i64> {
    let stem = path.file_stem()?.to_str()?;
    let (_, digits) = stem.rsplit_once('_')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_the_last_underscore() {
        assert_eq!(
            label_from_file_name(Path::new("d/imagenet_00_243.jpg")),
            Some(243)
        );
        assert_eq!(label_from_file_name(Path::new("cat_7.PNG")), Some(7));
        assert_eq!(label_from_file_name(Path::new("_0.jpeg")), Some(0));
        for bad in ["cat.jpg", "cat_.jpg", "cat_x1.jpg", "cat_-1.jpg", "cat_1_b.png"] {
            assert_eq!(label_from_file_name(Path::new(bad)), None, "{bad}");
        }
    }
}
