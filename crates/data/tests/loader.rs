//! The training data loader: seeded determinism, one visit per sample per epoch, and
//! augmentation applied per sample independently of batching and threads.

use lowbit_data::{Augment, DataLoader, Dataset, LoaderOptions, Result, Sample};
use lowbit_tensor::Tensor;

/// Sample `i` is a 1×4×4 image filled with `i` and labelled `i`, so a batch shows which
/// samples it holds.
struct Counting(usize);

impl Dataset for Counting {
    fn len(&self) -> usize {
        self.0
    }

    fn get(&self, index: usize) -> Result<Sample> {
        Ok(Sample {
            input: Tensor::new(vec![1, 4, 4], vec![index as f32; 16])?,
            label: Some(index as i64),
        })
    }

    fn sample_shape(&self) -> Vec<usize> {
        vec![1, 4, 4]
    }
}

fn labels_of_epoch(loader: &DataLoader, epoch: u64) -> Vec<Vec<i64>> {
    loader
        .epoch(epoch)
        .map(|b| b.unwrap().labels.into_iter().map(Option::unwrap).collect())
        .collect()
}

fn options(seed: u64) -> LoaderOptions {
    LoaderOptions {
        batch_size: 8,
        seed,
        ..LoaderOptions::default()
    }
}

#[test]
fn every_sample_is_visited_once_per_epoch() {
    let data = Counting(37);
    let loader = DataLoader::new(&data, options(5)).unwrap();
    assert_eq!(loader.batches_per_epoch(), 5);
    for epoch in 0..3 {
        let batches = labels_of_epoch(&loader, epoch);
        assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), [8, 8, 8, 8, 5]);
        let mut seen: Vec<i64> = batches.concat();
        seen.sort_unstable();
        assert_eq!(seen, (0..37).collect::<Vec<i64>>(), "epoch {epoch}");
    }
    let dropping = DataLoader::new(
        &data,
        LoaderOptions {
            drop_last: true,
            ..options(5)
        },
    )
    .unwrap();
    assert_eq!(dropping.batches_per_epoch(), 4);
    assert_eq!(labels_of_epoch(&dropping, 0).concat().len(), 32);
}

#[test]
fn order_depends_on_seed_and_epoch_only() {
    let data = Counting(50);
    let a = DataLoader::new(&data, options(1)).unwrap();
    let b = DataLoader::new(&data, options(1)).unwrap();
    assert_eq!(labels_of_epoch(&a, 2), labels_of_epoch(&b, 2));
    assert_ne!(labels_of_epoch(&a, 2), labels_of_epoch(&a, 3), "epochs reshuffle");
    let c = DataLoader::new(&data, options(2)).unwrap();
    assert_ne!(labels_of_epoch(&a, 2), labels_of_epoch(&c, 2), "seeds differ");
    let in_order = DataLoader::new(
        &data,
        LoaderOptions {
            shuffle: false,
            ..options(1)
        },
    )
    .unwrap();
    assert_eq!(
        labels_of_epoch(&in_order, 4).concat(),
        (0..50).collect::<Vec<i64>>()
    );
}

#[test]
fn augmentation_is_per_sample_and_independent_of_batch_size_and_threads() {
    let data = Counting(20);
    let augment = Augment {
        pad: 2,
        fill: -1.0,
        flip: true,
    };
    let with_batch = |batch_size| LoaderOptions {
        batch_size,
        shuffle: false,
        seed: 9,
        augment: Some(augment.clone()),
        ..LoaderOptions::default()
    };
    let per_sample = |loader: &DataLoader| -> Vec<Vec<f32>> {
        loader
            .epoch(1)
            .flat_map(|b| {
                let b = b.unwrap();
                let values = b.inputs.as_slice::<f32>().unwrap().to_vec();
                values.chunks(16).map(<[f32]>::to_vec).collect::<Vec<_>>()
            })
            .collect()
    };
    let big = DataLoader::new(&data, with_batch(20)).unwrap();
    let small = DataLoader::new(&data, with_batch(3)).unwrap();
    let reference = per_sample(&big);
    assert_eq!(reference, per_sample(&small));
    let one_thread = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    assert_eq!(reference, one_thread.install(|| per_sample(&small)));
    // Padding reaches into some samples (fill −1 next to the sample's own value), and the
    // values are only ever the sample's own or the fill.
    assert!(reference.iter().any(|s| s.contains(&-1.0)));
    for (i, sample) in reference.iter().enumerate() {
        assert!(
            sample.iter().all(|&v| v == i as f32 || v == -1.0),
            "sample {i}: {sample:?}"
        );
    }
    // A different epoch draws different crops.
    let epoch2: Vec<f32> = big
        .epoch(2)
        .next()
        .unwrap()
        .unwrap()
        .inputs
        .as_slice::<f32>()
        .unwrap()
        .to_vec();
    assert_ne!(reference.concat(), epoch2);
}

#[test]
fn rejects_zero_batches_and_empty_datasets() {
    let data = Counting(3);
    let zero = LoaderOptions {
        batch_size: 0,
        ..LoaderOptions::default()
    };
    assert!(DataLoader::new(&data, zero).is_err());
    assert!(DataLoader::new(&Counting(0), LoaderOptions::default()).is_err());
}
