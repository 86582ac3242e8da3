//! Logits of a compiled model over a dataset, and how two sets of logits compare: top-1
//! against labels, top-1 agreement, and SQNR.

use lowbit_data::{batch, Dataset, Sample};
use lowbit_runtime::Plan;

use super::error::{QatError, Result};

/// Row-major `[n, classes]` logits with the samples' labels.
#[derive(Debug, Clone)]
pub(crate) struct Logits {
    pub values: Vec<f32>,
    pub classes: usize,
    pub labels: Vec<Option<i64>>,
}

impl Logits {
    /// Number of samples scored.
    pub fn count(&self) -> usize {
        self.labels.len()
    }

    fn argmax(&self, i: usize) -> usize {
        let row = &self.values[i * self.classes..(i + 1) * self.classes];
        let mut best = 0;
        for (c, &v) in row.iter().enumerate() {
            if v > row[best] {
                best = c;
            }
        }
        best
    }

    /// Fraction of labelled samples whose arg-max is the label; `None` without labels.
    pub fn top1(&self) -> Option<f64> {
        let labelled: Vec<(usize, i64)> = self
            .labels
            .iter()
            .enumerate()
            .filter_map(|(i, l)| l.map(|l| (i, l)))
            .collect();
        if labelled.is_empty() {
            return None;
        }
        let correct = labelled
            .iter()
            .filter(|&&(i, l)| self.argmax(i) as i64 == l)
            .count();
        Some(correct as f64 / labelled.len() as f64)
    }

    /// Fraction of samples on which both models pick the same class.
    pub fn agreement(&self, other: &Logits) -> f64 {
        let n = self.count().min(other.count());
        let same = (0..n).filter(|&i| self.argmax(i) == other.argmax(i)).count();
        same as f64 / n.max(1) as f64
    }

    /// `10·log10(Σ ref² / Σ (ref − self)²)` with `reference` as the signal.
    pub fn sqnr_db(&self, reference: &Logits) -> f64 {
        let (mut signal, mut noise) = (0f64, 0f64);
        for (&r, &t) in reference.values.iter().zip(&self.values) {
            signal += (r as f64) * (r as f64);
            noise += ((r - t) as f64) * ((r - t) as f64);
        }
        if noise == 0.0 {
            return f64::INFINITY;
        }
        10.0 * (signal / noise).log10()
    }
}

/// Runs `plan` over the first `count` samples of `data` in batches of `batch_size`.
pub(crate) fn logits(plan: &Plan, data: &dyn Dataset, count: usize, batch_size: usize) -> Result<Logits> {
    let mut values = Vec::new();
    let mut labels = Vec::with_capacity(count);
    for start in (0..count).step_by(batch_size.max(1)) {
        let end = (start + batch_size).min(count);
        let samples: Vec<Sample> = (start..end).map(|i| data.get(i)).collect::<Result<_, _>>()?;
        let (inputs, batch_labels) = batch(&samples)?;
        let outputs = plan.run(&[inputs])?;
        let out = outputs
            .into_iter()
            .next()
            .ok_or_else(|| QatError::Invalid("the model produced no output".into()))?;
        values.extend(out.to_f32_vec());
        labels.extend(batch_labels);
    }
    let classes = values.len() / labels.len().max(1);
    if classes == 0 || classes * labels.len() != values.len() {
        return Err(QatError::Invalid(format!(
            "the model gave {} logits for {} samples",
            values.len(),
            labels.len()
        )));
    }
    Ok(Logits {
        values,
        classes,
        labels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logits(values: Vec<f32>, labels: Vec<Option<i64>>) -> Logits {
        Logits {
            classes: values.len() / labels.len(),
            values,
            labels,
        }
    }

    #[test]
    fn top1_agreement_and_sqnr() {
        let reference = logits(
            vec![1.0, 0.0, 0.0, 2.0, 3.0, 1.0],
            vec![Some(0), Some(1), Some(1)],
        );
        let test = logits(
            vec![0.9, 0.1, 0.0, 2.0, 0.0, 1.0],
            vec![Some(0), Some(1), Some(1)],
        );
        assert_eq!(reference.top1(), Some(2.0 / 3.0));
        assert_eq!(test.top1(), Some(1.0));
        assert!((test.agreement(&reference) - 2.0 / 3.0).abs() < 1e-12);
        // signal 1+4+9+1 = 15, noise 0.01+0.01+9 = 9.02
        let expected = 10.0 * (15.0f64 / 9.02).log10();
        assert!((test.sqnr_db(&reference) - expected).abs() < 1e-4);
        assert_eq!(reference.sqnr_db(&reference), f64::INFINITY);
        assert_eq!(logits(vec![1.0], vec![None]).top1(), None);
    }
}
