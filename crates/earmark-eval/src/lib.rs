//! earmark's metrics, pure (no file I/O): the definitions exactly as the reference libraries compute
//! them, so numbers can be compared with published DCASE results.
//!
//! * [`sed`]: sed_eval's segment-based and event-based metrics (F, precision, recall, error rate with
//!   substitutions, deletions, insertions; class-wise and class-wise average);
//! * [`psds`]: the polyphonic sound detection score as psds_eval computes it from operating points;
//! * [`clip`]: clip-level ROC curve, ROC-AUC and average precision as scikit-learn computes them,
//!   and precision/recall/F1 at a threshold;
//! * [`boundary`]: onset and offset errors of matched events on positive clips, and whether the
//!   frame score peaks inside the true event;
//! * [`bootstrap`]: percentile bootstrap intervals over clips;
//! * [`scores`]: threshold-free PSDS (intersection-based) and per-class best collar-based F1
//!   from score tables, as sed_scores_eval computes them;
//! * [`calibration`]: Brier score, reliability curve (uniform or quantile bins) and expected
//!   calibration error, as scikit-learn computes them.
//!
//! ```
//! use earmark_core::{Event, LabelSet};
//! use earmark_eval::{EventBasedMetrics, EventBasedOptions};
//!
//! let reference = vec![Event::new("a.wav", 1.0, 2.0, "cough"), Event::new("a.wav", 5.0, 5.3, "cough")];
//! let estimated = vec![Event::new("a.wav", 1.1, 2.1, "cough"), Event::new("a.wav", 7.0, 7.2, "cough")];
//! let mut m = EventBasedMetrics::new(LabelSet::new(["cough"]), EventBasedOptions::default()).unwrap();
//! m.evaluate(&reference, &estimated); // one call per file
//! let r = m.results();
//! assert_eq!(r.overall.f_measure.f_measure, 0.5);
//! assert_eq!(m.overall_counts().ntp, 1.0);
//! ```

pub mod bootstrap;
pub mod boundary;
pub mod calibration;
pub mod clip;
pub mod psds;
pub mod scores;
pub mod sed;

pub use bootstrap::{bootstrap, BootstrapOptions, Interval};
pub use boundary::{boundary_errors, peak_inside, BoundaryErrors, ErrorSummary, PeakCheck};
pub use calibration::{
    brier_score, calibration_curve, expected_calibration_error, BinStrategy, CalibrationCurve,
};
pub use clip::{
    average_precision, averaged, per_class, precision_recall_curve, prf_at_threshold, roc_auc,
    roc_curve, Average, ClipPrf, PrCurve, RocCurve,
};
pub use psds::{OperatingPoint, PsdRoc, Psds, PsdsEval, PsdsParams};
pub use scores::{
    best_fscore, recording_id, BestFscore, ClassRoc, ClassStatistics, CollarOptions, ScorePsds,
    ScorePsdsParams, ScoreSet, ScoreTable,
};
pub use sed::{
    matched_pairs, EventBasedMetrics, EventBasedOptions, Matching, SedResults, SegmentBasedMetrics,
};

/// What went wrong, split by remedy.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// An event's label is not one of the classes being evaluated.
    #[error("label {label:?} is not in the evaluated label set")]
    UnknownLabel { label: String },
    /// A parameter or input is out of its domain.
    #[error("invalid input: {what}")]
    Invalid { what: String },
    /// Arrays that must match in length do not.
    #[error("shape mismatch: expected {expected}, got {got}")]
    Shape { expected: usize, got: usize },
    /// The metric is undefined for these inputs (e.g. ROC-AUC with one class only).
    #[error("undefined: {what}")]
    Undefined { what: String },
}
