//! Accuracy-driven tuning of static quantization, in the manner of Intel's LPOT (Neural
//! Compressor): quantize, measure against an accuracy criterion, and change the
//! configuration step by step until the criterion is met or the budget is spent.
//!
//! The strategy is LPOT's "basic" one, fitted to what lowbit can change:
//! 1. the configuration as given (a preset, or a preset with a recipe);
//! 2. global options that cost no speed, one at a time: error-feedback (GPTQ) weight
//!    rounding, then float model outputs;
//! 3. FP32 fallback, one activation quantization point at a time in the order the
//!    caller ranks them (lowbit ranks them costliest first on the calibration data): all
//!    the nodes reading a point go to FP32 together, which removes that 8-bit rounding.
//!
//! Each step is laid over the best configuration so far and kept only when it raises the
//! output SQNR (a fallback by at least [`MIN_FALLBACK_GAIN_DB`]): on a small evaluation
//! set top-1 agreement moves in whole samples and cannot rank neighbouring
//! configurations, so SQNR steers and the criterion decides when to stop. With a latency
//! bound, a step that breaks it is never kept, so fallbacks stop where they would cost
//! the speed the user asked for. The evaluation is the caller's (this module never runs
//! a model), so the strategy is tested without one.

use serde::Serialize;

use crate::static_ptq::{Override, QConfig};

/// The least SQNR gain that keeps a fallback: each FP32 node costs speed, and smaller
/// gains are within the trial-to-trial noise of a small evaluation set.
pub const MIN_FALLBACK_GAIN_DB: f64 = 0.1;

/// What the quantized model must reach against the FP32 model on the evaluation data.
/// Unset bounds are not checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Criterion {
    /// Least output SQNR against FP32, in dB.
    pub min_sqnr_db: Option<f64>,
    /// Least fraction of samples whose top-1 class matches FP32's.
    pub min_top1_agreement: Option<f64>,
    /// Largest absolute top-1 accuracy loss against FP32 (0.01 is one point); needs labels.
    pub max_top1_drop: Option<f64>,
    /// Largest latency as a fraction of FP32's (0.33: at least 3× faster); needs
    /// measured latencies. A fallback that breaks it is never kept.
    pub max_latency_ratio: Option<f64>,
}

/// One quantized model measured against the FP32 model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Score {
    pub sqnr_db: f64,
    pub top1_agreement: f64,
    /// Top-1 accuracies of the quantized and FP32 models, when the data has labels.
    pub top1: Option<f64>,
    pub fp32_top1: Option<f64>,
    /// Latencies of the quantized and FP32 models, when measured, in milliseconds.
    pub latency_ms: Option<f64>,
    pub fp32_latency_ms: Option<f64>,
}

impl Score {
    /// Quantized latency over FP32 latency, when both were measured.
    pub fn latency_ratio(&self) -> Option<f64> {
        Some(self.latency_ms? / self.fp32_latency_ms?)
    }
}

impl Criterion {
    pub fn is_empty(&self) -> bool {
        self.min_sqnr_db.is_none() && self.min_top1_agreement.is_none() && self.max_top1_drop.is_none()
    }

    /// Whether `score` keeps within the latency bound (true without one).
    fn fast_enough(&self, score: &Score) -> bool {
        match (self.max_latency_ratio, score.latency_ratio()) {
            (Some(max), Some(ratio)) => ratio <= max,
            (Some(_), None) => false,
            (None, _) => true,
        }
    }

    /// The bounds `score` misses, in words; empty when it meets them all.
    pub fn misses(&self, score: &Score) -> Vec<String> {
        let mut misses = Vec::new();
        if let Some(min) = self.min_sqnr_db.filter(|&min| score.sqnr_db < min) {
            misses.push(format!("SQNR {:.2} dB < {min} dB", score.sqnr_db));
        }
        if let Some(min) = self.min_top1_agreement.filter(|&min| score.top1_agreement < min) {
            misses.push(format!("top-1 agreement {:.4} < {min}", score.top1_agreement));
        }
        if let Some(max) = self.max_top1_drop {
            match (score.top1, score.fp32_top1) {
                (Some(q), Some(f)) if f - q > max => {
                    misses.push(format!(
                        "top-1 drop {:.4} > {max} ({q:.4} against FP32 {f:.4})",
                        f - q
                    ));
                }
                (Some(_), Some(_)) => {}
                _ => misses.push("top-1 drop needs labelled evaluation data".to_string()),
            }
        }
        if let Some(max) = self.max_latency_ratio.filter(|_| !self.fast_enough(score)) {
            match score.latency_ratio() {
                Some(ratio) => misses.push(format!("latency {ratio:.3}× FP32's > {max}×")),
                None => misses.push("the latency bound needs measured latencies".to_string()),
            }
        }
        misses
    }
}

/// How much tuning may do.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Budget {
    /// Quantize-and-evaluate rounds, the first (the given configuration) included.
    pub max_trials: usize,
    /// Nodes the fallback step may put in FP32 (each costs speed).
    pub max_fp32_nodes: usize,
}

/// One quantize-and-evaluate round.
#[derive(Debug, Clone, Serialize)]
pub struct Trial {
    /// What this trial changed over the best configuration before it.
    pub change: String,
    pub score: Score,
    /// The criterion's bounds this trial missed (empty: met).
    pub misses: Vec<String>,
    /// Whether the change raised SQNR and stayed in the configuration.
    pub kept: bool,
    /// Nodes this trial's configuration keeps in FP32 by name.
    pub fp32_nodes: Vec<String>,
    #[serde(skip)]
    pub qconfig: QConfig,
}

/// The trials in order and the one chosen: the first that met the criterion, else the
/// best configuration reached.
#[derive(Debug, Clone, Serialize)]
pub struct Tuning {
    pub trials: Vec<Trial>,
    pub chosen: usize,
    pub met: bool,
}

impl Tuning {
    pub fn chosen(&self) -> &Trial {
        &self.trials[self.chosen]
    }
}

/// Tunes from `base`. `evaluate` quantizes with a configuration and scores the result
/// (it is called once per trial, in order, with the trial's change in words, as
/// [`Trial::change`] records it); `rank_points` is called at most once, when
/// the fallback step starts, and returns the reader nodes of each activation point, most
/// harmful point first.
pub fn tune<E>(
    base: &QConfig,
    criterion: &Criterion,
    budget: Budget,
    evaluate: &mut dyn FnMut(&QConfig, &str) -> Result<Score, E>,
    rank_points: &mut dyn FnMut() -> Result<Vec<Vec<String>>, E>,
) -> Result<Tuning, E> {
    let mut search = Search {
        criterion,
        evaluate,
        trials: Vec::new(),
        best: 0,
    };
    search.run(base.clone(), "the configuration as given".to_string(), 0.0)?;
    for (name, apply) in GLOBAL_STEPS {
        if search.done(budget) {
            break;
        }
        let mut candidate = search.best_config().clone();
        if apply(&mut candidate) {
            search.run(candidate, name.to_string(), 0.0)?;
        }
    }
    if !search.done(budget) {
        for readers in rank_points()? {
            if search.done(budget) {
                break;
            }
            let current = search.best_config();
            let kept_fp32 = fp32_nodes(current);
            let new: Vec<String> = readers.into_iter().filter(|r| !kept_fp32.contains(r)).collect();
            if new.is_empty() || kept_fp32.len() + new.len() > budget.max_fp32_nodes {
                continue;
            }
            let mut candidate = current.clone();
            candidate.overrides.extend(new.iter().map(|node| Override {
                node: Some(node.clone()),
                fp32: true,
                ..Override::default()
            }));
            search.run(
                candidate,
                format!("FP32: {}", new.join(", ")),
                MIN_FALLBACK_GAIN_DB,
            )?;
        }
    }
    let met = search.trials.iter().position(|t| t.misses.is_empty());
    Ok(Tuning {
        chosen: met.unwrap_or(search.best),
        met: met.is_some(),
        trials: search.trials,
    })
}

/// Step 2's options: each returns false when the configuration already has it (or
/// cannot use it) and there is nothing to try.
type GlobalStep = (&'static str, fn(&mut QConfig) -> bool);

const GLOBAL_STEPS: [GlobalStep; 2] = [
    ("gptq_rounding = true", |q| {
        let applies = q.bias_correction && !q.gptq_rounding;
        q.gptq_rounding = true;
        applies
    }),
    ("[activations] quantize_outputs = false", |q| {
        let applies = q.activations.quantize_outputs;
        q.activations.quantize_outputs = false;
        applies
    }),
];

/// Names of the nodes `q` keeps in FP32 by a per-node override.
fn fp32_nodes(q: &QConfig) -> Vec<String> {
    q.overrides
        .iter()
        .filter(|o| o.fp32)
        .filter_map(|o| o.node.clone())
        .collect()
}

struct Search<'a, E> {
    criterion: &'a Criterion,
    evaluate: &'a mut dyn FnMut(&QConfig, &str) -> Result<Score, E>,
    trials: Vec<Trial>,
    /// Index of the trial whose configuration the next step builds on.
    best: usize,
}

impl<E> Search<'_, E> {
    fn best_config(&self) -> &QConfig {
        &self.trials[self.best].qconfig
    }

    /// The criterion is met, or no trial is left.
    fn done(&self, budget: Budget) -> bool {
        self.trials.len() >= budget.max_trials || self.trials.iter().any(|t| t.misses.is_empty())
    }

    /// Evaluates `qconfig` and builds on it from now on if it beats the best SQNR by
    /// more than `min_gain_db` within the latency bound.
    fn run(&mut self, qconfig: QConfig, change: String, min_gain_db: f64) -> Result<(), E> {
        let score = (self.evaluate)(&qconfig, &change)?;
        let kept = self.trials.is_empty()
            || (score.sqnr_db > self.trials[self.best].score.sqnr_db + min_gain_db
                && self.criterion.fast_enough(&score));
        if kept {
            self.best = self.trials.len();
        }
        self.trials.push(Trial {
            change,
            score,
            misses: self.criterion.misses(&score),
            kept,
            fp32_nodes: fp32_nodes(&qconfig),
            qconfig,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::static_ptq::Preset;

    /// A stand-in model: each option and each FP32 node adds a fixed SQNR gain, and each
    /// FP32 node 2 ms to a 10 ms quantized model (FP32: 30 ms).
    fn fake_score(q: &QConfig, gains: &[(&str, f64)]) -> Score {
        let mut sqnr_db = 20.0;
        if q.gptq_rounding {
            sqnr_db += 0.5;
        }
        if !q.activations.quantize_outputs {
            sqnr_db += 0.3;
        }
        for node in fp32_nodes(q) {
            sqnr_db += gains.iter().find(|(n, _)| *n == node).map_or(0.0, |g| g.1);
        }
        Score {
            sqnr_db,
            top1_agreement: if sqnr_db >= 21.5 { 1.0 } else { 0.95 },
            top1: None,
            fp32_top1: None,
            latency_ms: Some(10.0 + 2.0 * fp32_nodes(q).len() as f64),
            fp32_latency_ms: Some(30.0),
        }
    }

    fn ranking() -> Vec<Vec<String>> {
        vec![
            vec!["stem_reader".into()],
            vec!["harmful".into()],
            vec!["tiny".into()],
            vec!["a".into(), "b".into()],
            vec!["c".into()],
        ]
    }

    const GAINS: [(&str, f64); 5] = [
        ("stem_reader", 0.4),
        ("harmful", -0.2),
        ("a", 0.2),
        ("b", 0.2),
        ("c", 1.0),
    ];

    /// Tunes the stand-in model from the x86 preset; also returns how often the ranking
    /// was asked for.
    fn tune_fake(criterion: &Criterion, budget: Budget, gains: &[(&str, f64)]) -> (Tuning, usize) {
        let mut ranked = 0;
        let tuning = tune::<()>(
            &QConfig::preset(Preset::X86),
            criterion,
            budget,
            &mut |q, _| Ok(fake_score(q, gains)),
            &mut || {
                ranked += 1;
                Ok(ranking())
            },
        )
        .unwrap();
        (tuning, ranked)
    }

    #[test]
    fn steps_in_order_keep_what_helps_and_stop_when_met() {
        let gains = [
            ("stem_reader", 0.4),
            ("harmful", -0.2),
            ("tiny", 0.05),
            ("a", 0.2),
            ("b", 0.2),
            ("c", 1.0),
        ];
        let criterion = Criterion {
            min_sqnr_db: Some(21.5),
            min_top1_agreement: Some(1.0),
            max_top1_drop: None,
            max_latency_ratio: None,
        };
        let budget = Budget {
            max_trials: 10,
            max_fp32_nodes: 8,
        };
        let (tuning, ranked) = tune_fake(&criterion, budget, &gains);
        let changes: Vec<&str> = tuning.trials.iter().map(|t| t.change.as_str()).collect();
        assert_eq!(
            changes,
            [
                "the configuration as given",
                "gptq_rounding = true",
                "[activations] quantize_outputs = false",
                "FP32: stem_reader",
                "FP32: harmful",
                "FP32: tiny",
                "FP32: a, b",
            ]
        );
        let kept: Vec<bool> = tuning.trials.iter().map(|t| t.kept).collect();
        assert_eq!(kept, [true, true, true, true, false, false, true]);
        assert!(tuning.met && tuning.chosen == 6 && ranked == 1);
        // The harmful node and the one not worth its speed were tried and dropped again.
        assert_eq!(tuning.chosen().fp32_nodes, ["stem_reader", "a", "b"]);
        assert!((tuning.chosen().score.sqnr_db - 21.6).abs() < 1e-9);
    }

    #[test]
    fn budgets_bound_the_search_and_the_best_is_chosen_when_unmet() {
        let criterion = Criterion {
            min_sqnr_db: Some(40.0),
            ..Criterion::default()
        };
        let budget = Budget {
            max_trials: 10,
            max_fp32_nodes: 2,
        };
        let (tuning, _) = tune_fake(&criterion, budget, &GAINS);
        assert!(!tuning.met);
        // "a, b" would make three FP32 nodes: skipped; "c" fits.
        assert_eq!(tuning.chosen().fp32_nodes, ["stem_reader", "c"]);
        assert!(tuning.trials.iter().all(|t| t.fp32_nodes.len() <= 2));
        assert_eq!(tuning.chosen().misses, ["SQNR 22.20 dB < 40 dB"]);

        let budget = Budget {
            max_trials: 2,
            max_fp32_nodes: 8,
        };
        let (short, ranked) = tune_fake(&criterion, budget, &GAINS);
        // No trial was left for the fallback step, so nothing was ranked.
        assert_eq!(ranked, 0);
        assert_eq!(short.trials.len(), 2);
        assert_eq!(short.chosen, 1);
    }

    #[test]
    fn criterion_reports_each_miss() {
        let c = Criterion {
            min_sqnr_db: Some(25.0),
            min_top1_agreement: Some(1.0),
            max_top1_drop: Some(0.01),
            max_latency_ratio: Some(0.4),
        };
        let score = Score {
            sqnr_db: 24.0,
            top1_agreement: 0.95,
            top1: Some(0.85),
            fp32_top1: Some(0.9),
            latency_ms: Some(13.0),
            fp32_latency_ms: Some(30.0),
        };
        assert_eq!(c.misses(&score).len(), 4);
        let unmeasured = Score {
            top1: None,
            fp32_top1: None,
            sqnr_db: 30.0,
            top1_agreement: 1.0,
            latency_ms: None,
            fp32_latency_ms: None,
        };
        assert_eq!(
            c.misses(&unmeasured),
            [
                "top-1 drop needs labelled evaluation data",
                "the latency bound needs measured latencies"
            ]
        );
        assert!(Criterion::default().is_empty() && !c.is_empty());
    }

    #[test]
    fn a_latency_bound_stops_fallbacks_that_cost_too_much() {
        // 0.41 of FP32's 30 ms is 12.3 ms: one FP32 node (12 ms) fits, two do not.
        let criterion = Criterion {
            min_sqnr_db: Some(40.0),
            max_latency_ratio: Some(0.41),
            ..Criterion::default()
        };
        let budget = Budget {
            max_trials: 10,
            max_fp32_nodes: 8,
        };
        let (tuning, _) = tune_fake(&criterion, budget, &GAINS);
        assert!(!tuning.met);
        assert_eq!(tuning.chosen().fp32_nodes, ["stem_reader"]);
        // "c" alone would gain 1 dB, but on top of the stem it is a second node.
        let c = tuning.trials.iter().find(|t| t.change == "FP32: c").unwrap();
        assert!(!c.kept && c.score.sqnr_db > tuning.chosen().score.sqnr_db);
        assert!(c.misses.iter().any(|m| m.starts_with("latency")));
    }
}
