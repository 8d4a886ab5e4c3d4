//! Isotonic calibration: a non-decreasing, piecewise-linear map from score to probability, as
//! scikit-learn's `IsotonicRegression(out_of_bounds='clip')` fits and predicts it.
//!
//! Reference: `sklearn/isotonic.py` (`_build_y`, `_transform`) and `sklearn/_isotonic.pyx`
//! (`_make_unique`, the pool-adjacent-violators pass); prediction is `np.interp` on the kept
//! thresholds after clipping to the training range.

use serde::{Deserialize, Serialize};

use super::{check_fit_input, Calibrator};
use crate::HeadError;

/// A fitted isotonic map: the thresholds scikit-learn keeps (`X_thresholds_`, `y_thresholds_`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Isotonic {
    /// Ascending, distinct scores (first = `X_min_`, last = `X_max_`).
    pub x_thresholds: Vec<f64>,
    /// The fitted, non-decreasing probabilities at those scores.
    pub y_thresholds: Vec<f64>,
}

impl Isotonic {
    /// Training range `(X_min_, X_max_)`; predictions are clipped to it.
    pub fn range(&self) -> (f64, f64) {
        (
            self.x_thresholds[0],
            self.x_thresholds[self.x_thresholds.len() - 1],
        )
    }
}

/// Weighted pool-adjacent-violators for a non-decreasing fit, in place: on return `y` is the
/// weighted least-squares non-decreasing fit of the input. Equal neighbours are pooled too.
pub(crate) fn pav(y: &mut [f64], w: &mut [f64]) {
    let n = y.len();
    // target[i] = j and target[j] = i when [i..=j] is a block; y[i], w[i] hold its mean and weight.
    let mut target: Vec<usize> = (0..n).collect();
    let mut i = 0;
    while i < n {
        let mut k = target[i] + 1;
        if k == n {
            break;
        }
        if y[i] < y[k] {
            i = k;
            continue;
        }
        let mut sum_wy = w[i] * y[i];
        let mut sum_w = w[i];
        loop {
            // Inside a non-increasing run: absorb block k.
            let prev_y = y[k];
            sum_wy += w[k] * y[k];
            sum_w += w[k];
            k = target[k] + 1;
            if k == n || prev_y < y[k] {
                y[i] = sum_wy / sum_w;
                w[i] = sum_w;
                target[i] = k - 1;
                target[k - 1] = i;
                if i > 0 {
                    // Step back one block: the merged block may now violate its left neighbour.
                    i = target[i - 1];
                }
                break;
            }
        }
    }
    let mut i = 0;
    while i < n {
        let k = target[i] + 1;
        let v = y[i];
        y[i + 1..k].fill(v);
        i = k;
    }
}

impl Calibrator for Isotonic {
    fn fit(
        scores: &[f64],
        truth: &[bool],
        sample_weight: Option<&[f64]>,
    ) -> Result<Self, HeadError> {
        check_fit_input(scores, truth, sample_weight)?;
        // Rows with zero weight are dropped, the rest sorted by (score, truth).
        let mut rows: Vec<(f64, f64, f64)> = (0..scores.len())
            .map(|i| {
                let w = sample_weight.map_or(1.0, |sw| sw[i]);
                (scores[i], truth[i] as u8 as f64, w)
            })
            .filter(|r| r.2 > 0.0)
            .collect();
        if rows.is_empty() {
            return Err(HeadError::data(
                "isotonic calibration: every sample weight is zero",
            ));
        }
        rows.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));

        // `_make_unique`: pool scores closer than float64 resolution, weighted mean of truth.
        let eps = 1e-15;
        let (mut xs, mut ys, mut ws) = (Vec::new(), Vec::new(), Vec::new());
        let (mut cur_x, mut cur_wy, mut cur_w) = (rows[0].0, 0.0, 0.0);
        for &(x, y, w) in &rows {
            if x - cur_x >= eps {
                xs.push(cur_x);
                ys.push(cur_wy / cur_w);
                ws.push(cur_w);
                cur_x = x;
                cur_w = w;
                cur_wy = y * w;
            } else {
                cur_w += w;
                cur_wy += y * w;
            }
        }
        xs.push(cur_x);
        ys.push(cur_wy / cur_w);
        ws.push(cur_w);

        pav(&mut ys, &mut ws);

        // Keep the ends and every point whose value differs from a neighbour's.
        let n = ys.len();
        let keep = |i: usize| i == 0 || i + 1 == n || ys[i] != ys[i - 1] || ys[i] != ys[i + 1];
        let (x_thresholds, y_thresholds) =
            (0..n).filter(|&i| keep(i)).map(|i| (xs[i], ys[i])).unzip();
        Ok(Isotonic {
            x_thresholds,
            y_thresholds,
        })
    }

    fn predict_one(&self, score: f64) -> f64 {
        let (xp, fp) = (&self.x_thresholds, &self.y_thresholds);
        let n = xp.len();
        if score.is_nan() || n == 0 {
            return f64::NAN;
        }
        if n == 1 {
            return fp[0];
        }
        let x = score.clamp(xp[0], xp[n - 1]);
        // j with xp[j] <= x < xp[j + 1], or n − 1 at the right end.
        let j = xp.partition_point(|&v| v <= x) - 1;
        if j == n - 1 || xp[j] == x {
            return fp[j];
        }
        let slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]);
        let v = slope * (x - xp[j]) + fp[j];
        if v.is_nan() {
            let v = slope * (x - xp[j + 1]) + fp[j + 1];
            if v.is_nan() && fp[j] == fp[j + 1] {
                return fp[j];
            }
            return v;
        }
        v
    }
}
