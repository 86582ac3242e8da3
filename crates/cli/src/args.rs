//! Command-line flags, each defined once next to its help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "lowbit",
    version,
    about = "Low-precision optimisation toolkit: run, measure and quantize neural networks"
)]
pub struct Cli {
    /// Print one JSON object for machines instead of tables for people.
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show a model's inputs, outputs, op histogram, parameter count and size.
    Inspect(InspectArgs),
    /// Run a model on .npy inputs and write every output as DIR/<name>.npy.
    Run(RunArgs),
    /// Top-1 and top-5 accuracy of a classifier on a labelled dataset.
    Eval(EvalArgs),
    /// Latency (p50/p90) and throughput of a model.
    Bench(BenchArgs),
    /// Run ONNX node conformance tests (model.onnx + test_data_set_*) found under DIR.
    Conformance(ConformanceArgs),
    /// The walk-through on the embedded default: EfficientNet-Lite0 and the zoo MobileNetV2.
    Demo(DemoArgs),
    /// Build a zoo model (torchvision architecture, seeded fresh weights) and save it as ONNX.
    Zoo(ZooArgs),
    /// CPU features, the kernel tier each family uses, and with --bench GEMM throughput.
    Sysinfo(SysinfoArgs),
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The ONNX model.
    pub model: PathBuf,
    /// Also list every node with its inputs and outputs.
    #[arg(long)]
    pub nodes: bool,
}

#[derive(Debug, Args)]
pub struct RuntimeArgs {
    /// Threads for intra-op parallelism (0: all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The ONNX model.
    #[arg(long)]
    pub model: PathBuf,
    /// An input as NAME=FILE.npy; repeat for each model input.
    #[arg(long = "input", value_name = "NAME=FILE.npy", value_parser = parse_key_value::<PathBuf>)]
    pub inputs: Vec<(String, PathBuf)>,
    /// Directory that receives one .npy per model output (created if missing).
    #[arg(long)]
    pub output: PathBuf,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

/// Image preprocessing; when none is given, the model's own metadata decides.
#[derive(Debug, Args, Default)]
pub struct PreprocessArgs {
    /// Resize so that the shorter side has this many pixels (bicubic).
    #[arg(long, value_name = "S")]
    pub resize: Option<u32>,
    /// Centre-crop to C×C pixels.
    #[arg(long, value_name = "C")]
    pub crop: Option<u32>,
    /// Per-channel mean on 0..255 pixel values, subtracted first ("R,G,B" or one value).
    #[arg(long, value_name = "R,G,B")]
    pub mean: Option<String>,
    /// Per-channel divisor on 0..255 pixel values ("R,G,B" or one value).
    #[arg(long, value_name = "R,G,B")]
    pub std: Option<String>,
    /// Convert images to one grey channel, for 1-channel models.
    #[arg(long)]
    pub gray: bool,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The ONNX model (a classifier whose first output is [N, classes]).
    #[arg(long)]
    pub model: PathBuf,
    /// The labelled data: images:DIR, fashion-mnist:DIR[:train|test], npy:INPUTS.npy:LABELS.npy, or a bare path.
    #[arg(long)]
    pub data: String,
    /// Evaluate only the first N samples.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Samples per run.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    #[command(flatten)]
    pub preprocess: PreprocessArgs,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The ONNX model.
    #[arg(long)]
    pub model: PathBuf,
    /// Batch size used for a symbolic first dimension.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Threads for intra-op parallelism.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Timed iterations.
    #[arg(long, default_value_t = 50)]
    pub iters: usize,
    /// Untimed warm-up iterations.
    #[arg(long, default_value_t = 5)]
    pub warmup: usize,
    /// An input as NAME=FILE.npy instead of synthetic data; repeat for each input.
    #[arg(long = "input", value_name = "NAME=FILE.npy", value_parser = parse_key_value::<PathBuf>)]
    pub inputs: Vec<(String, PathBuf)>,
    /// A symbolic dimension's value as NAME=VALUE, e.g. sequence=128.
    #[arg(long = "dim", value_name = "NAME=VALUE", value_parser = parse_key_value::<usize>)]
    pub dims: Vec<(String, usize)>,
}

#[derive(Debug, Args)]
pub struct ConformanceArgs {
    /// A directory holding ONNX node tests, e.g. /usr/share/libonnx-testdata/data/node.
    pub dir: PathBuf,
    /// Only run tests whose directory name contains this text.
    #[arg(long)]
    pub filter: Option<String>,
    /// List every failed and unsupported test by name.
    #[arg(long)]
    pub verbose: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Threads for evaluation (0: all cores); latency is always measured on one thread.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Timed iterations per latency measurement.
    #[arg(long, default_value_t = 20)]
    pub iters: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Arch {
    MobilenetV2,
    Resnet18,
    Resnet50,
}

#[derive(Debug, Args)]
pub struct ZooArgs {
    /// The architecture.
    #[arg(long)]
    pub arch: Arch,
    /// Where to write the ONNX file.
    #[arg(long)]
    pub output: PathBuf,
    #[arg(long, default_value_t = 1000)]
    pub num_classes: usize,
    /// Channel multiplier (MobileNetV2 only).
    #[arg(long, default_value_t = 1.0)]
    pub width_mult: f64,
    #[arg(long, default_value_t = 3)]
    pub in_channels: usize,
    /// Height and width of the input image.
    #[arg(long, default_value_t = 224)]
    pub input_size: usize,
    /// Seed of the weight initialisation.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(Debug, Args)]
pub struct SysinfoArgs {
    /// Measure GEMM throughput per available tier (M=N=K=1024, one thread).
    #[arg(long)]
    pub bench: bool,
    /// Measuring time per tier, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub millis: u64,
}

/// Parses `NAME=VALUE`.
fn parse_key_value<T>(text: &str) -> Result<(String, T), String>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=VALUE, got '{text}'"))?;
    if key.is_empty() {
        return Err(format!("empty name in '{text}'"));
    }
    let value = value
        .parse::<T>()
        .map_err(|e| format!("bad value in '{text}': {e}"))?;
    Ok((key.to_string(), value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn flags_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn key_values_parse() {
        assert_eq!(
            parse_key_value::<usize>("sequence=128").unwrap(),
            ("sequence".into(), 128)
        );
        assert!(parse_key_value::<usize>("sequence")
            .unwrap_err()
            .contains("NAME=VALUE"));
        assert!(parse_key_value::<usize>("=3").is_err());
        assert!(parse_key_value::<usize>("s=x").unwrap_err().contains("bad value"));
        let (name, path) = parse_key_value::<PathBuf>("input=a=b.npy").unwrap();
        assert_eq!((name.as_str(), path.to_str().unwrap()), ("input", "a=b.npy"));
    }

    #[test]
    fn json_is_global() {
        let cli = Cli::try_parse_from(["lowbit", "inspect", "m.onnx", "--json"]).unwrap();
        assert!(cli.json);
    }
}
