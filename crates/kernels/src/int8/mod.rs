//! INT8 kernels.
