//! Times training steps of the model `lowbit train` trains (the docs/PERFORMANCE.md training
//! table): [`fashion_mnist_mobilenet_v2`], the recipe's architecture, at the recipe's batch
//! size 128.
//!
//! `cargo run --release -p lowbit-train --example train_step -- [WIDTH] [--batch N] [--steps N]`,
//! threads from `RAYON_NUM_THREADS`. Prints wall and CPU time per step, because on a
//! shared machine only CPU time is comparable between runs, the cores kept busy (thread
//! run time over wall time) with the time threads waited for a core, and the mean over
//! the steps after the first two (warm-up: buffers and the thread pool come up).

use std::error::Error;
use std::time::Instant;

use lowbit_autograd::{softmax_cross_entropy, Mode, Sgd, TrainingExecutor};
use lowbit_tensor::Tensor;
use lowbit_train::{fashion_mnist_mobilenet_v2, Trainer};
use lowbit_zoo::learnable_parameter_count;

/// The batch size of the run that trained the embedded model (docs/QUALITY.md).
const RECIPE_BATCH: usize = 128;
const DEFAULT_STEPS: usize = 6;
const WARMUP_STEPS: usize = 2;

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

/// Summed over this process's threads, from /proc/self/task/*/schedstat: seconds run on a
/// core, and seconds spent runnable but waiting for one (other processes' load).
fn thread_seconds() -> Result<(f64, f64), Box<dyn Error>> {
    let (mut run, mut waiting) = (0.0, 0.0);
    for task in std::fs::read_dir("/proc/self/task")? {
        // A thread may exit between the listing and the read.
        let Ok(stat) = std::fs::read_to_string(task?.path().join("schedstat")) else {
            continue;
        };
        let mut fields = stat.split_whitespace().map(str::parse::<f64>);
        if let (Some(Ok(r)), Some(Ok(w))) = (fields.next(), fields.next()) {
            run += r / 1e9;
            waiting += w / 1e9;
        }
    }
    Ok((run, waiting))
}

struct Args {
    width: f64,
    batch: usize,
    steps: usize,
}

fn parse_args() -> Result<Args, Box<dyn Error>> {
    let mut args = Args {
        width: 0.5,
        batch: RECIPE_BATCH,
        steps: DEFAULT_STEPS,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--batch" => args.batch = value()?.parse()?,
            "--steps" => args.steps = value()?.parse()?,
            width => args.width = width.parse()?,
        }
    }
    if args.steps <= WARMUP_STEPS {
        return Err(format!("--steps must exceed the {WARMUP_STEPS} warm-up steps").into());
    }
    Ok(args)
}

fn main() -> Result<(), Box<dyn Error>> {
    let Args { width, batch, steps } = parse_args()?;
    // As `lowbit train` runs (Trainer::fit does the same).
    Trainer::keep_freed_memory();
    let graph = fashion_mnist_mobilenet_v2(width, 0)?;
    println!(
        "width {width}, batch {batch}, {} threads, {} learnable parameters",
        rayon::current_num_threads(),
        learnable_parameter_count(&graph)
    );
    let mut exec = TrainingExecutor::new(&graph, 0)?;
    let mut sgd = Sgd::new(0.05, 0.9, 4e-5);
    let pixels = (0..batch * 784)
        .map(|i| ((i * 7919) % 255) as f32 / 255.0)
        .collect();
    let images = Tensor::new([batch, 1, 28, 28], pixels)?;
    let labels: Vec<usize> = (0..batch).map(|i| i % 10).collect();
    let (mut timed_wall, mut timed_cpu, mut timed_run, mut timed_waiting) = (0.0, 0.0, 0.0, 0.0);
    for step in 0..steps {
        let (wall, cpu, (run, waiting)) = (Instant::now(), cpu_seconds()?, thread_seconds()?);
        let tape = exec.forward(&[(graph.inputs[0], images.clone())], Mode::Train)?;
        let logits = tape.output().ok_or("the model has no output")?;
        let ce = softmax_cross_entropy(logits, &labels)?;
        let grads = tape.backward(&[(graph.outputs[0], ce.grad)])?;
        sgd.step(&mut exec, &grads)?;
        let (wall, cpu) = (wall.elapsed().as_secs_f64(), cpu_seconds()? - cpu);
        let (run_now, waiting_now) = thread_seconds()?;
        let (run, waiting) = (run_now - run, waiting_now - waiting);
        if step >= WARMUP_STEPS {
            timed_wall += wall;
            timed_cpu += cpu;
            timed_run += run;
            timed_waiting += waiting;
        }
        println!(
            "step {step}: loss {:.3}, wall {wall:.3} s ({:.0} img/s), CPU {cpu:.2} s ({:.0} img/CPU-s), \
             {:.2} cores busy, {waiting:.2} s runnable without a core",
            ce.loss,
            batch as f64 / wall,
            batch as f64 / cpu,
            run / wall
        );
    }
    let timed = (steps - WARMUP_STEPS) as f64;
    // Cores busy = thread run time / wall. On a loaded machine threads also wait for a core;
    // that wait is printed so a low figure can be told apart from serial sections.
    println!(
        "steps {WARMUP_STEPS}..{steps}: {:.0} img/s mean ({:.1} ms/step); {:.2} CPU-s/step; \
         {:.2} cores busy; {:.2} s/step runnable without a core",
        batch as f64 * timed / timed_wall,
        1000.0 * timed_wall / timed,
        timed_cpu / timed,
        timed_run / timed_wall,
        timed_waiting / timed
    );
    Ok(())
}
