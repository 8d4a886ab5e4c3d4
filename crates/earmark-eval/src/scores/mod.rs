//! Threshold-free evaluation from score tables, as sed_scores_eval 0.0.4 computes it (Ebbers,
//! Serizel, Haeb-Umbach, "Threshold-independent evaluation of sound event detection scores",
//! ICASSP 2022; reference code `sed_scores_eval/intersection_based/psds.py`,
//! `base_modules/statistics.py`, `collar_based/intermediate_statistics.py`).
//!
//! A [`ScoreTable`] is one recording's scores: contiguous segments `[onset, offset)` with one score
//! per class (sed_scores_eval's TSV: `onset offset <class1> <class2> …`). Every distinct score is an
//! operating point: thresholding just below it, events are the runs of segments whose score is at or
//! above it. For each class the counts (true positives, false positives, cross-triggers) are found
//! per recording at each of its distinct scores, turned into changes ("deltas") and summed over
//! recordings in score order, which gives the counts at every threshold of the whole set exactly.
//!
//! * [`ScoreSet::psds`]: the intersection-based PSDS (DCASE definition: dtc, gtc, cttc, alpha_ct,
//!   alpha_st, max_efpr; eFPR per hour), its PSD-ROC and the per-class values;
//! * [`ScoreSet::best_fscores`]: per class the collar-based event F1 (onset collar, offset collar
//!   `max(collar, rate × reference length)`, one-to-one matching) at the best threshold, as
//!   sed_scores_eval's `collar_based.best_fscore`.
//!
//! Times are compared after rounding to 6 decimals as sed_scores_eval does (`time_decimals=6`).

mod stats;
mod table;

pub use stats::best_fscore;
pub use table::{recording_id, ScoreTable};

use crate::EvalError;
use earmark_core::Event;
use serde::{Deserialize, Serialize};
use stats::{
    accumulate, class_roc, collar_step, intersection_step, multi_class_roc, staircase_auc, sweep,
};

pub(super) const SECS_PER_HOUR: f64 = 3600.0;

/// Intersection-based PSDS parameters (sed_scores_eval's `intersection_based.psds`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScorePsdsParams {
    pub dtc_threshold: f64,
    pub gtc_threshold: f64,
    /// `None` when cross-triggers are not counted (required when `alpha_ct` is 0).
    pub cttc_threshold: Option<f64>,
    pub alpha_ct: f64,
    pub alpha_st: f64,
    /// Per hour.
    pub max_efpr: f64,
}

impl ScorePsdsParams {
    /// DCASE 2023+ task 4 scenario 1: dtc 0.7, gtc 0.7, no cross-triggers, alpha_st 1, 100/h.
    pub fn scenario1() -> Self {
        ScorePsdsParams {
            dtc_threshold: 0.7,
            gtc_threshold: 0.7,
            cttc_threshold: None,
            alpha_ct: 0.0,
            alpha_st: 1.0,
            max_efpr: 100.0,
        }
    }

    /// DCASE 2023+ task 4 scenario 2: dtc 0.1, gtc 0.1, cttc 0.3, alpha_ct 0.5, alpha_st 1, 100/h.
    pub fn scenario2() -> Self {
        ScorePsdsParams {
            dtc_threshold: 0.1,
            gtc_threshold: 0.1,
            cttc_threshold: Some(0.3),
            alpha_ct: 0.5,
            alpha_st: 1.0,
            max_efpr: 100.0,
        }
    }

    /// Checks the ranges and the cttc / alpha_ct pairing sed_scores_eval insists on.
    pub fn validate(&self) -> Result<(), EvalError> {
        let bad = |what: String| Err(EvalError::Invalid { what });
        for (n, v) in [
            ("dtc_threshold", Some(self.dtc_threshold)),
            ("gtc_threshold", Some(self.gtc_threshold)),
            ("cttc_threshold", self.cttc_threshold),
        ] {
            if let Some(v) = v {
                if !(0.0..=1.0).contains(&v) {
                    return bad(format!("{n} must be between 0 and 1, got {v}"));
                }
            }
        }
        if self.alpha_ct == 0.0 && self.cttc_threshold.is_some() {
            return bad("cttc_threshold is given but alpha_ct is 0 (cross-triggers unused)".into());
        }
        if self.alpha_ct != 0.0 && self.cttc_threshold.is_none() {
            return bad("alpha_ct is not 0 but no cttc_threshold is given".into());
        }
        if !(0.0..=1.0).contains(&self.alpha_ct) {
            return bad(format!(
                "alpha_ct must be between 0 and 1, got {}",
                self.alpha_ct
            ));
        }
        if self.alpha_st.is_nan() || self.alpha_st < 0.0 {
            return bad(format!("alpha_st can't be negative, got {}", self.alpha_st));
        }
        if !(self.max_efpr > 0.0 && self.max_efpr.is_finite()) {
            return bad(format!("max_efpr must be positive, got {}", self.max_efpr));
        }
        Ok(())
    }
}

/// Collar-based matching (sed_scores_eval's `collar_based`): DCASE's 0.2 s collars by default.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CollarOptions {
    pub onset_collar_secs: f64,
    pub offset_collar_secs: f64,
    /// The offset collar is `max(offset_collar_secs, rate × reference length)`.
    pub offset_collar_rate: f64,
}

impl Default for CollarOptions {
    fn default() -> Self {
        CollarOptions {
            onset_collar_secs: 0.2,
            offset_collar_secs: 0.2,
            offset_collar_rate: 0.2,
        }
    }
}

/// One class's counts at every operating point over the whole set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassStatistics {
    pub class: String,
    /// Ascending change-point scores, ending with +∞ (nothing detected); counts at index `i` are
    /// those of thresholding just below `scores[i]`.
    pub scores: Vec<f64>,
    pub tps: Vec<i64>,
    pub fps: Vec<i64>,
    /// Per other class (in class order, this class left out): cross-triggers. Empty when not counted.
    pub cts: Vec<Vec<i64>>,
    /// Reference events of this class and their total duration (seconds).
    pub n_ref: usize,
    pub t_ref: f64,
}

/// One class's PSD-ROC: TPR against eFPR (per hour), with the scores the threshold falls below.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassRoc {
    pub class: String,
    pub tpr: Vec<f64>,
    pub efpr: Vec<f64>,
    pub scores: Vec<f64>,
    pub psds: f64,
}

/// A threshold-free PSDS with its curves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScorePsds {
    pub params: ScorePsdsParams,
    pub value: f64,
    /// The PSD-ROC: effective TPR against eFPR, ending with the point at `max_efpr`.
    pub etpr: Vec<f64>,
    pub efpr: Vec<f64>,
    pub classes: Vec<ClassRoc>,
}

/// A class's best collar-based F1 over all thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BestFscore {
    pub class: String,
    /// sed_scores_eval's threshold: midway between the change-point score reached and the next
    /// lower one (events where score > threshold); −∞ when detecting everything is best.
    pub threshold: f64,
    /// A finite threshold with the same counts for a "score ≥ value" rule.
    pub threshold_at_or_above: f64,
    pub f1: f64,
    pub precision: f64,
    pub recall: f64,
    pub tps: i64,
    pub fps: i64,
    pub n_ref: usize,
}

/// Per-recording reference spans of each class.
#[derive(Debug, Clone)]
struct Recording {
    id: String,
    table: ScoreTable,
    duration_secs: f64,
    /// `[class] -> (onset, offset)` in truth-file order.
    truth: Vec<Vec<(f64, f64)>>,
}

/// Score tables of a set of recordings with their reference events and durations.
#[derive(Debug, Clone)]
pub struct ScoreSet {
    classes: Vec<String>,
    recordings: Vec<Recording>,
    n_ref: Vec<usize>,
    t_ref: Vec<f64>,
    ignored_truth: usize,
}

impl ScoreSet {
    /// `recordings`: (recording id, table, duration in seconds); all tables must have the same
    /// class columns. `truth` events are matched by [`recording_id`] of their file; events of
    /// recordings without a table are left out (counted in [`ScoreSet::ignored_truth_events`]).
    pub fn new(
        recordings: Vec<(String, ScoreTable, f64)>,
        truth: &[Event],
    ) -> Result<Self, EvalError> {
        let Some((_, first, _)) = recordings.first() else {
            return Err(EvalError::Invalid {
                what: "no score tables to evaluate".into(),
            });
        };
        let classes = first.classes.clone();
        let mut recs: Vec<Recording> = Vec::with_capacity(recordings.len());
        for (id, table, duration_secs) in recordings {
            if table.classes != classes {
                return Err(EvalError::Invalid {
                    what: format!(
                        "{id}: score columns {:?} differ from {:?} of the other tables",
                        table.classes, classes
                    ),
                });
            }
            if !(duration_secs > 0.0 && duration_secs.is_finite()) {
                return Err(EvalError::Invalid {
                    what: format!("{id}: duration {duration_secs} must be positive"),
                });
            }
            if recs.iter().any(|r| r.id == id) {
                return Err(EvalError::Invalid {
                    what: format!("{id}: two score tables for one recording"),
                });
            }
            recs.push(Recording {
                id,
                table,
                duration_secs,
                truth: vec![Vec::new(); classes.len()],
            });
        }
        let mut n_ref = vec![0usize; classes.len()];
        let mut t_ref = vec![0.0f64; classes.len()];
        let mut ignored_truth = 0;
        for e in truth {
            let id = recording_id(&e.file);
            let Some(r) = recs.iter_mut().find(|r| r.id == id) else {
                ignored_truth += 1;
                continue;
            };
            let c = classes.iter().position(|c| *c == e.label).ok_or_else(|| {
                EvalError::UnknownLabel {
                    label: e.label.clone(),
                }
            })?;
            r.truth[c].push((e.onset, e.offset));
            n_ref[c] += 1;
            t_ref[c] += e.offset - e.onset;
        }
        // sed_scores_eval refuses overlapping or touching references of one class.
        for r in &recs {
            for (c, spans) in r.truth.iter().enumerate() {
                let mut s = spans.clone();
                s.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
                for w in s.windows(2) {
                    if w[1].0 <= w[0].1 {
                        return Err(EvalError::Invalid {
                            what: format!(
                                "{}: {} references [{}, {}] and [{}, {}] overlap or touch; merge \
                                 them (sed_scores_eval refuses connected events)",
                                r.id, classes[c], w[0].0, w[0].1, w[1].0, w[1].1
                            ),
                        });
                    }
                }
            }
        }
        Ok(ScoreSet {
            classes,
            recordings: recs,
            n_ref,
            t_ref,
            ignored_truth,
        })
    }

    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// Recording ids, in the given order.
    pub fn ids(&self) -> Vec<&str> {
        self.recordings.iter().map(|r| r.id.as_str()).collect()
    }

    /// Reference events of recordings without a score table (left out of every number).
    pub fn ignored_truth_events(&self) -> usize {
        self.ignored_truth
    }

    /// Reference events per class.
    pub fn n_ref(&self) -> &[usize] {
        &self.n_ref
    }

    /// Sum of the recordings' durations in seconds.
    pub fn total_duration_secs(&self) -> f64 {
        self.recordings.iter().map(|r| r.duration_secs).sum()
    }

    /// Per recording (in order): the highest score per class.
    pub fn max_scores(&self) -> Vec<(&str, Vec<f64>)> {
        self.recordings
            .iter()
            .map(|r| (r.id.as_str(), r.table.max_scores()))
            .collect()
    }

    /// Whether recording `id` has a reference event of class `c`.
    pub fn has_truth(&self, id: &str, c: usize) -> bool {
        self.recordings
            .iter()
            .any(|r| r.id == id && !r.truth[c].is_empty())
    }

    /// Accumulates per-recording deltas of `step(class, runs, recording)` into per-class counts.
    fn statistics(
        &self,
        width: usize,
        step: impl Fn(usize, &[(f64, f64)], &Recording) -> Vec<i64>,
    ) -> Vec<(Vec<f64>, Vec<Vec<i64>>)> {
        (0..self.classes.len())
            .map(|c| {
                let mut deltas: Vec<(f64, Vec<i64>)> = Vec::new();
                for r in &self.recordings {
                    let col = r.table.column(c);
                    deltas.extend(sweep(&col, &r.table.timestamps, width, |runs| {
                        step(c, runs, r)
                    }));
                }
                accumulate(deltas, width)
            })
            .collect()
    }

    /// Intersection-based counts per class at every threshold (sed_scores_eval's
    /// `intersection_based.accumulated_intermediate_statistics`).
    pub fn intersection_statistics(
        &self,
        dtc_threshold: f64,
        gtc_threshold: f64,
        cttc_threshold: Option<f64>,
    ) -> Vec<ClassStatistics> {
        let k = self.classes.len();
        let n_ct = if cttc_threshold.is_some() { k - 1 } else { 0 };
        let stats = self.statistics(2 + n_ct, |c, runs, r| {
            intersection_step(
                c,
                runs,
                &r.truth,
                dtc_threshold,
                gtc_threshold,
                cttc_threshold,
            )
        });
        self.class_statistics(stats, n_ct)
    }

    /// Collar-based counts per class at every threshold.
    pub fn collar_statistics(&self, opts: &CollarOptions) -> Vec<ClassStatistics> {
        let stats = self.statistics(2, |c, runs, r| collar_step(runs, &r.truth[c], opts));
        self.class_statistics(stats, 0)
    }

    fn class_statistics(
        &self,
        stats: Vec<(Vec<f64>, Vec<Vec<i64>>)>,
        n_ct: usize,
    ) -> Vec<ClassStatistics> {
        stats
            .into_iter()
            .enumerate()
            .map(|(c, (scores, rows))| ClassStatistics {
                class: self.classes[c].clone(),
                tps: rows.iter().map(|r| r[0]).collect(),
                fps: rows.iter().map(|r| r[1]).collect(),
                cts: (0..n_ct)
                    .map(|o| rows.iter().map(|r| r[2 + o]).collect())
                    .collect(),
                scores,
                n_ref: self.n_ref[c],
                t_ref: self.t_ref[c],
            })
            .collect()
    }

    /// The intersection-based PSDS from the scores (sed_scores_eval's `intersection_based.psds`
    /// with `unit_of_time='hour'`).
    pub fn psds(&self, params: &ScorePsdsParams) -> Result<ScorePsds, EvalError> {
        params.validate()?;
        let stats = self.intersection_statistics(
            params.dtc_threshold,
            params.gtc_threshold,
            params.cttc_threshold,
        );
        let dataset_duration = self.total_duration_secs();
        let classes: Vec<ClassRoc> = stats
            .iter()
            .enumerate()
            .map(|(c, st)| {
                let t_ref_other: Vec<f64> = (0..self.classes.len())
                    .filter(|&o| o != c)
                    .map(|o| self.t_ref[o])
                    .collect();
                class_roc(st, &t_ref_other, dataset_duration, params)
            })
            .collect();
        let (etpr, efpr) = multi_class_roc(&classes, params.alpha_st, params.max_efpr);
        let value = staircase_auc(&etpr, &efpr, params.max_efpr) / params.max_efpr;
        Ok(ScorePsds {
            params: *params,
            value,
            etpr,
            efpr,
            classes,
        })
    }

    /// Per class, the collar-based event F1 at its best threshold (sed_scores_eval's
    /// `collar_based.best_fscore`, beta 1); `None` for classes without reference events.
    pub fn best_fscores(&self, opts: &CollarOptions) -> Vec<Option<BestFscore>> {
        self.collar_statistics(opts)
            .iter()
            .map(best_fscore)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::stats::max_matching;
    use super::*;

    fn table(scores: &[f64], dt: f64) -> ScoreTable {
        let ts = (0..=scores.len()).map(|i| i as f64 * dt).collect();
        ScoreTable::new(ts, vec!["a".into()], scores.to_vec()).unwrap()
    }

    #[test]
    fn runs_at_every_distinct_score() {
        // sed_scores_eval's onset_offset_curves doctest: y = [.4, 1, .6, .6, 1, 1, .4], 0.2 s cells
        let t = table(&[0.4, 1.0, 0.6, 0.6, 1.0, 1.0, 0.4], 0.2);
        let mut seen = Vec::new();
        sweep(&t.column(0), t.timestamps(), 1, |runs| {
            seen.push(runs.to_vec());
            vec![runs.len() as i64]
        });
        let close = |a: &[(f64, f64)], b: &[(f64, f64)]| {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|(x, y)| (x.0 - y.0).abs() < 1e-12 && (x.1 - y.1).abs() < 1e-12)
        };
        assert!(close(&seen[0], &[(0.2, 0.4), (0.8, 1.2)]));
        assert!(close(&seen[1], &[(0.2, 1.2)]));
        assert!(close(&seen[2], &[(0.0, 1.4)]));
    }

    #[test]
    fn parse_names_the_line() {
        let e = ScoreTable::parse_tsv("onset\toffset\ta\n0\t0.1\t0.5\n0.1\t0.2\tx\n").unwrap_err();
        assert!(e.to_string().contains("line 3"), "{e}");
        let e =
            ScoreTable::parse_tsv("onset\toffset\ta\n0\t0.1\t0.5\n0.2\t0.3\t0.1\n").unwrap_err();
        assert!(
            e.to_string().contains("line 3") && e.to_string().contains("previous"),
            "{e}"
        );
        let t = ScoreTable::parse_tsv("onset\toffset\ta\tb\n0\t0.1\t0.5\t1\n0.1\t0.2\t0.7\t0\n")
            .unwrap();
        assert_eq!(t.max_scores(), vec![0.7, 1.0]);
        assert_eq!(
            t.events(0, 0.6, "f", "a"),
            vec![Event::new("f", 0.1, 0.2, "a")]
        );
    }

    #[test]
    fn staircase_auc_doctests() {
        assert_eq!(
            staircase_auc(&[0., 1., 2., 3.], &[0., 1., 2., 3.], 2.5),
            2.0
        );
        assert_eq!(
            staircase_auc(&[0., 1., 2., 3.], &[0., 1., 2., 3.], 10.),
            24.0
        );
    }

    #[test]
    fn max_matching_resolves_shared_candidates() {
        // det 0 hits gt 0 and 1, det 1 hits gt 0 only: 2 matches
        assert_eq!(max_matching(&[vec![0, 1], vec![0]], 2), 2);
        assert_eq!(max_matching(&[vec![0], vec![0]], 1), 1);
    }
}
