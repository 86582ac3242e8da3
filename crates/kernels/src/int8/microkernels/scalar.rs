//! Plain-Rust microkernel: the portable tier and the model the SIMD tiers follow.

use super::TileArgs;

const MR: usize = 4;
const NR: usize = 4;

/// `kr = 1`: packed B stores, for each k, the panel's 4 columns.
///
/// # Safety
/// See [`super::MicroKernel`].
pub(crate) unsafe fn scalar_gemm_u8s8_4x4(t: &TileArgs) {
    let mut acc = [[0i32; NR]; MR];
    if !t.accumulate {
        let seed = std::slice::from_raw_parts(t.seed, NR);
        acc.iter_mut().for_each(|row| row.copy_from_slice(seed));
    }
    for k in 0..t.k_groups {
        for (r, acc_row) in acc.iter_mut().enumerate() {
            let a = i32::from(*t.a.add(r * t.a_stride + k));
            for (j, acc) in acc_row.iter_mut().enumerate() {
                let b = i32::from(*t.b.add(k * NR + j).cast::<i8>());
                // Wrapping like the SIMD tiers, so all tiers agree even when the exact sum
                // leaves the i32 range.
                *acc = acc.wrapping_add(a * b);
            }
        }
    }
    for (r, acc_row) in acc.iter().enumerate() {
        for (j, value) in acc_row.iter().enumerate() {
            let c = t.c.add(r * t.ldc + j);
            *c = if t.accumulate {
                (*c).wrapping_add(*value)
            } else {
                *value
            };
        }
    }
}
