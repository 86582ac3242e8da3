//! Command-line flags, each defined once next to its help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use lowbit::quant::static_ptq::Preset;

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
    /// The reference walk-through on the embedded default: FP32, per-tensor PTQ, x86 PTQ
    /// and QAT MobileNetV2 on Fashion-MNIST.
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
    /// Accuracy-driven static quantization: search configurations and FP32 fallbacks until
    /// an accuracy criterion holds on evaluation data (LPOT's tuning).
    Tune(TuneArgs),
    /// Train MobileNetV2 on Fashion-MNIST from scratch (or resume a run) and save it as ONNX.
    Train(TrainArgs),
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
    /// A focused walk-through instead of the default demo.
    #[command(subcommand)]
    pub walkthrough: Option<DemoCommand>,
    /// Threads for evaluation (0: all cores); latency is always measured on one thread.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Timed iterations per latency measurement.
    #[arg(long, default_value_t = 20)]
    pub iters: usize,
    /// Score on the first N test images only (default: all 10 000).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Skip the quantization-aware training part.
    #[arg(long)]
    pub no_qat: bool,
}

#[derive(Debug, Subcommand)]
pub enum DemoCommand {
    /// The foundation checks: EfficientNet-Lite0 against ONNX Runtime, and the zoo
    /// MobileNetV2 through an ONNX round trip.
    Foundation,
    /// Static post-training quantization: fuse, observe, calibrate, convert, compare presets.
    Ptq(DemoPtqArgs),
}

#[derive(Debug, Args)]
pub struct DemoPtqArgs {
    /// The FP32 ONNX classifier for the table (default: EfficientNet-Lite0 from the assets).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Calibration data (needed with --model): images:DIR, npy:INPUTS.npy, ...
    #[arg(long)]
    pub calib: Option<String>,
    /// Calibrate on the first N samples (default with the assets: 10).
    #[arg(long)]
    pub calib_limit: Option<usize>,
    /// Evaluation data, labelled for accuracy (default: the calibration data).
    #[arg(long)]
    pub eval: Option<String>,
    /// Threads for calibration and evaluation (0: all cores); latency uses one thread.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Timed iterations per latency measurement.
    #[arg(long, default_value_t = 20)]
    pub iters: usize,
    #[command(flatten)]
    pub preprocess: PreprocessArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Arch {
    #[value(alias = "mobilenet_v2")]
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
#[command(
    after_help = "Bad input: an empty sentence list (no arguments, or a --file of blank lines) \
    is an error; so is a tokenizer whose vocabulary size differs from the rows of the model's \
    word-embedding table. A sentence longer than --max-length (default: the model's maximum \
    positions, 512 for BERT) is truncated to its first tokens, with a warning on stderr that \
    names it."
)]
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
    /// Quantization-aware training: fine-tune with fake quantization, then convert to an
    /// ONNX QDQ model like static.
    Qat,
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
    /// One activation range per tensor, as ONNX DynamicQuantizeLinear, instead of per row
    /// (lowbit's default: per-row ranges keep MiniLM within cosine 0.995 of FP32).
    #[arg(long, conflicts_with = "per_row")]
    pub per_tensor_activations: bool,
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
    #[command(flatten)]
    pub qat: QatQuantizeArgs,
}

/// The flags of `quantize --approach qat`. It also takes static's --preset, --eval (required:
/// the INT8 model is scored after every epoch), --limit and preprocessing flags.
#[derive(Debug, Args)]
pub struct QatQuantizeArgs {
    /// Labelled training data to fine-tune on (same forms as eval's --data).
    #[arg(long, value_name = "SPEC", required_if_eq("approach", "qat"))]
    pub train_data: Option<String>,
    /// Fine-tuning epochs.
    #[arg(long, value_name = "E", default_value_t = 8)]
    pub qat_epochs: usize,
    /// Training batches per epoch.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub batches_per_epoch: usize,
    /// Training batch size.
    #[arg(long, value_name = "B", default_value_t = 32)]
    pub qat_batch_size: usize,
    /// SGD learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f32,
    /// SGD momentum.
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f32,
    /// Switch BatchNorm to its running statistics once epoch E (counted from 0) has trained.
    #[arg(long, value_name = "E", default_value_t = 3)]
    pub freeze_bn_after: usize,
    /// Freeze the observed ranges and scales once epoch E (counted from 0) has trained.
    #[arg(long, value_name = "E", default_value_t = 4)]
    pub freeze_observers_after: usize,
    /// Seed of the training-data order and dropout.
    #[arg(long, default_value_t = 0)]
    pub qat_seed: u64,
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

#[derive(Debug, Args)]
pub struct TuneArgs {
    /// The FP32 ONNX model.
    #[arg(long)]
    pub model: PathBuf,
    /// Where to write the chosen QDQ model (must differ from --model).
    #[arg(long)]
    pub output: PathBuf,
    /// Calibration data (same forms as eval's --data).
    #[arg(long, value_name = "SPEC")]
    pub calib: String,
    /// Calibrate on the first N samples only.
    #[arg(long, value_name = "N")]
    pub calib_limit: Option<usize>,
    /// Data every trial is compared with the FP32 model on (labelled for --max-top1-drop).
    #[arg(long, value_name = "SPEC")]
    pub eval: String,
    /// Evaluate only the first N samples of --eval.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// The starting QConfig.
    #[arg(long, value_enum, default_value_t = PresetArg::X86)]
    pub preset: PresetArg,
    /// A TOML recipe laid over the preset: the first trial's configuration.
    #[arg(long, value_name = "R.toml")]
    pub recipe: Option<PathBuf>,
    /// Least logits SQNR against FP32, in dB.
    #[arg(long, value_name = "DB")]
    pub min_sqnr: Option<f64>,
    /// Least top-1 agreement with FP32, as a fraction (1.0: every sample).
    #[arg(long, value_name = "F")]
    pub min_agreement: Option<f64>,
    /// Largest top-1 accuracy loss against FP32, as a fraction (0.01: one point). The
    /// default criterion when none is given, as in LPOT.
    #[arg(long, value_name = "F")]
    pub max_top1_drop: Option<f64>,
    /// Largest latency as a fraction of FP32's, batch 1 on one thread (0.33: at least 3×
    /// faster); fallbacks that break it are not kept.
    #[arg(long, value_name = "F")]
    pub max_latency_ratio: Option<f64>,
    /// Timed runs of the trial and of FP32 per trial, alternated in rounds (0: no latencies,
    /// and no --max-latency-ratio).
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub latency_iters: usize,
    /// Quantize-and-evaluate rounds, the first included.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub max_trials: usize,
    /// Nodes the fallback step may keep in FP32 (each costs speed).
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub max_fp32: usize,
    #[command(flatten)]
    pub preprocess: PreprocessArgs,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PresetArg {
    PerTensor,
    X86,
}

impl From<PresetArg> for Preset {
    fn from(p: PresetArg) -> Preset {
        match p {
            PresetArg::PerTensor => Preset::PerTensor,
            PresetArg::X86 => Preset::X86,
        }
    }
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
    /// Also score each activation quantization point of the QDQ model alone (every other
    /// one bypassed), costliest first: which nodes are worth an FP32 override. Runs the
    /// model once per point, so use a calibration-sized --limit.
    #[arg(long)]
    pub per_point: bool,
    #[command(flatten)]
    pub preprocess: PreprocessArgs,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScheduleArg {
    /// Half a cosine from --lr to 0 over the run, stepped per batch.
    Cosine,
    /// Multiply by --gamma every --step-epochs epochs.
    Step,
    /// --lr throughout.
    Constant,
}

/// `lowbit train`. The model is the zoo MobileNetV2 adapted to 28×28 grey images: stem
/// stride 1 and stage strides 1,2,2,2,1,1,1, so feature maps go 28 → 14 → 7 → 4.
#[derive(Debug, Args)]
#[command(
    after_help = "The Fashion-MNIST MobileNetV2 keeps the stem at stride 1 and uses stage \
strides 1,2,2,2,1,1,1 (feature maps 28 → 14 → 7 → 4), ReLU and mean pooling. Inputs are \
standardised grey values (mean 72.94, std 90.02 on 0..255), stored in the model's metadata so \
`lowbit eval` needs no preprocessing flags. A checkpoint (epoch-NNN.onnx plus its .state.json and \
.velocity.bin) is written after every epoch to --checkpoint-dir; --resume continues a run \
exactly as if it had not stopped."
)]
pub struct TrainArgs {
    /// The architecture (mobilenet-v2).
    #[arg(long, value_enum)]
    pub arch: Arch,
    /// Channel multiplier of MobileNetV2.
    #[arg(long, default_value_t = 0.5)]
    pub width_mult: f64,
    /// The training data: fashion-mnist:DIR (its train split trains, its test split scores).
    #[arg(long, value_name = "SPEC")]
    pub data: String,
    /// Epochs in all (default 1; when resuming, the checkpoint's count).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Stop each epoch after N batches.
    #[arg(long, value_name = "N")]
    pub batches_per_epoch: Option<usize>,
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Peak learning rate of SGD.
    #[arg(long, default_value_t = 0.05)]
    pub lr: f32,
    #[arg(long, value_enum, default_value_t = ScheduleArg::Cosine)]
    pub schedule: ScheduleArg,
    /// Epochs between two decays of the step schedule.
    #[arg(long, default_value_t = 3)]
    pub step_epochs: usize,
    /// Decay factor of the step schedule.
    #[arg(long, default_value_t = 0.1)]
    pub gamma: f32,
    /// Steps of linear warm-up to --lr.
    #[arg(long, default_value_t = 0)]
    pub warmup_steps: usize,
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f32,
    #[arg(long, default_value_t = 4e-5)]
    pub weight_decay: f32,
    /// Padding of the random crop (pixels on every side).
    #[arg(long, default_value_t = 2)]
    pub pad: usize,
    /// Train without random crops and flips.
    #[arg(long)]
    pub no_augment: bool,
    /// Seed of the initial weights, the data order, augmentation and dropout.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Continue the run saved in this checkpoint (a directory, epoch-NNN.onnx or .state.json).
    #[arg(long, value_name = "CKPT")]
    pub resume: Option<PathBuf>,
    /// Start from the weights and BN statistics of this checkpoint, with a fresh schedule and
    /// optimizer (a warm restart; --resume instead continues the saved schedule).
    #[arg(long, value_name = "CKPT", conflicts_with = "resume")]
    pub init: Option<PathBuf>,
    /// Write a checkpoint here after every epoch.
    #[arg(long, value_name = "DIR")]
    pub checkpoint_dir: Option<PathBuf>,
    /// Where to write the trained FP32 model.
    #[arg(long)]
    pub output: PathBuf,
    /// Runtime threads for the test-set evaluation (0: all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
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
        let per_tensor = ["lowbit", "quantize", "--model", "m", "--approach", "dynamic"];
        let per_tensor = [&per_tensor[..], &["--per-tensor-activations", "--output", "q"]].concat();
        let Command::Quantize(q) = Cli::try_parse_from(&per_tensor).unwrap().command else {
            panic!("not quantize")
        };
        assert!(q.per_tensor_activations && !q.per_row);
        let both = [&per_tensor[..], &["--per-row"]].concat();
        assert!(Cli::try_parse_from(&both).is_err());
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
