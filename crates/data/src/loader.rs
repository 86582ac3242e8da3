//! Shuffled, seeded mini-batches over a [`Dataset`], for training.
//!
//! Contract: the batches of epoch `e` depend only on the dataset, the options and `e`.
//! The order is a Fisher–Yates shuffle drawn from the stream `[seed, e]`, and sample `i`
//! is augmented with its own stream `[seed, e, i]`, so decoding a batch in parallel (rayon)
//! gives the same tensors as decoding it serially, and a run resumed at an epoch boundary
//! sees exactly the batches an uninterrupted run would.

use lowbit_tensor::Tensor;
use rayon::prelude::*;

use crate::augment::Augment;
use crate::dataset::{batch, Dataset, Sample};
use crate::error::{DataError, Result};
use crate::rng::SplitMix64;

/// Stream tags keep the shuffle and augmentation generators apart for equal seeds.
const SHUFFLE_STREAM: u64 = 0x5348_5546;
const AUGMENT_STREAM: u64 = 0x4155_474D;

#[derive(Debug, Clone, PartialEq)]
pub struct LoaderOptions {
    pub batch_size: usize,
    /// Visit the samples in a new random order every epoch (else in index order).
    pub shuffle: bool,
    /// Skip the last batch of an epoch when it is smaller than `batch_size`.
    pub drop_last: bool,
    pub seed: u64,
    /// Applied to every sample after decoding.
    pub augment: Option<Augment>,
}

impl Default for LoaderOptions {
    fn default() -> Self {
        LoaderOptions {
            batch_size: 64,
            shuffle: true,
            drop_last: false,
            seed: 0,
            augment: None,
        }
    }
}

/// A stacked mini-batch and the dataset indices it was made from.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// `[B, ...sample shape]`.
    pub inputs: Tensor,
    pub labels: Vec<Option<i64>>,
    pub indices: Vec<usize>,
}

pub struct DataLoader<'a> {
    dataset: &'a dyn Dataset,
    options: LoaderOptions,
}

impl<'a> DataLoader<'a> {
    pub fn new(dataset: &'a dyn Dataset, options: LoaderOptions) -> Result<Self> {
        if options.batch_size == 0 {
            return Err(DataError::Batch("the batch size must be at least 1".to_string()));
        }
        if dataset.is_empty() {
            return Err(DataError::Batch(
                "the dataset is empty: nothing to load".to_string(),
            ));
        }
        Ok(DataLoader { dataset, options })
    }

    pub fn options(&self) -> &LoaderOptions {
        &self.options
    }

    pub fn dataset(&self) -> &dyn Dataset {
        self.dataset
    }

    /// Batches in one epoch, counting a smaller last batch unless `drop_last`.
    pub fn batches_per_epoch(&self) -> usize {
        let (len, size) = (self.dataset.len(), self.options.batch_size);
        if self.options.drop_last {
            len / size
        } else {
            len.div_ceil(size)
        }
    }

    /// The order in which epoch `epoch` visits the dataset: a permutation of `0..len`.
    pub fn order(&self, epoch: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.dataset.len()).collect();
        if self.options.shuffle {
            let mut rng = SplitMix64::for_stream(&[SHUFFLE_STREAM, self.options.seed, epoch]);
            for i in (1..order.len()).rev() {
                order.swap(i, rng.below(i + 1));
            }
        }
        order
    }

    /// The batches of `epoch`, decoded lazily, one batch at a time.
    pub fn epoch(&self, epoch: u64) -> Batches<'_, 'a> {
        Batches {
            loader: self,
            epoch,
            order: self.order(epoch),
            next: 0,
            count: self.batches_per_epoch(),
        }
    }

    /// Decodes (and augments) the samples at `indices` in parallel and stacks them.
    fn load(&self, epoch: u64, indices: &[usize]) -> Result<Batch> {
        let samples: Vec<Sample> = indices
            .par_iter()
            .map(|&index| {
                let mut sample = self.dataset.get(index)?;
                if let Some(augment) = &self.options.augment {
                    let mut rng =
                        SplitMix64::for_stream(&[AUGMENT_STREAM, self.options.seed, epoch, index as u64]);
                    sample.input = augment.apply(&sample.input, &mut rng)?;
                }
                Ok(sample)
            })
            .collect::<Result<_>>()?;
        let (inputs, labels) = batch(&samples)?;
        Ok(Batch {
            inputs,
            labels,
            indices: indices.to_vec(),
        })
    }
}

/// Iterator over one epoch's batches; see [`DataLoader::epoch`].
pub struct Batches<'l, 'a> {
    loader: &'l DataLoader<'a>,
    epoch: u64,
    order: Vec<usize>,
    next: usize,
    count: usize,
}

impl Iterator for Batches<'_, '_> {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.count {
            return None;
        }
        let size = self.loader.options.batch_size;
        let start = self.next * size;
        let end = (start + size).min(self.order.len());
        self.next += 1;
        Some(self.loader.load(self.epoch, &self.order[start..end]))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.count - self.next;
        (left, Some(left))
    }
}

impl ExactSizeIterator for Batches<'_, '_> {}
