//! Running averages of loss and accuracy, as the `AverageMeter` of the PyTorch
//! ImageNet example: sums weighted by batch size, read as means at any time.

use serde::{Deserialize, Serialize};

/// Loss and top-1/top-5 hits accumulated over the samples seen so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Meter {
    pub samples: usize,
    pub loss_sum: f64,
    pub top1_hits: usize,
    pub top5_hits: usize,
}

impl Meter {
    /// Adds one batch: its mean loss and the logits `[batch, classes]` (row-major) with
    /// their labels.
    pub fn add_batch(&mut self, mean_loss: f32, logits: &[f32], labels: &[usize]) {
        if labels.is_empty() {
            return;
        }
        let classes = logits.len() / labels.len();
        for (row, &label) in logits.chunks(classes).zip(labels) {
            let rank = rank_of(row, label);
            self.top1_hits += usize::from(rank == 0);
            self.top5_hits += usize::from(rank < 5);
        }
        self.samples += labels.len();
        self.loss_sum += mean_loss as f64 * labels.len() as f64;
    }

    pub fn loss(&self) -> f64 {
        self.mean(self.loss_sum)
    }

    pub fn top1(&self) -> f64 {
        self.mean(self.top1_hits as f64)
    }

    pub fn top5(&self) -> f64 {
        self.mean(self.top5_hits as f64)
    }

    fn mean(&self, sum: f64) -> f64 {
        if self.samples == 0 {
            0.0
        } else {
            sum / self.samples as f64
        }
    }
}

/// How many classes score strictly higher than `label`; ties count in the label's favour,
/// as `torch.topk` does for the first of equal values. A label outside the row ranks last.
fn rank_of(row: &[f32], label: usize) -> usize {
    let Some(&score) = row.get(label) else {
        return row.len();
    };
    row.iter()
        .enumerate()
        .filter(|&(c, &v)| v > score || (v == score && c < label))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_top1_and_top5_and_weights_loss_by_batch() {
        let mut m = Meter::default();
        // Six classes. Row 0: label 2 is the best. Row 1: label 0 is 5th. Row 2: label 5 is 6th.
        let logits = [
            0.1, 0.2, 0.9, 0.0, 0.3, 0.4, //
            0.1, 0.6, 0.5, 0.4, 0.3, 0.0, //
            0.5, 0.4, 0.3, 0.2, 0.1, 0.0,
        ];
        m.add_batch(1.0, &logits, &[2, 0, 5]);
        assert_eq!((m.samples, m.top1_hits, m.top5_hits), (3, 1, 2));
        m.add_batch(4.0, &[1.0, 0.0, 0.0, 0.0, 0.0, 0.0], &[0]);
        assert_eq!(m.loss(), (3.0 + 4.0) / 4.0);
        assert_eq!(m.top1(), 0.5);
        assert_eq!(m.top5(), 0.75);
    }

    #[test]
    fn ties_favour_the_lower_index_and_bad_labels_miss() {
        assert_eq!(rank_of(&[1.0, 1.0, 1.0], 0), 0);
        assert_eq!(rank_of(&[1.0, 1.0, 1.0], 2), 2);
        assert_eq!(rank_of(&[1.0, 2.0], 7), 2);
        let empty = Meter::default();
        assert_eq!((empty.loss(), empty.top1()), (0.0, 0.0));
    }
}
