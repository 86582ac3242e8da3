//! Reverse-mode automatic differentiation over the lowbit graph IR: the first part of the
//! training engine (QAT builds on it).
//!
//! Design:
//! - **Same IR as inference.** A [`TrainingExecutor`] takes a [`lowbit_graph::Graph`], the
//!   graph the runtime runs, and keeps the mutable training state: parameters and
//!   BatchNorm buffers, initialised from the graph's initializers and written back with
//!   [`TrainingExecutor::to_graph`]. Trainable values are found by role (Conv/Gemm
//!   weights and biases, BatchNorm scale and shift) and can be changed.
//! - **Record on the way forward, differentiate on the way back.** Each op's rule is a
//!   forward function that returns its outputs plus a small backward record holding what
//!   its gradient needs (input, mask, normalised activations). Only nodes on a path from
//!   a value that requires a gradient are recorded; other activations are dropped after
//!   their last use. [`Tape::backward`] walks the records in reverse topological order,
//!   summing gradients where a value fans out.
//! - **One file per op family** under `src/rules/`: conv, batchnorm, activation (Relu,
//!   Clip), elementwise (broadcasting Add/Sub/Mul), linear (Gemm, MatMul), pool (global
//!   average, ReduceMean), max_pool, shape (Flatten, Reshape, Identity), dropout. An op
//!   without a rule fails the forward pass with [`AutogradError::Unsupported`] naming the node.
//! - **Loss and fake quantization live beside the IR.** The graph ends at the logits and
//!   [`softmax_cross_entropy`] seeds the backward pass. The IR has no fake-quantize op yet,
//!   so [`TrainingExecutor::set_fake_quant`] attaches a [`FakeQuantize`] to any value
//!   (weight, input or activation): its readers see the quantized-dequantized tensor and
//!   the gradient passes straight through inside the clamp range, zero outside it.
//! - **Training-mode semantics follow PyTorch**: BatchNorm normalises with batch
//!   statistics and updates running statistics with ONNX momentum `m` (PyTorch's
//!   `1 − m`), the running variance unbiased; Dropout is inverted and seeded per step and
//!   node, so runs are reproducible; Relu and Clip pass no gradient at their kinks.
//! - **Kernels are reused**: Conv forward is the inference kernel, and Conv and Gemm
//!   gradients go through the f32 GEMM; batch items (conv) and channels (BatchNorm,
//!   depthwise) run in parallel with rayon.
//!
//! ```no_run
//! # use lowbit_autograd::{softmax_cross_entropy, Mode, Sgd, TrainingExecutor};
//! # fn step(graph: &lowbit_graph::Graph, images: lowbit_tensor::Tensor, labels: &[usize])
//! #     -> lowbit_autograd::Result<()> {
//! let mut exec = TrainingExecutor::new(graph, 0)?;
//! let mut sgd = Sgd::new(0.1, 0.9, 0.0);
//! let tape = exec.forward(&[(graph.inputs[0], images)], Mode::Train)?;
//! let loss = softmax_cross_entropy(tape.output().expect("one output"), labels)?;
//! let grads = tape.backward(&[(graph.outputs[0], loss.grad)])?;
//! sgd.step(&mut exec, &grads)?;
//! # Ok(())
//! # }
//! ```

mod error;
mod executor;
mod optim;
mod rules;

pub use error::{AutogradError, Result};
pub use executor::{FakeQuantObserver, Gradients, Mode, Tape, TrainingExecutor};
pub use optim::Sgd;
pub use rules::fake_quant::{fake_quant_backward, FakeQuantOutput, FakeQuantize};
pub use rules::loss::{softmax_cross_entropy, CrossEntropy};
