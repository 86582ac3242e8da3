//! QAT steps (fake quantization on, observers moving) reduce the loss of a small
//! MobileNetV2 on a synthetic task, with observers frozen part-way as the schedule does.

mod qat_common;

use lowbit_autograd::Sgd;
use lowbit_quant::static_ptq::Preset;
use lowbit_train::qat::{prepare_qat, qat_qconfig};
use qat_common::{small_mobilenet, synthetic, CLASSES};

/// QAT starts from a trained FP32 model, as in the tutorial: here one half-way through
/// learning the task (20 FP32 steps, trained by the QAT model with fake quantization off).
/// From scratch, the moving-average ranges lag the fast-changing activations and clamp
/// them, which stalls learning. BatchNorm is not frozen here: this early, its running
/// statistics still lag the batch ones (the evaluation-mode loss is several times the
/// training loss), so freezing would measure that lag; `qat_prepare` and the Fashion-MNIST
/// workflow test freezing.
#[test]
fn qat_steps_reduce_the_loss() {
    let graph = small_mobilenet(CLASSES, 0.2);
    let mut fp32 = prepare_qat(&graph, &qat_qconfig(Preset::X86)).unwrap();
    fp32.disable_fake_quant();
    let mut sgd = Sgd::new(0.01, 0.9, 0.0);
    for step in 0..20 {
        let (x, labels) = synthetic(16, 100 + step);
        fp32.train_step(x, &labels, &mut sgd).unwrap();
    }
    let mut model = prepare_qat(&fp32.trained_graph(), &qat_qconfig(Preset::X86)).unwrap();
    let mut sgd = Sgd::new(0.01, 0.9, 0.0);
    let mut losses = Vec::new();
    for step in 0..24 {
        if step == 18 {
            model.disable_observer();
        }
        let (x, labels) = synthetic(16, 200 + step);
        let stats = model.train_step(x, &labels, &mut sgd).unwrap();
        assert!(stats.loss.is_finite(), "step {step}: loss {}", stats.loss);
        losses.push(stats.loss);
    }
    let first = losses[..4].iter().sum::<f32>() / 4.0;
    let last = losses[16..].iter().sum::<f32>() / 8.0;
    println!("QAT loss: first steps {first:.4}, last steps {last:.4}; all {losses:?}");
    assert!(last < 0.5 * first, "loss went from {first} to {last}");
}
