//! Probes on pooled embeddings: L2-regularised logistic regression ([`Logistic`], scikit-learn's
//! `LogisticRegression` objective solved with L-BFGS) and a one-hidden-layer MLP ([`Mlp`], trained
//! with AdamW and early stopping). The frame-level counterparts for weak labels are the `Linear`
//! and `Mlp` kinds of [`crate::FrameHead`]: the same probes, applied per frame and pooled.
//!
//! Both standardise the embedding columns with the training rows' mean and standard deviation
//! (stored in the model): embedding dimensions differ in scale by orders of magnitude, and an
//! L2 penalty is only fair on a common scale.

mod lbfgs;
mod logistic;
mod mlp;

use serde::{Deserialize, Serialize};

pub use lbfgs::{minimize, Stop};
pub use logistic::{Logistic, LogisticModel, LogisticOptions};
pub use mlp::{Mlp, MlpModel, MlpOptions};

use crate::{HeadError, Rows, Targets, Task};

/// Per-column mean and scale of the training embeddings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Standardizer {
    pub mean: Vec<f32>,
    pub scale: Vec<f32>,
}

impl Standardizer {
    /// Mean and standard deviation per column (two passes in f64); constant columns get scale 1.
    pub fn fit(x: Rows) -> Self {
        let (n, d) = (x.rows.max(1) as f64, x.dim);
        let mut mean = vec![0f64; d];
        for i in 0..x.rows {
            for (m, v) in mean.iter_mut().zip(x.row(i)) {
                *m += *v as f64;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n);
        let mut var = vec![0f64; d];
        for i in 0..x.rows {
            for ((s, v), m) in var.iter_mut().zip(x.row(i)).zip(&mean) {
                let e = *v as f64 - m;
                *s += e * e;
            }
        }
        let scale = var
            .iter()
            .map(|s| {
                let sd = (s / n).sqrt();
                if sd > 1e-8 {
                    sd as f32
                } else {
                    1.0
                }
            })
            .collect();
        Standardizer {
            mean: mean.iter().map(|&m| m as f32).collect(),
            scale,
        }
    }

    /// The standardised copy of `x`, row-major.
    pub fn apply(&self, x: Rows) -> Result<Vec<f32>, HeadError> {
        if x.dim != self.mean.len() {
            return Err(HeadError::shape(
                "embedding dimension",
                self.mean.len(),
                x.dim,
            ));
        }
        let mut out = Vec::with_capacity(x.data.len());
        for i in 0..x.rows {
            out.extend(
                x.row(i)
                    .iter()
                    .zip(&self.mean)
                    .zip(&self.scale)
                    .map(|((v, m), s)| (v - m) / s),
            );
        }
        Ok(out)
    }
}

/// Loss weights per row and output column, row-major `[rows, n_outputs]` for the one-vs-rest
/// tasks (binary, multi-label) and `[rows]` for multi-class. `balanced` follows scikit-learn's
/// `class_weight='balanced'` (n / (classes · n_class)); for multi-label each label is balanced
/// on its own (n / (2 · n_pos) for positives, n / (2 · n_neg) for negatives). Sample weights
/// multiply in.
pub(crate) fn loss_weights(
    y: &Targets,
    sample_weight: Option<&[f64]>,
    balanced: bool,
) -> Result<Vec<f64>, HeadError> {
    let n = y.rows();
    if let Some(w) = sample_weight {
        if w.len() != n {
            return Err(HeadError::shape("sample weights", n, w.len()));
        }
        if w.iter().any(|v| !v.is_finite() || *v < 0.0) {
            return Err(HeadError::data("sample weights must be finite and ≥ 0"));
        }
    }
    let sw = |i: usize| sample_weight.map_or(1.0, |w| w[i]);
    let out = match y.task {
        Task::Binary | Task::MultiClass(_) => {
            let k = y.task.n_classes();
            let mut counts = vec![0usize; k];
            y.y.iter().for_each(|&c| counts[c as usize] += 1);
            if let Some(c) = counts.iter().position(|&c| c == 0) {
                return Err(HeadError::data(format!("class {c} has no training rows")));
            }
            (0..n)
                .map(|i| {
                    let cw = if balanced {
                        n as f64 / (k as f64 * counts[y.y[i] as usize] as f64)
                    } else {
                        1.0
                    };
                    cw * sw(i)
                })
                .collect()
        }
        Task::MultiLabel(c) => {
            let mut w = vec![1.0; n * c];
            for k in 0..c {
                let col = y.column(k);
                let pos = col.iter().filter(|&&b| b).count();
                if pos == 0 || pos == n {
                    return Err(HeadError::data(format!(
                        "label {k} is {} in every training row: nothing to learn",
                        if pos == 0 { "absent" } else { "present" }
                    )));
                }
                for (i, &b) in col.iter().enumerate() {
                    let cw = match (balanced, b) {
                        (false, _) => 1.0,
                        (true, true) => n as f64 / (2.0 * pos as f64),
                        (true, false) => n as f64 / (2.0 * (n - pos) as f64),
                    };
                    w[i * c + k] = cw * sw(i);
                }
            }
            w
        }
    };
    Ok(out)
}

/// Checks that `x` and `y` describe the same rows.
pub(crate) fn check_rows(x: Rows, y: &Targets) -> Result<(), HeadError> {
    if x.rows != y.rows() {
        return Err(HeadError::shape("target rows", x.rows, y.rows()));
    }
    if x.rows == 0 {
        return Err(HeadError::data("no training rows"));
    }
    Ok(())
}
