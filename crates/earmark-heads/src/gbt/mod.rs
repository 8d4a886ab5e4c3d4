//! Histogram gradient-boosted trees on pooled embeddings, with the defaults and semantics of
//! scikit-learn's `HistGradientBoostingClassifier` (Ke et al. 2017, "LightGBM"; reference code
//! `sklearn/ensemble/_hist_gradient_boosting/`), in pure Rust.
//!
//! * [`bins`]: per-feature quantile thresholds (≤ 255 bins), training data binned once into a
//!   feature-major `u8` matrix;
//! * [`hist`]: gradient/hessian histograms and the best split of a node;
//! * [`grow`]: leaf-wise tree growing with in-place row partitions and the subtraction trick;
//! * [`pass`]: feature-parallel (rayon) histogram building and split finding for a node pair;
//! * [`boost`]: binary log loss, multinomial cross-entropy, early stopping;
//! * [`tree`]: fitted trees as plain serde data ("go left if `x <= threshold`").
//!
//! Multi-label tasks fit one independent binary model per label.
//!
//! ```
//! use earmark_heads::{Classifier, Gbt, GbtOptions, Learner, Rows, Targets};
//!
//! // One informative feature out of two.
//! let x: Vec<f32> = (0..200).flat_map(|i| [(i % 10) as f32, (i % 7) as f32]).collect();
//! let y = Targets::classes((0..200).map(|i| u32::from(i % 10 >= 5)).collect(), 2)?;
//! let gbt = Gbt { options: GbtOptions { max_iter: 10, ..GbtOptions::default() } };
//! let model = gbt.fit(Rows::new(&x, 200, 2)?, &y, None)?;
//! let p = model.predict_proba(Rows::new(&[9.0, 0.0, 0.0, 0.0], 2, 2)?)?;
//! assert!(p[1] > 0.5 && p[3] < 0.5);
//! # Ok::<(), earmark_heads::HeadError>(())
//! ```

pub mod bins;
pub mod boost;
pub mod grow;
pub mod hist;
pub mod pass;
pub mod tree;

use serde::{Deserialize, Serialize};

pub use boost::Ensemble;
pub use tree::{NodeSplit, Tree, TreeNode};

use crate::classifier::{Classifier, Learner, Rows, Targets, Task};
use crate::HeadError;
use boost::Loss;

/// scikit-learn's early stopping on a held-out, stratified fraction of the training rows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EarlyStopping {
    /// Fraction of the training rows held out (scikit-learn: 0.1).
    pub validation_fraction: f64,
    /// Stop when the validation loss has not improved by `tol` over this many iterations (10).
    pub n_iter_no_change: usize,
    /// Minimal improvement (1e-7).
    pub tol: f64,
}

impl Default for EarlyStopping {
    fn default() -> Self {
        EarlyStopping {
            validation_fraction: 0.1,
            n_iter_no_change: 10,
            tol: 1e-7,
        }
    }
}

/// Hyper-parameters; the defaults are scikit-learn's `HistGradientBoostingClassifier`'s
/// (with early stopping off).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GbtOptions {
    pub learning_rate: f64,
    /// Boosting iterations (trees per score column).
    pub max_iter: usize,
    pub max_leaf_nodes: usize,
    /// Edges from the root to the deepest leaf; `None` for no limit.
    pub max_depth: Option<usize>,
    pub min_samples_leaf: usize,
    pub l2_regularization: f64,
    /// Bins per feature, 2 to 255.
    pub max_bins: usize,
    pub min_hessian_to_split: f64,
    /// Fraction of the features each tree may split on (1.0: all); a speed option.
    pub feature_fraction: f64,
    pub early_stopping: Option<EarlyStopping>,
    pub seed: u64,
    /// Multiply sample weights by `n / (k · n_class)` (per label for multi-label tasks).
    pub class_weight_balanced: bool,
}

impl Default for GbtOptions {
    fn default() -> Self {
        GbtOptions {
            learning_rate: 0.1,
            max_iter: 100,
            max_leaf_nodes: 31,
            max_depth: None,
            min_samples_leaf: 20,
            l2_regularization: 0.0,
            max_bins: 255,
            min_hessian_to_split: 1e-3,
            feature_fraction: 1.0,
            early_stopping: None,
            seed: 0,
            class_weight_balanced: false,
        }
    }
}

impl GbtOptions {
    /// Checks every value's range.
    pub fn validate(&self) -> Result<(), HeadError> {
        let bad = |what: String| Err(HeadError::config(what));
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return bad(format!(
                "learning_rate must be > 0, got {}",
                self.learning_rate
            ));
        }
        if self.max_iter == 0 {
            return bad("max_iter must be at least 1".into());
        }
        if self.max_leaf_nodes < 2 {
            return bad(format!(
                "max_leaf_nodes must be at least 2, got {}",
                self.max_leaf_nodes
            ));
        }
        if self.max_depth == Some(0) {
            return bad("max_depth must be at least 1 (or None)".into());
        }
        if self.min_samples_leaf == 0 {
            return bad("min_samples_leaf must be at least 1".into());
        }
        if !(self.l2_regularization.is_finite() && self.l2_regularization >= 0.0) {
            return bad(format!(
                "l2_regularization must be >= 0, got {}",
                self.l2_regularization
            ));
        }
        if !(2..=255).contains(&self.max_bins) {
            return bad(format!(
                "max_bins must be in 2..=255, got {}",
                self.max_bins
            ));
        }
        if !(self.min_hessian_to_split.is_finite() && self.min_hessian_to_split >= 0.0) {
            return bad(format!(
                "min_hessian_to_split must be >= 0, got {}",
                self.min_hessian_to_split
            ));
        }
        if !(self.feature_fraction > 0.0 && self.feature_fraction <= 1.0) {
            return bad(format!(
                "feature_fraction must be in (0, 1], got {}",
                self.feature_fraction
            ));
        }
        if let Some(es) = &self.early_stopping {
            if !(es.validation_fraction > 0.0 && es.validation_fraction < 1.0) {
                return bad(format!(
                    "early_stopping.validation_fraction must be in (0, 1), got {}",
                    es.validation_fraction
                ));
            }
            if es.n_iter_no_change == 0 || !es.tol.is_finite() {
                return bad("early_stopping needs n_iter_no_change >= 1 and a finite tol".into());
            }
        }
        Ok(())
    }
}

/// The learner: fits a [`GbtModel`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Gbt {
    pub options: GbtOptions,
}

/// A fitted model: per score column, a baseline and one tree per iteration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GbtModel {
    pub task: Task,
    pub dim: usize,
    pub options: GbtOptions,
    /// One per score column (1, K or C).
    pub outputs: Vec<Ensemble>,
    /// Validation loss before the first and after each iteration, per binary model (one list
    /// for binary and multi-class, C for multi-label); empty lists without early stopping.
    #[serde(default)]
    pub validation_loss: Vec<Vec<f64>>,
}

impl GbtModel {
    /// Iterations run (the most over the labels of a multi-label model).
    pub fn n_iter(&self) -> usize {
        self.outputs
            .iter()
            .map(|e| e.trees.len())
            .max()
            .unwrap_or(0)
    }

    /// Total split gain per feature over all trees, normalised to sum to 1 (all zeros when no
    /// tree split).
    pub fn feature_importances(&self) -> Vec<f64> {
        let mut imp = vec![0.0; self.dim];
        for node in self
            .outputs
            .iter()
            .flat_map(|e| &e.trees)
            .flat_map(|t| &t.nodes)
        {
            if let Some(s) = &node.split {
                if let Some(v) = imp.get_mut(s.feature) {
                    *v += s.gain.max(0.0);
                }
            }
        }
        let total: f64 = imp.iter().sum();
        if total > 0.0 {
            imp.iter_mut().for_each(|v| *v /= total);
        }
        imp
    }

    /// The model as JSON.
    pub fn to_json(&self) -> Result<String, HeadError> {
        serde_json::to_string(self).map_err(|e| HeadError::data(format!("serialising a GBT: {e}")))
    }

    /// A model from [`GbtModel::to_json`]'s output, checked.
    pub fn from_json(json: &str) -> Result<Self, HeadError> {
        let m: GbtModel = serde_json::from_str(json)
            .map_err(|e| HeadError::data(format!("parsing a GBT model: {e}")))?;
        m.check()?;
        Ok(m)
    }

    /// Checks that the trees fit the task and dimension (prediction then cannot fail).
    pub fn check(&self) -> Result<(), HeadError> {
        if self.outputs.len() != self.task.n_outputs() {
            return Err(HeadError::shape(
                "GBT score columns",
                self.task.n_outputs(),
                self.outputs.len(),
            ));
        }
        for e in &self.outputs {
            if !e.baseline.is_finite() {
                return Err(HeadError::data("a GBT baseline is not finite"));
            }
            for t in &e.trees {
                t.check(self.dim)?;
            }
        }
        Ok(())
    }
}

impl Classifier for GbtModel {
    fn task(&self) -> Task {
        self.task
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn decision_function(&self, x: Rows) -> Result<Vec<f64>, HeadError> {
        if x.dim != self.dim {
            return Err(HeadError::shape("embedding dimension", self.dim, x.dim));
        }
        if x.rows.checked_mul(x.dim) != Some(x.data.len()) {
            return Err(HeadError::shape(
                "embedding matrix",
                x.rows * x.dim,
                x.data.len(),
            ));
        }
        self.check()?;
        let k = self.outputs.len();
        let mut out = vec![0.0; x.rows * k];
        for (i, row) in out.chunks_exact_mut(k).enumerate() {
            let xi = x.row(i);
            for (o, e) in row.iter_mut().zip(&self.outputs) {
                *o = e.predict_row(xi);
            }
        }
        Ok(out)
    }
}

impl Learner for Gbt {
    type Model = GbtModel;

    fn fit(
        &self,
        x: Rows,
        y: &Targets,
        sample_weight: Option<&[f64]>,
    ) -> Result<GbtModel, HeadError> {
        let o = &self.options;
        o.validate()?;
        let x = Rows::new(x.data, x.rows, x.dim)?;
        if x.rows == 0 {
            return Err(HeadError::data("no training rows"));
        }
        if y.rows() != x.rows {
            return Err(HeadError::shape("targets", x.rows, y.rows()));
        }
        let base_w = match sample_weight {
            Some(w) if w.len() != x.rows => {
                return Err(HeadError::shape("sample weights", x.rows, w.len()))
            }
            Some(w) => {
                if let Some(i) = w.iter().position(|v| !(v.is_finite() && *v >= 0.0)) {
                    return Err(HeadError::data(format!("sample weight {i} is {}", w[i])));
                }
                w.to_vec()
            }
            None => vec![1.0; x.rows],
        };
        let (outputs, validation_loss) = match y.task {
            Task::Binary | Task::MultiClass(_) => {
                let k = y.task.n_classes();
                let loss = if k == 2 {
                    Loss::Binary
                } else {
                    Loss::Softmax(k)
                };
                let w = weights(&y.y, k, &base_w, o.class_weight_balanced, "class")?;
                let b = boost::boost(x, &y.y, &w, loss, o)?;
                (b.ensembles, vec![b.validation_loss])
            }
            Task::MultiLabel(c) => {
                let mut outs = Vec::with_capacity(c);
                let mut losses = Vec::with_capacity(c);
                for label in 0..c {
                    let yl: Vec<u32> = y.column(label).into_iter().map(u32::from).collect();
                    let what = format!("label {label}: class");
                    let w = weights(&yl, 2, &base_w, o.class_weight_balanced, &what)?;
                    let mut b = boost::boost(x, &yl, &w, Loss::Binary, o)?;
                    outs.push(b.ensembles.remove(0));
                    losses.push(b.validation_loss);
                }
                (outs, losses)
            }
        };
        Ok(GbtModel {
            task: y.task,
            dim: x.dim,
            options: o.clone(),
            outputs,
            validation_loss,
        })
    }
}

/// Row weights: the given ones, times `n / (k · n_class)` when balanced; every class must have
/// rows of positive weight.
fn weights(
    y: &[u32],
    k: usize,
    base: &[f64],
    balanced: bool,
    what: &str,
) -> Result<Vec<f64>, HeadError> {
    let mut counts = vec![0usize; k];
    let mut mass = vec![0.0f64; k];
    for (&c, &w) in y.iter().zip(base) {
        counts[c as usize] += 1;
        mass[c as usize] += w;
    }
    if let Some(c) = (0..k).find(|&c| mass[c] <= 0.0) {
        return Err(HeadError::data(format!(
            "{what} {c} has no training rows (of positive weight): every class needs examples"
        )));
    }
    let n = y.len() as f64;
    Ok(y.iter()
        .zip(base)
        .map(|(&c, &w)| {
            if balanced {
                w * n / (k as f64 * counts[c as usize] as f64)
            } else {
                w
            }
        })
        .collect())
}
