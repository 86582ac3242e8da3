//! The u8 view of i8 bytes and back: flipping a byte's top bit adds 128 to its i8 value
//! (or takes 128 from its u8 value). Moving the zero point by the same amount leaves every
//! centred value `q − zero_point` unchanged, which is how kernels written for u8
//! activations and i8 weights also take i8 activations and u8 weights.

/// What the flip adds to an i8 value read as u8, and so to its zero point.
pub const SIGN_FLIP_SHIFT: i32 = 128;

/// i8 values as the u8 kernels read them (each + 128).
pub fn u8_view(values: &[i8]) -> Vec<u8> {
    values.iter().map(|&v| (v as u8) ^ 0x80).collect()
}

/// u8 values as i8 (each − 128): u8 weights for the i8 kernels, or a u8-view result
/// stored back as i8.
pub fn i8_view(values: &[u8]) -> Vec<i8> {
    values.iter().map(|&v| (v ^ 0x80) as i8).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_shift_values_by_128_and_invert() {
        let all: Vec<i8> = (i8::MIN..=i8::MAX).collect();
        let unsigned = u8_view(&all);
        for (&s, &u) in all.iter().zip(&unsigned) {
            assert_eq!(i32::from(u), i32::from(s) + SIGN_FLIP_SHIFT);
        }
        assert_eq!(i8_view(&unsigned), all);
    }
}
