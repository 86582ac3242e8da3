//! Learning-rate schedules, evaluated per optimizer step.
//!
//! `lr(step)` is a pure function of the global step (counted from 0 over the whole run),
//! so a resumed run needs no schedule state. Optional linear warm-up ramps from
//! `base_lr / warmup_steps` to `base_lr` over the first `warmup_steps` steps; the decay
//! then runs over the remaining steps (cosine) or by epoch (step).

use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Decay {
    /// The base rate throughout.
    Constant,
    /// Multiply by `gamma` every `every_epochs` epochs (torch `StepLR`).
    Step { every_epochs: usize, gamma: f32 },
    /// Half a cosine from the base rate down to `final_lr` at the last step
    /// (torch `CosineAnnealingLR` with `eta_min`, stepped per batch).
    Cosine { final_lr: f32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LrSchedule {
    pub base_lr: f32,
    pub decay: Decay,
    pub warmup_steps: usize,
}

impl LrSchedule {
    pub fn validate(&self) -> Result<()> {
        let fail = |reason: String| Err(TrainError::Config(reason));
        if !(self.base_lr.is_finite() && self.base_lr > 0.0) {
            return fail(format!("learning rate {} must be positive", self.base_lr));
        }
        match self.decay {
            Decay::Step { every_epochs: 0, .. } => fail("a step schedule needs every_epochs ≥ 1".into()),
            Decay::Step { gamma, .. } if !(gamma.is_finite() && gamma > 0.0) => {
                fail(format!("step gamma {gamma} must be positive"))
            }
            Decay::Cosine { final_lr } if !(final_lr.is_finite() && final_lr >= 0.0) => {
                fail(format!("cosine final learning rate {final_lr} must be ≥ 0"))
            }
            _ => Ok(()),
        }
    }

    /// The rate for `step` (0-based) of a run of `total_steps` steps with
    /// `steps_per_epoch` steps per epoch.
    pub fn lr(&self, step: usize, steps_per_epoch: usize, total_steps: usize) -> f32 {
        if step < self.warmup_steps {
            return self.base_lr * (step + 1) as f32 / self.warmup_steps as f32;
        }
        match self.decay {
            Decay::Constant => self.base_lr,
            Decay::Step { every_epochs, gamma } => {
                let epoch = step / steps_per_epoch.max(1);
                self.base_lr * gamma.powi((epoch / every_epochs) as i32)
            }
            Decay::Cosine { final_lr } => {
                let span = total_steps.saturating_sub(self.warmup_steps).max(1);
                let t = (step - self.warmup_steps).min(span) as f64 / span as f64;
                let cos = 0.5 * (1.0 + (std::f64::consts::PI * t).cos());
                (final_lr as f64 + (self.base_lr - final_lr) as f64 * cos) as f32
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(decay: Decay, warmup_steps: usize) -> LrSchedule {
        LrSchedule {
            base_lr: 0.1,
            decay,
            warmup_steps,
        }
    }

    #[test]
    fn warmup_ramps_linearly_to_the_base_rate() {
        let s = schedule(Decay::Constant, 4);
        for (step, expected) in [0.025, 0.05, 0.075, 0.1, 0.1, 0.1].into_iter().enumerate() {
            assert!((s.lr(step, 10, 100) - expected).abs() < 1e-8, "step {step}");
        }
    }

    #[test]
    fn step_decays_by_gamma_at_epoch_boundaries() {
        let s = schedule(
            Decay::Step {
                every_epochs: 2,
                gamma: 0.5,
            },
            0,
        );
        let per_epoch: Vec<f32> = (0..6).map(|e| s.lr(e * 10 + 3, 10, 60)).collect();
        assert_eq!(per_epoch, [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]);
    }

    #[test]
    fn cosine_matches_the_closed_form_after_warmup() {
        let s = schedule(Decay::Cosine { final_lr: 0.001 }, 10);
        let total = 110;
        for step in 10..total {
            let t = (step - 10) as f64 / 100.0;
            let expected = 0.001 + (0.1f64 - 0.001) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos());
            assert!(
                (s.lr(step, 10, total) as f64 - expected).abs() < 1e-7,
                "step {step}"
            );
        }
        assert_eq!(s.lr(10, 10, total), 0.1);
        assert!((s.lr(total, 10, total) - 0.001).abs() < 1e-9, "ends at the floor");
        assert!(
            (s.lr(60, 10, total) - 0.0505).abs() < 1e-6,
            "halfway is the midpoint"
        );
    }

    #[test]
    fn validation_rejects_nonsense() {
        assert!(schedule(Decay::Constant, 0).validate().is_ok());
        let bad = [
            LrSchedule {
                base_lr: 0.0,
                ..schedule(Decay::Constant, 0)
            },
            schedule(
                Decay::Step {
                    every_epochs: 0,
                    gamma: 0.1,
                },
                0,
            ),
            schedule(Decay::Cosine { final_lr: -1.0 }, 0),
        ];
        for s in bad {
            assert!(s.validate().is_err(), "{s:?}");
        }
    }
}
