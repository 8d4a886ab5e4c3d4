//! The seam between classifiers on pooled embeddings (gradient-boosted trees, logistic and MLP
//! probes) and what wraps them (calibration, cross-validation, detector bundles).
//!
//! Conventions follow scikit-learn so that numbers can be compared:
//! * a [`Task`] is binary (one score column, `predict_proba` has two columns), multi-class (K score
//!   columns, softmax) or multi-label (C independent one-vs-rest columns, sigmoid each);
//! * [`Classifier::decision_function`] returns raw scores (log-odds), row-major `[rows, outputs]`;
//! * [`raw_proba`] turns them into `[rows, classes]` probabilities the way `predict_proba` does.

use serde::{Deserialize, Serialize};

use crate::HeadError;

/// What is being predicted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Two classes, ids 0 and 1; one score column (the log-odds of class 1).
    Binary,
    /// K ≥ 3 mutually exclusive classes; K score columns.
    MultiClass(usize),
    /// C labels, any subset of which may be present; C independent score columns.
    MultiLabel(usize),
}

impl Task {
    /// Columns of [`Classifier::decision_function`]: 1, K or C.
    pub fn n_outputs(&self) -> usize {
        match *self {
            Task::Binary => 1,
            Task::MultiClass(k) => k,
            Task::MultiLabel(c) => c,
        }
    }

    /// Columns of the probabilities (`predict_proba`): 2, K or C.
    pub fn n_classes(&self) -> usize {
        match *self {
            Task::Binary => 2,
            Task::MultiClass(k) => k,
            Task::MultiLabel(c) => c,
        }
    }
}

/// A row-major matrix of embeddings, borrowed: `data.len() == rows * dim`.
#[derive(Clone, Copy, Debug)]
pub struct Rows<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub dim: usize,
}

impl<'a> Rows<'a> {
    /// Checks the length and that every value is finite (trees and probes have no use for NaN).
    pub fn new(data: &'a [f32], rows: usize, dim: usize) -> Result<Self, HeadError> {
        if rows.checked_mul(dim) != Some(data.len()) {
            return Err(HeadError::shape(
                "embedding matrix",
                format!("{rows} rows x {dim} = {} values", rows * dim),
                data.len(),
            ));
        }
        if dim == 0 {
            return Err(HeadError::data("embeddings have dimension 0"));
        }
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            return Err(HeadError::data(format!(
                "embedding row {}, column {} is {} (not finite)",
                i / dim,
                i % dim,
                data[i]
            )));
        }
        Ok(Rows { data, rows, dim })
    }

    /// Row `i` as a slice.
    pub fn row(&self, i: usize) -> &'a [f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// A copy of the selected rows, in the given order.
    pub fn select(&self, idx: &[usize]) -> Vec<f32> {
        let mut out = Vec::with_capacity(idx.len() * self.dim);
        for &i in idx {
            out.extend_from_slice(self.row(i));
        }
        out
    }
}

/// Training targets, one entry per row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Targets {
    pub task: Task,
    /// Binary / multi-class: the class id of each row (`< n_classes`).
    /// Multi-label: `rows * C` values, row-major, 0 or 1.
    pub y: Vec<u32>,
}

impl Targets {
    /// Class ids, one per row: binary when exactly two classes (0 and 1), multi-class otherwise.
    pub fn classes(y: Vec<u32>, n_classes: usize) -> Result<Self, HeadError> {
        if n_classes < 2 {
            return Err(HeadError::data(format!(
                "need at least two classes, got {n_classes}"
            )));
        }
        if let Some((i, v)) = y.iter().enumerate().find(|(_, &v)| v as usize >= n_classes) {
            return Err(HeadError::data(format!(
                "row {i}: class id {v} is not below the number of classes {n_classes}"
            )));
        }
        let task = if n_classes == 2 {
            Task::Binary
        } else {
            Task::MultiClass(n_classes)
        };
        Ok(Targets { task, y })
    }

    /// Multi-label 0/1 matrix `[rows, n_labels]`, row-major.
    pub fn multi_label(y: Vec<u32>, n_labels: usize) -> Result<Self, HeadError> {
        if n_labels == 0 || !y.len().is_multiple_of(n_labels) {
            return Err(HeadError::shape(
                "multi-label targets",
                format!("a multiple of {n_labels} values"),
                y.len(),
            ));
        }
        if let Some(i) = y.iter().position(|&v| v > 1) {
            return Err(HeadError::data(format!(
                "multi-label target row {}, label {} is {} (must be 0 or 1)",
                i / n_labels,
                i % n_labels,
                y[i]
            )));
        }
        Ok(Targets {
            task: Task::MultiLabel(n_labels),
            y,
        })
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        match self.task {
            Task::MultiLabel(c) => self.y.len() / c,
            _ => self.y.len(),
        }
    }

    /// The 0/1 truth of score column `k` for every row: binary → `y == 1`; multi-class → `y == k`
    /// (one-vs-rest); multi-label → label `k`.
    pub fn column(&self, k: usize) -> Vec<bool> {
        match self.task {
            Task::Binary => self.y.iter().map(|&v| v == 1).collect(),
            Task::MultiClass(_) => self.y.iter().map(|&v| v as usize == k).collect(),
            Task::MultiLabel(c) => (0..self.rows()).map(|i| self.y[i * c + k] == 1).collect(),
        }
    }

    /// The targets of the selected rows, in the given order.
    pub fn select(&self, idx: &[usize]) -> Targets {
        let y = match self.task {
            Task::MultiLabel(c) => idx
                .iter()
                .flat_map(|&i| self.y[i * c..(i + 1) * c].iter().copied())
                .collect(),
            _ => idx.iter().map(|&i| self.y[i]).collect(),
        };
        Targets { task: self.task, y }
    }

    /// A label per row for stratified splitting: the class id, or for multi-label the index of
    /// the first present label (C when none), which keeps rare labels spread over folds.
    pub fn strata(&self) -> Vec<u32> {
        match self.task {
            Task::MultiLabel(c) => (0..self.rows())
                .map(|i| (0..c).find(|&k| self.y[i * c + k] == 1).unwrap_or(c) as u32)
                .collect(),
            _ => self.y.clone(),
        }
    }
}

/// A fitted classifier on pooled embeddings.
pub trait Classifier: Send + Sync {
    /// What it predicts.
    fn task(&self) -> Task;
    /// The embedding dimension it was fitted on.
    fn dim(&self) -> usize;
    /// Raw scores (log-odds), row-major `[rows, task.n_outputs()]`.
    fn decision_function(&self, x: Rows) -> Result<Vec<f64>, HeadError>;
    /// Uncalibrated probabilities `[rows, task.n_classes()]`.
    fn predict_proba(&self, x: Rows) -> Result<Vec<f64>, HeadError> {
        Ok(raw_proba(self.task(), &self.decision_function(x)?))
    }
}

/// Fits a [`Classifier`]; the hyper-parameters live in the implementor.
pub trait Learner: Send + Sync {
    type Model: Classifier;
    /// Fit on `x` and `y`; `sample_weight`, when given, has one weight per row.
    fn fit(
        &self,
        x: Rows,
        y: &Targets,
        sample_weight: Option<&[f64]>,
    ) -> Result<Self::Model, HeadError>;
}

/// `predict_proba` from raw scores: binary `[1 − σ(s), σ(s)]`, multi-class softmax per row,
/// multi-label σ per column.
pub fn raw_proba(task: Task, scores: &[f64]) -> Vec<f64> {
    match task {
        Task::Binary => scores
            .iter()
            .flat_map(|&s| {
                let p = sigmoid(s);
                [1.0 - p, p]
            })
            .collect(),
        Task::MultiLabel(_) => scores.iter().map(|&s| sigmoid(s)).collect(),
        Task::MultiClass(k) => {
            let mut out = Vec::with_capacity(scores.len());
            for row in scores.chunks_exact(k) {
                let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = row.iter().map(|&s| (s - m).exp()).collect();
                let z: f64 = e.iter().sum();
                out.extend(e.iter().map(|v| v / z));
            }
            out
        }
    }
}

/// The logistic function, stable for large |x|.
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}
