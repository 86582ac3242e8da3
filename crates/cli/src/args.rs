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
    /// Sentence embeddings from a text encoder (tokenize, run, pool, L2-normalise).
    Embed(EmbedArgs),
    /// Quantize a model to INT8 and write it as a new ONNX file.
    Quantize(QuantizeArgs),
    /// Fidelity of one model against another: logits SQNR, top-1 agreement, cosine.
    Compare(CompareArgs),
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PoolingArg {
    /// Mean over the real (unpadded) tokens.
    Mean,
    /// The first token ([CLS]).
    Cls,
}

#[derive(Debug, Args)]
pub struct EmbedArgs {
    /// The ONNX text encoder (inputs input_ids, attention_mask, token_type_ids).
    #[arg(long)]
    pub model: PathBuf,
    /// The Hugging Face tokenizer.json of the model.
    #[arg(long)]
    pub tokenizer: PathBuf,
    /// How token vectors are pooled into one sentence vector.
    #[arg(long, value_enum, default_value_t = PoolingArg::Mean)]
    pub pooling: PoolingArg,
    /// Truncate sentences to N tokens (default: the model's maximum positions).
    #[arg(long, value_name = "N")]
    pub max_length: Option<usize>,
    /// Read sentences from this file, one per line (blank lines are skipped).
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// Write the embeddings as a [sentences, hidden] f32 .npy file.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Sentences per model run.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
    /// Sentences to embed (added after those of --file).
    pub sentences: Vec<String>,
}

/// Quantization approaches; static and quantization-aware training come later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Approach {
    /// i8 weights ahead of time, u8 activations quantized on the fly at run time.
    Dynamic,
    /// i8 weights and u8 activations with ranges calibrated on data; writes an ONNX QDQ model.
    Static,
}

#[derive(Debug, Args)]
pub struct QuantizeArgs {
    /// The FP32 ONNX model.
    #[arg(long)]
    pub model: PathBuf,
    /// How to quantize.
    #[arg(long, value_enum)]
    pub approach: Approach,
    /// Quantize activations per row (token) in lowbit's runtime; other runtimes use per-tensor.
    #[arg(long)]
    pub per_row: bool,
    /// One weight scale per matrix instead of one per output channel.
    #[arg(long)]
    pub per_tensor_weights: bool,
    /// Keep embedding tables (Gather of a constant matrix) in FP32 instead of i8 per row.
    #[arg(long)]
    pub fp32_embeddings: bool,
    /// Keep MatMul/Gemm nodes whose name matches this glob (`*` wildcard) in FP32; repeatable.
    #[arg(long = "keep-fp32", value_name = "PATTERN")]
    pub keep_fp32: Vec<String>,
    /// Where to write the quantized model (must differ from --model).
    #[arg(long)]
    pub output: PathBuf,
    #[command(flatten)]
    pub static_ptq: StaticQuantizeArgs,
}

/// The flags of `quantize --approach static`.
#[derive(Debug, Args)]
pub struct StaticQuantizeArgs {
    /// Calibration data (same forms as eval's --data); required for --approach static.
    #[arg(long, value_name = "SPEC", required_if_eq("approach", "static"))]
    pub calib: Option<String>,
    /// Calibrate on the first N samples only.
    #[arg(long, value_name = "N")]
    pub calib_limit: Option<usize>,
    /// The starting QConfig: PyTorch's default_qconfig (per-tensor) or x86 qconfig.
    #[arg(long, value_enum, default_value_t = PresetArg::X86)]
    pub preset: PresetArg,
    /// A TOML recipe laid over the preset ([activations], [weights], [[override]]).
    #[arg(long, value_name = "R.toml")]
    pub recipe: Option<PathBuf>,
    /// Labelled data to compare the INT8 model with the FP32 one on.
    #[arg(long, value_name = "SPEC")]
    pub eval: Option<String>,
    /// Evaluate only the first N samples of --eval.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    #[command(flatten)]
    pub preprocess: PreprocessArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PresetArg {
    PerTensor,
    X86,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The reference model (usually FP32).
    #[arg(long)]
    pub model: PathBuf,
    /// The model compared with it (usually the quantized one).
    #[arg(long)]
    pub against: PathBuf,
    /// The data: images:DIR, fashion-mnist:DIR[:split], npy:INPUTS.npy[:LABELS.npy], or a bare path.
    #[arg(long)]
    pub data: String,
    /// Compare on the first N samples only.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Also report the SQNR of every layer output both models compute under one name.
    #[arg(long)]
    pub per_layer: bool,
    #[command(flatten)]
    pub preprocess: PreprocessArgs,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
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
    fn quantize_and_embed_parse() {
        let cli = Cli::try_parse_from([
            "lowbit",
            "quantize",
            "--model",
            "m.onnx",
            "--approach",
            "dynamic",
            "--per-row",
            "--keep-fp32",
            "*a*",
            "--keep-fp32",
            "b",
            "--output",
            "q.onnx",
        ])
        .unwrap();
        let Command::Quantize(q) = cli.command else {
            panic!("not quantize")
        };
        assert!(q.per_row && !q.per_tensor_weights);
        assert_eq!(q.keep_fp32, vec!["*a*", "b"]);
        assert!(Cli::try_parse_from([
            "lowbit",
            "quantize",
            "--model",
            "m",
            "--approach",
            "static",
            "--output",
            "q"
        ])
        .is_err());
        let cli = Cli::try_parse_from([
            "lowbit",
            "embed",
            "--model",
            "m",
            "--tokenizer",
            "t",
            "hi",
            "there",
        ])
        .unwrap();
        let Command::Embed(e) = cli.command else {
            panic!("not embed")
        };
        assert_eq!(
            (e.sentences.len(), e.pooling, e.max_length),
            (2, PoolingArg::Mean, None)
        );
    }

    #[test]
    fn json_is_global() {
        let cli = Cli::try_parse_from(["lowbit", "inspect", "m.onnx", "--json"]).unwrap();
        assert!(cli.json);
    }
}
