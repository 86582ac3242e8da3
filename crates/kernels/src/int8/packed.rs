//! Weight (B) pre-packing into the layout of a tier's microkernel.
//!
//! Packed layout, for a tier with panel width `nr`, group depth `kr` and padded depth `Kp`
//! (K rounded up to `k_align`): panels of `nr` columns one after another; within a panel,
//! `Kp / kr` groups; within a group, for each of the `nr` columns, its `kr` consecutive k
//! values. Elements are i8 bytes, or little-endian i16 for tiers that widen. Columns past
//! N and k values past K are zero, so microkernels never see edges in B.
//!
//! A tier whose `b_tile_cols` is narrower than `nr` (AMX) reorders each `k_align`-deep
//! step of a panel: per `b_tile_cols`-column slice, that step's groups for those columns
//! only. An AMX B tile (16 groups × 16 columns × 4 k) is then one contiguous kilobyte, and
//! a panel streams through memory in the order the kernel reads it.

use super::aligned::AlignedBytes;
use super::config::{config_for, GemmConfig};
use super::error::{Int8Error, Result};
use super::isa::Tier;

/// How the caller's weight matrix is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightLayout {
    /// Row-major K×N: `b[k * n + j]`.
    KByN,
    /// Output-channel-major N×K, as conv and ONNX Gemm-with-transB weights are: `b[j * k + kk]`.
    NByK,
}

/// i8 weights packed for one tier, with their column sums (for zero-point correction).
#[derive(Clone)]
pub struct PackedWeights {
    tier: Tier,
    k: usize,
    n: usize,
    data: AlignedBytes,
    column_sums: Vec<i32>,
}

impl std::fmt::Debug for PackedWeights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackedWeights")
            .field("tier", &self.tier)
            .field("k", &self.k)
            .field("n", &self.n)
            .finish_non_exhaustive()
    }
}

impl PackedWeights {
    /// Packs a K×N weight matrix (stored as `layout` says) for `tier`'s microkernel.
    pub fn pack(tier: Tier, layout: WeightLayout, k: usize, n: usize, b: &[i8]) -> Result<Self> {
        let expected = k.checked_mul(n).ok_or(Int8Error::LengthMismatch {
            what: "weight matrix",
            expected: usize::MAX,
            actual: b.len(),
        })?;
        if b.len() != expected {
            return Err(Int8Error::LengthMismatch {
                what: "weight matrix",
                expected,
                actual: b.len(),
            });
        }
        let value = |kk: usize, j: usize| match layout {
            WeightLayout::KByN => b[kk * n + j],
            WeightLayout::NByK => b[j * k + kk],
        };
        let cfg = config_for(tier);
        let bytes = packed_len(cfg, k, n);
        let mut data = AlignedBytes::zeroed(bytes);
        fill_panels(cfg, k, n, &value, data.as_mut_slice());
        let column_sums = (0..n)
            .map(|j| (0..k).fold(0i32, |s, kk| s.wrapping_add(i32::from(value(kk, j)))))
            .collect();
        Ok(PackedWeights {
            tier,
            k,
            n,
            data,
            column_sums,
        })
    }

    pub fn tier(&self) -> Tier {
        self.tier
    }

    /// Depth (rows of the logical K×N matrix).
    pub fn k(&self) -> usize {
        self.k
    }

    /// Output columns.
    pub fn n(&self) -> usize {
        self.n
    }

    /// `Σ_k b[k][j]` for every column j.
    pub fn column_sums(&self) -> &[i32] {
        &self.column_sums
    }

    /// Start of the packed panels.
    pub(crate) fn as_ptr(&self) -> *const u8 {
        self.data.as_slice().as_ptr()
    }
}

/// Bytes the packed form of a K×N matrix takes for `cfg`.
fn packed_len(cfg: &GemmConfig, k: usize, n: usize) -> usize {
    n.div_ceil(cfg.nr) * cfg.nr * cfg.padded_k(k) * cfg.elem_bytes()
}

fn fill_panels(cfg: &GemmConfig, k: usize, n: usize, value: &dyn Fn(usize, usize) -> i8, out: &mut [u8]) {
    let kp = cfg.padded_k(k);
    let eb = cfg.elem_bytes();
    let mut pos = 0;
    let mut put = |v: i8| {
        if eb == 2 {
            out[pos..pos + 2].copy_from_slice(&i16::from(v).to_le_bytes());
        } else {
            out[pos] = v as u8;
        }
        pos += eb;
    };
    for panel_start in (0..n).step_by(cfg.nr) {
        for step_start in (0..kp).step_by(cfg.k_align) {
            for slice_start in (panel_start..panel_start + cfg.nr).step_by(cfg.b_tile_cols) {
                for group_start in (step_start..step_start + cfg.k_align).step_by(cfg.kr) {
                    for j in slice_start..slice_start + cfg.b_tile_cols {
                        for kk in group_start..group_start + cfg.kr {
                            put(if j < n && kk < k { value(kk, j) } else { 0 });
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_layouts_pack_identically() {
        let (k, n) = (7, 5);
        let kn: Vec<i8> = (0..k * n).map(|i| (i as i8).wrapping_mul(37)).collect();
        let mut nk = vec![0i8; k * n];
        for kk in 0..k {
            for j in 0..n {
                nk[j * k + kk] = kn[kk * n + j];
            }
        }
        for tier in [Tier::Scalar, Tier::Avx2, Tier::Amx] {
            let a = PackedWeights::pack(tier, WeightLayout::KByN, k, n, &kn).unwrap();
            let b = PackedWeights::pack(tier, WeightLayout::NByK, k, n, &nk).unwrap();
            assert_eq!(a.column_sums(), b.column_sums());
            let len = packed_len(config_for(tier), k, n);
            // SAFETY: both buffers hold at least `len` initialised bytes.
            let (pa, pb) = unsafe {
                (
                    std::slice::from_raw_parts(a.as_ptr(), len),
                    std::slice::from_raw_parts(b.as_ptr(), len),
                )
            };
            assert_eq!(pa, pb);
        }
    }

    #[test]
    fn vnni_group_layout() {
        // K=5, N=2 for the AVX-512 layout: group 0 holds k 0..4 of column 0, then of column 1.
        let b: Vec<i8> = (0..10).collect();
        let p = PackedWeights::pack(Tier::Avx512Vnni, WeightLayout::KByN, 5, 2, &b).unwrap();
        // SAFETY: the packed buffer holds 32 columns × 8 k bytes.
        let bytes = unsafe { std::slice::from_raw_parts(p.as_ptr().cast::<i8>(), 256) };
        assert_eq!(&bytes[..8], &[0, 2, 4, 6, 1, 3, 5, 7]);
        assert_eq!(&bytes[128..136], &[8, 0, 0, 0, 9, 0, 0, 0]);
        assert_eq!(p.column_sums(), &[20, 25]);
    }

    #[test]
    fn amx_tile_layout() {
        // K=5, N=2 for AMX: the first kilobyte is the B tile of columns 0..16, one 64-byte
        // row per group of 4 k; row 1 holds k 4 (the rest is padding). Columns 16..32 follow.
        let b: Vec<i8> = (0..10).collect();
        let p = PackedWeights::pack(Tier::Amx, WeightLayout::KByN, 5, 2, &b).unwrap();
        // SAFETY: the packed buffer holds 32 columns × 64 k bytes.
        let bytes = unsafe { std::slice::from_raw_parts(p.as_ptr().cast::<i8>(), 2048) };
        assert_eq!(&bytes[..8], &[0, 2, 4, 6, 1, 3, 5, 7]);
        assert!(bytes[8..64].iter().all(|&v| v == 0));
        assert_eq!(&bytes[64..72], &[8, 0, 0, 0, 9, 0, 0, 0]);
        assert!(bytes[72..].iter().all(|&v| v == 0));
    }

    #[test]
    fn rejects_wrong_length() {
        assert!(PackedWeights::pack(Tier::Scalar, WeightLayout::KByN, 3, 3, &[0; 8]).is_err());
    }
}
