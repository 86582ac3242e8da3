//! Requantization of whole row-major accumulator blocks whose channels are the columns,
//! with the per-channel parameters laid out at plan time so the block is one flat array.
//!
//! Row by row, a block of `cols` channels needs a masked partial vector at every row end
//! (for 24 or 40 channels, half of each 64-lane step is masked off) and the mask
//! arithmetic between them. Element `i` of the flat block has channel `i mod cols`, so
//! the parameters of 16 consecutive elements starting at a multiple of 16 are contiguous
//! in a table that repeats the channels over `period = lcm(cols, 16)` entries: the block
//! then runs in full 64-lane steps with one masked step at its very end. The table keeps
//! 48 more entries (the period's start again) so a step's four vectors never wrap inside
//! it.

use super::super::error::Result;
use super::super::isa::Tier;
use super::{requantize_validated, ChannelAxis, PerChannel, RequantParams, RowParams};

/// Longest period tabled (32 KB of multipliers and biases, which stay in L1 next to the
/// block); wider channel counts with an odd factor keep the row-by-row path.
const MAX_PERIOD: usize = 4096;

/// Lanes of the vectors the table is read in.
const LANES: usize = 16;

/// Entries past the period: the last three vectors of a 64-lane step starting at the
/// period's last vector.
const OVERHANG: usize = 48;

/// Per-channel multipliers and biases of `cols` channels repeated over their period.
#[derive(Debug, Clone)]
pub(crate) struct ColumnTable {
    cols: usize,
    period: usize,
    multiplier: Vec<f32>,
    bias: Vec<i32>,
}

impl ColumnTable {
    /// The table of the channels `multiplier`/`bias` (one value each per column), or
    /// `None` when their period is longer than [`MAX_PERIOD`] or the lengths differ.
    pub(crate) fn new(multiplier: &[f32], bias: &[i32]) -> Option<ColumnTable> {
        let cols = multiplier.len();
        if cols == 0 || bias.len() != cols {
            return None;
        }
        let period = cols / gcd(cols, LANES) * LANES;
        if period > MAX_PERIOD {
            return None;
        }
        let entries = period + OVERHANG;
        Some(ColumnTable {
            cols,
            period,
            multiplier: (0..entries).map(|i| multiplier[i % cols]).collect(),
            bias: (0..entries).map(|i| bias[i % cols]).collect(),
        })
    }

    /// Requantizes the row-major `rows × cols` block `acc` into `out` with the channels'
    /// zero point and inclusive output range, which the op validated when it was built.
    /// Tiers without AVX-512 take the row-by-row path, with the same bits.
    pub(crate) fn requantize(
        &self,
        tier: Tier,
        rows: usize,
        acc: &[i32],
        (zero_point, range): (i32, (i32, i32)),
        out: &mut [u8],
    ) -> Result<()> {
        let channels = &self.multiplier[..self.cols];
        let params = RequantParams {
            multiplier: PerChannel::Each(channels),
            bias: PerChannel::Each(&self.bias[..self.cols]),
            zero_point,
            range,
        };
        #[cfg(target_arch = "x86_64")]
        if matches!(tier, Tier::Amx | Tier::Avx512Vnni)
            && tier.is_available()
            && acc.len() == rows * self.cols
            && out.len() == acc.len()
        {
            let row = RowParams {
                multiplier: params.multiplier,
                bias: params.bias,
                zero_point,
                lo: (range.0 - zero_point) as f32,
                hi: (range.1 - zero_point) as f32,
            };
            // SAFETY: the tier implies AVX-512F/BW (see `isa.rs`); the table holds
            // `period + OVERHANG` entries and the lengths were checked above.
            unsafe {
                super::avx512::avx512_requant_periodic(
                    acc,
                    (&self.multiplier, &self.bias),
                    self.period,
                    &row,
                    out,
                )
            };
            return Ok(());
        }
        requantize_validated(tier, (rows, self.cols), acc, ChannelAxis::Columns, &params, out)
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

#[cfg(test)]
mod tests {
    use super::super::scalar::requantize_one;
    use super::*;

    /// Every tier, column counts around the vector sizes (and one whose period is too
    /// long to table), row counts that end mid-step: the bytes equal the scalar rule's.
    #[test]
    fn table_matches_scalar_rule() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for cols in [1, 3, 7, 16, 17, 24, 40, 48, 64, 96, 100, 144, 255, 257] {
            let multiplier: Vec<f32> = (0..cols).map(|_| 1e-4 + (next() % 1000) as f32 * 1e-5).collect();
            let bias: Vec<i32> = (0..cols).map(|_| (next() % 20001) as i32 - 10000).collect();
            let table = ColumnTable::new(&multiplier, &bias);
            assert_eq!(table.is_none(), cols == 257, "{cols} columns");
            let Some(table) = table else { continue };
            for rows in [1, 2, 5, 33] {
                let acc: Vec<i32> = (0..rows * cols)
                    .map(|_| (next() % 200_001) as i32 - 100_000)
                    .collect();
                for (zp, range) in [(128, (0, 255)), (3, (3, 200)), (-5, (-128, 127))] {
                    let (lo, hi) = ((range.0 - zp) as f32, (range.1 - zp) as f32);
                    let expected: Vec<u8> = acc
                        .iter()
                        .enumerate()
                        .map(|(i, a)| {
                            let c = i % cols;
                            requantize_one(*a, bias[c], multiplier[c], zp, lo, hi) as u8
                        })
                        .collect();
                    for tier in crate::int8::available_tiers() {
                        let mut out = vec![0u8; acc.len()];
                        table.requantize(tier, rows, &acc, (zp, range), &mut out).unwrap();
                        assert_eq!(out, expected, "{tier} {rows}×{cols} zp {zp}");
                    }
                }
            }
        }
    }
}
