//! L2-regularised logistic regression on standardised embeddings, scikit-learn's
//! `LogisticRegression(C, class_weight)` objective: binary and one-vs-rest multi-label use the
//! binary log loss per column, multi-class the multinomial (softmax) loss. The intercept is not
//! penalised. Minimised with L-BFGS in f64.

use serde::{Deserialize, Serialize};

use super::lbfgs::{minimize, Stop};
use super::{check_rows, loss_weights, Standardizer};
use crate::{Classifier, HeadError, Learner, Rows, Targets, Task};

/// Options of [`Logistic`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogisticOptions {
    /// Inverse regularisation strength (scikit-learn's `C`): smaller is a stronger L2 penalty.
    pub c: f64,
    /// `class_weight='balanced'`: rare classes weigh as much as common ones in the loss.
    pub class_weight_balanced: bool,
    pub max_iter: usize,
    /// Stop when the largest gradient component is below this.
    pub tol: f64,
}

impl Default for LogisticOptions {
    fn default() -> Self {
        LogisticOptions {
            c: 1.0,
            class_weight_balanced: true,
            max_iter: 500,
            tol: 1e-6,
        }
    }
}

/// The learner: `Logistic { options }.fit(x, y, None)`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Logistic {
    pub options: LogisticOptions,
}

/// A fitted logistic probe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogisticModel {
    pub task: Task,
    pub standardizer: Standardizer,
    /// `[n_outputs, dim]`, on the standardised scale.
    pub coef: Vec<f64>,
    pub intercept: Vec<f64>,
    pub n_iter: usize,
    /// `false` when L-BFGS hit `max_iter` before the gradient tolerance.
    pub converged: bool,
}

impl Learner for Logistic {
    type Model = LogisticModel;

    fn fit(
        &self,
        x: Rows,
        y: &Targets,
        sample_weight: Option<&[f64]>,
    ) -> Result<LogisticModel, HeadError> {
        let o = &self.options;
        if !(o.c.is_finite() && o.c > 0.0) {
            return Err(HeadError::config(format!(
                "C must be positive, got {}",
                o.c
            )));
        }
        check_rows(x, y)?;
        let weights = loss_weights(y, sample_weight, o.class_weight_balanced)?;
        let standardizer = Standardizer::fit(x);
        let xs = standardizer.apply(x)?;
        let (n, d, k) = (x.rows, x.dim, y.task.n_outputs());
        let total_weight: f64 = match y.task {
            // One-vs-rest columns each carry a full set of row weights: average per column.
            Task::Binary | Task::MultiLabel(_) => weights.iter().sum::<f64>() / k as f64,
            Task::MultiClass(_) => weights.iter().sum(),
        };
        if total_weight <= 0.0 {
            return Err(HeadError::data("all sample weights are zero"));
        }
        // Objective / total_weight: same minimiser as scikit-learn's C·Σ w·loss + ½‖W‖², on a
        // scale where the tolerance means the same for 100 rows or 100,000.
        let penalty = 1.0 / (o.c * total_weight);
        let objective = |p: &[f64], g: &mut [f64]| -> f64 {
            g.iter_mut().for_each(|v| *v = 0.0);
            let (coef, icpt) = p.split_at(k * d);
            let mut loss = 0.0;
            let mut s = vec![0.0; k];
            let mut ds = vec![0.0; k];
            for i in 0..n {
                let row = &xs[i * d..(i + 1) * d];
                for c in 0..k {
                    let w = &coef[c * d..(c + 1) * d];
                    s[c] = icpt[c] + row.iter().zip(w).map(|(a, b)| *a as f64 * b).sum::<f64>();
                }
                match y.task {
                    Task::MultiClass(_) => {
                        let m = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                        let z: f64 = s.iter().map(|v| (v - m).exp()).sum();
                        let lse = m + z.ln();
                        let yi = y.y[i] as usize;
                        let wi = weights[i];
                        loss += wi * (lse - s[yi]);
                        for c in 0..k {
                            let p = (s[c] - lse).exp();
                            ds[c] = wi * (p - if c == yi { 1.0 } else { 0.0 });
                        }
                    }
                    _ => {
                        for c in 0..k {
                            let t = match y.task {
                                Task::Binary => (y.y[i] == 1) as u8 as f64,
                                _ => y.y[i * k + c] as f64,
                            };
                            let wi = weights[i * k + c];
                            // softplus(s) − t·s, stable for large |s|
                            let sp = s[c].max(0.0) + (-s[c].abs()).exp().ln_1p();
                            loss += wi * (sp - t * s[c]);
                            ds[c] = wi * (crate::sigmoid(s[c]) - t);
                        }
                    }
                }
                let (gc, gi) = g.split_at_mut(k * d);
                for c in 0..k {
                    if ds[c] != 0.0 {
                        let gw = &mut gc[c * d..(c + 1) * d];
                        gw.iter_mut()
                            .zip(row)
                            .for_each(|(g, a)| *g += ds[c] * *a as f64);
                        gi[c] += ds[c];
                    }
                }
            }
            let mut reg = 0.0;
            for (gv, w) in g[..k * d].iter_mut().zip(coef) {
                *gv = *gv / total_weight + penalty * w;
                reg += w * w;
            }
            g[k * d..].iter_mut().for_each(|v| *v /= total_weight);
            loss / total_weight + 0.5 * penalty * reg
        };
        let mut p = vec![0.0; k * d + k];
        let (n_iter, stop) = minimize(&mut p, objective, o.max_iter, o.tol);
        if p.iter().any(|v| !v.is_finite()) {
            return Err(HeadError::Diverged {
                what: "logistic regression weights became non-finite".into(),
            });
        }
        let intercept = p.split_off(k * d);
        Ok(LogisticModel {
            task: y.task,
            standardizer,
            coef: p,
            intercept,
            n_iter,
            converged: stop != Stop::MaxIter,
        })
    }
}

impl Classifier for LogisticModel {
    fn task(&self) -> Task {
        self.task
    }

    fn dim(&self) -> usize {
        self.standardizer.mean.len()
    }

    fn decision_function(&self, x: Rows) -> Result<Vec<f64>, HeadError> {
        let xs = self.standardizer.apply(x)?;
        let (d, k) = (x.dim, self.task.n_outputs());
        let mut out = Vec::with_capacity(x.rows * k);
        for row in xs.chunks_exact(d) {
            for c in 0..k {
                let w = &self.coef[c * d..(c + 1) * d];
                out.push(
                    self.intercept[c] + row.iter().zip(w).map(|(a, b)| *a as f64 * b).sum::<f64>(),
                );
            }
        }
        Ok(out)
    }
}
