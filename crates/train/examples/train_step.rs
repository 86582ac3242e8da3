//! Times MobileNetV2 training steps on Fashion-MNIST shapes (the docs/PERFORMANCE.md
//! training table): `cargo run --release -p lowbit-train --example train_step -- [WIDTH]`,
//! threads from `RAYON_NUM_THREADS`. Prints wall and CPU time per step, because on a
//! shared machine only CPU time is comparable between runs.

use std::error::Error;
use std::time::Instant;

use lowbit_autograd::{softmax_cross_entropy, Mode, Sgd, TrainingExecutor};
use lowbit_tensor::Tensor;
use lowbit_zoo::{learnable_parameter_count, mobilenet_v2, MobileNetV2Config};

const BATCH: usize = 64;
const STEPS: usize = 6;

/// utime + stime of this process from /proc/self/stat, in seconds (ticks of 10 ms).
fn cpu_seconds() -> Result<f64, Box<dyn Error>> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    let after = stat
        .rfind(')')
        .map(|i| &stat[i + 2..])
        .ok_or("malformed /proc/self/stat")?;
    let fields: Vec<&str> = after.split(' ').collect();
    Ok((fields[11].parse::<f64>()? + fields[12].parse::<f64>()?) / 100.0)
}

fn main() -> Result<(), Box<dyn Error>> {
    let width: f64 = std::env::args().nth(1).map_or(Ok(0.5), |s| s.parse())?;
    let mut config = MobileNetV2Config {
        num_classes: 10,
        width_mult: width,
        in_channels: 1,
        stem_stride: 1,
        input_size: [28, 28],
        ..MobileNetV2Config::default()
    };
    config.set_stage_strides(&[1, 1, 2, 2, 1, 2, 1])?;
    let graph = mobilenet_v2(&config)?;
    println!("learnable parameters: {}", learnable_parameter_count(&graph));
    let mut exec = TrainingExecutor::new(&graph, 0)?;
    let mut sgd = Sgd::new(0.05, 0.9, 4e-5);
    let pixels = (0..BATCH * 784)
        .map(|i| ((i * 7919) % 255) as f32 / 255.0)
        .collect();
    let images = Tensor::new([BATCH, 1, 28, 28], pixels)?;
    let labels: Vec<usize> = (0..BATCH).map(|i| i % 10).collect();
    for step in 0..STEPS {
        let (wall, cpu) = (Instant::now(), cpu_seconds()?);
        let tape = exec.forward(&[(graph.inputs[0], images.clone())], Mode::Train)?;
        let logits = tape.output().ok_or("the model has no output")?;
        let ce = softmax_cross_entropy(logits, &labels)?;
        let grads = tape.backward(&[(graph.outputs[0], ce.grad)])?;
        sgd.step(&mut exec, &grads)?;
        let (wall, cpu) = (wall.elapsed().as_secs_f64(), cpu_seconds()? - cpu);
        println!(
            "step {step}: loss {:.3}, wall {wall:.3} s ({:.0} img/s), CPU {cpu:.2} s ({:.0} img/CPU-s)",
            ce.loss,
            BATCH as f64 / wall,
            BATCH as f64 / cpu
        );
    }
    Ok(())
}
