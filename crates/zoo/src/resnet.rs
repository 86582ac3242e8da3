//! ResNet-18 and ResNet-50 as torchvision defines them (v1.5: a Bottleneck strides on
//! its 3×3 conv). Names follow `state_dict()`: `conv1.weight`, `layer1.0.bn1.weight`,
//! `layer2.0.downsample.0.weight`, `fc.bias`.

use lowbit_graph::builder::{Conv2dSpec, GraphBuilder};
use lowbit_graph::{Dim, Graph, GraphError, Result, ValueId};
use lowbit_tensor::DType;

use crate::init::{batch_norm, Initializer};

/// Hyper-parameters of [`resnet18`] and [`resnet50`]. `Default` is ImageNet:
/// `[N, 3, 224, 224]`, 1000 classes.
#[derive(Debug, Clone, PartialEq)]
pub struct ResNetConfig {
    pub num_classes: usize,
    pub in_channels: usize,
    /// Batch dimension of the input: symbolic (`N`) by default.
    pub batch: Dim,
    pub input_size: [usize; 2],
    /// Seed of the weight initialisation.
    pub seed: u64,
}

impl Default for ResNetConfig {
    fn default() -> Self {
        ResNetConfig {
            num_classes: 1000,
            in_channels: 3,
            batch: Dim::from("N"),
            input_size: [224, 224],
            seed: 0,
        }
    }
}

/// The residual block type of a ResNet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    /// Two 3×3 convs, expansion 1.
    Basic,
    /// 1×1 reduce, 3×3 (strided), 1×1 expand by 4.
    Bottleneck,
}

impl Block {
    fn expansion(self) -> usize {
        match self {
            Block::Basic => 1,
            Block::Bottleneck => 4,
        }
    }
}

/// torchvision `resnet18()`: BasicBlocks `[2, 2, 2, 2]`.
pub fn resnet18(config: &ResNetConfig) -> Result<Graph> {
    resnet("resnet18", config, Block::Basic, [2, 2, 2, 2])
}

/// torchvision `resnet50()`: Bottlenecks `[3, 4, 6, 3]`.
pub fn resnet50(config: &ResNetConfig) -> Result<Graph> {
    resnet("resnet50", config, Block::Bottleneck, [3, 4, 6, 3])
}

/// Builds a ResNet with torchvision's initialisation: Kaiming normal fan-out convs,
/// BatchNorm ones/zeros, and `nn.Linear`'s default U(±1/sqrt(fan_in)) for `fc`.
fn resnet(name: &str, config: &ResNetConfig, block: Block, layers: [usize; 4]) -> Result<Graph> {
    if config.num_classes == 0 || config.in_channels == 0 {
        return Err(GraphError::Invalid(format!(
            "{name} config: num_classes and in_channels must be at least 1"
        )));
    }
    let mut b = GraphBuilder::new(name);
    let mut init = Initializer::new(config.seed);
    let [h, w] = config.input_size;
    let dims = [
        config.batch.clone(),
        config.in_channels.into(),
        h.into(),
        w.into(),
    ];
    let x = b.input("input", DType::F32, dims)?;

    let stem = Conv2dSpec::default().stride(2).padding(3);
    let x = conv(&mut b, &mut init, "conv1", x, [64, config.in_channels, 7], stem)?;
    let x = b.batch_norm("bn1", x, batch_norm(64))?;
    let x = b.relu("relu", x)?;
    let mut x = b.max_pool2d("maxpool", x, 3, 2, 1)?;

    let mut inplanes = 64;
    for (stage, (&blocks, planes)) in layers.iter().zip([64, 128, 256, 512]).enumerate() {
        let stride = if stage == 0 { 1 } else { 2 };
        x = b.scope(format!("layer{}", stage + 1), |b| {
            let mut x = x;
            for i in 0..blocks {
                let unit = Unit {
                    inplanes,
                    planes,
                    stride: if i == 0 { stride } else { 1 },
                };
                x = b.scope(i, |b| residual_block(b, &mut init, block, x, unit))?;
                inplanes = planes * block.expansion();
            }
            Ok(x)
        })?;
    }

    let x = b.global_avg_pool("avgpool", x)?;
    let x = b.flatten(x)?;
    let (weight, bias) = init.linear_default(config.num_classes, inplanes);
    let logits = b.linear("fc", x, weight, Some(bias))?;
    b.output(logits);
    b.finish()
}

#[derive(Debug, Clone, Copy)]
struct Unit {
    inplanes: usize,
    planes: usize,
    stride: usize,
}

/// One BasicBlock or Bottleneck in the current scope, with its `downsample` branch
/// (conv1x1 + BN) when the stride or the channel count changes.
fn residual_block(
    b: &mut GraphBuilder,
    init: &mut Initializer,
    block: Block,
    x: ValueId,
    unit: Unit,
) -> Result<ValueId> {
    let Unit {
        inplanes,
        planes,
        stride,
    } = unit;
    let out_channels = planes * block.expansion();
    let pad1 = Conv2dSpec::default().padding(1);
    let mut y = match block {
        Block::Basic => {
            let y = conv(b, init, "conv1", x, [planes, inplanes, 3], pad1.stride(stride))?;
            let y = b.batch_norm("bn1", y, batch_norm(planes))?;
            let y = b.relu("relu", y)?;
            let y = conv(b, init, "conv2", y, [planes, planes, 3], pad1)?;
            b.batch_norm("bn2", y, batch_norm(planes))?
        }
        Block::Bottleneck => {
            let y = conv(b, init, "conv1", x, [planes, inplanes, 1], Conv2dSpec::default())?;
            let y = b.batch_norm("bn1", y, batch_norm(planes))?;
            let y = b.relu("relu", y)?;
            let y = conv(b, init, "conv2", y, [planes, planes, 3], pad1.stride(stride))?;
            let y = b.batch_norm("bn2", y, batch_norm(planes))?;
            let y = b.relu("relu", y)?;
            let y = conv(
                b,
                init,
                "conv3",
                y,
                [out_channels, planes, 1],
                Conv2dSpec::default(),
            )?;
            b.batch_norm("bn3", y, batch_norm(out_channels))?
        }
    };
    let identity = if stride != 1 || inplanes != out_channels {
        b.scope("downsample", |b| {
            let spec = Conv2dSpec::default().stride(stride);
            let d = conv(b, init, "0", x, [out_channels, inplanes, 1], spec)?;
            b.batch_norm("1", d, batch_norm(out_channels))
        })?
    } else {
        x
    };
    // torchvision: `out += identity; out = relu(out)`.
    y = b.add(y, identity)?;
    b.relu("relu", y)
}

/// A bias-free conv with a Kaiming fan-out weight of `[out, in, k, k]`.
fn conv(
    b: &mut GraphBuilder,
    init: &mut Initializer,
    name: &str,
    x: ValueId,
    [out, inp, k]: [usize; 3],
    spec: Conv2dSpec,
) -> Result<ValueId> {
    let weight = init.conv_kaiming_fan_out([out, inp, k, k]);
    b.conv2d(name, x, spec, weight, None)
}
