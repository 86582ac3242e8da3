//! Reference models built with the lowbit builder, shaped, named and initialised the
//! way torchvision (and the PyTorch static-quantization tutorial) build them.
//!
//! - [`mobilenet_v2`]: MobileNetV2 with the tutorial's or torchvision's activation and
//!   head, width multiplier, custom inverted-residual table, input channels and strides.
//! - [`resnet18`], [`resnet50`]: torchvision's ResNets (v1.5).
//!
//! Every model is a plain [`lowbit_graph::Graph`] with facts inferred; weights are drawn
//! from a seeded generator ([`Initializer`]), so one seed always gives the same model.

mod init;
mod mobilenet_v2;
mod params;
mod resnet;

pub use init::Initializer;
pub use mobilenet_v2::{
    make_divisible, mobilenet_v2, Activation, GlobalPooling, InvertedResidualSetting, MobileNetV2Config,
    DEFAULT_INVERTED_RESIDUAL_SETTING,
};
pub use params::learnable_parameter_count;
pub use resnet::{resnet18, resnet50, ResNetConfig};
