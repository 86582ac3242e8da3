//! When observers stop and BatchNorm freezes: the PyTorch QAT tutorial's schedule.

use serde::Serialize;

/// Epoch counts of a QAT fine-tuning run. Epochs are numbered from 0 as in the tutorial's
/// `for nepoch in range(8)` loop, and a freeze takes effect once epoch `E` has trained:
/// `freeze_bn_after: 3` is the tutorial's `if nepoch > 2: freeze_bn_stats`, and
/// `freeze_observers_after: 4` its `if nepoch > 3: disable_observer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct QatSchedule {
    pub epochs: usize,
    pub freeze_bn_after: usize,
    pub freeze_observers_after: usize,
}

impl Default for QatSchedule {
    fn default() -> Self {
        QatSchedule {
            epochs: 8,
            freeze_bn_after: 3,
            freeze_observers_after: 4,
        }
    }
}

/// What to switch off once an epoch has trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Freeze {
    pub bn_stats: bool,
    pub observers: bool,
}

impl QatSchedule {
    /// The freezes due at the end of epoch `epoch` (0-based). Freezing is idempotent, so
    /// they are reported for every later epoch too.
    pub fn after_epoch(&self, epoch: usize) -> Freeze {
        Freeze {
            bn_stats: epoch >= self.freeze_bn_after,
            observers: epoch >= self.freeze_observers_after,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_matches_the_tutorial_loop() {
        let s = QatSchedule::default();
        assert_eq!(s.epochs, 8);
        // nepoch > 2 freezes BN, nepoch > 3 disables observers.
        let freezes: Vec<Freeze> = (0..8).map(|e| s.after_epoch(e)).collect();
        assert!(freezes[..3].iter().all(|f| !f.bn_stats && !f.observers));
        assert_eq!(
            freezes[3],
            Freeze {
                bn_stats: true,
                observers: false
            }
        );
        assert!(freezes[4..].iter().all(|f| f.bn_stats && f.observers));
    }
}
