//! FakeQuantize forward (quantize-dequantize, per tensor and per channel) and its
//! straight-through gradient: equal to the gradient of the clamp to the representable
//! range, which finite differences check; zero outside that range.

mod common;

use common::random;
use lowbit_autograd::{fake_quant_backward, FakeQuantize};
use lowbit_tensor::Tensor;

/// Reference quantize-dequantize of one value, rounding half to even.
fn qdq(x: f32, s: f32, zp: i32, qmin: i32, qmax: i32) -> f32 {
    let q = ((x / s).round_ties_even() + zp as f32).clamp(qmin as f32, qmax as f32);
    (q - zp as f32) * s
}

/// Checks forward values, and the STE gradient against finite differences of
/// `Σ r·clamp(x, lo, hi)` for elements at least `eps` from the range ends.
fn check(fq: &FakeQuantize, x: &Tensor, channel_of: impl Fn(usize) -> usize) {
    let out = fq.forward(x).unwrap();
    let xs = x.to_f32_vec();
    let ys = out.output.to_f32_vec();
    let r = random(x.shape(), 90, 1.0);
    let dx = fake_quant_backward(&out.pass, &r).unwrap().to_f32_vec();
    let rs = r.to_f32_vec();
    let (mut inside, mut outside) = (0, 0);
    let eps = 1e-3f64;
    for i in 0..xs.len() {
        let c = channel_of(i);
        let (s, zp) = (fq.scale[c], fq.zero_point[c]);
        assert_eq!(
            ys[i],
            qdq(xs[i], s, zp, fq.qmin, fq.qmax),
            "y[{i}] for x {}",
            xs[i]
        );
        let lo = (fq.qmin - zp) as f64 * s as f64;
        let hi = (fq.qmax - zp) as f64 * s as f64;
        let v = xs[i] as f64;
        if (v - lo).abs() < 2.0 * eps || (v - hi).abs() < 2.0 * eps {
            continue;
        }
        let surrogate = |v: f64| rs[i] as f64 * v.clamp(lo, hi);
        let fd = (surrogate(v + eps) - surrogate(v - eps)) / (2.0 * eps);
        assert!(
            (fd - dx[i] as f64).abs() < 1e-5,
            "dx[{i}] at x {v}: fd {fd}, STE {}",
            dx[i]
        );
        if v > lo && v < hi {
            inside += 1;
            assert_eq!(dx[i], rs[i]);
        } else {
            outside += 1;
            assert_eq!(dx[i], 0.0);
        }
    }
    assert!(
        inside > 5 && outside > 5,
        "{inside} inside and {outside} outside the range"
    );
}

#[test]
fn per_tensor_asymmetric_u8() {
    // Range [(0 − 10)·0.05, (255 − 10)·0.05] = [-0.5, 12.25].
    let fq = FakeQuantize::per_tensor(0.05, 10, 0, 255).unwrap();
    let mut x = random(&[4, 50], 91, 8.0);
    x.as_mut_slice::<f32>()
        .unwrap()
        .iter_mut()
        .for_each(|v| *v += 5.0);
    check(&fq, &x, |_| 0);
}

#[test]
fn per_tensor_symmetric_i8() {
    let fq = FakeQuantize::per_tensor(0.02, 0, -127, 127).unwrap();
    check(&fq, &random(&[3, 40], 92, 4.0), |_| 0);
}

#[test]
fn per_channel_axis0_weights() {
    let fq = FakeQuantize::per_channel(vec![0.01, 0.03, 0.002], vec![0, 0, 0], 0, -127, 127).unwrap();
    let x = random(&[3, 2, 5, 5], 93, 1.5);
    check(&fq, &x, |i| i / 50);
}

#[test]
fn per_channel_axis1_activations() {
    let fq = FakeQuantize::per_channel(vec![0.02, 0.05], vec![128, 20], 1, 0, 255).unwrap();
    let x = random(&[2, 2, 4, 5], 94, 8.0);
    check(&fq, &x, |i| (i / 20) % 2);
}

#[test]
fn invalid_parameters_are_rejected() {
    assert!(FakeQuantize::per_tensor(0.0, 0, 0, 255).is_err());
    assert!(FakeQuantize::per_tensor(0.1, 300, 0, 255).is_err());
    assert!(FakeQuantize::per_channel(vec![0.1], vec![0, 0], 0, -127, 127).is_err());
    let fq = FakeQuantize::per_channel(vec![0.1, 0.1], vec![0, 0], 0, -127, 127).unwrap();
    assert!(fq.forward(&random(&[3, 2], 95, 1.0)).is_err());
}

/// In the executor: a Linear whose weight (per channel) and output (per tensor) are
/// fake-quantized. Expected values and gradients are built by hand from the STE masks.
#[test]
fn executor_fake_quantizes_weights_and_activations() {
    use lowbit_autograd::{Mode, TrainingExecutor};
    use lowbit_graph::builder::GraphBuilder;
    use lowbit_tensor::DType;

    let mut b = GraphBuilder::new("qat");
    let x = b.input("x", DType::F32, [3, 4]).unwrap();
    let y = b.linear("fc", x, random(&[2, 4], 96, 1.0), None).unwrap();
    b.output(y);
    let graph = b.finish().unwrap();
    let w = graph.find_value("fc.weight").unwrap();
    let wq = FakeQuantize::per_channel(vec![0.05, 0.004], vec![0, 0], 0, -127, 127).unwrap();
    let yq = FakeQuantize::per_tensor(0.01, 128, 0, 255).unwrap();
    let mut exec = TrainingExecutor::new(&graph, 0).unwrap();
    exec.set_fake_quant(w, Some(wq.clone()));
    exec.set_fake_quant(y, Some(yq.clone()));

    let input = random(&[3, 4], 97, 2.0);
    let tape = exec.forward(&[(x, input.clone())], Mode::Train).unwrap();
    let r = random(&[3, 2], 98, 1.0);
    let got_y = tape.output().unwrap().to_f32_vec();
    let grads = tape.backward(&[(y, r.clone())]).unwrap();
    let got_dw = grads.get(w).unwrap().to_f32_vec();

    let weight = exec.state(w).unwrap().clone();
    let wfq = wq.forward(&weight).unwrap();
    let (xs, wv) = (input.to_f32_vec(), wfq.output.to_f32_vec());
    let raw: Vec<f32> = (0..6)
        .map(|k| (0..4).map(|i| xs[(k / 2) * 4 + i] * wv[(k % 2) * 4 + i]).sum())
        .collect();
    let yfq = yq.forward(&Tensor::new(vec![3, 2], raw).unwrap()).unwrap();
    for (g, e) in got_y.iter().zip(yfq.output.to_f32_vec()) {
        assert!((g - e).abs() < 1e-6, "y {g} vs {e}");
    }
    let dy = fake_quant_backward(&yfq.pass, &r).unwrap().to_f32_vec();
    let dw_raw: Vec<f32> = (0..8)
        .map(|k| (0..3).map(|n| dy[n * 2 + k / 4] * xs[n * 4 + k % 4]).sum())
        .collect();
    let expected = fake_quant_backward(&wfq.pass, &Tensor::new(vec![2, 4], dw_raw).unwrap()).unwrap();
    for (i, (g, e)) in got_dw.iter().zip(expected.to_f32_vec()).enumerate() {
        assert!((g - e).abs() < 1e-5, "dW[{i}]: {g} vs {e}");
    }
    assert!(
        wfq.pass.contains(&false) && yfq.pass.contains(&false),
        "both sites clamp something"
    );
    assert!(got_dw.iter().any(|&g| g != 0.0));
}
