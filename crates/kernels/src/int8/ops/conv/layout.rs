//! Activation layouts a quantized convolution reads and writes, and the per-thread
//! scratch buffers its runs reuse.

use std::cell::Cell;

/// Order of a `[batch, channels, h, w]` activation's bytes in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Plane by plane, as ONNX and the FP32 engine store tensors.
    Nchw,
    /// Pixel by pixel, channels innermost: a pointwise conv's input is then its GEMM
    /// operand and its output the GEMM's result, with no transposes.
    Nhwc,
}

/// Buffers a run needs besides its input and output. Grown on demand and never shrunk,
/// so after the first run of a model no allocation (or page-fault zeroing) remains.
#[derive(Default)]
pub(super) struct Scratch {
    /// The input converted to NHWC.
    pub input: Vec<u8>,
    /// The NHWC result before its conversion to NCHW.
    pub output: Vec<u8>,
    /// im2col patch rows.
    pub patches: Vec<u8>,
    /// GEMM accumulators.
    pub acc: Vec<i32>,
    /// One group's requantized result before it is scattered into the output.
    pub group_output: Vec<u8>,
    /// NCHW planes in and out of the plane-by-plane depthwise kernels.
    pub planes_in: Vec<u8>,
    pub planes_out: Vec<u8>,
}

thread_local! {
    static SCRATCH: Cell<Scratch> = Cell::new(Scratch::default());
}

/// Runs `f` with this thread's scratch. The buffers are moved out for the call, so a
/// nested call on the same thread (rayon may run another job while this one waits) just
/// starts from empty buffers instead of aliasing them.
pub(super) fn with_scratch<T>(f: impl FnOnce(&mut Scratch) -> T) -> T {
    let mut scratch = SCRATCH.with(Cell::take);
    let result = f(&mut scratch);
    SCRATCH.with(|cell| cell.set(scratch));
    result
}

/// The first `len` elements of `buffer`, grown (with default values) if shorter. The
/// contents are whatever the last user left: callers overwrite what they read.
pub(super) fn prefix<T: Copy + Default>(buffer: &mut Vec<T>, len: usize) -> &mut [T] {
    if buffer.len() < len {
        buffer.resize(len, T::default());
    }
    &mut buffer[..len]
}

/// Reorders `batch` images of `channels × pixels` bytes from layout `from` into the other
/// layout in `out` (both `batch · channels · pixels` bytes).
pub fn convert_layout(
    x: &[u8],
    (batch, channels, pixels): (usize, usize, usize),
    from: Layout,
    out: &mut [u8],
) {
    let (rows, cols) = match from {
        Layout::Nchw => (channels, pixels),
        Layout::Nhwc => (pixels, channels),
    };
    let image = channels * pixels;
    if image == 0 {
        return;
    }
    for (src, dst) in x.chunks_exact(image).zip(out.chunks_exact_mut(image)).take(batch) {
        super::transpose::transpose_bytes(src, rows, cols, dst);
    }
}
