//! Datasets and preprocessing for lowbit.
//!
//! Design choices:
//! - Every source implements one [`Dataset`] trait: random access to [`Sample`]s of one
//!   shape, `Sync` so evaluation can decode in parallel. [`batch`] stacks samples.
//! - Image preprocessing reproduces PIL exactly (bicubic resize with antialiasing,
//!   centre crop rounding), because models are calibrated and scored against inputs
//!   prepared in Python; only JPEG decoding differs (zune-jpeg vs libjpeg).
//! - A [`Preprocess`] is plain serialisable data, stored in ONNX metadata under
//!   [`PREPROCESS_METADATA_KEY`] so a model carries the recipe its inputs need.
//! - Files are validated when opened, and every error names the file and what was
//!   expected of it.
//! - Training reads through a [`DataLoader`]: seeded shuffling and [`Augment`]ation
//!   (random crop with padding, horizontal flip) drawn from per-epoch and per-sample
//!   [`SplitMix64`] streams, so batches are reproducible whatever the thread count.

mod augment;
mod dataset;
mod error;
mod fashion_mnist;
mod idx;
mod image_folder;
mod loader;
mod npy;
mod npy_dataset;
mod pixels;
mod preprocess;
mod resample;
mod rng;
mod spec;

pub use augment::{Augment, AugmentDraw};
pub use dataset::{batch, Dataset, Sample};
pub use error::{DataError, Result};
pub use fashion_mnist::{FashionMnist, Split};
pub use idx::{read_idx_images, read_idx_labels};
pub use image_folder::ImageFolder;
pub use loader::{Batch, Batches, DataLoader, LoaderOptions};
pub use npy::{read_npy, write_npy};
pub use npy_dataset::NpyDataset;
pub use preprocess::{parse_triplet, Preprocess, PREPROCESS_METADATA_KEY};
pub use rng::SplitMix64;
pub use spec::{open, DataSpec};
