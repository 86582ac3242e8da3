//! 256-entry tables that requantize u8 values from one `(scale, zero point)` to another.
//!
//! A table holds, for every input byte, ONNX's dequantize-then-`QuantizeLinear` result, so
//! a lookup is bit-identical to that definition at any speed.

use super::params::QParams;

/// `table[q] = clamp(round_half_even(((q − zx) · sx) / sy) + zy, lo, hi)`, all in f32.
pub(crate) fn requant_table(input: QParams, output: QParams, (lo, hi): (i32, i32)) -> [u8; 256] {
    let mut table = [0u8; 256];
    for (q, t) in table.iter_mut().enumerate() {
        *t = requant_value(q as i32, input, output, (lo, hi)) as u8;
    }
    table
}

/// The scalar rule of [`requant_table`] for one value.
pub(crate) fn requant_value(q: i32, input: QParams, output: QParams, (lo, hi): (i32, i32)) -> i32 {
    let real = (q - input.zero_point) as f32 * input.scale;
    let x = (real / output.scale).clamp((lo - output.zero_point) as f32, (hi - output.zero_point) as f32);
    x.round_ties_even() as i32 + output.zero_point
}
