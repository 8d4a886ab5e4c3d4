//! Platt scaling: `p = 1 / (1 + exp(a·s + b))`, fitted as scikit-learn's `_sigmoid_calibration`.
//!
//! Reference: J. Platt, "Probabilistic outputs for support vector machines and comparisons to
//! regularized likelihood methods" (1999), and `sklearn/calibration.py` (`_sigmoid_calibration`,
//! `_SigmoidCalibration`). The targets are Platt's smoothed ones, `(n₊ + 1)/(n₊ + 2)` for
//! positives and `1/(n₋ + 2)` for negatives (weighted counts when weights are given); the
//! weighted log loss is minimised by Newton's method with a backtracking line search (H.-T. Lin,
//! C.-J. Lin and R. C. Weng, "A note on Platt's probabilistic outputs", 2007) to a gradient of
//! 1e-12, tighter than scikit-learn's L-BFGS-B (`gtol=1e-6`), so both reach the same optimum.

use serde::{Deserialize, Serialize};

use super::{check_fit_input, Calibrator};
use crate::classifier::sigmoid;
use crate::HeadError;

/// A fitted Platt map `p = 1 / (1 + exp(a·s + b))` (`a` is negative when higher scores mean
/// more likely positive).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sigmoid {
    pub a: f64,
    pub b: f64,
}

/// Scores at least this large in magnitude are divided by their maximum before fitting (as
/// scikit-learn does); the slope is scaled back afterwards.
const MAX_ABS_PREDICTION: f64 = 30.0;

/// `log(1 + exp(z))` without overflow.
fn softplus(z: f64) -> f64 {
    if z > 0.0 {
        z + (-z).exp().ln_1p()
    } else {
        z.exp().ln_1p()
    }
}

struct Problem<'a> {
    f: &'a [f64],
    t: &'a [f64],
    w: Option<&'a [f64]>,
}

impl Problem<'_> {
    fn weight(&self, i: usize) -> f64 {
        self.w.map_or(1.0, |w| w[i])
    }

    /// The weighted log loss at `(a, b)`.
    fn loss(&self, a: f64, b: f64) -> f64 {
        (0..self.f.len())
            .map(|i| {
                // z = −(a·f + b) is the log-odds of the positive class.
                let z = -(a * self.f[i] + b);
                self.weight(i) * (softplus(z) - self.t[i] * z)
            })
            .sum()
    }

    /// Gradient and Hessian in (a, b).
    fn derivatives(&self, a: f64, b: f64) -> ([f64; 2], [f64; 3]) {
        let (mut g, mut h) = ([0.0; 2], [0.0; 3]);
        for i in 0..self.f.len() {
            let f = self.f[i];
            let p = sigmoid(-(a * f + b));
            let w = self.weight(i);
            let d = w * (self.t[i] - p);
            g[0] += d * f;
            g[1] += d;
            let c = w * p * (1.0 - p);
            h[0] += c * f * f;
            h[1] += c * f;
            h[2] += c;
        }
        (g, h)
    }
}

impl Calibrator for Sigmoid {
    fn fit(
        scores: &[f64],
        truth: &[bool],
        sample_weight: Option<&[f64]>,
    ) -> Result<Self, HeadError> {
        check_fit_input(scores, truth, sample_weight)?;
        let max_abs = scores.iter().fold(0.0f64, |m, s| m.max(s.abs()));
        let scale = if max_abs >= MAX_ABS_PREDICTION {
            max_abs
        } else {
            1.0
        };
        let f: Vec<f64> = scores.iter().map(|s| s / scale).collect();
        let (mut prior0, mut prior1) = (0.0, 0.0);
        for (i, &y) in truth.iter().enumerate() {
            let w = sample_weight.map_or(1.0, |sw| sw[i]);
            if y {
                prior1 += w;
            } else {
                prior0 += w;
            }
        }
        if prior0 + prior1 <= 0.0 {
            return Err(HeadError::data(
                "sigmoid calibration: every sample weight is zero",
            ));
        }
        let (hi, lo) = ((prior1 + 1.0) / (prior1 + 2.0), 1.0 / (prior0 + 2.0));
        let t: Vec<f64> = truth.iter().map(|&y| if y { hi } else { lo }).collect();
        let prob = Problem {
            f: &f,
            t: &t,
            w: sample_weight,
        };

        let (mut a, mut b) = (0.0, ((prior0 + 1.0) / (prior1 + 1.0)).ln());
        let mut loss = prob.loss(a, b);
        let total_w = prior0 + prior1;
        for _ in 0..200 {
            let (g, h) = prob.derivatives(a, b);
            if g[0].abs().max(g[1].abs()) <= 1e-12 * total_w.max(1.0) {
                break;
            }
            // Newton direction on the (slightly ridged) Hessian; a constant score column makes
            // it singular, the ridge keeps the step in the gradient's span.
            let ridge = 1e-12 * (h[0] + h[2]).max(1e-300);
            let (h00, h01, h11) = (h[0] + ridge, h[1], h[2] + ridge);
            let det = h00 * h11 - h01 * h01;
            let (da, db) = if det > 0.0 && det.is_finite() {
                (
                    -(h11 * g[0] - h01 * g[1]) / det,
                    -(h00 * g[1] - h01 * g[0]) / det,
                )
            } else {
                (-g[0], -g[1])
            };
            // The loss decreases along the descent direction; backtrack until it does.
            let slope = g[0] * da + g[1] * db;
            let mut step = 1.0;
            let mut moved = false;
            while step >= 1e-10 {
                let (na, nb) = (a + step * da, b + step * db);
                let nl = prob.loss(na, nb);
                if nl <= loss + 1e-4 * step * slope {
                    (a, b, loss) = (na, nb, nl);
                    moved = true;
                    break;
                }
                step *= 0.5;
            }
            if !moved {
                break; // at the optimum to machine precision
            }
        }
        if !(a.is_finite() && b.is_finite()) {
            return Err(HeadError::Diverged {
                what: format!("sigmoid calibration ended at a = {a}, b = {b}"),
            });
        }
        Ok(Sigmoid { a: a / scale, b })
    }

    fn predict_one(&self, score: f64) -> f64 {
        sigmoid(-(self.a * score + self.b))
    }
}
