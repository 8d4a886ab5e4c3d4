//! A scan's cached frame scores, re-thresholded on request: events exactly as `earmark scan`
//! cuts them (the facade's `score_columns` post-processing), and event-based precision/recall
//! against the project's strong labels. Nothing is re-scanned.

use crate::error::AppError;
use earmark::detector::Manifest;
use earmark::npy::{read_npz, NpyData};
use earmark::scan::outputs::scores_name;
use earmark::scan::scanner::{score_columns, ScanSettings};
use earmark_core::{Event, FrameGrid, Frames, LabelSet};
use earmark_detect::PostProcess;
use earmark_eval::sed::{EventBasedMetrics, EventBasedOptions};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// One recording's scores from a scan, as written by `--scores-npz`.
pub struct ScanScores {
    pub classes: Vec<String>,
    pub frames: Frames,
}

/// The `.npz` a scan wrote for recording `path` under scan folder `scan`.
pub fn npz_path(scan: &Path, path: &str) -> PathBuf {
    scan.join("scores")
        .join(scores_name(path))
        .with_extension("npz")
}

fn int(m: &std::collections::BTreeMap<String, earmark::npy::NpyArray>, k: &str) -> Option<i64> {
    match &m.get(k)?.data {
        NpyData::Int(v) => v.first().copied(),
        _ => None,
    }
}

fn load(path: &Path) -> Result<ScanScores, String> {
    let m = read_npz(path).map_err(|e| e.to_string())?;
    let bad = |w: &str| format!("{}: {w}", path.display());
    let scores = m.get("scores").ok_or_else(|| bad("no `scores` array"))?;
    let NpyData::Float(v) = &scores.data else {
        return Err(bad("`scores` is not float"));
    };
    let classes = match m.get("classes").map(|a| &a.data) {
        Some(NpyData::Str(s)) => s.clone(),
        _ => return Err(bad("no `classes` strings")),
    };
    let (rate, hop, win, offset) = (
        int(&m, "sample_rate").ok_or_else(|| bad("no sample_rate"))?,
        int(&m, "hop_samples").ok_or_else(|| bad("no hop_samples"))?,
        int(&m, "win_samples").ok_or_else(|| bad("no win_samples"))?,
        int(&m, "offset_samples").unwrap_or(0),
    );
    if rate <= 0 || hop <= 0 || win < 0 || classes.is_empty() {
        return Err(bad("the frame grid or classes are invalid"));
    }
    let grid = FrameGrid::new(rate as u32, hop as u64, win as u64, offset);
    let data: Vec<f32> = v.iter().map(|&x| x as f32).collect();
    let frames = Frames::new(data, classes.len(), grid).map_err(|e| bad(&e.to_string()))?;
    Ok(ScanScores { classes, frames })
}

/// A parsed score file and the modification time it was read at.
type Stamped = (Option<SystemTime>, Arc<ScanScores>);

/// Parsed score files, reloaded when the file changes (a re-scan).
#[derive(Default)]
pub struct ScoresCache {
    map: Mutex<HashMap<PathBuf, Stamped>>,
}

impl ScoresCache {
    /// `Ok(None)` when there is no score file (not scanned).
    pub fn get(&self, file: &Path) -> Result<Option<Arc<ScanScores>>, AppError> {
        let Ok(meta) = std::fs::metadata(file) else {
            return Ok(None);
        };
        let mtime = meta.modified().ok();
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((t, s)) = map.get(file) {
            if *t == mtime {
                return Ok(Some(s.clone()));
            }
        }
        let s = Arc::new(load(file).map_err(AppError::internal)?);
        // Bounded: a project's worth of small curves, dropped wholesale when it grows past that.
        if map.len() >= 4096 {
            map.clear();
        }
        map.insert(file.to_path_buf(), (mtime, s.clone()));
        Ok(Some(s))
    }
}

/// Whether the detector scores frames (a MIL frame head, or the CRNN trained with its encoder)
/// rather than pooled windows: what the scanner decides from the model, read from the manifest.
pub fn frame_scores(m: &Manifest) -> bool {
    matches!(m.head.kind.as_str(), "mil" | "crnn")
}

/// How a detector's scores become events at the page's threshold.
pub struct Cutter {
    pub labels: LabelSet,
    pub post: PostProcess,
    /// As the page shows them (the query's value itself, not its f32 rounding).
    pub thresholds: std::collections::BTreeMap<String, f64>,
}

impl Cutter {
    /// `threshold`: one value for every class, else the detector's own per class.
    pub fn new(m: &Manifest, threshold: Option<f64>) -> Result<Cutter, AppError> {
        if let Some(t) = threshold {
            if !(0.0..=1.0).contains(&t) {
                return Err(AppError::bad(format!(
                    "threshold {t}: a probability in [0, 1]"
                )));
            }
        }
        let settings = ScanSettings {
            threshold: threshold.map(|t| t as f32),
            ..ScanSettings::default()
        };
        let (_, labels, post) =
            score_columns(m, frame_scores(m), &settings).map_err(AppError::internal)?;
        let thresholds = labels
            .iter()
            .map(|n| {
                let t = threshold
                    .or_else(|| m.thresholds.get(n).map(|t| t.value))
                    .unwrap_or(0.5);
                (n.clone(), t)
            })
            .collect();
        Ok(Cutter {
            labels,
            post,
            thresholds,
        })
    }

    /// Events of one recording (clamped to `duration`), only of `class` when given.
    pub fn events(
        &self,
        s: &ScanScores,
        file: &str,
        duration: f64,
        class: Option<&str>,
    ) -> Result<Vec<Event>, AppError> {
        if s.classes != self.labels.names() {
            return Err(AppError::Conflict(format!(
                "the scores of {file} have classes {:?} but the detector has {:?}: scan again",
                s.classes,
                self.labels.names()
            )));
        }
        let total = (duration * s.frames.grid.rate as f64).round() as u64;
        let ev = earmark_detect::events(&s.frames, &self.labels, file, &self.post, Some(total))
            .map_err(|e| AppError::internal(e.to_string()))?;
        Ok(ev
            .into_vec()
            .into_iter()
            .filter(|e| class.is_none_or(|c| e.label == c))
            .collect())
    }
}

/// Event-based counts (sed_eval's collars) and the rates from them.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Metrics {
    pub tp: usize,
    #[serde(rename = "fp")]
    pub fp: usize,
    #[serde(rename = "fn")]
    pub fn_: usize,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub f1: Option<f64>,
}

/// Accumulates sed_eval event-based counts over recordings.
pub struct Scorer {
    m: EventBasedMetrics,
}

impl Scorer {
    pub fn new(classes: &[String]) -> Result<Scorer, AppError> {
        let m = EventBasedMetrics::new(
            LabelSet::new(classes.to_vec()),
            EventBasedOptions::default(),
        )
        .map_err(|e| AppError::internal(e.to_string()))?;
        Ok(Scorer { m })
    }

    /// One recording: its reference events (only the scorer's classes count) and the detections.
    pub fn add(&mut self, reference: &[Event], estimated: &[Event]) {
        self.m.evaluate(reference, estimated);
    }

    pub fn metrics(&self) -> Metrics {
        let c = self.m.overall_counts();
        let (tp, fp, fn_) = (c.ntp, c.nsys - c.ntp, c.nref - c.ntp);
        let rate = |a: f64, b: f64| (b > 0.0).then(|| a / b);
        let precision = rate(tp, c.nsys);
        let recall = rate(tp, c.nref);
        let f1 = rate(2.0 * tp, c.nsys + c.nref);
        Metrics {
            tp: tp as usize,
            fp: fp as usize,
            fn_: fn_ as usize,
            precision,
            recall,
            f1,
        }
    }
}
