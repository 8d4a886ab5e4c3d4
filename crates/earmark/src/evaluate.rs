//! `earmark eval`: predicted events against reference events (DCASE/DESED strong TSVs), and
//! optionally a folder of score tables (sed_scores_eval's `<recording id>.tsv`), with the metrics of
//! `earmark-eval`: clip-level, segment-based (1 s), event-based (collars), boundary errors, and
//! from the scores a threshold-free PSDS and per-class best thresholds. This module does the file
//! work (reading the tables, the durations file, the score folder; writing JSON and a detector's
//! thresholds, atomically); the numbers come from `earmark_eval`.

use crate::annotations::{read_events, AnnotationFileError, Format};
use crate::atomic::write_atomic;
use earmark_core::{Event, EventList, LabelSet};
use earmark_eval::boundary::ErrorSummary;
use earmark_eval::{
    average_precision, boundary_errors, prf_at_threshold, recording_id, roc_auc, EvalError,
    EventBasedMetrics, EventBasedOptions, SedResults, SegmentBasedMetrics,
};
pub use earmark_eval::{
    BestFscore, CollarOptions, ScorePsds, ScorePsdsParams, ScoreSet, ScoreTable,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What went wrong, split by remedy.
#[derive(Debug, thiserror::Error)]
pub enum EvaluateError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Annotations(#[from] AnnotationFileError),
    /// A table that earmark reads (durations, detector.json) is malformed.
    #[error("{path}: {reason}")]
    Parse { path: PathBuf, reason: String },
    #[error(transparent)]
    Metric(#[from] EvalError),
    #[error("{path} is not an earmark detector: {reason}")]
    NotADetector { path: PathBuf, reason: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> EvaluateError + '_ {
    move |source| EvaluateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The inputs of one evaluation.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    pub pred: PathBuf,
    pub truth: PathBuf,
    /// `filename<TAB>duration` (with a header line `filename`, `duration`).
    pub durations: Option<PathBuf>,
    /// A folder of score tables, `<recording id>.tsv`.
    pub scores: Option<PathBuf>,
    /// Named PSDS parameter sets computed from the scores.
    pub psds: Vec<(String, ScorePsdsParams)>,
    /// Matching for the per-class best thresholds from the scores.
    pub collar: CollarOptions,
    /// Event-based metrics and boundary errors.
    pub events: EventBasedOptions,
    /// Segment length of the segment-based metrics, seconds.
    pub segment_secs: f64,
}

impl EvalOptions {
    pub fn new(pred: PathBuf, truth: PathBuf) -> Self {
        EvalOptions {
            pred,
            truth,
            durations: None,
            scores: None,
            psds: vec![
                ("psds1".into(), ScorePsdsParams::scenario1()),
                ("psds2".into(), ScorePsdsParams::scenario2()),
            ],
            collar: CollarOptions::default(),
            events: EventBasedOptions::default(),
            segment_secs: 1.0,
        }
    }
}

/// Precision, recall and F1 with their counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prf {
    pub tp: usize,
    pub fp: usize,
    #[serde(rename = "fn")]
    pub fn_: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

/// Clip-level figures of one class: a file is positive when it has an event of the class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClipClass {
    pub class: String,
    /// Files with a reference event of the class.
    pub positives: usize,
    pub prf: Prf,
    /// From each file's highest score of the class (score tables only; `None` when undefined).
    pub roc_auc: Option<f64>,
    pub average_precision: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClipReport {
    /// Counts summed over classes.
    pub micro: Prf,
    /// Unweighted means over classes.
    pub macro_precision: f64,
    pub macro_recall: f64,
    pub macro_f1: f64,
    pub macro_roc_auc: Option<f64>,
    pub macro_average_precision: Option<f64>,
    pub class_wise: Vec<ClipClass>,
}

/// Boundary errors without the raw lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoundarySummary {
    pub positive_files: usize,
    pub reference_events: usize,
    pub matched: usize,
    pub onset: Option<ErrorSummary>,
    pub offset: Option<ErrorSummary>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoundaryReport {
    pub overall: BoundarySummary,
    pub class_wise: BTreeMap<String, BoundarySummary>,
}

/// One named PSDS from the scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedPsds {
    pub name: String,
    pub psds: ScorePsds,
}

/// A score table that could not be used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedFile {
    pub file: String,
    pub reason: String,
}

/// What the score tables gave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoresReport {
    pub dir: String,
    pub classes: Vec<String>,
    /// Recordings evaluated (tables that parsed).
    pub recordings: usize,
    pub failed: Vec<FailedFile>,
    /// Where the PSDS durations came from.
    pub durations_source: String,
    pub psds: Vec<NamedPsds>,
    /// How the thresholds were chosen.
    pub thresholds_method: String,
    /// Per class (classes with reference events), the best threshold.
    pub thresholds: Vec<BestFscore>,
    /// Reference events of recordings without a usable table (left out of PSDS and thresholds).
    pub ignored_truth_events: usize,
    /// Why PSDS and thresholds are missing, when they are.
    pub error: Option<String>,
}

/// Everything `earmark eval` computes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    pub pred: String,
    pub truth: String,
    pub classes: Vec<String>,
    /// Files evaluated, in order.
    pub files: Vec<String>,
    /// Where file durations came from.
    pub durations_source: String,
    pub clip: ClipReport,
    pub segment_secs: f64,
    pub segment_based: SedResults,
    pub event_options: EventBasedOptions,
    pub event_based: SedResults,
    pub boundary: BoundaryReport,
    pub scores: Option<ScoresReport>,
    pub notes: Vec<String>,
}

const THRESHOLDS_METHOD: &str = "sed_scores_eval collar_based.best_fscore: per class the \
    threshold of the best event-based F1 (onset collar 0.2 s, offset collar max(0.2 s, 0.2 × \
    reference length), one-to-one matching), midway between neighbouring change-point scores";

/// File names listed in a strong-label TSV's first column (rows without events included).
fn listed_files(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (k, l) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let f = l.split('\t').next().unwrap_or("").trim();
        if (k == 0 && f.eq_ignore_ascii_case("filename")) || f.is_empty() {
            continue;
        }
        if !out.iter().any(|o| o == f) {
            out.push(f.to_string());
        }
    }
    out
}

/// Reads DESED's durations TSV: `filename<TAB>duration`, header optional.
pub fn read_durations(path: &Path) -> Result<Vec<(String, f64)>, EvaluateError> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    let mut out = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let l = l.trim_end_matches('\r');
        if l.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = l.split('\t').collect();
        if out.is_empty() && cols[0].trim().eq_ignore_ascii_case("filename") {
            continue;
        }
        let bad = |reason: String| EvaluateError::Parse {
            path: path.to_path_buf(),
            reason: format!("line {}: {reason}", i + 1),
        };
        if cols.len() != 2 {
            return Err(bad(format!(
                "expected `filename<TAB>duration`, got {} columns",
                cols.len()
            )));
        }
        let d: f64 = cols[1]
            .trim()
            .parse()
            .map_err(|_| bad(format!("duration {:?} is not a number", cols[1].trim())))?;
        if !(d > 0.0 && d.is_finite()) {
            return Err(bad(format!("duration {d} must be positive")));
        }
        out.push((cols[0].trim().to_string(), d));
    }
    Ok(out)
}

/// Parsed score tables keyed by recording id, and the tables that failed.
pub type ScoreDir = (Vec<(String, ScoreTable)>, Vec<FailedFile>);

fn tsv_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            tsv_files(&p, out)?;
        } else if p.extension().is_some_and(|x| x == "tsv") {
            out.push(p);
        }
    }
    Ok(())
}

/// Reads every `*.tsv` under `dir`, sub-folders included (as `earmark scan --scores` writes
/// recordings of sub-folders), sorted: parsed tables keyed by recording id (the path relative to
/// `dir` without `.tsv`, `/`-separated, matching a truth filename `sub/name.wav`), and the files
/// that failed (named, with the line).
pub fn read_score_dir(dir: &Path) -> Result<ScoreDir, EvaluateError> {
    let mut names: Vec<PathBuf> = Vec::new();
    tsv_files(dir, &mut names).map_err(io(dir))?;
    names.sort();
    let (mut ok, mut failed) = (Vec::new(), Vec::new());
    let mut classes: Option<(Vec<String>, String)> = None;
    for p in names {
        let rel = p.strip_prefix(dir).unwrap_or(&p).with_extension("");
        let id = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        let parsed = std::fs::read_to_string(&p)
            .map_err(|e| e.to_string())
            .and_then(|t| ScoreTable::parse_tsv(&t).map_err(|e| e.to_string()));
        let fail = |reason: String| FailedFile {
            file: p.display().to_string(),
            reason,
        };
        match parsed {
            Err(reason) => failed.push(fail(reason)),
            Ok(t) => match &classes {
                Some((c, first)) if c.as_slice() != t.classes() => failed.push(fail(format!(
                    "line 1: columns {:?} differ from {:?} of {first}",
                    t.classes(),
                    c
                ))),
                _ => {
                    if classes.is_none() {
                        classes = Some((t.classes().to_vec(), p.display().to_string()));
                    }
                    ok.push((id, t));
                }
            },
        }
    }
    Ok((ok, failed))
}

fn prf(tp: usize, fp: usize, fn_: usize) -> Prf {
    let div = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    Prf {
        tp,
        fp,
        fn_,
        precision: div(tp, tp + fp),
        recall: div(tp, tp + fn_),
        f1: div(2 * tp, 2 * tp + fp + fn_),
    }
}

fn summary(b: &earmark_eval::BoundaryErrors) -> BoundarySummary {
    BoundarySummary {
        positive_files: b.positive_files,
        reference_events: b.reference_events,
        matched: b.matched,
        onset: b.onset,
        offset: b.offset,
    }
}

fn mean_some(v: &[Option<f64>]) -> Option<f64> {
    let s: Vec<f64> = v.iter().flatten().copied().collect();
    (!s.is_empty() && s.len() == v.len()).then(|| s.iter().sum::<f64>() / s.len() as f64)
}

/// Runs the whole evaluation. Score tables that fail to parse are listed in
/// `report.scores.failed`; the rest is still evaluated.
pub fn evaluate(opts: &EvalOptions) -> Result<EvalReport, EvaluateError> {
    let truth = read_events(&opts.truth, Format::DcaseTsv, "")?;
    let pred = read_events(&opts.pred, Format::DcaseTsv, "")?;
    let truth_text = std::fs::read_to_string(&opts.truth).map_err(io(&opts.truth))?;
    let pred_text = std::fs::read_to_string(&opts.pred).map_err(io(&opts.pred))?;
    let durations = match &opts.durations {
        Some(p) => Some(read_durations(p)?),
        None => None,
    };
    let scores = match &opts.scores {
        Some(dir) => Some(read_score_dir(dir)?),
        None => None,
    };
    let mut notes = Vec::new();

    // The files: the durations file's (when given), then any other file named in truth or pred,
    // then recordings that only have a score table.
    let mut files: Vec<String> = durations.iter().flatten().map(|(f, _)| f.clone()).collect();
    let n_listed = files.len();
    for f in listed_files(&truth_text)
        .into_iter()
        .chain(listed_files(&pred_text))
    {
        if !files.contains(&f) {
            files.push(f);
        }
    }
    if durations.is_some() && files.len() > n_listed {
        notes.push(format!(
            "{} file(s) of the event tables are not in the durations file; their duration is \
             their largest event offset",
            files.len() - n_listed
        ));
    }
    if let Some((tables, _)) = &scores {
        for (id, _) in tables {
            if !files.iter().any(|f| recording_id(f) == id) {
                files.push(id.clone());
            }
        }
    }
    let duration_of = |f: &str| -> Option<f64> {
        durations
            .iter()
            .flatten()
            .find(|(g, _)| g == f)
            .map(|(_, d)| *d)
    };
    let durations_source = match &opts.durations {
        Some(p) => format!("durations file {}", p.display()),
        None => "no --durations: a file's duration is the largest offset of its reference or \
                 predicted events"
            .to_string(),
    };

    // Classes: every label of truth, pred and score columns, sorted.
    let mut classes: Vec<String> = truth
        .iter()
        .chain(pred.iter())
        .map(|e| e.label.clone())
        .collect();
    if let Some((tables, _)) = &scores {
        if let Some((_, t)) = tables.first() {
            classes.extend(t.classes().iter().cloned());
        }
    }
    classes.sort();
    classes.dedup();
    let labels = LabelSet::new(classes.iter().cloned());

    let by_file = |list: &EventList, f: &str| -> Vec<Event> {
        list.iter().filter(|e| e.file == f).cloned().collect()
    };
    let mut seg = SegmentBasedMetrics::new(labels.clone(), opts.segment_secs)?;
    let mut evt = EventBasedMetrics::new(labels.clone(), opts.events)?;
    let k = classes.len();
    let mut y_true = vec![vec![false; files.len()]; k];
    let mut y_pred = vec![vec![false; files.len()]; k];
    for (i, f) in files.iter().enumerate() {
        let r = by_file(&truth, f);
        let s = by_file(&pred, f);
        seg.evaluate(&r, &s, duration_of(f))?;
        evt.evaluate(&r, &s);
        for e in &r {
            if let Some(c) = labels.index_of(&e.label) {
                y_true[c][i] = true;
            }
        }
        for e in &s {
            if let Some(c) = labels.index_of(&e.label) {
                y_pred[c][i] = true;
            }
        }
    }

    // Clip level, with ranking metrics from the score tables' maxima.
    let mut class_wise = Vec::with_capacity(k);
    let (mut tp, mut fp, mut fn_) = (0, 0, 0);
    let table_max: Vec<(String, Vec<f64>)> = scores
        .iter()
        .flat_map(|(t, _)| t.iter().map(|(id, t)| (id.clone(), t.max_scores())))
        .collect();
    let score_classes: Vec<String> = scores
        .as_ref()
        .and_then(|(t, _)| t.first().map(|(_, t)| t.classes().to_vec()))
        .unwrap_or_default();
    for (c, name) in classes.iter().enumerate() {
        let bin: Vec<f64> = y_pred[c].iter().map(|&b| b as u8 as f64).collect();
        let p = prf_at_threshold(&y_true[c], &bin, 0.5)?;
        tp += p.tp;
        fp += p.fp;
        fn_ += p.fn_;
        let (mut auc, mut ap) = (None, None);
        if let Some(sc) = score_classes.iter().position(|s| s == name) {
            let (yt, ys): (Vec<bool>, Vec<f64>) = table_max
                .iter()
                .map(|(id, m)| {
                    let pos = files
                        .iter()
                        .position(|f| recording_id(f) == id || f == id)
                        .is_some_and(|i| y_true[c][i]);
                    (pos, m[sc])
                })
                .unzip();
            auc = roc_auc(&yt, &ys).ok();
            ap = average_precision(&yt, &ys).ok();
        }
        class_wise.push(ClipClass {
            class: name.clone(),
            positives: y_true[c].iter().filter(|&&b| b).count(),
            prf: prf(p.tp, p.fp, p.fn_),
            roc_auc: auc,
            average_precision: ap,
        });
    }
    let mean = |f: &dyn Fn(&ClipClass) -> f64| {
        class_wise.iter().map(f).sum::<f64>() / class_wise.len().max(1) as f64
    };
    let clip = ClipReport {
        micro: prf(tp, fp, fn_),
        macro_precision: mean(&|c| c.prf.precision),
        macro_recall: mean(&|c| c.prf.recall),
        macro_f1: mean(&|c| c.prf.f1),
        macro_roc_auc: if scores.is_some() {
            mean_some(&class_wise.iter().map(|c| c.roc_auc).collect::<Vec<_>>())
        } else {
            None
        },
        macro_average_precision: if scores.is_some() {
            mean_some(
                &class_wise
                    .iter()
                    .map(|c| c.average_precision)
                    .collect::<Vec<_>>(),
            )
        } else {
            None
        },
        class_wise: class_wise.clone(),
    };
    if scores.is_some() && class_wise.iter().any(|c| c.roc_auc.is_none()) {
        notes.push(
            "clip ROC-AUC/AP are undefined for classes without scores or without both positive \
             and negative files"
                .into(),
        );
    }

    let boundary = BoundaryReport {
        overall: summary(&boundary_errors(
            truth.as_slice(),
            pred.as_slice(),
            &opts.events,
        )),
        class_wise: classes
            .iter()
            .map(|c| {
                let r = truth.for_label(c);
                let s = pred.for_label(c);
                (
                    c.clone(),
                    summary(&boundary_errors(r.as_slice(), s.as_slice(), &opts.events)),
                )
            })
            .collect(),
    };

    let scores_report = match (scores, &opts.scores) {
        (Some((tables, failed)), Some(dir)) => Some(score_report(
            dir,
            tables,
            failed,
            &truth,
            durations.as_deref(),
            opts,
        )),
        _ => None,
    };

    Ok(EvalReport {
        pred: opts.pred.display().to_string(),
        truth: opts.truth.display().to_string(),
        classes,
        files,
        durations_source,
        clip,
        segment_secs: opts.segment_secs,
        segment_based: seg.results(),
        event_options: opts.events,
        event_based: evt.results(),
        boundary,
        scores: scores_report,
        notes,
    })
}

fn score_report(
    dir: &Path,
    tables: Vec<(String, ScoreTable)>,
    failed: Vec<FailedFile>,
    truth: &EventList,
    durations: Option<&[(String, f64)]>,
    opts: &EvalOptions,
) -> ScoresReport {
    let mut report = ScoresReport {
        dir: dir.display().to_string(),
        classes: tables
            .first()
            .map(|(_, t)| t.classes().to_vec())
            .unwrap_or_default(),
        recordings: tables.len(),
        failed,
        durations_source: String::new(),
        psds: Vec::new(),
        thresholds_method: THRESHOLDS_METHOD.to_string(),
        thresholds: Vec::new(),
        ignored_truth_events: 0,
        error: None,
    };
    let mut from_table = 0;
    let recs: Vec<(String, ScoreTable, f64)> = tables
        .into_iter()
        .map(|(id, t)| {
            let d = durations
                .and_then(|ds| ds.iter().find(|(f, _)| recording_id(f) == id || *f == id))
                .map(|(_, d)| *d)
                .unwrap_or_else(|| {
                    from_table += 1;
                    t.end_secs()
                });
            (id, t, d)
        })
        .collect();
    report.durations_source = match (durations.is_some(), from_table) {
        (true, 0) => "durations file".into(),
        (_, n) => format!("{n} recording(s) not in a durations file: the end of their score table"),
    };
    let set = match ScoreSet::new(recs, truth.as_slice()) {
        Ok(s) => s,
        Err(e) => {
            report.error = Some(e.to_string());
            return report;
        }
    };
    report.ignored_truth_events = set.ignored_truth_events();
    for (name, p) in &opts.psds {
        match set.psds(p) {
            Ok(psds) => report.psds.push(NamedPsds {
                name: name.clone(),
                psds,
            }),
            Err(e) => {
                report.error = Some(format!("{name}: {e}"));
            }
        }
    }
    report.thresholds = set
        .best_fscores(&opts.collar)
        .into_iter()
        .flatten()
        .collect();
    report
}

/// Writes `report` as pretty JSON, atomically (non-finite numbers become `null`).
pub fn write_report(path: &Path, report: &EvalReport) -> Result<(), EvaluateError> {
    let bytes = serde_json::to_vec_pretty(report).map_err(|e| EvaluateError::Parse {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    write_atomic(path, &bytes).map_err(io(path))
}

/// What [`write_thresholds`] did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ThresholdsWritten {
    pub written: Vec<String>,
    /// (class, why not).
    pub skipped: Vec<(String, String)>,
}

/// Replaces the `thresholds` entries of `detector_dir/detector.json` for the classes of
/// `thresholds` that the detector has (all other content kept as is), atomically. Refuses a file
/// without `"format": "earmark-detector"`.
pub fn write_thresholds(
    detector_dir: &Path,
    thresholds: &[BestFscore],
) -> Result<ThresholdsWritten, EvaluateError> {
    let path = detector_dir.join("detector.json");
    let not = |reason: String| EvaluateError::NotADetector {
        path: detector_dir.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| not(format!("detector.json: {e}")))?;
    let mut v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| not(format!("detector.json: {e}")))?;
    if v.get("format").and_then(|f| f.as_str()) != Some(crate::detector::FORMAT) {
        return Err(not(format!(
            "detector.json has no \"format\": \"{}\"",
            crate::detector::FORMAT
        )));
    }
    let known: Option<Vec<String>> = v.get("classes").and_then(|c| c.as_array()).map(|a| {
        a.iter()
            .filter_map(|x| x.as_str().map(String::from))
            .collect()
    });
    let obj = v
        .as_object_mut()
        .ok_or_else(|| not("detector.json is not an object".into()))?;
    let map = obj
        .entry("thresholds")
        .or_insert_with(|| serde_json::json!({}))
        .as_object_mut()
        .ok_or_else(|| not("\"thresholds\" is not an object".into()))?;
    let mut out = ThresholdsWritten::default();
    for t in thresholds {
        if known.as_ref().is_some_and(|k| !k.contains(&t.class)) {
            out.skipped
                .push((t.class.clone(), "not one of the detector's classes".into()));
            continue;
        }
        if !(t.f1 > 0.0 && t.threshold_at_or_above.is_finite()) {
            out.skipped
                .push((t.class.clone(), "no threshold gives an F1 above 0".into()));
            continue;
        }
        map.insert(
            t.class.clone(),
            serde_json::json!({
                "value": t.threshold_at_or_above,
                "rule": "best-f1",
                "precision": t.precision,
                "recall": t.recall,
                "f1": t.f1,
                "target_met": true,
            }),
        );
        out.written.push(t.class.clone());
    }
    let bytes = serde_json::to_vec_pretty(&v).map_err(|e| not(e.to_string()))?;
    write_atomic(&path, &bytes).map_err(io(&path))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_files_keeps_rows_without_events() {
        let t =
            "filename\tonset\toffset\tevent_label\na.wav\t1\t2\tx\nb.wav\t\t\t\na.wav\t3\t4\ty\n";
        assert_eq!(listed_files(t), vec!["a.wav", "b.wav"]);
    }

    #[test]
    fn thresholds_refuse_other_json_and_keep_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("detector.json");
        std::fs::write(&p, r#"{"format": "something"}"#).unwrap();
        let t = BestFscore {
            class: "a".into(),
            threshold: 0.5,
            threshold_at_or_above: 0.5,
            f1: 0.8,
            precision: 0.8,
            recall: 0.8,
            tps: 4,
            fps: 1,
            n_ref: 5,
        };
        assert!(matches!(
            write_thresholds(dir.path(), std::slice::from_ref(&t)),
            Err(EvaluateError::NotADetector { .. })
        ));
        std::fs::write(
            &p,
            r#"{"format": "earmark-detector", "classes": ["a", "b"], "extra": [1, 2],
               "thresholds": {"b": {"value": 0.3}}}"#,
        )
        .unwrap();
        let mut other = t.clone();
        other.class = "c".into();
        let w = write_thresholds(dir.path(), &[t, other]).unwrap();
        assert_eq!(w.written, vec!["a"]);
        assert_eq!(w.skipped.len(), 1);
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        assert_eq!(v["thresholds"]["a"]["value"], 0.5);
        assert_eq!(v["thresholds"]["a"]["target_met"], true);
        assert_eq!(v["thresholds"]["b"]["value"], 0.3);
        assert_eq!(v["extra"], serde_json::json!([1, 2]));
    }
}
