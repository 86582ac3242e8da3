//! The vector instruction set an op's non-GEMM kernels use for a given tier.

use super::super::error::Int8Error;
use super::super::isa::Tier;
use super::error::Result;

/// Vector width class of the direct (non-GEMM) kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Vector {
    /// AVX-512F + BW: every tier from `avx512vnni` up implies them (see `isa.rs`).
    Avx512,
    /// AVX2: the `avx2` and `avxvnni` tiers.
    Avx2,
    Scalar,
}

impl Vector {
    /// The vector class of `tier`, failing when this CPU cannot run the tier.
    pub(crate) fn for_tier(tier: Tier) -> Result<Vector> {
        if !tier.is_available() {
            return Err(Int8Error::TierUnavailable { tier }.into());
        }
        Ok(match tier {
            Tier::Amx | Tier::Avx512Vnni if cfg!(target_arch = "x86_64") => Vector::Avx512,
            Tier::AvxVnni | Tier::Avx2 if cfg!(target_arch = "x86_64") => Vector::Avx2,
            _ => Vector::Scalar,
        })
    }
}

/// Stores the low byte of each of the 8 i32 lanes of `v` to `dst[0..8]` (exact for lanes
/// already in u8 or i8 range).
///
/// # Safety
/// Needs AVX2; `dst` is valid for 8 bytes of writes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn avx2_store_low_bytes(v: std::arch::x86_64::__m256i, dst: *mut u8) {
    use std::arch::x86_64::*;
    // Byte 0 of each i32 into the low 4 bytes of each 128-bit half, then the halves' first
    // dwords side by side.
    let low_bytes = _mm256_setr_epi8(
        0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, //
        0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    );
    let join = _mm256_setr_epi32(0, 4, 1, 1, 1, 1, 1, 1);
    let packed = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(v, low_bytes), join);
    _mm_storel_epi64(dst.cast(), _mm256_castsi256_si128(packed));
}
