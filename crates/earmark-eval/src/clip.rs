//! Clip-level ranking metrics as scikit-learn 1.9 computes them (ties included), and
//! precision/recall/F1 at a threshold.

use crate::EvalError;
use serde::{Deserialize, Serialize};

/// (false positives, true positives, thresholds) per distinct threshold.
type ClfCurve = (Vec<f64>, Vec<f64>, Vec<f64>);

/// scikit-learn's `_binary_clf_curve`: distinct thresholds (descending) with cumulative false and
/// true positive counts at each.
fn binary_clf_curve(y_true: &[bool], y_score: &[f64]) -> Result<ClfCurve, EvalError> {
    if y_true.len() != y_score.len() {
        return Err(EvalError::Shape {
            expected: y_true.len(),
            got: y_score.len(),
        });
    }
    if y_score.iter().any(|s| s.is_nan()) {
        return Err(EvalError::Invalid {
            what: "scores contain NaN".into(),
        });
    }
    let mut idx: Vec<usize> = (0..y_score.len()).collect();
    idx.sort_by(|&a, &b| y_score[b].total_cmp(&y_score[a]));
    let (mut fps, mut tps, mut thr) = (Vec::new(), Vec::new(), Vec::new());
    let mut tp = 0.0;
    for (k, &i) in idx.iter().enumerate() {
        tp += y_true[i] as u8 as f64;
        let last = k + 1 == idx.len() || y_score[idx[k + 1]] != y_score[i];
        if last {
            tps.push(tp);
            fps.push((k + 1) as f64 - tp);
            thr.push(y_score[i]);
        }
    }
    Ok((fps, tps, thr))
}

/// A ROC curve: false and true positive rates per threshold (the first threshold is +∞).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RocCurve {
    pub fpr: Vec<f64>,
    pub tpr: Vec<f64>,
    pub thresholds: Vec<f64>,
}

/// `sklearn.metrics.roc_curve(y_true, y_score)` with `drop_intermediate=True`.
pub fn roc_curve(y_true: &[bool], y_score: &[f64]) -> Result<RocCurve, EvalError> {
    let (mut fps, mut tps, mut thr) = binary_clf_curve(y_true, y_score)?;
    if fps.len() > 2 {
        let n = fps.len();
        let keep: Vec<usize> = (0..n)
            .filter(|&k| {
                k == 0
                    || k == n - 1
                    || (fps[k + 1] - 2.0 * fps[k] + fps[k - 1]) != 0.0
                    || (tps[k + 1] - 2.0 * tps[k] + tps[k - 1]) != 0.0
            })
            .collect();
        fps = keep.iter().map(|&k| fps[k]).collect();
        tps = keep.iter().map(|&k| tps[k]).collect();
        thr = keep.iter().map(|&k| thr[k]).collect();
    }
    fps.insert(0, 0.0);
    tps.insert(0, 0.0);
    thr.insert(0, f64::INFINITY);
    let (fl, tl) = (*fps.last().unwrap_or(&0.0), *tps.last().unwrap_or(&0.0));
    if fl <= 0.0 || tl <= 0.0 {
        return Err(EvalError::Undefined {
            what: "ROC needs both positive and negative clips".into(),
        });
    }
    Ok(RocCurve {
        fpr: fps.iter().map(|f| f / fl).collect(),
        tpr: tps.iter().map(|t| t / tl).collect(),
        thresholds: thr,
    })
}

/// `sklearn.metrics.roc_auc_score(y_true, y_score)` (trapezoids on the ROC curve; ties as sklearn).
pub fn roc_auc(y_true: &[bool], y_score: &[f64]) -> Result<f64, EvalError> {
    let c = roc_curve(y_true, y_score)?;
    let mut area = 0.0;
    for k in 1..c.fpr.len() {
        area += (c.fpr[k] - c.fpr[k - 1]) * (c.tpr[k] + c.tpr[k - 1]) / 2.0;
    }
    Ok(area)
}

/// A precision–recall curve in scikit-learn's order (recall decreasing, ending at precision 1,
/// recall 0; one fewer threshold than points).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrCurve {
    pub precision: Vec<f64>,
    pub recall: Vec<f64>,
    pub thresholds: Vec<f64>,
}

/// `sklearn.metrics.precision_recall_curve(y_true, y_score)` (drop_intermediate=False).
pub fn precision_recall_curve(y_true: &[bool], y_score: &[f64]) -> Result<PrCurve, EvalError> {
    let (fps, tps, thr) = binary_clf_curve(y_true, y_score)?;
    let tl = *tps.last().unwrap_or(&0.0);
    if tl <= 0.0 {
        return Err(EvalError::Undefined {
            what: "precision-recall needs at least one positive clip".into(),
        });
    }
    let mut precision: Vec<f64> = tps
        .iter()
        .zip(&fps)
        .map(|(t, f)| if t + f != 0.0 { t / (t + f) } else { 0.0 })
        .rev()
        .collect();
    let mut recall: Vec<f64> = tps.iter().map(|t| t / tl).rev().collect();
    precision.push(1.0);
    recall.push(0.0);
    Ok(PrCurve {
        precision,
        recall,
        thresholds: thr.into_iter().rev().collect(),
    })
}

/// `sklearn.metrics.average_precision_score(y_true, y_score)`: Σ (Rₙ − Rₙ₋₁) Pₙ, no interpolation.
pub fn average_precision(y_true: &[bool], y_score: &[f64]) -> Result<f64, EvalError> {
    let c = precision_recall_curve(y_true, y_score)?;
    let mut s = 0.0;
    for k in 0..c.recall.len() - 1 {
        s += (c.recall[k + 1] - c.recall[k]) * c.precision[k];
    }
    Ok(-s)
}

/// Precision, recall and F1 of `score >= threshold` against the clip labels (0 where a ratio has a
/// zero denominator, scikit-learn's `zero_division=0`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClipPrf {
    pub threshold: f64,
    pub tp: usize,
    pub fp: usize,
    pub fn_: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

pub fn prf_at_threshold(
    y_true: &[bool],
    y_score: &[f64],
    threshold: f64,
) -> Result<ClipPrf, EvalError> {
    if y_true.len() != y_score.len() {
        return Err(EvalError::Shape {
            expected: y_true.len(),
            got: y_score.len(),
        });
    }
    let (mut tp, mut fp, mut fn_) = (0, 0, 0);
    for (&y, &s) in y_true.iter().zip(y_score) {
        let p = s >= threshold;
        tp += (y && p) as usize;
        fp += (!y && p) as usize;
        fn_ += (y && !p) as usize;
    }
    let div = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let precision = div(tp, tp + fp);
    let recall = div(tp, tp + fn_);
    Ok(ClipPrf {
        threshold,
        tp,
        fp,
        fn_,
        precision,
        recall,
        f1: div(2 * tp, 2 * tp + fp + fn_),
    })
}

/// Multi-label averaging of a binary metric over `[clips, classes]` row-major arrays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Average {
    /// Unweighted mean of the per-class values.
    Macro,
    /// One binary problem over all (clip, class) cells.
    Micro,
}

/// Per-class values of `metric` on `[n, n_classes]` row-major labels and scores.
pub fn per_class(
    y_true: &[bool],
    y_score: &[f64],
    n_classes: usize,
    metric: fn(&[bool], &[f64]) -> Result<f64, EvalError>,
) -> Result<Vec<f64>, EvalError> {
    if y_true.len() != y_score.len() || n_classes == 0 || !y_true.len().is_multiple_of(n_classes) {
        return Err(EvalError::Shape {
            expected: y_true.len(),
            got: y_score.len(),
        });
    }
    (0..n_classes)
        .map(|c| {
            let t: Vec<bool> = y_true.iter().skip(c).step_by(n_classes).copied().collect();
            let s: Vec<f64> = y_score.iter().skip(c).step_by(n_classes).copied().collect();
            metric(&t, &s)
        })
        .collect()
}

/// `metric` averaged over classes as scikit-learn's `average='macro'` or `'micro'`.
pub fn averaged(
    y_true: &[bool],
    y_score: &[f64],
    n_classes: usize,
    average: Average,
    metric: fn(&[bool], &[f64]) -> Result<f64, EvalError>,
) -> Result<f64, EvalError> {
    match average {
        Average::Micro => {
            per_class(y_true, y_score, n_classes, |_, _| Ok(0.0))?; // shape check
            metric(y_true, y_score)
        }
        Average::Macro => {
            let v = per_class(y_true, y_score, n_classes, metric)?;
            Ok(v.iter().sum::<f64>() / v.len() as f64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_worked() {
        let y = [false, true, false, true, true];
        let s = [0.0, 1.0, 0.5, 0.5, 0.5];
        // pairs (pos, neg): 1 vs 0 wins, 1 vs .5 wins, .5 vs 0 wins x2, .5 vs .5 ties x2 -> (4 + 1) / 6
        assert!((roc_auc(&y, &s).unwrap() - 5.0 / 6.0).abs() < 1e-15);
        // thresholds 1 (P=1, R=1/3), .5 (P=3/4, R=1): AP = 1/3 * 1 + 2/3 * 3/4
        assert!((average_precision(&y, &s).unwrap() - 5.0 / 6.0).abs() < 1e-15);
        let p = prf_at_threshold(&y, &s, 0.5).unwrap();
        assert_eq!((p.tp, p.fp, p.fn_), (3, 1, 0));
        assert!((p.f1 - 6.0 / 7.0).abs() < 1e-15);
        assert!(roc_auc(&[true, true], &[0.1, 0.2]).is_err());
    }
}
