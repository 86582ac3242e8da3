//! Softmax cross-entropy with integer class labels, averaged over the batch. Softmax and
//! log are fused (log-sum-exp around the row maximum, in f64), so large logits neither
//! overflow nor lose the gradient `(softmax − onehot) / N`.

use lowbit_tensor::Tensor;

use crate::error::{AutogradError, Result};

/// The loss value, its gradient with respect to the logits, and the batch accuracy count.
#[derive(Debug, Clone)]
pub struct CrossEntropy {
    pub loss: f32,
    /// `∂loss/∂logits`, shaped like the logits.
    pub grad: Tensor,
    /// Rows whose largest logit is at the label.
    pub correct: usize,
}

/// `mean_n(logsumexp(z_n) − z_n[label_n])` for logits `[N, classes]`.
pub fn softmax_cross_entropy(logits: &Tensor, labels: &[usize]) -> Result<CrossEntropy> {
    let &[batch, classes] = logits.shape() else {
        return Err(AutogradError::Invalid(format!(
            "cross-entropy needs [batch, classes] logits, got {:?}",
            logits.shape()
        )));
    };
    if labels.len() != batch || classes == 0 {
        return Err(AutogradError::Invalid(format!(
            "{} labels for {batch} rows of {classes} logits",
            labels.len()
        )));
    }
    if let Some(bad) = labels.iter().find(|&&l| l >= classes) {
        return Err(AutogradError::Invalid(format!(
            "label {bad} is not below {classes} classes"
        )));
    }
    let z = logits.as_slice::<f32>()?;
    let mut grad = vec![0.0; z.len()];
    let (mut total, mut correct) = (0f64, 0);
    for (n, &label) in labels.iter().enumerate() {
        let row = &z[n * classes..(n + 1) * classes];
        let (argmax, &max) =
            row.iter().enumerate().fold(
                (0, &f32::NEG_INFINITY),
                |best, cur| if cur.1 > best.1 { cur } else { best },
            );
        correct += usize::from(argmax == label);
        let sum: f64 = row.iter().map(|&v| ((v - max) as f64).exp()).sum();
        total += sum.ln() + max as f64 - row[label] as f64;
        for (k, g) in grad[n * classes..(n + 1) * classes].iter_mut().enumerate() {
            let p = ((row[k] - max) as f64).exp() / sum;
            let onehot = if k == label { 1.0 } else { 0.0 };
            *g = ((p - onehot) / batch as f64) as f32;
        }
    }
    Ok(CrossEntropy {
        loss: (total / batch as f64) as f32,
        grad: Tensor::new(vec![batch, classes], grad)?,
        correct,
    })
}
