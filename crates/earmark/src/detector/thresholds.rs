//! Per-class operating points chosen on held-out predictions, and the held-out metrics a
//! detector carries: ranking (ROC-AUC, AP) and calibration (Brier score, expected calibration
//! error) before and after calibration.

use earmark_eval::calibration::{brier_score, expected_calibration_error};
use earmark_eval::{average_precision, roc_auc};
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// How a class's threshold is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ThresholdRule {
    /// The threshold of the best F1.
    #[default]
    BestF1,
    /// The lowest threshold (most recall) whose precision is at least this.
    Precision(f64),
    /// The highest threshold (most precision) whose recall is at least this.
    Recall(f64),
}

impl FromStr for ThresholdRule {
    type Err = String;

    /// `best-f1`, `precision:0.9`, `recall:0.8`.
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim().to_ascii_lowercase();
        let target = |v: &str| -> Result<f64, String> {
            match v.parse::<f64>() {
                Ok(x) if x > 0.0 && x <= 1.0 => Ok(x),
                _ => Err(format!("threshold target {v:?} must be a number in (0, 1]")),
            }
        };
        match s.split_once(':') {
            None if s == "best-f1" || s == "best_f1" || s == "f1" => Ok(ThresholdRule::BestF1),
            Some(("precision", v)) => Ok(ThresholdRule::Precision(target(v)?)),
            Some(("recall", v)) => Ok(ThresholdRule::Recall(target(v)?)),
            _ => Err(format!(
                "unknown threshold rule {s:?}: use best-f1, precision:P or recall:R"
            )),
        }
    }
}

impl std::fmt::Display for ThresholdRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ThresholdRule::BestF1 => write!(f, "best-f1"),
            ThresholdRule::Precision(p) => write!(f, "precision:{p}"),
            ThresholdRule::Recall(r) => write!(f, "recall:{r}"),
        }
    }
}

/// A class's operating point, with what it achieved on the held-out predictions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Threshold {
    /// Report the class when its calibrated probability is ≥ this.
    pub value: f64,
    pub rule: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// `false` when no threshold reaches a precision/recall target (the closest is used).
    pub target_met: bool,
}

/// Chooses a threshold on probabilities `p` with truth `y`.
pub fn choose(y: &[bool], p: &[f64], rule: ThresholdRule) -> Threshold {
    let positives = y.iter().filter(|&&b| b).count();
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
    // Candidates: every distinct probability, from the top; predicted positive when p ≥ t.
    let mut points: Vec<(f64, f64, f64, f64)> = Vec::new(); // (t, precision, recall, f1)
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut i = 0;
    while i < order.len() {
        let t = p[order[i]];
        while i < order.len() && p[order[i]] == t {
            if y[order[i]] {
                tp += 1;
            } else {
                fp += 1;
            }
            i += 1;
        }
        let precision = tp as f64 / (tp + fp) as f64;
        let recall = if positives > 0 {
            tp as f64 / positives as f64
        } else {
            0.0
        };
        let f1 = if tp > 0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        points.push((t, precision, recall, f1));
    }
    let make = |(t, precision, recall, f1): (f64, f64, f64, f64), met: bool| Threshold {
        value: t,
        rule: rule.to_string(),
        precision,
        recall,
        f1,
        target_met: met,
    };
    if points.is_empty() || positives == 0 {
        return make((0.5, 0.0, 0.0, 0.0), false);
    }
    match rule {
        ThresholdRule::BestF1 => {
            // Highest threshold among equal F1s: fewer alarms for the same F1.
            let best = points
                .iter()
                .copied()
                .fold(points[0], |b, q| if q.3 > b.3 { q } else { b });
            make(best, true)
        }
        ThresholdRule::Precision(target) => match points.iter().copied().rfind(|q| q.1 >= target) {
            Some(q) => make(q, true),
            None => {
                let best = points
                    .iter()
                    .copied()
                    .fold(points[0], |b, q| if q.1 > b.1 { q } else { b });
                make(best, false)
            }
        },
        ThresholdRule::Recall(target) => match points.iter().copied().find(|q| q.2 >= target) {
            Some(q) => make(q, true),
            None => make(*points.last().unwrap(), false),
        },
    }
}

/// Held-out metrics of one class (one probability column).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    pub rows: usize,
    pub positives: usize,
    /// Of the uncalibrated held-out probabilities; `None` when they hold one class only.
    pub roc_auc: Option<f64>,
    pub average_precision: Option<f64>,
    /// The classifier's own probabilities.
    pub brier_uncalibrated: f64,
    pub ece_uncalibrated: f64,
    /// After calibration (equal to the uncalibrated values with `--calibration none`).
    pub brier_calibrated: f64,
    pub ece_calibrated: f64,
    pub threshold: Threshold,
}

/// Bins of the expected calibration error.
pub const ECE_BINS: usize = 10;

/// Metrics of one column from held-out raw and calibrated probabilities.
pub fn class_metrics(
    y: &[bool],
    raw: &[f64],
    calibrated: &[f64],
    rule: ThresholdRule,
) -> ClassMetrics {
    let clamp = |v: &[f64]| v.iter().map(|p| p.clamp(0.0, 1.0)).collect::<Vec<_>>();
    let (raw, cal) = (clamp(raw), clamp(calibrated));
    ClassMetrics {
        rows: y.len(),
        positives: y.iter().filter(|&&b| b).count(),
        // Ranking is the model's own (held-out scores); cross-fitted calibration maps differ a
        // little per fold and isotonic steps add ties, which would blur it.
        roc_auc: roc_auc(y, &raw).ok(),
        average_precision: average_precision(y, &raw).ok(),
        brier_uncalibrated: brier_score(y, &raw).unwrap_or(f64::NAN),
        ece_uncalibrated: expected_calibration_error(y, &raw, ECE_BINS).unwrap_or(f64::NAN),
        brier_calibrated: brier_score(y, &cal).unwrap_or(f64::NAN),
        ece_calibrated: expected_calibration_error(y, &cal, ECE_BINS).unwrap_or(f64::NAN),
        threshold: choose(y, &cal, rule),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_pick_the_documented_points() {
        // Sorted by p: 0.9 T, 0.8 T, 0.7 F, 0.6 T, 0.4 F, 0.3 T, 0.1 F
        let p = [0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.1];
        let y = [true, true, false, true, false, true, false];
        let f1 = choose(&y, &p, ThresholdRule::BestF1);
        // t=0.6: P 3/4, R 3/4, F1 .75; t=0.3: P 4/6, R 1, F1 .8
        assert_eq!(f1.value, 0.3);
        assert!((f1.f1 - 0.8).abs() < 1e-12);
        let pr = choose(&y, &p, ThresholdRule::Precision(0.75));
        assert_eq!((pr.value, pr.recall), (0.6, 0.75));
        let rc = choose(&y, &p, ThresholdRule::Recall(0.5));
        assert_eq!(rc.value, 0.8);
        let none = choose(&y, &p, ThresholdRule::Precision(1.0));
        assert!(none.target_met && none.value == 0.8);
        assert_eq!(
            "precision:0.9".parse::<ThresholdRule>().unwrap(),
            ThresholdRule::Precision(0.9)
        );
        assert!("precision:2".parse::<ThresholdRule>().is_err());
    }
}
