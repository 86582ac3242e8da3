//! FP32 kernels: GEMM, 2-D convolution (pointwise, depthwise, im2col) and pooling, NCHW.
//!
//! Every kernel is a plain function over slices; shapes are checked by the caller (the runtime),
//! so a slice shorter than its stated sizes makes a kernel panic on an assert rather than
//! return an error. Kernels parallelise with rayon inside the caller's pool and take a
//! sequential path when that pool has a single thread.

mod activation;
mod conv;
mod conv_backward;
mod error;
mod gemm;
mod pool;
mod train_elementwise;

pub use activation::Activation;
pub use conv::{Conv2d, ConvGeometry};
pub use conv_backward::{
    depthwise_input_grad, depthwise_weight_grad, pointwise_input_grad, pointwise_weight_grad, ConvInput,
};
pub use error::KernelError;
pub use gemm::gemm;
use gemm::sequential_gemm;
pub use pool::{avg_pool2d, global_avg_pool, max_pool2d, PoolGeometry};
pub use train_elementwise::{
    batch_norm_input_grad, clamp_grad, clamp_into, scale_shift, sum, sum_and_centered_product,
    sum_squared_deviation,
};
