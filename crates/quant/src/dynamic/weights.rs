//! Symmetric i8 weight quantization: `q = clamp(round_half_even(w / scale), -127, 127)`
//! with `scale = max|w| / 127`, per output column or per matrix.
//!
//! The range is `[-127, 127]`, not `[-128, 127]`, so that negating a weight never
//! saturates and the scale is the same for `w` and `-w`.

use super::WeightGranularity;

/// A K×N weight matrix in i8, row-major like the f32 matrix it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedWeights {
    pub values: Vec<i8>,
    /// N scales (per channel) or one (per tensor); always finite and > 0.
    pub scales: Vec<f32>,
}

/// Quantizes the row-major K×N matrix `w`. A column (or matrix) of zeros gets scale 1,
/// so every scale can divide. `None` when some weight is not finite.
pub fn quantize_weights(
    w: &[f32],
    k: usize,
    n: usize,
    granularity: WeightGranularity,
) -> Option<QuantizedWeights> {
    debug_assert_eq!(w.len(), k * n);
    if w.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let scale_of = |max_abs: f32| if max_abs > 0.0 { max_abs / 127.0 } else { 1.0 };
    let scales: Vec<f32> = match granularity {
        WeightGranularity::PerTensor => vec![scale_of(w.iter().fold(0f32, |m, v| m.max(v.abs())))],
        WeightGranularity::PerChannel => {
            let mut max_abs = vec![0f32; n];
            for row in w.chunks_exact(n.max(1)) {
                for (m, v) in max_abs.iter_mut().zip(row) {
                    *m = m.max(v.abs());
                }
            }
            max_abs.into_iter().map(scale_of).collect()
        }
    };
    let values = w
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let scale = if scales.len() == 1 {
                scales[0]
            } else {
                scales[i % n]
            };
            (v / scale).round_ties_even().clamp(-127.0, 127.0) as i8
        })
        .collect();
    Some(QuantizedWeights { values, scales })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_channel_uses_each_column_range() {
        // Column 0 spans ±2, column 1 ±0.5, column 2 is all zeros.
        let w = [2.0, 0.25, 0.0, -1.0, -0.5, 0.0];
        let q = quantize_weights(&w, 2, 3, WeightGranularity::PerChannel).unwrap();
        assert_eq!(q.scales, vec![2.0 / 127.0, 0.5 / 127.0, 1.0]);
        assert_eq!(q.values, vec![127, 64, 0, -64, -127, 0]);
    }

    #[test]
    fn per_tensor_shares_one_scale() {
        let w = [2.0, 0.25, -1.0, -2.0];
        let q = quantize_weights(&w, 2, 2, WeightGranularity::PerTensor).unwrap();
        assert_eq!(q.scales, vec![2.0 / 127.0]);
        assert_eq!(q.values, vec![127, 16, -64, -127]);
    }

    #[test]
    fn dequantized_error_is_at_most_half_a_step() {
        let (k, n) = (13, 7);
        let w: Vec<f32> = (0..k * n)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 17.0)
            .collect();
        for g in [WeightGranularity::PerChannel, WeightGranularity::PerTensor] {
            let q = quantize_weights(&w, k, n, g).unwrap();
            for (i, (&v, &qv)) in w.iter().zip(&q.values).enumerate() {
                let s = if q.scales.len() == 1 {
                    q.scales[0]
                } else {
                    q.scales[i % n]
                };
                assert!((v - f32::from(qv) * s).abs() <= s * 0.5 + 1e-6, "{g:?} at {i}");
            }
        }
    }

    #[test]
    fn rejects_non_finite() {
        assert!(quantize_weights(&[1.0, f32::NAN], 1, 2, WeightGranularity::PerChannel).is_none());
    }
}
