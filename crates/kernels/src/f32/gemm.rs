//! Single-precision GEMM with arbitrary strides.
//!
//! Backed by the `gemm` crate (the engine of faer) with its `x86-v4` feature, which adds
//! AVX-512 microkernels selected at run time. Measured single-threaded on the 1×1-conv shapes
//! of ResNet-50 and EfficientNet-Lite0 it beat `matrixmultiply` (AVX2/FMA only) on every
//! shape, most on skinny ones (few rows or N = 49); see docs/PERFORMANCE.md.

/// `C = alpha * A·B + beta * C` where A is `m×k`, B is `k×n` and C is `m×n`, each given by
/// an element slice and its (row stride, column stride). Transposed operands are expressed
/// by swapping strides. With `beta == 0` C is only written (NaN or garbage in C is ignored).
///
/// Panics (assert) when a slice is too short for its sizes and strides; negative strides
/// are not supported.
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: &[f32],
    rsa: isize,
    csa: isize,
    b: &[f32],
    rsb: isize,
    csb: isize,
    beta: f32,
    c: &mut [f32],
    rsc: isize,
    csc: isize,
) {
    let parallelism = match rayon::current_num_threads() {
        1 => ::gemm::Parallelism::None,
        threads => ::gemm::Parallelism::Rayon(threads),
    };
    gemm_with(
        m,
        n,
        k,
        alpha,
        a,
        rsa,
        csa,
        b,
        rsb,
        csb,
        beta,
        c,
        rsc,
        csc,
        parallelism,
    );
}

/// [`gemm`] on the calling thread only, for callers that parallelise around it.
#[allow(clippy::too_many_arguments)]
pub(crate) fn sequential_gemm(
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: &[f32],
    rsa: isize,
    csa: isize,
    b: &[f32],
    rsb: isize,
    csb: isize,
    beta: f32,
    c: &mut [f32],
    rsc: isize,
    csc: isize,
) {
    gemm_with(
        m,
        n,
        k,
        alpha,
        a,
        rsa,
        csa,
        b,
        rsb,
        csb,
        beta,
        c,
        rsc,
        csc,
        ::gemm::Parallelism::None,
    );
}

#[allow(clippy::too_many_arguments)]
fn gemm_with(
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: &[f32],
    rsa: isize,
    csa: isize,
    b: &[f32],
    rsb: isize,
    csb: isize,
    beta: f32,
    c: &mut [f32],
    rsc: isize,
    csc: isize,
    parallelism: ::gemm::Parallelism,
) {
    assert!(fits(a.len(), m, k, rsa, csa), "gemm: A too short for {m}x{k}");
    assert!(fits(b.len(), k, n, rsb, csb), "gemm: B too short for {k}x{n}");
    assert!(fits(c.len(), m, n, rsc, csc), "gemm: C too short for {m}x{n}");
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: the asserts above bound every index the kernel touches by the slice lengths.
    // The `gemm` crate computes `dst = alpha·dst + beta·lhs·rhs` and takes column stride
    // before row stride; `read_dst == false` makes it ignore C's contents.
    unsafe {
        ::gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            csc,
            rsc,
            beta != 0.0,
            a.as_ptr(),
            csa,
            rsa,
            b.as_ptr(),
            csb,
            rsb,
            beta,
            alpha,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// Whether a `rows×cols` matrix with non-negative strides lies inside a slice of `len`.
fn fits(len: usize, rows: usize, cols: usize, rs: isize, cs: isize) -> bool {
    if rows == 0 || cols == 0 {
        return true;
    }
    if rs < 0 || cs < 0 {
        return false;
    }
    let last = (rows - 1) * rs as usize + (cols - 1) * cs as usize;
    last < len
}
