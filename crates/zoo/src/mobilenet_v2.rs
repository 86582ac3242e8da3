//! MobileNetV2 as the PyTorch static-quantization tutorial and torchvision define it.
//!
//! The two differ only in two places, both knobs of [`MobileNetV2Config`]:
//! - the activation: the tutorial's quantizable model uses `ReLU` (fusable with
//!   Conv+BN), torchvision uses `ReLU6` ([`Activation`]);
//! - the head: the tutorial averages with `x.mean([2, 3])` (exported as `ReduceMean`),
//!   torchvision with `adaptive_avg_pool2d` + `flatten` ([`GlobalPooling`]).
//!
//! The tutorial's `QuantStub`/`DeQuantStub` are identities in a float model and are not
//! emitted. Names follow `state_dict()`: `features.0.0.weight`, `features.1.conv.0.0`,
//! `classifier.1.weight`.

use lowbit_graph::builder::{Conv2dSpec, GraphBuilder};
use lowbit_graph::{Dim, Graph, GraphError, Result, ValueId};
use lowbit_tensor::DType;

use crate::init::{batch_norm, zeros, Initializer};

/// The activation after each Conv+BN pair (never after the linear projection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `nn.ReLU`, as in the quantization tutorial.
    Relu,
    /// `nn.ReLU6` (`Clip(0, 6)`), as in torchvision.
    Relu6,
}

/// How the last feature map is reduced to one vector per image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GlobalPooling {
    /// `x.mean([2, 3])` → `ReduceMean(axes=[2,3], keepdims=0)`, as in the tutorial.
    Mean,
    /// `adaptive_avg_pool2d(x, (1, 1))` + `flatten(x, 1)` → `GlobalAveragePool` + `Flatten`,
    /// as in torchvision.
    AvgPoolFlatten,
}

/// One row `(t, c, n, s)` of the inverted-residual table: `n` blocks expanding by `t`
/// to `c` output channels (before width scaling), the first with stride `s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvertedResidualSetting {
    pub expand_ratio: usize,
    pub channels: usize,
    pub repeats: usize,
    pub stride: usize,
}

impl InvertedResidualSetting {
    pub const fn new(t: usize, c: usize, n: usize, s: usize) -> Self {
        InvertedResidualSetting {
            expand_ratio: t,
            channels: c,
            repeats: n,
            stride: s,
        }
    }
}

/// The table of the MobileNetV2 paper: `[[1,16,1,1],[6,24,2,2],[6,32,3,2],[6,64,4,2],
/// [6,96,3,1],[6,160,3,2],[6,320,1,1]]`.
pub const DEFAULT_INVERTED_RESIDUAL_SETTING: [InvertedResidualSetting; 7] = [
    InvertedResidualSetting::new(1, 16, 1, 1),
    InvertedResidualSetting::new(6, 24, 2, 2),
    InvertedResidualSetting::new(6, 32, 3, 2),
    InvertedResidualSetting::new(6, 64, 4, 2),
    InvertedResidualSetting::new(6, 96, 3, 1),
    InvertedResidualSetting::new(6, 160, 3, 2),
    InvertedResidualSetting::new(6, 320, 1, 1),
];

/// Hyper-parameters of [`mobilenet_v2`]. `Default` is the tutorial's model on
/// `[N, 3, 224, 224]` with 1000 classes.
///
/// Downsampling is `stem_stride` times the product of the table's strides: 32 by
/// default, which takes 224 to 7 but 28 to 1. For 28×28 inputs (Fashion-MNIST) lower it,
/// for instance:
///
/// ```
/// use lowbit_zoo::{mobilenet_v2, MobileNetV2Config};
///
/// let mut config = MobileNetV2Config {
///     in_channels: 1,
///     input_size: [28, 28],
///     num_classes: 10,
///     width_mult: 0.5,
///     stem_stride: 1,
///     ..MobileNetV2Config::default()
/// };
/// // Stage strides 1,2,2,2,1,2,1 → 1,1,2,2,1,2,1: total 8, so the last map is 4×4.
/// config.set_stage_strides(&[1, 1, 2, 2, 1, 2, 1]).unwrap();
/// let graph = mobilenet_v2(&config).unwrap();
/// let last = graph.find_value("features.18.2").unwrap();
/// assert_eq!(graph.value(last).fact.to_string(), "f32[N,1280,4,4]");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct MobileNetV2Config {
    pub num_classes: usize,
    /// Scales every layer's channels (rounded by [`make_divisible`]); the last conv
    /// keeps at least 1280.
    pub width_mult: f64,
    pub inverted_residual_setting: Vec<InvertedResidualSetting>,
    /// Channel counts are rounded to multiples of this.
    pub round_nearest: usize,
    /// Channels of the input image (3 for RGB, 1 for Fashion-MNIST).
    pub in_channels: usize,
    /// Stride of the first 3×3 conv (2 in the paper).
    pub stem_stride: usize,
    pub activation: Activation,
    pub pooling: GlobalPooling,
    /// Dropout probability before the classifier.
    pub dropout: f32,
    /// Batch dimension of the input: symbolic (`N`) by default.
    pub batch: Dim,
    /// Input height and width.
    pub input_size: [usize; 2],
    /// Seed of the weight initialisation.
    pub seed: u64,
}

impl Default for MobileNetV2Config {
    fn default() -> Self {
        MobileNetV2Config {
            num_classes: 1000,
            width_mult: 1.0,
            inverted_residual_setting: DEFAULT_INVERTED_RESIDUAL_SETTING.to_vec(),
            round_nearest: 8,
            in_channels: 3,
            stem_stride: 2,
            activation: Activation::Relu,
            pooling: GlobalPooling::Mean,
            dropout: 0.2,
            batch: Dim::from("N"),
            input_size: [224, 224],
            seed: 0,
        }
    }
}

impl MobileNetV2Config {
    /// torchvision's `mobilenet_v2()`: ReLU6 and adaptive average pooling.
    pub fn torchvision() -> Self {
        MobileNetV2Config {
            activation: Activation::Relu6,
            pooling: GlobalPooling::AvgPoolFlatten,
            ..Self::default()
        }
    }

    /// Replaces the stride `s` of every row of the inverted-residual table.
    pub fn set_stage_strides(&mut self, strides: &[usize]) -> Result<()> {
        if strides.len() != self.inverted_residual_setting.len() {
            return Err(config_error(format!(
                "{} stage strides given for {} stages",
                strides.len(),
                self.inverted_residual_setting.len()
            )));
        }
        for (row, &s) in self.inverted_residual_setting.iter_mut().zip(strides) {
            row.stride = s;
        }
        Ok(())
    }

    fn validate(&self) -> Result<()> {
        let table = &self.inverted_residual_setting;
        let problem = if table.is_empty() {
            Some("inverted_residual_setting is empty".to_string())
        } else if let Some(row) = table
            .iter()
            .find(|r| r.expand_ratio == 0 || r.channels == 0 || r.stride == 0)
        {
            Some(format!(
                "inverted_residual_setting row {row:?} has a zero t, c or s"
            ))
        } else if !(self.width_mult.is_finite() && self.width_mult > 0.0) {
            Some(format!("width_mult {} must be positive", self.width_mult))
        } else if self.round_nearest == 0
            || self.num_classes == 0
            || self.in_channels == 0
            || self.stem_stride == 0
        {
            Some("round_nearest, num_classes, in_channels and stem_stride must be at least 1".to_string())
        } else if !(0.0..1.0).contains(&self.dropout) {
            Some(format!("dropout {} must be in [0, 1)", self.dropout))
        } else {
            None
        };
        problem.map_or(Ok(()), |p| Err(config_error(p)))
    }
}

fn config_error(message: String) -> GraphError {
    GraphError::Invalid(format!("MobileNetV2 config: {message}"))
}

/// torchvision's `_make_divisible(v, divisor, min_value=None)`: the multiple of
/// `divisor` nearest to `v` (halves round up), at least `min_value` (default `divisor`),
/// and never more than 10% below `v`.
pub fn make_divisible(v: f64, divisor: usize, min_value: Option<usize>) -> usize {
    let min_value = min_value.unwrap_or(divisor);
    let d = divisor as f64;
    // Python: int(v + divisor / 2) // divisor * divisor, for v >= 0.
    let rounded = ((v + d / 2.0) as usize) / divisor * divisor;
    let mut new_v = min_value.max(rounded);
    if (new_v as f64) < 0.9 * v {
        new_v += divisor;
    }
    new_v
}

/// Builds MobileNetV2 with freshly initialised weights (torchvision's init: Kaiming
/// normal fan-out convs, BatchNorm ones/zeros, Linear N(0, 0.01) with zero bias).
pub fn mobilenet_v2(config: &MobileNetV2Config) -> Result<Graph> {
    config.validate()?;
    let mut b = GraphBuilder::new("mobilenet_v2");
    let mut layers = Layers {
        init: Initializer::new(config.seed),
        activation: config.activation,
    };
    let [h, w] = config.input_size;
    let dims = [
        config.batch.clone(),
        config.in_channels.into(),
        h.into(),
        w.into(),
    ];
    let x = b.input("input", DType::F32, dims)?;

    let width = config.width_mult;
    let round = |channels: f64| make_divisible(channels, config.round_nearest, None);
    let last_channel = round(1280.0 * width.max(1.0));
    let x = b.scope("features", |b| {
        let mut input_channel = round(32.0 * width);
        let stem = ConvBn::new(config.in_channels, input_channel, 3).stride(config.stem_stride);
        let mut x = layers.conv_bn_act(b, 0, x, stem)?;
        let mut index = 0;
        for row in &config.inverted_residual_setting {
            let output_channel = round(row.channels as f64 * width);
            for i in 0..row.repeats {
                index += 1;
                let stride = if i == 0 { row.stride } else { 1 };
                let block = InvertedResidual {
                    inp: input_channel,
                    oup: output_channel,
                    stride,
                    expand_ratio: row.expand_ratio,
                };
                x = layers.inverted_residual(b, index, x, block)?;
                input_channel = output_channel;
            }
        }
        layers.conv_bn_act(b, index + 1, x, ConvBn::new(input_channel, last_channel, 1))
    })?;

    let x = match config.pooling {
        GlobalPooling::Mean => b.mean(x, &[2, 3], false)?,
        GlobalPooling::AvgPoolFlatten => {
            let pooled = b.global_avg_pool("avgpool", x)?;
            b.flatten(pooled)?
        }
    };
    let logits = b.scope("classifier", |b| {
        let x = b.dropout("0", x, config.dropout)?;
        let weight = layers.init.normal(&[config.num_classes, last_channel], 0.01);
        b.linear("1", x, weight, Some(zeros(&[config.num_classes])))
    })?;
    b.output(logits);
    b.finish()
}

/// A `Conv2d(bias=False)` + `BatchNorm2d` pair with "same" padding.
#[derive(Debug, Clone, Copy)]
struct ConvBn {
    inp: usize,
    oup: usize,
    kernel: usize,
    stride: usize,
    groups: usize,
}

impl ConvBn {
    fn new(inp: usize, oup: usize, kernel: usize) -> Self {
        ConvBn {
            inp,
            oup,
            kernel,
            stride: 1,
            groups: 1,
        }
    }

    fn stride(self, stride: usize) -> Self {
        ConvBn { stride, ..self }
    }

    fn depthwise(self) -> Self {
        ConvBn {
            groups: self.inp,
            ..self
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct InvertedResidual {
    inp: usize,
    oup: usize,
    stride: usize,
    expand_ratio: usize,
}

/// What every layer needs besides the builder: the initialiser and the activation.
struct Layers {
    init: Initializer,
    activation: Activation,
}

impl Layers {
    fn conv_bn(
        &mut self,
        b: &mut GraphBuilder,
        x: ValueId,
        layer: ConvBn,
        names: [usize; 2],
    ) -> Result<ValueId> {
        let shape = [layer.oup, layer.inp / layer.groups, layer.kernel, layer.kernel];
        let weight = self.init.conv_kaiming_fan_out(shape);
        let spec = Conv2dSpec::default()
            .stride(layer.stride)
            .padding((layer.kernel - 1) / 2)
            .groups(layer.groups);
        let y = b.conv2d(&names[0].to_string(), x, spec, weight, None)?;
        b.batch_norm(&names[1].to_string(), y, batch_norm(layer.oup))
    }

    /// `ConvBNReLU` at `name`: a Sequential of conv `0`, BN `1` and the activation `2`.
    fn conv_bn_act(
        &mut self,
        b: &mut GraphBuilder,
        name: usize,
        x: ValueId,
        layer: ConvBn,
    ) -> Result<ValueId> {
        b.scope(name, |b| {
            let y = self.conv_bn(b, x, layer, [0, 1])?;
            match self.activation {
                Activation::Relu => b.relu("2", y),
                Activation::Relu6 => b.relu6("2", y),
            }
        })
    }

    /// `InvertedResidual` at `name`: its layers form the Sequential `conv`: expand
    /// (skipped when t = 1), depthwise, then the linear projection conv + BN.
    fn inverted_residual(
        &mut self,
        b: &mut GraphBuilder,
        name: usize,
        x: ValueId,
        block: InvertedResidual,
    ) -> Result<ValueId> {
        let InvertedResidual {
            inp,
            oup,
            stride,
            expand_ratio,
        } = block;
        let hidden = inp * expand_ratio;
        b.scope(name, |b| {
            let y = b.scope("conv", |b| {
                let mut y = x;
                let mut k = 0;
                if expand_ratio != 1 {
                    y = self.conv_bn_act(b, k, y, ConvBn::new(inp, hidden, 1))?;
                    k += 1;
                }
                let depthwise = ConvBn::new(hidden, hidden, 3).stride(stride).depthwise();
                y = self.conv_bn_act(b, k, y, depthwise)?;
                self.conv_bn(b, y, ConvBn::new(hidden, oup, 1), [k + 1, k + 2])
            })?;
            if stride == 1 && inp == oup {
                b.add(x, y)
            } else {
                Ok(y)
            }
        })
    }
}
