//! The QAT workflow end to end on real Fashion-MNIST: a briefly pre-trained small
//! MobileNetV2 is fine-tuned with fake quantization on a shortened schedule, converted and
//! scored after every epoch. Skips with a note when the dataset is not installed, unless
//! `LOWBIT_REQUIRE_ASSETS=1`.

mod qat_common;

use lowbit_autograd::Sgd;
use lowbit_data::{batch, Dataset, FashionMnist, Preprocess, Sample, Split};
use lowbit_graph::Graph;
use lowbit_quant::static_ptq::Preset;
use lowbit_train::qat::{prepare_qat, qat_qconfig, quantize_aware_training, QatOptions, QatSchedule};
use qat_common::{fashion_mnist_dir, small_mobilenet};

/// Standardised grey values (the training set's mean and deviation on 0..255).
fn preprocess() -> Preprocess {
    Preprocess {
        mean: [72.94; 3],
        std: [90.02; 3],
        gray: true,
        ..Preprocess::default()
    }
}

/// FP32 training, done by the QAT model with fake quantization off (which trains as the
/// FP32 graph does).
fn pretrain(graph: &Graph, train: &dyn Dataset, steps: usize) -> Graph {
    let mut model = prepare_qat(graph, &qat_qconfig(Preset::X86)).unwrap();
    model.disable_fake_quant();
    let mut sgd = Sgd::new(0.02, 0.9, 4e-5);
    for step in 0..steps {
        let samples: Vec<Sample> = (0..32)
            .map(|i| train.get((step * 32 + i) * 7 % train.len()).unwrap())
            .collect();
        let (x, labels) = batch(&samples).unwrap();
        let labels: Vec<usize> = labels.iter().map(|l| l.unwrap() as usize).collect();
        model.train_step(x, &labels, &mut sgd).unwrap();
    }
    model.trained_graph()
}

#[test]
fn qat_workflow_on_fashion_mnist() {
    let Some(dir) = fashion_mnist_dir() else {
        return;
    };
    let train = FashionMnist::open(&dir, Split::Train, preprocess()).unwrap();
    let test = FashionMnist::open(&dir, Split::Test, preprocess()).unwrap();
    let fp32 = pretrain(&small_mobilenet(10, 0.2), &train, 250);
    let options = QatOptions {
        schedule: QatSchedule {
            epochs: 3,
            freeze_bn_after: 1,
            freeze_observers_after: 1,
        },
        batches_per_epoch: 15,
        batch_size: 32,
        // The tutorial's QAT learning rate: fine-tuning adapts to quantization rather
        // than continuing to train the briefly pre-trained model.
        lr: 1e-4,
        eval_limit: Some(1000),
        ..QatOptions::default()
    };
    let mut lines = 0;
    let (quantized, report) = quantize_aware_training(&fp32, &train, &test, &options, &mut |e| {
        println!("{e:?}");
        lines += 1;
    })
    .unwrap();
    println!(
        "n {}, fp32 top-1 {:?}, int8 top-1 {:?}, agreement {:.4}, SQNR {:.2} dB, {} integer steps, fallbacks {:?}",
        report.n,
        report.fp32_top1,
        report.int8_top1,
        report.top1_agreement,
        report.sqnr_db,
        report.integer_steps,
        report.fallbacks
    );
    assert_eq!(lines, 3);
    let last = report.epochs.last().unwrap();
    assert!(last.bn_frozen && !last.observers_enabled);
    assert!(!report.epochs[0].bn_frozen && report.epochs[0].observers_enabled);
    let (fp32_top1, int8_top1) = (report.fp32_top1.unwrap(), report.int8_top1.unwrap());
    assert!(fp32_top1 > 0.6, "the pre-trained model scores {fp32_top1}");
    assert!(
        int8_top1 > fp32_top1 - 0.05,
        "INT8 {int8_top1} against FP32 {fp32_top1}"
    );
    assert!(report.top1_agreement > 0.8, "agreement {}", report.top1_agreement);
    assert!(report.integer_steps > 0 && quantized.op_histogram().contains_key("QuantizeLinear"));
}
