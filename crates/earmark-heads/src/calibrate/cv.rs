//! Cross-validated calibration, as scikit-learn's `CalibratedClassifierCV(estimator, cv=K,
//! method=..., ensemble=True)` (`sklearn/calibration.py`: `_fit_classifier_calibrator_pair`,
//! `_fit_calibrator`, `_CalibratedClassifier.predict_proba`) with folds from
//! `StratifiedKFold(n_splits=K, shuffle=False)` (`sklearn/model_selection/_split.py`,
//! `_make_test_folds`).

use serde::{Deserialize, Serialize};

use super::{check_weights, Calibration, FittedCalibrator};
use crate::classifier::{raw_proba, Classifier, Learner, Rows, Targets, Task};
use crate::HeadError;

/// The test fold (`0..n_splits`) of every row, exactly as scikit-learn's
/// `StratifiedKFold(n_splits, shuffle=False)` assigns it for labels `strata`.
///
/// Classes are numbered by first appearance; the per-fold count of each class comes from dealing
/// the class-sorted labels round-robin over the folds; within a class, rows (in order) fill
/// fold 0 first, then fold 1, and so on. Errors when `n_splits < 2`, when there are fewer rows
/// than folds, or when every class has fewer rows than folds (scikit-learn only warns when some
/// do).
pub fn stratified_kfold(strata: &[u32], n_splits: usize) -> Result<Vec<usize>, HeadError> {
    if n_splits < 2 {
        return Err(HeadError::config(format!(
            "cross-validation needs at least 2 folds, got {n_splits}"
        )));
    }
    if strata.len() < n_splits {
        return Err(HeadError::data(format!(
            "cannot split {} rows into {n_splits} folds",
            strata.len()
        )));
    }
    // Class codes by order of first appearance.
    let mut seen: Vec<u32> = Vec::new();
    let codes: Vec<usize> = strata
        .iter()
        .map(|s| match seen.iter().position(|v| v == s) {
            Some(c) => c,
            None => {
                seen.push(*s);
                seen.len() - 1
            }
        })
        .collect();
    let mut counts = vec![0usize; seen.len()];
    for &c in &codes {
        counts[c] += 1;
    }
    if counts.iter().all(|&n| n < n_splits) {
        return Err(HeadError::data(format!(
            "{n_splits} folds is more than the rows of every class (largest class: {} rows)",
            counts.iter().max().copied().unwrap_or(0)
        )));
    }
    // Class c occupies positions [start, start + counts[c]) of the class-sorted labels; fold i
    // receives the positions p with p % n_splits == i.
    let mut start = 0;
    let mut next_fold: Vec<Vec<usize>> = Vec::with_capacity(counts.len());
    for &n in &counts {
        let mut folds = Vec::with_capacity(n);
        for i in 0..n_splits {
            let first = start + (i + n_splits - start % n_splits) % n_splits;
            let alloc = if first < start + n {
                (start + n - first).div_ceil(n_splits)
            } else {
                0
            };
            folds.extend(std::iter::repeat_n(i, alloc));
        }
        next_fold.push(folds);
        start += n;
    }
    let mut taken = vec![0usize; counts.len()];
    Ok(codes
        .iter()
        .map(|&c| {
            let f = next_fold[c][taken[c]];
            taken[c] += 1;
            f
        })
        .collect())
}

/// The held-out predictions for every training row: which fold held it out, and that fold
/// model's probabilities before (`raw_proba`) and after (`calibrated_proba`) calibration, both
/// `[rows, task.n_classes()]` row-major — the data of a reliability diagram and of threshold
/// choice.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutOfFold {
    pub fold: Vec<usize>,
    pub raw_proba: Vec<f64>,
    pub calibrated_proba: Vec<f64>,
}

/// One fold's classifier and its calibrators (one per score column; none without calibration).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CalibratedFold<M> {
    pub model: M,
    pub calibrators: Vec<FittedCalibrator>,
}

/// A calibrated classifier: the average of its folds' calibrated probabilities.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Calibrated<M> {
    pub task: Task,
    pub method: Calibration,
    pub folds: Vec<CalibratedFold<M>>,
    /// Held-out predictions on the training rows; `None` without calibration (no folds).
    pub out_of_fold: Option<OutOfFold>,
}

/// Probabilities `[rows, n_classes]` from one fold's scores `[rows, n_outputs]`.
fn fold_proba(task: Task, calibrators: &[FittedCalibrator], scores: &[f64]) -> Vec<f64> {
    if calibrators.is_empty() {
        return raw_proba(task, scores);
    }
    let n_out = task.n_outputs();
    let mut out = Vec::with_capacity(scores.len() / n_out * task.n_classes());
    for row in scores.chunks_exact(n_out) {
        match task {
            Task::Binary => {
                let p = calibrators[0].predict_one(row[0]);
                out.extend([1.0 - p, p]);
            }
            Task::MultiLabel(_) => {
                out.extend(row.iter().zip(calibrators).map(|(&s, c)| c.predict_one(s)));
            }
            Task::MultiClass(k) => {
                let p: Vec<f64> = row
                    .iter()
                    .zip(calibrators)
                    .map(|(&s, c)| c.predict_one(s))
                    .collect();
                let z: f64 = p.iter().sum();
                if z != 0.0 {
                    out.extend(p.iter().map(|v| v / z));
                } else {
                    out.extend(std::iter::repeat_n(1.0 / k as f64, k));
                }
            }
        }
    }
    // Values a rounding error above 1 are set to 1, as scikit-learn does.
    for v in &mut out {
        if *v > 1.0 && *v <= 1.0 + 1e-5 {
            *v = 1.0;
        }
    }
    out
}

fn scores_of<M: Classifier>(model: &M, x: Rows) -> Result<Vec<f64>, HeadError> {
    let s = model.decision_function(x)?;
    let want = x.rows * model.task().n_outputs();
    if s.len() != want {
        return Err(HeadError::shape("decision_function output", want, s.len()));
    }
    Ok(s)
}

/// Fits `learner` with calibration, as `CalibratedClassifierCV(learner, cv, method,
/// ensemble=True)`: `cv` stratified folds (on [`Targets::strata`]); for each, the learner fitted on
/// the other folds, its scores on the held-out fold, and one calibrator per score column fitted
/// on them (with the held-out rows' weights). With [`Calibration::None`], one model is fitted
/// on all rows and `cv` is ignored.
///
/// Errors when `cv < 2`, when a class (multi-label: a label's positives) has fewer rows than
/// folds, when `y` or `sample_weight` do not match the rows of `x`, and whatever the learner
/// returns.
pub fn fit_calibrated<L: Learner>(
    learner: &L,
    x: Rows,
    y: &Targets,
    sample_weight: Option<&[f64]>,
    method: Calibration,
    cv: usize,
) -> Result<Calibrated<L::Model>, HeadError> {
    if y.rows() != x.rows {
        return Err(HeadError::shape(
            "targets",
            format!("{} rows (one per embedding row)", x.rows),
            y.rows(),
        ));
    }
    if let Some(w) = sample_weight {
        check_weights(w, x.rows)?;
    }
    let task = y.task;
    let check_task = |m: &L::Model| {
        if m.task() != task {
            return Err(HeadError::config(format!(
                "the learner fitted a {:?} model for {:?} targets",
                m.task(),
                task
            )));
        }
        Ok(())
    };
    if method == Calibration::None {
        let model = learner.fit(x, y, sample_weight)?;
        check_task(&model)?;
        return Ok(Calibrated {
            task,
            method,
            folds: vec![CalibratedFold {
                model,
                calibrators: Vec::new(),
            }],
            out_of_fold: None,
        });
    }
    if cv < 2 {
        return Err(HeadError::config(format!(
            "calibration needs at least 2 cross-validation folds, got {cv}"
        )));
    }
    let n_out = task.n_outputs();
    for k in 0..task.n_classes() {
        let (what, n) = match task {
            Task::MultiLabel(_) => ("label", y.column(k).iter().filter(|&&b| b).count()),
            _ => ("class", y.y.iter().filter(|&&v| v as usize == k).count()),
        };
        let rows = if what == "label" {
            "positive rows"
        } else {
            "rows"
        };
        if n < cv {
            return Err(HeadError::data(format!(
                "{what} {k} has {n} {rows}, fewer than the {cv} calibration folds: \
                 add examples or lower the number of folds"
            )));
        }
    }

    let fold_of = stratified_kfold(&y.strata(), cv)?;
    let n_classes = task.n_classes();
    let mut oof = OutOfFold {
        fold: fold_of.clone(),
        raw_proba: vec![0.0; x.rows * n_classes],
        calibrated_proba: vec![0.0; x.rows * n_classes],
    };
    let mut folds = Vec::with_capacity(cv);
    for f in 0..cv {
        let (test, train): (Vec<usize>, Vec<usize>) = (0..x.rows).partition(|&i| fold_of[i] == f);
        let pick = |idx: &[usize]| sample_weight.map(|w| idx.iter().map(|&i| w[i]).collect());
        let (w_train, w_test): (Option<Vec<f64>>, Option<Vec<f64>>) = (pick(&train), pick(&test));
        let x_train = x.select(&train);
        let x_test = x.select(&test);
        let model = learner.fit(
            Rows::new(&x_train, train.len(), x.dim)?,
            &y.select(&train),
            w_train.as_deref(),
        )?;
        check_task(&model)?;
        let scores = scores_of(&model, Rows::new(&x_test, test.len(), x.dim)?)?;
        let y_test = y.select(&test);
        let mut calibrators = Vec::with_capacity(n_out);
        for k in 0..n_out {
            let col: Vec<f64> = scores.iter().skip(k).step_by(n_out).copied().collect();
            let c = FittedCalibrator::fit(method, &col, &y_test.column(k), w_test.as_deref())?
                .ok_or_else(|| HeadError::config("calibration method none has no calibrator"))?;
            calibrators.push(c);
        }
        let raw = raw_proba(task, &scores);
        let cal = fold_proba(task, &calibrators, &scores);
        for (j, &i) in test.iter().enumerate() {
            let (dst, src) = (
                i * n_classes..(i + 1) * n_classes,
                j * n_classes..(j + 1) * n_classes,
            );
            oof.raw_proba[dst.clone()].copy_from_slice(&raw[src.clone()]);
            oof.calibrated_proba[dst].copy_from_slice(&cal[src]);
        }
        folds.push(CalibratedFold { model, calibrators });
    }
    Ok(Calibrated {
        task,
        method,
        folds,
        out_of_fold: Some(oof),
    })
}

impl<M: Classifier> Calibrated<M> {
    /// Calibrated probabilities `[rows, task.n_classes()]`: the mean over the fold models.
    pub fn predict_proba(&self, x: Rows) -> Result<Vec<f64>, HeadError> {
        let first = self
            .folds
            .first()
            .ok_or_else(|| HeadError::data("calibrated model has no fitted folds"))?;
        if x.dim != first.model.dim() {
            return Err(HeadError::shape(
                "embedding dimension",
                first.model.dim(),
                x.dim,
            ));
        }
        let mut mean = vec![0.0; x.rows * self.task.n_classes()];
        for fold in &self.folds {
            let p = fold_proba(self.task, &fold.calibrators, &scores_of(&fold.model, x)?);
            for (m, v) in mean.iter_mut().zip(p) {
                *m += v;
            }
        }
        let k = self.folds.len() as f64;
        mean.iter_mut().for_each(|m| *m /= k);
        Ok(mean)
    }
}

/// Log-odds are clamped to ±`MAX_LOGIT` so that probabilities of exactly 0 or 1 stay finite.
const MAX_LOGIT: f64 = 40.0;

fn clamped_ln(v: f64) -> f64 {
    v.ln().clamp(-MAX_LOGIT, MAX_LOGIT)
}

/// A calibrated model is a classifier too: `predict_proba` is the calibrated one, and
/// `decision_function` gives matching log-odds (binary and multi-label: `ln p − ln(1 − p)`;
/// multi-class: `ln p`, whose softmax is `p`), each clamped to ±40.
impl<M: Classifier> Classifier for Calibrated<M> {
    fn task(&self) -> Task {
        self.task
    }

    fn dim(&self) -> usize {
        self.folds.first().map_or(0, |f| f.model.dim())
    }

    fn decision_function(&self, x: Rows) -> Result<Vec<f64>, HeadError> {
        let p = self.predict_proba(x)?;
        Ok(match self.task {
            Task::Binary => p
                .chunks_exact(2)
                .map(|r| (clamped_ln(r[1]) - clamped_ln(r[0])).clamp(-MAX_LOGIT, MAX_LOGIT))
                .collect(),
            Task::MultiLabel(_) => p
                .iter()
                .map(|&v| (clamped_ln(v) - clamped_ln(1.0 - v)).clamp(-MAX_LOGIT, MAX_LOGIT))
                .collect(),
            Task::MultiClass(_) => p.iter().map(|&v| clamped_ln(v)).collect(),
        })
    }

    fn predict_proba(&self, x: Rows) -> Result<Vec<f64>, HeadError> {
        Calibrated::predict_proba(self, x)
    }
}
