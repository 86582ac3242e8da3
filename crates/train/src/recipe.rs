//! The Fashion-MNIST MobileNetV2: the zoo's architecture adapted to 28×28 grey images.
//!
//! The paper's downsampling (stem stride 2, stage strides 1,2,2,2,1,2,1: 32× in all) would
//! take 28×28 to 1×1. Here the stem keeps the full resolution and three stages halve it:
//! stem stride 1 and stage strides 1,2,2,2,1,1,1, so the feature maps are
//! 28 (stem, stage 1) → 14 (stage 2) → 7 (stage 3) → 4 (stages 4–7 and the last 1×1
//! conv), 7× downsampling in all. Halving before stage 2 rather than keeping 28×28
//! through it (strides 1,1,2,2,1,2,1, also ending at 4×4) costs about half the
//! multiply-adds and activation memory, which is what makes training on two cores
//! practical.

use lowbit_data::Preprocess;
use lowbit_graph::Graph;
use lowbit_zoo::{mobilenet_v2, MobileNetV2Config};

use crate::error::Result;

/// Stride of the first 3×3 convolution.
pub const FASHION_MNIST_STEM_STRIDE: usize = 1;

/// Strides of the seven rows `(t, c, n, s)` of the inverted-residual table.
pub const FASHION_MNIST_STAGE_STRIDES: [usize; 7] = [1, 2, 2, 2, 1, 1, 1];

/// Pixel statistics of the Fashion-MNIST training set (mean 0.2860, std 0.3530 of the
/// 0..1 range), on the 0..255 scale that [`Preprocess`] uses.
const MEAN: f32 = 72.94;
const STD: f32 = 90.02;

/// How Fashion-MNIST images become inputs of the model: standardised grey values.
pub fn fashion_mnist_preprocess() -> Preprocess {
    Preprocess {
        mean: [MEAN; 3],
        std: [STD; 3],
        gray: true,
        ..Preprocess::default()
    }
}

/// MobileNetV2 for `[N, 1, 28, 28]` inputs and 10 classes, with the strides above, the
/// tutorial's ReLU and mean pooling, at width `width_mult`, initialised from `seed`.
/// The preprocessing is stored in the graph's metadata, so `lowbit eval` needs no flags.
pub fn fashion_mnist_mobilenet_v2(width_mult: f64, seed: u64) -> Result<Graph> {
    let mut config = MobileNetV2Config {
        num_classes: 10,
        width_mult,
        in_channels: 1,
        stem_stride: FASHION_MNIST_STEM_STRIDE,
        input_size: [28, 28],
        seed,
        ..MobileNetV2Config::default()
    };
    config.set_stage_strides(&FASHION_MNIST_STAGE_STRIDES)?;
    let mut graph = mobilenet_v2(&config)?;
    graph.metadata.insert(
        lowbit_data::PREPROCESS_METADATA_KEY.to_string(),
        fashion_mnist_preprocess().to_metadata_json(),
    );
    Ok(graph)
}
