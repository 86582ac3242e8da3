//! The scalar requantization reference (rule documented in `requant/mod.rs`).

use super::RowParams;

/// Requantizes one accumulator: the reference every vector version must match.
///
/// Preconditions (checked by `RequantParams::validate` on the public path):
/// `multiplier` finite and > 0, `lo ≤ 0 ≤ hi` where `lo`/`hi` are the output bounds minus
/// the zero point, as exactly representable f32 integers.
pub fn requantize_one(acc: i32, bias: i32, multiplier: f32, zero_point: i32, lo: f32, hi: f32) -> i32 {
    debug_assert!(multiplier.is_finite() && multiplier > 0.0);
    debug_assert!(lo <= 0.0 && 0.0 <= hi && lo.fract() == 0.0 && hi.fract() == 0.0);
    let x = acc.wrapping_add(bias) as f32 * multiplier;
    let x = x.max(lo).min(hi);
    x.round_ties_even() as i32 + zero_point
}

/// Requantizes `acc` into `out` (low bytes of the in-range results); element `i` uses
/// channel `first_channel + i` of per-column parameters.
pub(crate) fn scalar_requant_s32(acc: &[i32], row: &RowParams<'_>, out: &mut [u8], first_channel: usize) {
    for (i, (a, o)) in acc.iter().zip(out.iter_mut()).enumerate() {
        let c = first_channel + i;
        let y = requantize_one(
            *a,
            row.bias.get(c),
            row.multiplier.get(c),
            row.zero_point,
            row.lo,
            row.hi,
        );
        *o = y as u8;
    }
}
