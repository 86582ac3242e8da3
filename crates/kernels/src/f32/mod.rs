//! FP32 kernels.
