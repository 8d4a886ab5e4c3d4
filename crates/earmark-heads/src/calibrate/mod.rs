//! Probability calibration with scikit-learn's semantics.
//!
//! * [`Calibrator`] maps raw scores (log-odds from [`Classifier::decision_function`]) of one
//!   column to probabilities: [`Isotonic`] (`IsotonicRegression(out_of_bounds='clip')`) and
//!   [`Sigmoid`] (Platt scaling, `_SigmoidCalibration`);
//! * [`fit_calibrated`] is `CalibratedClassifierCV(estimator, cv=K, method=..., ensemble=True)`
//!   for any [`Learner`]: K stratified folds ([`stratified_kfold`], `StratifiedKFold(K)`
//!   without shuffling), one calibrator per score column fitted on each held-out fold, and the
//!   K calibrated models averaged at prediction time. The out-of-fold probabilities before and
//!   after calibration ([`OutOfFold`]) feed reliability diagrams and threshold choice.
//!
//! Everything fitted is serde-serialisable, so a detector directory can hold it as JSON.
//!
//! [`Classifier::decision_function`]: crate::Classifier::decision_function
//! [`Learner`]: crate::Learner

mod cv;
mod isotonic;
mod sigmoid;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::HeadError;

pub use cv::{fit_calibrated, stratified_kfold, Calibrated, CalibratedFold, OutOfFold};
pub use isotonic::Isotonic;
pub use sigmoid::Sigmoid;

/// A map from one column of raw scores to probabilities, fitted on 0/1 truth.
pub trait Calibrator: Sized {
    /// Fits on `scores` and `truth` (one per row); `sample_weight`, when given, has one
    /// non-negative weight per row.
    fn fit(
        scores: &[f64],
        truth: &[bool],
        sample_weight: Option<&[f64]>,
    ) -> Result<Self, HeadError>;
    /// The calibrated probability of one score.
    fn predict_one(&self, score: f64) -> f64;
    /// The calibrated probabilities of many scores.
    fn predict(&self, scores: &[f64]) -> Vec<f64> {
        scores.iter().map(|&s| self.predict_one(s)).collect()
    }
}

/// Checks lengths, finiteness and weights before a calibrator is fitted.
pub(crate) fn check_fit_input(
    scores: &[f64],
    truth: &[bool],
    sample_weight: Option<&[f64]>,
) -> Result<(), HeadError> {
    if scores.len() != truth.len() {
        return Err(HeadError::shape(
            "calibration truth",
            format!("{} values (one per score)", scores.len()),
            truth.len(),
        ));
    }
    if scores.is_empty() {
        return Err(HeadError::data("calibration needs at least one score"));
    }
    if let Some(i) = scores.iter().position(|s| !s.is_finite()) {
        return Err(HeadError::data(format!(
            "calibration score {i} is {} (not finite)",
            scores[i]
        )));
    }
    if let Some(w) = sample_weight {
        check_weights(w, scores.len())?;
    }
    Ok(())
}

/// One finite, non-negative weight per row.
pub(crate) fn check_weights(w: &[f64], rows: usize) -> Result<(), HeadError> {
    if w.len() != rows {
        return Err(HeadError::shape(
            "sample weights",
            format!("{rows} values (one per row)"),
            w.len(),
        ));
    }
    if let Some(i) = w.iter().position(|v| !(v.is_finite() && *v >= 0.0)) {
        return Err(HeadError::data(format!(
            "sample weight {i} is {} (must be finite and >= 0)",
            w[i]
        )));
    }
    Ok(())
}

/// Which calibration to apply on top of a classifier's scores.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Calibration {
    /// The classifier's own probabilities, one model fitted on all rows.
    #[default]
    None,
    /// Platt scaling ([`Sigmoid`]).
    Sigmoid,
    /// Isotonic regression ([`Isotonic`]).
    Isotonic,
}

impl Calibration {
    /// The serde / command-line name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Calibration::None => "none",
            Calibration::Sigmoid => "sigmoid",
            Calibration::Isotonic => "isotonic",
        }
    }
}

impl fmt::Display for Calibration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Calibration {
    type Err = HeadError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(Calibration::None),
            "sigmoid" => Ok(Calibration::Sigmoid),
            "isotonic" => Ok(Calibration::Isotonic),
            other => Err(HeadError::config(format!(
                "unknown calibration {other:?}: use none, sigmoid or isotonic"
            ))),
        }
    }
}

/// A fitted calibrator of either kind, as stored in a [`Calibrated`] model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "lowercase")]
pub enum FittedCalibrator {
    Sigmoid(Sigmoid),
    Isotonic(Isotonic),
}

impl FittedCalibrator {
    /// Fits the calibrator `method` names; `None` for [`Calibration::None`].
    pub fn fit(
        method: Calibration,
        scores: &[f64],
        truth: &[bool],
        sample_weight: Option<&[f64]>,
    ) -> Result<Option<Self>, HeadError> {
        Ok(match method {
            Calibration::None => None,
            Calibration::Sigmoid => Some(FittedCalibrator::Sigmoid(Sigmoid::fit(
                scores,
                truth,
                sample_weight,
            )?)),
            Calibration::Isotonic => Some(FittedCalibrator::Isotonic(Isotonic::fit(
                scores,
                truth,
                sample_weight,
            )?)),
        })
    }

    /// The calibrated probability of one score.
    pub fn predict_one(&self, score: f64) -> f64 {
        match self {
            FittedCalibrator::Sigmoid(c) => c.predict_one(score),
            FittedCalibrator::Isotonic(c) => c.predict_one(score),
        }
    }
}
