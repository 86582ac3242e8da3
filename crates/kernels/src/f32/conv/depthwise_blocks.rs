//! A block of [`LANES`] f32 accumulators in vector registers, per ISA tier, for the depthwise
//! plane kernels. Written with intrinsics because LLVM's SLP vectoriser splits the fully
//! unrolled K×K tap loop into mixed-width pieces and spills the block to the stack.
//!
//! Every method is `#[inline(always)]`: it is only meant to be inlined into a function compiled
//! with its tier's target features (see `depthwise_tiles`), which are checked at plan time.

/// Outputs per block (one AVX-512 vector, two AVX2 vectors).
pub(super) const LANES: usize = 16;

pub(super) trait Block: Copy {
    fn zero() -> Self;
    /// `self + t · src`.
    fn madd(self, t: f32, src: &[f32; LANES]) -> Self;
    /// `clamp(self + bias)` with `bounds` from `Activation::bounds` (`None`: no clamp).
    fn finish(self, bias: f32, bounds: Option<[f32; 2]>) -> Self;
    /// Writes the first `dst.len() ≤ LANES` values.
    fn store(self, dst: &mut [f32]);
    /// `dst.copy_from_slice(src)`, without a `memcpy` call for short rows.
    fn copy(src: &[f32], dst: &mut [f32]) {
        dst.copy_from_slice(src);
    }
    /// `dst[i] = src[2 · i]` for every `i` of `dst`; `src` holds `2 · dst.len() − 1` values.
    fn copy_even(dst: &mut [f32], src: &[f32]) {
        for (i, d) in dst.iter_mut().enumerate() {
            *d = src[2 * i];
        }
    }
}

/// Baseline tier: plain multiply and add (`mul_add` without hardware FMA is a libm call).
#[derive(Clone, Copy)]
pub(super) struct Portable([f32; LANES]);

impl Block for Portable {
    #[inline(always)]
    fn zero() -> Self {
        Portable([0.0; LANES])
    }

    #[inline(always)]
    fn madd(mut self, t: f32, src: &[f32; LANES]) -> Self {
        for (a, &v) in self.0.iter_mut().zip(src) {
            *a += t * v;
        }
        self
    }

    #[inline(always)]
    fn finish(mut self, bias: f32, bounds: Option<[f32; 2]>) -> Self {
        match bounds {
            None => self.0.iter_mut().for_each(|a| *a += bias),
            Some([lo, hi]) => self
                .0
                .iter_mut()
                .for_each(|a| *a = crate::f32::activation::clamp(*a + bias, lo, hi)),
        }
        self
    }

    #[inline(always)]
    fn store(self, dst: &mut [f32]) {
        let n = dst.len();
        dst.copy_from_slice(&self.0[..n]);
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) use x86::{Avx2, Avx512};

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Block, LANES};
    use std::arch::x86_64::*;

    /// AVX-512F + FMA tier: one 16-lane vector.
    #[derive(Clone, Copy)]
    pub(in super::super) struct Avx512(__m512);

    // SAFETY (all `unsafe` blocks in this impl): the methods only run inlined into functions
    // compiled with AVX-512F and FMA on a CPU that has them; loads and stores stay inside
    // the slices they are given (`LANES` values, or the masked `dst.len()`).
    impl Block for Avx512 {
        #[inline(always)]
        fn zero() -> Self {
            Avx512(unsafe { _mm512_setzero_ps() })
        }

        #[inline(always)]
        fn madd(self, t: f32, src: &[f32; LANES]) -> Self {
            unsafe {
                Avx512(_mm512_fmadd_ps(
                    _mm512_set1_ps(t),
                    _mm512_loadu_ps(src.as_ptr()),
                    self.0,
                ))
            }
        }

        #[inline(always)]
        fn finish(self, bias: f32, bounds: Option<[f32; 2]>) -> Self {
            unsafe {
                let v = _mm512_add_ps(self.0, _mm512_set1_ps(bias));
                Avx512(match bounds {
                    None => v,
                    Some([lo, hi]) => _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(lo)), _mm512_set1_ps(hi)),
                })
            }
        }

        #[inline(always)]
        fn store(self, dst: &mut [f32]) {
            let n = dst.len().min(LANES);
            unsafe { _mm512_mask_storeu_ps(dst.as_mut_ptr(), ((1u32 << n) - 1) as __mmask16, self.0) }
        }

        #[inline(always)]
        fn copy(src: &[f32], dst: &mut [f32]) {
            assert_eq!(src.len(), dst.len(), "copy: lengths differ");
            for (s, d) in src.chunks(LANES).zip(dst.chunks_mut(LANES)) {
                let mask = ((1u32 << s.len()) - 1) as __mmask16;
                unsafe {
                    let v = _mm512_maskz_loadu_ps(mask, s.as_ptr());
                    _mm512_mask_storeu_ps(d.as_mut_ptr(), mask, v);
                }
            }
        }

        #[inline(always)]
        fn copy_even(dst: &mut [f32], src: &[f32]) {
            assert!(src.len() + 1 >= 2 * dst.len(), "copy_even: source too short");
            let mask = |n: usize| ((1u32 << n) - 1) as __mmask16;
            for (i, d) in dst.chunks_mut(LANES).enumerate() {
                let s = &src[2 * LANES * i..];
                let (lo, hi) = (s.len().min(LANES), s.len().clamp(LANES, 2 * LANES) - LANES);
                // Masked lanes are not read or written, so only `s` and `d` are touched.
                unsafe {
                    let a = _mm512_maskz_loadu_ps(mask(lo), s.as_ptr());
                    let b = _mm512_maskz_loadu_ps(mask(hi), s.as_ptr().wrapping_add(LANES));
                    let evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
                    _mm512_mask_storeu_ps(d.as_mut_ptr(), mask(d.len()), _mm512_permutex2var_ps(a, evens, b));
                }
            }
        }
    }

    /// AVX2 + FMA tier: two 8-lane vectors.
    #[derive(Clone, Copy)]
    pub(in super::super) struct Avx2(__m256, __m256);

    // SAFETY (all `unsafe` blocks in this impl): as for `Avx512`, with AVX2 and FMA.
    impl Block for Avx2 {
        #[inline(always)]
        fn zero() -> Self {
            unsafe { Avx2(_mm256_setzero_ps(), _mm256_setzero_ps()) }
        }

        #[inline(always)]
        fn madd(self, t: f32, src: &[f32; LANES]) -> Self {
            unsafe {
                let t = _mm256_set1_ps(t);
                let (lo, hi) = (
                    _mm256_loadu_ps(src.as_ptr()),
                    _mm256_loadu_ps(src.as_ptr().add(8)),
                );
                Avx2(_mm256_fmadd_ps(t, lo, self.0), _mm256_fmadd_ps(t, hi, self.1))
            }
        }

        #[inline(always)]
        fn finish(self, bias: f32, bounds: Option<[f32; 2]>) -> Self {
            unsafe {
                let b = _mm256_set1_ps(bias);
                let (v0, v1) = (_mm256_add_ps(self.0, b), _mm256_add_ps(self.1, b));
                match bounds {
                    None => Avx2(v0, v1),
                    Some([lo, hi]) => {
                        let (lo, hi) = (_mm256_set1_ps(lo), _mm256_set1_ps(hi));
                        let clamp = |v| _mm256_min_ps(_mm256_max_ps(v, lo), hi);
                        Avx2(clamp(v0), clamp(v1))
                    }
                }
            }
        }

        #[inline(always)]
        fn store(self, dst: &mut [f32]) {
            if dst.len() >= LANES {
                unsafe {
                    _mm256_storeu_ps(dst.as_mut_ptr(), self.0);
                    _mm256_storeu_ps(dst.as_mut_ptr().add(8), self.1);
                }
            } else {
                let mut all = [0.0f32; LANES];
                unsafe {
                    _mm256_storeu_ps(all.as_mut_ptr(), self.0);
                    _mm256_storeu_ps(all.as_mut_ptr().add(8), self.1);
                }
                let n = dst.len();
                dst.copy_from_slice(&all[..n]);
            }
        }
    }
}
