//! `lowbit train`: train a zoo model from scratch (or resume a run) and save it as ONNX.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use lowbit::data::{Augment, DataSpec, Split};
use lowbit::train::{
    checkpoint, fashion_mnist_mobilenet_v2, fashion_mnist_preprocess, Decay, EpochReport, LrSchedule,
    Progress, TrainConfig, Trainer,
};
use serde::Serialize;

use crate::args::{Arch, ScheduleArg, TrainArgs};
use crate::output::{print_json, Table};
use crate::progress;

#[derive(Serialize)]
struct TrainReport {
    output: String,
    arch: String,
    /// The channel multiplier of a new run (a resumed run keeps its checkpoint's).
    width_mult: Option<f64>,
    epochs: usize,
    /// Top-1 on the test split after the last epoch (a fraction).
    top1: Option<f64>,
    top5: Option<f64>,
    test_n: Option<usize>,
    /// Training throughput over all epochs of this invocation.
    images_per_sec: f64,
    history: Vec<EpochReport>,
}

pub fn run(args: TrainArgs, json: bool) -> anyhow::Result<()> {
    if args.arch != Arch::MobilenetV2 {
        bail!("lowbit train builds --arch mobilenet-v2 only");
    }
    let dir = fashion_mnist_dir(&args.data)?;
    let preprocess = fashion_mnist_preprocess();
    let train = lowbit::data::FashionMnist::open(&dir, Split::Train, preprocess.clone())?;
    let test = lowbit::data::FashionMnist::open(&dir, Split::Test, preprocess.clone())?;

    let mut trainer = match &args.resume {
        Some(path) => {
            let checkpoint =
                checkpoint::load(path).with_context(|| format!("resuming from {}", path.display()))?;
            let mut config = checkpoint.state.config.clone();
            if let Some(epochs) = args.epochs {
                config.epochs = epochs;
            }
            Trainer::resume(checkpoint, config)?
        }
        None => {
            let graph = match &args.init {
                Some(path) => {
                    checkpoint::load(path)
                        .with_context(|| format!("starting from {}", path.display()))?
                        .graph
                }
                None => fashion_mnist_mobilenet_v2(args.width_mult, args.seed)?,
            };
            Trainer::new(
                &graph,
                config_from_flags(&args, preprocess.mean[0], preprocess.std[0]),
            )?
        }
    };
    let already = trainer.epochs_done();

    let mut bar: Option<ProgressBar> = None;
    let quiet = json;
    trainer.fit(
        &train,
        Some(&test),
        args.checkpoint_dir.as_deref(),
        &mut |event| show(event, &mut bar, quiet),
    )?;

    let graph = trainer.graph();
    lowbit::onnx::save(&graph, &args.output).with_context(|| format!("writing {}", args.output.display()))?;
    let new_epochs = &trainer.history()[already.min(trainer.history().len())..];
    let (images, seconds) = new_epochs.iter().fold((0.0, 0.0), |(i, s), e| {
        (i + e.train.samples as f64, s + e.train_seconds)
    });
    let last = trainer.history().last();
    let report = TrainReport {
        output: args.output.display().to_string(),
        arch: "mobilenet_v2".into(),
        width_mult: (args.resume.is_none() && args.init.is_none()).then_some(args.width_mult),
        epochs: trainer.epochs_done(),
        top1: last.and_then(|e| e.test.map(|m| m.top1())),
        top5: last.and_then(|e| e.test.map(|m| m.top5())),
        test_n: last.and_then(|e| e.test.map(|m| m.samples)),
        images_per_sec: if seconds > 0.0 { images / seconds } else { 0.0 },
        history: trainer.history().to_vec(),
    };
    if json {
        return print_json(&report);
    }
    let mut table = Table::new([
        "epoch",
        "lr",
        "train loss",
        "train top-1",
        "test top-1",
        "test top-5",
        "img/s",
    ]);
    for e in &report.history {
        let test =
            |f: fn(&lowbit::train::Meter) -> f64| e.test.map_or("-".into(), |m| format!("{:.4}", f(&m)));
        table.row([
            e.epoch.to_string(),
            format!("{:.5}", e.lr),
            format!("{:.4}", e.train.loss()),
            format!("{:.4}", e.train.top1()),
            test(lowbit::train::Meter::top1),
            test(lowbit::train::Meter::top5),
            format!("{:.1}", e.images_per_sec),
        ]);
    }
    table.print();
    println!("wrote {}", report.output);
    Ok(())
}

/// The directory of a `fashion-mnist:DIR` spec (or a bare directory holding the IDX files).
fn fashion_mnist_dir(spec: &str) -> anyhow::Result<std::path::PathBuf> {
    match DataSpec::parse(spec)? {
        DataSpec::FashionMnist { dir, .. } => Ok(dir),
        other => bail!("lowbit train reads Fashion-MNIST (fashion-mnist:DIR), not {other}"),
    }
}

fn config_from_flags(args: &TrainArgs, mean: f32, std: f32) -> TrainConfig {
    let epochs = args.epochs.unwrap_or(1);
    let decay = match args.schedule {
        ScheduleArg::Cosine => Decay::Cosine { final_lr: 0.0 },
        ScheduleArg::Step => Decay::Step {
            every_epochs: args.step_epochs,
            gamma: args.gamma,
        },
        ScheduleArg::Constant => Decay::Constant,
    };
    TrainConfig {
        epochs,
        batch_size: args.batch_size,
        batches_per_epoch: args.batches_per_epoch,
        schedule: LrSchedule {
            base_lr: args.lr,
            decay,
            warmup_steps: args.warmup_steps,
        },
        momentum: args.momentum,
        weight_decay: args.weight_decay,
        seed: args.seed,
        augment: (!args.no_augment).then(|| Augment {
            pad: args.pad,
            fill: Augment::black_fill(mean, std),
            flip: true,
        }),
        eval_batch_size: 250,
        eval_threads: args.threads,
    }
}

/// Batches between two progress lines when stderr is not a terminal.
const LOG_EVERY: usize = 50;

/// Draws a progress bar on a terminal, else logs progress lines; `--json` keeps stderr
/// to one line per epoch.
fn show(event: Progress, bar: &mut Option<ProgressBar>, quiet: bool) {
    match event {
        Progress::EpochStart { epoch, batches } => {
            if !quiet && std::io::stderr().is_terminal() {
                let b = progress::bar(batches as u64, "");
                b.set_style(
                    ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} eta {eta}")
                        .expect("valid template")
                        .progress_chars("=> "),
                );
                b.set_prefix(format!("epoch {epoch}"));
                *bar = Some(b);
            }
        }
        Progress::Batch {
            epoch,
            batch,
            batches,
            lr,
            meter,
            images_per_sec,
        } => {
            let status = format!(
                "loss {:.3} top-1 {:.3} lr {lr:.4} {images_per_sec:.0} img/s",
                meter.loss(),
                meter.top1()
            );
            match bar {
                Some(bar) => {
                    bar.set_position(batch as u64);
                    bar.set_message(status);
                }
                // Logs (stderr redirected to a file) get a line every LOG_EVERY batches.
                None if !quiet && (batch % LOG_EVERY == 0 || batch == batches) => {
                    eprintln!("epoch {epoch} batch {batch}/{batches}: {status}");
                }
                None => {}
            }
        }
        Progress::Evaluating { .. } => {}
        Progress::EpochEnd(report) => {
            if let Some(bar) = bar.take() {
                bar.finish_and_clear();
            }
            let test = report.test.map_or(String::new(), |m| {
                format!(", test top-1 {:.4} top-5 {:.4}", m.top1(), m.top5())
            });
            eprintln!(
                "epoch {}: train loss {:.4} top-1 {:.4}, lr {:.5}, {:.1} img/s{test}{}",
                report.epoch,
                report.train.loss(),
                report.train.top1(),
                report.lr,
                report.images_per_sec,
                report
                    .checkpoint
                    .as_deref()
                    .map_or(String::new(), |p: &Path| format!(", checkpoint {}", p.display()))
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::args::{Cli, Command};

    /// `lowbit train` with its required arguments, then `extra`.
    fn try_parse(extra: &[&str]) -> Result<Cli, clap::Error> {
        let required = [
            "lowbit",
            "train",
            "--arch",
            "mobilenet_v2",
            "--data",
            "fashion-mnist:/d",
            "--output",
            "o.onnx",
        ];
        Cli::try_parse_from(required.iter().chain(extra))
    }

    fn parse(extra: &[&str]) -> TrainArgs {
        match try_parse(extra).unwrap().command {
            Command::Train(args) => args,
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn defaults_give_a_cosine_run_with_crop_and_flip() {
        let args = parse(&[]);
        assert_eq!(
            (args.arch, args.width_mult, args.epochs),
            (Arch::MobilenetV2, 0.5, None)
        );
        let config = config_from_flags(&args, 72.0, 90.0);
        assert_eq!(config.epochs, 1);
        assert_eq!(config.schedule.decay, Decay::Cosine { final_lr: 0.0 });
        let augment = config.augment.unwrap();
        assert_eq!((augment.pad, augment.flip, augment.fill), (2, true, -0.8));
        assert_eq!(fashion_mnist_dir(&args.data).unwrap(), Path::new("/d"));
    }

    #[test]
    fn flags_reach_the_configuration() {
        let args = parse(&[
            "--epochs",
            "7",
            "--batch-size",
            "32",
            "--lr",
            "0.2",
            "--schedule",
            "step",
            "--step-epochs",
            "2",
            "--gamma",
            "0.5",
            "--warmup-steps",
            "9",
            "--weight-decay",
            "0.001",
            "--no-augment",
            "--seed",
            "4",
            "--batches-per-epoch",
            "11",
        ]);
        let config = config_from_flags(&args, 0.0, 1.0);
        assert_eq!((config.epochs, config.batch_size, config.seed), (7, 32, 4));
        assert_eq!(config.batches_per_epoch, Some(11));
        assert_eq!(
            config.schedule,
            LrSchedule {
                base_lr: 0.2,
                decay: Decay::Step {
                    every_epochs: 2,
                    gamma: 0.5
                },
                warmup_steps: 9
            }
        );
        assert_eq!((config.weight_decay, config.augment), (0.001, None));
    }

    #[test]
    fn init_starts_a_new_schedule_and_excludes_resume() {
        let args = parse(&["--init", "ckpt/epoch-007.onnx", "--lr", "0.04"]);
        assert_eq!(args.init.as_deref(), Some(Path::new("ckpt/epoch-007.onnx")));
        assert!(args.resume.is_none());
        assert!(
            try_parse(&["--init", "a", "--resume", "b"]).is_err(),
            "--init and --resume conflict"
        );
    }

    #[test]
    fn only_fashion_mnist_specs_are_accepted() {
        assert!(fashion_mnist_dir("npy:x.npy").is_err());
        assert!(fashion_mnist_dir("images:photos").is_err());
    }
}
