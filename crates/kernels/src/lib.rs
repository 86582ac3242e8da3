//! Compute kernels for lowbit: plain functions over slices, no graph knowledge.
//!
//! - [`f32`](crate::f32): convolution, GEMM, pooling for the FP32 engine.
//! - [`int8`]: u8×i8→i32 GEMM and the integer ops, with run-time ISA dispatch.
//! - [`peak`]: the instruction ceilings the GEMMs are measured against.
//! - [`clock`]: the core clock, read in user space, to compare rates per cycle.

pub mod clock;
pub mod f32;
pub mod int8;
pub mod peak;
