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

use crate::EvalError;
use earmark_core::Event;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

const SECS_PER_HOUR: f64 = 3600.0;

/// numpy's `round(x, 6)`: scale, round half to even, unscale.
fn round6(x: f64) -> f64 {
    (x * 1e6).round_ties_even() / 1e6
}

/// `filename` without its last extension (`a.b.wav` → `a.b`), as sed_scores_eval keys recordings.
pub fn recording_id(filename: &str) -> &str {
    match filename.rsplit_once('.') {
        Some((stem, _)) => stem,
        None => filename,
    }
}

/// One recording's scores: `frames` contiguous segments, one score per class.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreTable {
    /// Segment boundaries in seconds: `frames + 1` values, strictly increasing.
    timestamps: Vec<f64>,
    classes: Vec<String>,
    /// `[frames, classes]`, row-major.
    scores: Vec<f64>,
}

impl ScoreTable {
    /// `timestamps`: `frames + 1` strictly increasing boundaries; `scores`: `[frames, classes]`
    /// row-major, finite.
    pub fn new(
        timestamps: Vec<f64>,
        classes: Vec<String>,
        scores: Vec<f64>,
    ) -> Result<Self, EvalError> {
        let invalid = |what: String| Err(EvalError::Invalid { what });
        if classes.is_empty() {
            return invalid("a score table needs at least one class column".into());
        }
        if timestamps.len() < 2 {
            return invalid("a score table needs at least one segment".into());
        }
        let frames = timestamps.len() - 1;
        if scores.len() != frames * classes.len() {
            return Err(EvalError::Shape {
                expected: frames * classes.len(),
                got: scores.len(),
            });
        }
        for (k, w) in timestamps.windows(2).enumerate() {
            if !(w[0].is_finite() && w[1].is_finite() && w[1] > w[0]) {
                return invalid(format!(
                    "segment {} ends at {} but starts at {}: segments must have positive length",
                    k + 1,
                    w[1],
                    w[0]
                ));
            }
        }
        if let Some(i) = scores.iter().position(|s| !s.is_finite()) {
            return invalid(format!(
                "segment {}, class {:?}: score {} is not a finite number",
                i / classes.len() + 1,
                classes[i % classes.len()],
                scores[i]
            ));
        }
        Ok(ScoreTable {
            timestamps,
            classes,
            scores,
        })
    }

    /// Parses sed_scores_eval's score TSV (header `onset<TAB>offset<TAB><class>…`, one segment a
    /// line, each segment starting where the previous ended). Errors name the 1-based line.
    pub fn parse_tsv(text: &str) -> Result<Self, EvalError> {
        let err = |line: usize, what: String| EvalError::Invalid {
            what: format!("line {line}: {what}"),
        };
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
            .filter(|(_, l)| !l.trim().is_empty());
        let (hl, header) = lines.next().ok_or_else(|| {
            err(
                1,
                "empty file: expected a header `onset offset <class>…`".into(),
            )
        })?;
        let cols: Vec<&str> = header.split('\t').map(str::trim).collect();
        if cols.len() < 3 || cols[0] != "onset" || cols[1] != "offset" {
            return Err(err(
                hl,
                format!(
                    "header must be `onset<TAB>offset<TAB><class>…` (tab-separated), got {header:?}"
                ),
            ));
        }
        let classes: Vec<String> = cols[2..].iter().map(|c| c.to_string()).collect();
        if let Some(c) = classes.iter().find(|c| c.is_empty()) {
            return Err(err(hl, format!("empty class name in header ({c:?})")));
        }
        let mut timestamps = Vec::new();
        let mut scores = Vec::new();
        for (ln, l) in lines {
            let f: Vec<&str> = l.split('\t').collect();
            if f.len() != cols.len() {
                return Err(err(
                    ln,
                    format!(
                        "expected {} tab-separated columns, got {}",
                        cols.len(),
                        f.len()
                    ),
                ));
            }
            let num = |k: usize| -> Result<f64, EvalError> {
                f[k].trim().parse::<f64>().map_err(|_| {
                    err(
                        ln,
                        format!("{}: {:?} is not a number", cols[k], f[k].trim()),
                    )
                })
            };
            let (on, off) = (num(0)?, num(1)?);
            if !(on.is_finite() && off.is_finite() && off > on) {
                return Err(err(
                    ln,
                    format!("segment [{on}, {off}] must have a positive length"),
                ));
            }
            match timestamps.last() {
                None => timestamps.push(on),
                Some(&prev) if prev != on => {
                    return Err(err(
                        ln,
                        format!("onset {on} must equal the previous segment's offset {prev}"),
                    ))
                }
                Some(_) => {}
            }
            timestamps.push(off);
            for (k, name) in cols.iter().enumerate().skip(2) {
                let v = num(k)?;
                if !v.is_finite() {
                    return Err(err(ln, format!("{name}: score {v} is not finite")));
                }
                scores.push(v);
            }
        }
        if timestamps.is_empty() {
            return Err(err(hl, "no segments after the header".into()));
        }
        ScoreTable::new(timestamps, classes, scores)
    }

    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    pub fn frames(&self) -> usize {
        self.timestamps.len() - 1
    }

    /// The `frames + 1` segment boundaries.
    pub fn timestamps(&self) -> &[f64] {
        &self.timestamps
    }

    /// Where the last segment ends (the recording's duration when the table covers it).
    pub fn end_secs(&self) -> f64 {
        self.timestamps[self.timestamps.len() - 1]
    }

    /// Class `c`'s scores, one per segment.
    pub fn column(&self, c: usize) -> Vec<f64> {
        self.scores
            .iter()
            .skip(c)
            .step_by(self.classes.len())
            .copied()
            .collect()
    }

    /// The highest score per class (a clip-level score).
    pub fn max_scores(&self) -> Vec<f64> {
        (0..self.classes.len())
            .map(|c| self.column(c).into_iter().fold(f64::NEG_INFINITY, f64::max))
            .collect()
    }

    /// Events of class `c` where the score is strictly above `threshold` (sed_scores_eval's
    /// `scores_to_event_list`), labelled `label` in `file`.
    pub fn events(&self, c: usize, threshold: f64, file: &str, label: &str) -> Vec<Event> {
        let col = self.column(c);
        let mut out = Vec::new();
        let mut start = None;
        for (i, &s) in col
            .iter()
            .chain(std::iter::once(&f64::NEG_INFINITY))
            .enumerate()
        {
            match (s > threshold, start) {
                (true, None) => start = Some(i),
                (false, Some(a)) => {
                    out.push(Event::new(
                        file,
                        self.timestamps[a],
                        self.timestamps[i],
                        label,
                    ));
                    start = None;
                }
                _ => {}
            }
        }
        out
    }
}

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

/// Best F1 of one class's counts; `None` without references (recall undefined).
pub fn best_fscore(st: &ClassStatistics) -> Option<BestFscore> {
    if st.n_ref == 0 {
        return None;
    }
    let n = st.scores.len();
    let (mut best, mut best_f) = (0usize, f64::NEG_INFINITY);
    let mut prf = Vec::with_capacity(n);
    for i in 0..n {
        let (tp, fp) = (st.tps[i], st.fps[i]);
        let p = if tp + fp == 0 {
            1.0
        } else {
            tp as f64 / (tp + fp).max(1) as f64
        };
        let r = tp as f64 / st.n_ref as f64;
        let f = 2.0 * p * r / (p + r).max(1e-15);
        // the last index of the maximum (the highest threshold among equal F1s)
        if f >= best_f {
            best_f = f;
            best = i;
        }
        prf.push((p, r, f));
    }
    let threshold = if best > 0 {
        (st.scores[best] + st.scores[best - 1]) / 2.0
    } else {
        f64::NEG_INFINITY
    };
    Some(BestFscore {
        class: st.class.clone(),
        threshold,
        threshold_at_or_above: if best > 0 { threshold } else { st.scores[0] },
        f1: prf[best].2,
        precision: prf[best].0,
        recall: prf[best].1,
        tps: st.tps[best],
        fps: st.fps[best],
        n_ref: st.n_ref,
    })
}

/// For each distinct score `u` of `col` (descending), the runs of segments with score ≥ `u` as
/// (onset, offset) seconds are passed to `stats`; returns (u, change of the counts) where they
/// change.
fn sweep(
    col: &[f64],
    timestamps: &[f64],
    width: usize,
    mut stats: impl FnMut(&[(f64, f64)]) -> Vec<i64>,
) -> Vec<(f64, Vec<i64>)> {
    let n = col.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| col[b].total_cmp(&col[a]));
    let mut active = vec![false; n];
    let mut start_of_end = vec![0usize; n];
    let mut runs: BTreeMap<usize, usize> = BTreeMap::new();
    let mut prev = vec![0i64; width];
    let mut out = Vec::new();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < n {
        let u = col[order[i]];
        while i < n && col[order[i]] == u {
            let f = order[i];
            let (mut s, mut e) = (f, f);
            if f > 0 && active[f - 1] {
                s = start_of_end[f - 1];
                runs.remove(&s);
            }
            if f + 1 < n && active[f + 1] {
                e = runs.remove(&(f + 1)).unwrap_or(f + 1);
            }
            active[f] = true;
            runs.insert(s, e);
            start_of_end[e] = s;
            i += 1;
        }
        spans.clear();
        spans.extend(
            runs.iter()
                .map(|(&s, &e)| (timestamps[s], timestamps[e + 1])),
        );
        let st = stats(&spans);
        let delta: Vec<i64> = st.iter().zip(&prev).map(|(a, b)| a - b).collect();
        if delta.iter().any(|&d| d != 0) {
            out.push((u, delta));
        }
        prev = st;
    }
    out
}

/// Sums deltas of all recordings: ascending unique scores (+∞ appended) and counts at each.
fn accumulate(mut deltas: Vec<(f64, Vec<i64>)>, width: usize) -> (Vec<f64>, Vec<Vec<i64>>) {
    deltas.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut scores: Vec<f64> = Vec::new();
    let mut rows: Vec<Vec<i64>> = Vec::new();
    let mut acc = vec![0i64; width];
    for (s, d) in deltas {
        for (a, x) in acc.iter_mut().zip(&d) {
            *a += x;
        }
        if scores.last() == Some(&s) {
            *rows.last_mut().expect("a row per score") = acc.clone();
        } else {
            scores.push(s);
            rows.push(acc.clone());
        }
    }
    scores.reverse();
    rows.reverse();
    scores.push(f64::INFINITY);
    rows.push(vec![0; width]);
    (scores, rows)
}

fn intersection(a: (f64, f64), b: (f64, f64)) -> f64 {
    (a.1.min(b.1) - a.0.max(b.0)).max(0.0)
}

/// sed_scores_eval's intersection-based `statistics_fn` for one recording, class `c` and the
/// detected runs: `[tps, fps, cts per other class…]`.
fn intersection_step(
    c: usize,
    runs: &[(f64, f64)],
    truth: &[Vec<(f64, f64)>],
    dtc: f64,
    gtc: f64,
    cttc: Option<f64>,
) -> Vec<i64> {
    let target = &truth[c];
    let is_dtc: Vec<bool> = runs
        .iter()
        .map(|&d| {
            let len = d.1 - d.0;
            let mut total = 0.0;
            for &g in target {
                total += intersection(d, g);
            }
            len > 0.0 && round6(total) >= round6(dtc * len)
        })
        .collect();
    let fps = runs.iter().filter(|d| d.1 > d.0).count() as i64
        - is_dtc.iter().filter(|&&x| x).count() as i64;
    let mut tps = 0i64;
    for &g in target {
        let mut covered = 0.0;
        for (d, &ok) in runs.iter().zip(&is_dtc) {
            if ok {
                covered += intersection(*d, g);
            }
        }
        tps += (round6(covered) >= round6(gtc * (g.1 - g.0))) as i64;
    }
    let mut out = vec![tps, fps];
    if let Some(cttc) = cttc {
        for (_, other) in truth.iter().enumerate().filter(|(o, _)| *o != c) {
            if other.is_empty() {
                out.push(0);
                continue;
            }
            let mut n = 0i64;
            for (&d, &ok) in runs.iter().zip(&is_dtc) {
                let len = d.1 - d.0;
                let mut total = 0.0;
                if !ok {
                    for &g in other {
                        total += intersection(d, g);
                    }
                }
                n += (len > 0.0 && round6(total) >= round6(cttc * len)) as i64;
            }
            out.push(n);
        }
    }
    out
}

/// sed_scores_eval's collar-based `statistics_fn`: `[tps, fps]` with one-to-one matching.
fn collar_step(runs: &[(f64, f64)], target: &[(f64, f64)], o: &CollarOptions) -> Vec<i64> {
    let hits: Vec<Vec<usize>> = runs
        .iter()
        .map(|&(on, off)| {
            (0..target.len())
                .filter(|&g| {
                    let (gon, goff) = target[g];
                    let off_collar = o
                        .offset_collar_secs
                        .max(o.offset_collar_rate * (goff - gon));
                    round6((on - gon).abs() - o.onset_collar_secs) <= 0.0
                        && round6((off - goff).abs() - off_collar) <= 0.0
                })
                .collect()
        })
        .collect();
    let tps = max_matching(&hits, target.len()) as i64;
    vec![tps, runs.len() as i64 - tps]
}

/// Size of a maximum bipartite matching (augmenting paths; the size is unique).
fn max_matching(adj: &[Vec<usize>], n_right: usize) -> usize {
    fn augment(
        u: usize,
        adj: &[Vec<usize>],
        seen: &mut [bool],
        owner: &mut [Option<usize>],
    ) -> bool {
        for &v in &adj[u] {
            if !seen[v] {
                seen[v] = true;
                if owner[v].is_none_or(|w| augment(w, adj, seen, owner)) {
                    owner[v] = Some(u);
                    return true;
                }
            }
        }
        false
    }
    let mut owner = vec![None; n_right];
    let mut size = 0;
    for u in 0..adj.len() {
        if adj[u].is_empty() {
            continue;
        }
        let mut seen = vec![false; n_right];
        size += augment(u, adj, &mut seen, &mut owner) as usize;
    }
    size
}

/// One class's ROC: TPR and eFPR per threshold, sorted, monotone, cut at `max_efpr`
/// (sed_scores_eval's `_single_class_roc_from_intermediate_statistics` + `_unique_cummax_sort`).
fn class_roc(
    st: &ClassStatistics,
    t_ref_other: &[f64],
    dataset_duration: f64,
    p: &ScorePsdsParams,
) -> ClassRoc {
    let n = st.scores.len();
    let tpr: Vec<f64> = st
        .tps
        .iter()
        .map(|&t| t as f64 / st.n_ref.max(1) as f64)
        .collect();
    let efpr: Vec<f64> = (0..n)
        .map(|i| {
            let fp_rate = st.fps[i] as f64 / dataset_duration;
            let e = if p.alpha_ct == 0.0 || st.cts.is_empty() {
                fp_rate
            } else {
                let mut sum = 0.0;
                for (cts, t) in st.cts.iter().zip(t_ref_other) {
                    sum += cts[i] as f64 / t.max(1e-12);
                }
                fp_rate + p.alpha_ct * (sum / st.cts.len() as f64)
            };
            e * SECS_PER_HOUR
        })
        .collect();
    // xsort by (efpr, tpr); keep points where the running max of TPR rises; last per unique eFPR.
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&a, &b| efpr[a].total_cmp(&efpr[b]).then(tpr[a].total_cmp(&tpr[b])));
    let mut kept: Vec<usize> = Vec::new();
    let mut best = f64::NEG_INFINITY;
    for (k, &i) in idx.iter().enumerate() {
        if k == 0 || tpr[i] > best {
            kept.push(i);
        }
        best = best.max(tpr[i]);
    }
    let mut out = ClassRoc {
        class: st.class.clone(),
        tpr: Vec::new(),
        efpr: Vec::new(),
        scores: Vec::new(),
        psds: 0.0,
    };
    for (k, &i) in kept.iter().enumerate() {
        let last_of_x = kept.get(k + 1).is_none_or(|&j| efpr[j] != efpr[i]);
        if last_of_x && efpr[i] <= p.max_efpr {
            out.tpr.push(tpr[i]);
            out.efpr.push(efpr[i]);
            out.scores.push(st.scores[i]);
        }
    }
    out.psds = staircase_auc(&out.tpr, &out.efpr, p.max_efpr) / p.max_efpr;
    out
}

/// The PSD-ROC from the class ROCs: step interpolation on the union of eFPRs, mean − alpha_st·std
/// (population std), floored at 0, extended to `max_efpr`.
fn multi_class_roc(classes: &[ClassRoc], alpha_st: f64, max_efpr: f64) -> (Vec<f64>, Vec<f64>) {
    let mut xs: Vec<f64> = classes
        .iter()
        .flat_map(|c| c.efpr.iter().copied())
        .collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    let n = classes.len() as f64;
    let mut etpr = Vec::with_capacity(xs.len() + 1);
    for &x in &xs {
        let ys: Vec<f64> = classes
            .iter()
            .map(|c| {
                // scipy interp1d(kind='previous', fill_value=(0, tpr[-1]))
                let k = c.efpr.partition_point(|&e| e <= x);
                if k == 0 {
                    0.0
                } else {
                    c.tpr[k - 1]
                }
            })
            .collect();
        let mut sum = 0.0;
        for y in &ys {
            sum += y;
        }
        let mu = sum / n;
        let mut var = 0.0;
        for y in &ys {
            var += (y - mu) * (y - mu);
        }
        let sigma = (var / n).sqrt();
        etpr.push((mu - alpha_st * sigma).max(0.0));
    }
    if let Some(&last) = etpr.last() {
        etpr.push(last);
        xs.push(max_efpr);
    }
    (etpr, xs)
}

/// sed_scores_eval's `staircase_auc(y, x, max_x)`: Σ yᵢ (xᵢ₊₁ − xᵢ) over points with x ≤ max_x,
/// closed at max_x.
fn staircase_auc(y: &[f64], x: &[f64], max_x: f64) -> f64 {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let cut = idx.iter().position(|&i| x[i] > max_x).unwrap_or(idx.len());
    let mut xs: Vec<f64> = idx[..cut].iter().map(|&i| x[i]).collect();
    xs.push(max_x);
    let mut auc = 0.0;
    for (k, &i) in idx[..cut].iter().enumerate() {
        auc += y[i] * (xs[k + 1] - xs[k]);
    }
    auc
}

#[cfg(test)]
mod tests {
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
