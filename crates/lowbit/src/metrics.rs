//! Accuracy and fidelity metrics over logits.

/// Indices of the `k` largest values, largest first (ties keep the lower index first).
pub fn top_k(values: &[f32], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]).then(a.cmp(&b)));
    order.truncate(k);
    order
}

/// Running top-1/top-5 counts, like PyTorch examples' `AverageMeter`s for accuracy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Accuracy {
    pub n: usize,
    pub top1_hits: usize,
    pub top5_hits: usize,
}

impl Accuracy {
    /// Adds one sample: its logits row and its true label.
    pub fn add(&mut self, logits: &[f32], label: usize) {
        let best = top_k(logits, 5);
        self.n += 1;
        self.top1_hits += usize::from(best.first() == Some(&label));
        self.top5_hits += usize::from(best.contains(&label));
    }

    pub fn top1(&self) -> f64 {
        ratio(self.top1_hits, self.n)
    }

    pub fn top5(&self) -> f64 {
        ratio(self.top5_hits, self.n)
    }
}

fn ratio(hits: usize, n: usize) -> f64 {
    if n == 0 {
        0.0
    } else {
        hits as f64 / n as f64
    }
}

/// Signal-to-quantization-noise ratio in dB of `test` against `reference`:
/// `10 log10(Σ ref² / Σ (ref - test)²)`. Infinite when they are equal.
pub fn sqnr_db(reference: &[f32], test: &[f32]) -> f64 {
    assert_eq!(reference.len(), test.len(), "sqnr_db needs equal lengths");
    let (signal, noise) = reference
        .iter()
        .zip(test)
        .fold((0.0f64, 0.0f64), |(s, n), (&r, &t)| {
            let d = (r - t) as f64;
            (s + (r as f64) * (r as f64), n + d * d)
        });
    if noise == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (signal / noise).log10()
    }
}

/// Cosine similarity of two vectors (0 when either is all zeros).
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "cosine needs equal lengths");
    let (mut dot, mut na, mut nb) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        dot += x as f64 * y as f64;
        na += x as f64 * x as f64;
        nb += y as f64 * y as f64;
    }
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na.sqrt() * nb.sqrt())
    }
}

/// Largest absolute difference and the relative L2 error `‖a-b‖ / ‖a‖`.
pub fn max_abs_and_rel_l2(reference: &[f32], test: &[f32]) -> (f64, f64) {
    assert_eq!(reference.len(), test.len(), "comparison needs equal lengths");
    let (mut max_abs, mut diff2, mut ref2) = (0.0f64, 0.0f64, 0.0f64);
    for (&r, &t) in reference.iter().zip(test) {
        let d = (r - t) as f64;
        max_abs = max_abs.max(d.abs());
        diff2 += d * d;
        ref2 += (r as f64) * (r as f64);
    }
    let rel = if ref2 == 0.0 {
        diff2.sqrt()
    } else {
        (diff2 / ref2).sqrt()
    };
    (max_abs, rel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_orders_by_value_then_index() {
        assert_eq!(top_k(&[0.1, 0.9, 0.5, 0.9], 3), vec![1, 3, 2]);
        assert_eq!(top_k(&[1.0], 5), vec![0]);
    }

    #[test]
    fn accuracy_counts_hits() {
        let mut acc = Accuracy::default();
        acc.add(&[0.0, 1.0, 0.5, 0.2, 0.1, 0.05, 0.3], 1);
        acc.add(&[0.0, 1.0, 0.5, 0.2, 0.1, 0.05, 0.3], 2);
        acc.add(&[0.0, 1.0, 0.5, 0.2, 0.1, 0.05, 0.3], 0);
        assert_eq!((acc.top1_hits, acc.top5_hits, acc.n), (1, 2, 3));
        assert!((acc.top1() - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn sqnr_of_known_noise() {
        let r = [1.0f32, -1.0, 1.0, -1.0];
        let t = [1.1f32, -1.1, 1.1, -1.1];
        // signal 4, noise 4 * 0.01 -> 20 dB
        assert!((sqnr_db(&r, &t) - 20.0).abs() < 1e-4);
        assert!(sqnr_db(&r, &r).is_infinite());
    }

    #[test]
    fn cosine_and_errors() {
        assert!((cosine(&[1.0, 0.0], &[0.0, 1.0])).abs() < 1e-12);
        assert!((cosine(&[1.0, 2.0], &[2.0, 4.0]) - 1.0).abs() < 1e-12);
        let (max_abs, rel) = max_abs_and_rel_l2(&[3.0, 4.0], &[3.0, 4.5]);
        assert!((max_abs - 0.5).abs() < 1e-12);
        assert!((rel - 0.1).abs() < 1e-12);
    }
}
