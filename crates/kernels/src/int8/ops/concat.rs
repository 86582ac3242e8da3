//! `QLinearConcat`: concatenation of u8 tensors, each requantized to the output's
//! parameters through a 256-entry table (a plain copy when an input already has them).

use super::error::{check_len, QOpError, Result};
use super::lut::requant_table;
use super::params::{validate_range, OutputType, QParams};

/// One input of [`qconcat`].
#[derive(Debug, Clone, Copy)]
pub struct QInput<'a> {
    pub data: &'a [u8],
    pub params: QParams,
}

/// Concatenates along an axis: every input is `outer` blocks (the product of the
/// dimensions before the axis) of `data.len() / outer` bytes, and `out` is `outer` blocks
/// of the inputs' blocks side by side. `range` is the output clamp range.
pub fn qconcat(
    inputs: &[QInput<'_>],
    outer: usize,
    output: QParams,
    range: (i32, i32),
    out: &mut [u8],
) -> Result<()> {
    const OP: &str = "QLinearConcat";
    output.validate(OP, "output", (0, 255))?;
    validate_range(OP, range, output.zero_point, OutputType::U8)?;
    let mut block_lens = Vec::with_capacity(inputs.len());
    let mut tables = Vec::with_capacity(inputs.len());
    for input in inputs {
        input.params.validate(OP, "input", (0, 255))?;
        if outer == 0 || !input.data.len().is_multiple_of(outer) {
            return Err(QOpError::InvalidGeometry {
                op: OP,
                why: format!(
                    "an input of {} values is not {outer} equal blocks",
                    input.data.len()
                ),
            });
        }
        block_lens.push(input.data.len() / outer);
        let identity = input.params == output && range == (0, 255);
        tables.push((!identity).then(|| requant_table(input.params, output, range)));
    }
    let out_block: usize = block_lens.iter().sum();
    check_len("concat output", outer * out_block, out.len())?;
    for (b, out_chunk) in out.chunks_exact_mut(out_block.max(1)).take(outer).enumerate() {
        let mut at = 0;
        for ((input, len), table) in inputs.iter().zip(&block_lens).zip(&tables) {
            let src = &input.data[b * len..][..*len];
            let dst = &mut out_chunk[at..at + len];
            match table {
                None => dst.copy_from_slice(src),
                Some(t) => dst.iter_mut().zip(src).for_each(|(d, s)| *d = t[usize::from(*s)]),
            }
            at += len;
        }
    }
    Ok(())
}
