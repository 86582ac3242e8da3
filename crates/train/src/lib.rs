//! Training on top of the autograd engine: the loop, its schedules and checkpoints, and
//! quantization-aware training (`qat`).

pub mod qat;
