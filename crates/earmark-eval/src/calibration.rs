//! Calibration metrics as scikit-learn 1.9 computes them: the Brier score
//! (`sklearn.metrics.brier_score_loss`), the reliability curve (`sklearn.calibration.calibration_curve`,
//! uniform or quantile bins, empty bins dropped) and the expected calibration error on uniform bins.
//!
//! Bin edges are computed the way NumPy does (`np.linspace` as `i · (1/n)`, `np.percentile` with
//! linear interpolation), and a probability equal to an inner edge falls in the lower bin
//! (`np.searchsorted(edges, p, side='left')`), so bin memberships match scikit-learn exactly.

use crate::EvalError;
use serde::{Deserialize, Serialize};

/// How [`calibration_curve`] places its bin edges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BinStrategy {
    /// `n_bins` equal-width bins on [0, 1] (scikit-learn's `strategy='uniform'`).
    #[default]
    Uniform,
    /// Edges at the percentiles of the probabilities, so bins hold about equal counts
    /// (`strategy='quantile'`).
    Quantile,
}

/// A reliability curve: one entry per non-empty bin, in bin order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationCurve {
    /// Fraction of positives in the bin (`prob_true`).
    pub prob_true: Vec<f64>,
    /// Mean predicted probability in the bin (`prob_pred`).
    pub prob_pred: Vec<f64>,
    /// Rows in the bin.
    pub counts: Vec<usize>,
}

fn check(y_true: &[bool], prob: &[f64]) -> Result<(), EvalError> {
    if y_true.len() != prob.len() {
        return Err(EvalError::Shape {
            expected: y_true.len(),
            got: prob.len(),
        });
    }
    if prob.is_empty() {
        return Err(EvalError::Invalid {
            what: "no probabilities given".into(),
        });
    }
    if let Some(i) = prob.iter().position(|p| !(0.0..=1.0).contains(p)) {
        return Err(EvalError::Invalid {
            what: format!("probability {i} is {} (outside [0, 1])", prob[i]),
        });
    }
    Ok(())
}

/// The Brier score, mean squared difference between the 0/1 truth and the probability
/// (`sklearn.metrics.brier_score_loss(y_true, prob)`). Lower is better; 0.25 for a constant 0.5.
pub fn brier_score(y_true: &[bool], prob: &[f64]) -> Result<f64, EvalError> {
    check(y_true, prob)?;
    // scikit-learn expands to two columns and halves the row sums; same value.
    let sum: f64 = y_true
        .iter()
        .zip(prob)
        .map(|(&y, &p)| {
            let t = y as u8 as f64;
            let (d0, d1) = ((1.0 - t) - (1.0 - p), t - p);
            d0 * d0 + d1 * d1
        })
        .sum();
    Ok(sum / prob.len() as f64 * 0.5)
}

/// `np.linspace(0, 1, n + 1)` element `i`.
fn linspace01(i: usize, n: usize) -> f64 {
    if i == n {
        1.0
    } else {
        i as f64 * (1.0 / n as f64)
    }
}

/// `np.percentile(sorted, q)` with the default linear method, `sorted` ascending and non-empty.
fn percentile(sorted: &[f64], q_percent: f64) -> f64 {
    let n = sorted.len();
    let virtual_index = (n - 1) as f64 * (q_percent / 100.0);
    if virtual_index >= (n - 1) as f64 {
        return sorted[n - 1];
    }
    if virtual_index < 0.0 {
        return sorted[0];
    }
    let prev = virtual_index.floor();
    let t = virtual_index - prev;
    let (a, b) = (sorted[prev as usize], sorted[prev as usize + 1]);
    let diff = b - a;
    if t >= 0.5 {
        b - diff * (1.0 - t)
    } else {
        a + diff * t
    }
}

/// Inner bin edges (`bins[1:-1]`) for the strategy.
fn inner_edges(prob: &[f64], n_bins: usize, strategy: BinStrategy) -> Vec<f64> {
    match strategy {
        BinStrategy::Uniform => (1..n_bins).map(|i| linspace01(i, n_bins)).collect(),
        BinStrategy::Quantile => {
            let mut sorted = prob.to_vec();
            sorted.sort_by(f64::total_cmp);
            (1..n_bins)
                .map(|i| percentile(&sorted, linspace01(i, n_bins) * 100.0))
                .collect()
        }
    }
}

/// Per-bin (sum of probabilities, positives, count) over all `n_bins` bins.
fn bin_sums(
    y_true: &[bool],
    prob: &[f64],
    n_bins: usize,
    strategy: BinStrategy,
) -> Vec<(f64, f64, usize)> {
    let edges = inner_edges(prob, n_bins, strategy);
    let mut bins = vec![(0.0, 0.0, 0usize); n_bins];
    for (&y, &p) in y_true.iter().zip(prob) {
        // searchsorted side='left': the number of edges strictly below p.
        let b = edges.partition_point(|&e| e < p);
        let bin = &mut bins[b];
        bin.0 += p;
        bin.1 += y as u8 as f64;
        bin.2 += 1;
    }
    bins
}

/// `sklearn.calibration.calibration_curve(y_true, prob, n_bins=n_bins, strategy=...)`, with the
/// count of rows in each returned bin. Empty bins are dropped, so fewer than `n_bins` points may
/// come back.
pub fn calibration_curve(
    y_true: &[bool],
    prob: &[f64],
    n_bins: usize,
    strategy: BinStrategy,
) -> Result<CalibrationCurve, EvalError> {
    check(y_true, prob)?;
    if n_bins == 0 {
        return Err(EvalError::Invalid {
            what: "n_bins must be at least 1".into(),
        });
    }
    let mut curve = CalibrationCurve {
        prob_true: Vec::new(),
        prob_pred: Vec::new(),
        counts: Vec::new(),
    };
    for (sum_p, pos, n) in bin_sums(y_true, prob, n_bins, strategy) {
        if n > 0 {
            curve.prob_true.push(pos / n as f64);
            curve.prob_pred.push(sum_p / n as f64);
            curve.counts.push(n);
        }
    }
    Ok(curve)
}

/// Expected calibration error on `n_bins` uniform bins (the bins of [`calibration_curve`] with
/// [`BinStrategy::Uniform`]): `Σ_b n_b / N · |fraction of positives_b − mean probability_b|`.
/// 0 for a perfectly calibrated predictor; at most 1.
pub fn expected_calibration_error(
    y_true: &[bool],
    prob: &[f64],
    n_bins: usize,
) -> Result<f64, EvalError> {
    let curve = calibration_curve(y_true, prob, n_bins, BinStrategy::Uniform)?;
    let total = prob.len() as f64;
    Ok(curve
        .prob_true
        .iter()
        .zip(&curve.prob_pred)
        .zip(&curve.counts)
        .map(|((t, p), &n)| n as f64 / total * (t - p).abs())
        .sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edge_value_goes_to_lower_bin() {
        // 0.5 is the inner edge of two uniform bins: side='left' puts it in the first bin.
        let c = calibration_curve(&[true, false], &[0.5, 0.9], 2, BinStrategy::Uniform).unwrap();
        assert_eq!(c.counts, vec![1, 1]);
        assert_eq!(c.prob_pred, vec![0.5, 0.9]);
    }

    #[test]
    fn perfect_and_constant() {
        let y = [false, true, false, true];
        assert_eq!(brier_score(&y, &[0.0, 1.0, 0.0, 1.0]).unwrap(), 0.0);
        assert_eq!(brier_score(&y, &[0.5; 4]).unwrap(), 0.25);
        assert_eq!(expected_calibration_error(&y, &[0.5; 4], 10).unwrap(), 0.0);
        assert!(brier_score(&y, &[0.5, 0.5, 0.5, 1.5]).is_err());
        assert!(brier_score(&y, &[0.5; 3]).is_err());
        assert!(calibration_curve(&y, &[0.5; 4], 0, BinStrategy::Quantile).is_err());
    }
}
