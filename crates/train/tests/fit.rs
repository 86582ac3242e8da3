//! The training loop end to end on a tiny residual CNN with BatchNorm and Dropout: it
//! learns a separable task, and a run resumed from a checkpoint ends with bit-identical
//! weights to an uninterrupted one.

use std::path::PathBuf;

use lowbit_data::{Augment, Dataset, Sample};
use lowbit_graph::builder::{BatchNormWeights, Conv2dSpec, GraphBuilder};
use lowbit_graph::{Dim, Graph};
use lowbit_tensor::{DType, Tensor};
use lowbit_train::{checkpoint, Decay, LrSchedule, Progress, TrainConfig, Trainer};

const SIZE: usize = 8;

/// `len` noisy stripe images, label 0 horizontal and 1 vertical, fixed by `seed`.
struct Stripes {
    images: Vec<Vec<f32>>,
    labels: Vec<i64>,
}

impl Stripes {
    fn new(len: usize, seed: u64) -> Self {
        let mut rng = lowbit_data::SplitMix64::new(seed);
        let mut images = Vec::new();
        let mut labels = Vec::new();
        for _ in 0..len {
            let label = rng.below(2);
            let phase = rng.below(2);
            let image = (0..SIZE * SIZE)
                .map(|p| {
                    let along = if label == 0 { p / SIZE } else { p % SIZE };
                    let stripe = if (along + phase).is_multiple_of(2) {
                        1.0
                    } else {
                        -1.0
                    };
                    stripe + (rng.below(1000) as f32 / 1000.0 - 0.5) * 0.6
                })
                .collect();
            images.push(image);
            labels.push(label as i64);
        }
        Stripes { images, labels }
    }
}

impl Dataset for Stripes {
    fn len(&self) -> usize {
        self.labels.len()
    }

    fn get(&self, index: usize) -> lowbit_data::Result<Sample> {
        Ok(Sample {
            input: Tensor::new(vec![1, SIZE, SIZE], self.images[index].clone())?,
            label: Some(self.labels[index]),
        })
    }

    fn sample_shape(&self) -> Vec<usize> {
        vec![1, SIZE, SIZE]
    }
}

fn weights(shape: &[usize], seed: u64, scale: f32) -> Tensor {
    let mut rng = lowbit_data::SplitMix64::new(seed);
    let n = shape.iter().product();
    let values = (0..n)
        .map(|_| (rng.below(2001) as f32 / 1000.0 - 1.0) * scale)
        .collect::<Vec<_>>();
    Tensor::new(shape.to_vec(), values).unwrap()
}

/// conv-bn-relu, a residual conv-bn, global pooling, dropout and a linear classifier.
fn tiny_resnet() -> Graph {
    let mut b = GraphBuilder::new("tiny");
    let dims = [Dim::from("N"), 1.into(), SIZE.into(), SIZE.into()];
    let x = b.input("x", DType::F32, dims).unwrap();
    let same = Conv2dSpec::default().padding(1);
    let x = b
        .conv2d("c1", x, same, weights(&[6, 1, 3, 3], 1, 0.5), None)
        .unwrap();
    let x = b.batch_norm("bn1", x, BatchNormWeights::fresh(6)).unwrap();
    let x = b.relu("r1", x).unwrap();
    let y = b
        .conv2d("c2", x, same, weights(&[6, 6, 3, 3], 2, 0.2), None)
        .unwrap();
    let y = b.batch_norm("bn2", y, BatchNormWeights::fresh(6)).unwrap();
    let x = b.add(x, y).unwrap();
    let x = b.global_avg_pool("pool", x).unwrap();
    let x = b.flatten(x).unwrap();
    let x = b.dropout("drop", x, 0.2).unwrap();
    let y = b
        .linear(
            "fc",
            x,
            weights(&[2, 6], 3, 0.4),
            Some(Tensor::new(vec![2], vec![0f32; 2]).unwrap()),
        )
        .unwrap();
    b.output(y);
    b.finish().unwrap()
}

fn config(epochs: usize) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size: 8,
        batches_per_epoch: Some(6),
        schedule: LrSchedule {
            base_lr: 0.1,
            decay: Decay::Cosine { final_lr: 0.0 },
            warmup_steps: 2,
        },
        momentum: 0.9,
        weight_decay: 1e-4,
        seed: 17,
        augment: Some(Augment {
            pad: 1,
            fill: 0.0,
            flip: true,
        }),
        eval_batch_size: 32,
        eval_threads: 1,
    }
}

/// A fresh directory under the system temp dir for this test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lowbit-train-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Every initializer of `graph` as raw bits, by name.
fn bits(graph: &Graph) -> Vec<(String, Vec<u32>)> {
    let mut all: Vec<(String, Vec<u32>)> = graph
        .initializers
        .iter()
        .filter_map(|(&id, t)| {
            let values = t.as_slice::<f32>().ok()?;
            Some((
                graph.value(id).name.clone(),
                values.iter().map(|v| v.to_bits()).collect(),
            ))
        })
        .collect();
    all.sort();
    all
}

#[test]
fn learns_stripes_and_scores_them_through_the_runtime() {
    let train = Stripes::new(160, 1);
    let test = Stripes::new(100, 2);
    let mut trainer = Trainer::new(
        &tiny_resnet(),
        TrainConfig {
            batches_per_epoch: None,
            ..config(4)
        },
    )
    .unwrap();
    let mut batches_seen = 0;
    let history = trainer
        .fit(&train, Some(&test), None, &mut |event| {
            if let Progress::Batch { .. } = event {
                batches_seen += 1;
            }
        })
        .unwrap()
        .to_vec();
    assert_eq!(batches_seen, 4 * 20, "160 samples in batches of 8, four epochs");
    let first = history[0].train.loss();
    let last = history[3].train.loss();
    let test_top1 = history[3].test.unwrap().top1();
    println!("train loss {first:.4} → {last:.4}, test top-1 {test_top1}");
    assert!(last < 0.5 * first, "loss went from {first} to {last}");
    assert!(test_top1 >= 0.95, "test top-1 {test_top1}");
    assert_eq!(history[3].test.unwrap().samples, 100);
}

#[test]
fn resuming_from_a_checkpoint_gives_the_uninterrupted_weights() {
    let train = Stripes::new(64, 3);
    let dir = scratch("resume");

    // The uninterrupted run, checkpointing every epoch.
    let mut whole = Trainer::new(&tiny_resnet(), config(3)).unwrap();
    whole.fit(&train, None, Some(&dir), &mut |_| {}).unwrap();
    let expected = bits(&whole.graph());

    // Another process picks up after epoch 1 from the files alone.
    let saved = checkpoint::load(&dir.join("epoch-001.onnx")).unwrap();
    assert_eq!((saved.state.epochs_done, saved.state.step), (1, 6));
    let config = saved.state.config.clone();
    let mut resumed = Trainer::resume(saved, config).unwrap();
    resumed.fit(&train, None, None, &mut |_| {}).unwrap();
    assert_eq!(resumed.epochs_done(), 3);
    assert_eq!(resumed.history().len(), 3);
    // The re-imported graph also holds the Dropout ratio as an initializer (ONNX's form).
    let mut got = bits(&resumed.graph());
    got.retain(|(name, _)| expected.iter().any(|(n, _)| n == name));
    assert_eq!(got.len(), expected.len());
    for ((name, a), (_, b)) in got.iter().zip(&expected) {
        assert!(a == b, "'{name}' differs after resuming");
    }

    // A run that did not resume the optimizer state (velocity) ends elsewhere: the test
    // can tell.
    let saved = checkpoint::load(&dir).unwrap();
    assert_eq!(
        saved.state.epochs_done, 3,
        "a directory resolves to its latest checkpoint"
    );
    let mut cold = checkpoint::load(&dir.join("epoch-001.state.json")).unwrap();
    cold.velocity.clear();
    let config = cold.state.config.clone();
    let mut cold = Trainer::resume(cold, config).unwrap();
    cold.fit(&train, None, None, &mut |_| {}).unwrap();
    let mut cold_bits = bits(&cold.graph());
    cold_bits.retain(|(name, _)| expected.iter().any(|(n, _)| n == name));
    assert_eq!(cold_bits.len(), expected.len());
    assert_ne!(cold_bits, expected);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn checkpoints_carry_training_mode_batchnorm_and_reject_damage() {
    let train = Stripes::new(32, 4);
    let dir = scratch("damage");
    let mut trainer = Trainer::new(&tiny_resnet(), config(1)).unwrap();
    trainer.fit(&train, None, Some(&dir), &mut |_| {}).unwrap();
    let model = lowbit_onnx::load(&dir.join("epoch-001.onnx")).unwrap();
    let ops: Vec<&str> = model.nodes.iter().map(|n| n.op.name()).collect();
    assert!(
        ops.contains(&"BatchNormalization") && ops.contains(&"Dropout"),
        "{ops:?}"
    );

    let velocity = dir.join("epoch-001.velocity.bin");
    let bytes = std::fs::read(&velocity).unwrap();
    std::fs::write(&velocity, &bytes[..bytes.len() - 4]).unwrap();
    let err = checkpoint::load(&dir).unwrap_err().to_string();
    assert!(err.contains("velocity.bin") && err.contains("bytes"), "{err}");

    let lonely = dir.join("lonely.onnx");
    std::fs::copy(dir.join("epoch-001.onnx"), &lonely).unwrap();
    let err = checkpoint::load(&lonely).unwrap_err().to_string();
    assert!(err.contains("no training state"), "{err}");
    let empty = scratch("empty");
    std::fs::create_dir_all(&empty).unwrap();
    assert!(checkpoint::load(&empty).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&empty).unwrap();
}
