//! The handlers: each parses its parameters, resolves paths through [`Project`], and answers
//! JSON (or WAV); every failure is an [`AppError`] with its status.

use crate::audio::{self, MAX_AUDIO_SECS};
use crate::error::AppError;
use crate::jobs::{self, Job, JobKind, TrainRequest};
use crate::labels::RecordingLabels;
use crate::project::{check_name, Project, Recording};
use crate::scores::{npz_path, Cutter, Metrics, ScanScores, Scorer};
use crate::AppState;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use earmark::detector::Manifest;
use earmark_core::Event;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

type ApiResult<T> = Result<T, AppError>;

/// Runs file and CPU work off the async workers (decoding, spectrograms, scanning the scores).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AppError::internal(e.to_string()))?
}

/// Query strings that do not parse are a 400 with axum's reason, as JSON like every error.
fn query<T>(q: Result<Query<T>, QueryRejection>) -> ApiResult<T> {
    q.map(|Query(v)| v)
        .map_err(|e| AppError::bad(format!("query: {}", e.body_text())))
}

fn body<T>(b: Result<Json<T>, JsonRejection>) -> ApiResult<T> {
    b.map(|Json(v)| v)
        .map_err(|e| AppError::bad(format!("body: {}", e.body_text())))
}

// ---- detectors -------------------------------------------------------------------------------

fn detector_dir(p: &Project, name: &str) -> ApiResult<PathBuf> {
    check_name(name)?;
    let dir = p.detectors_dir().join(name);
    if !dir.join("detector.json").is_file() {
        return Err(AppError::NotFound(format!("no detector named {name:?}")));
    }
    Ok(dir)
}

fn read_manifest(p: &Project, name: &str) -> ApiResult<Manifest> {
    let path = detector_dir(p, name)?.join("detector.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| AppError::internal(format!("{}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| AppError::internal(format!("{}: {e}", path.display())))
}

fn detector_names(p: &Project) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(p.detectors_dir())
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.path().join("detector.json").is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| check_name(n).is_ok())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn scan_dir(p: &Project, name: &str) -> PathBuf {
    p.scans_dir().join(name)
}

fn modified_secs(path: &std::path::Path) -> Option<f64> {
    let t = std::fs::metadata(path).ok()?.modified().ok()?;
    Some(t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs_f64())
}

fn detector_json(p: &Project, name: &str) -> ApiResult<Value> {
    let m = read_manifest(p, name)?;
    let (_, labels, _) = earmark::scan::scanner::score_columns(
        &m,
        crate::scores::frame_scores(&m),
        &earmark::scan::ScanSettings::default(),
    )
    .map_err(AppError::internal)?;
    let thresholds: BTreeMap<&String, f64> = labels
        .iter()
        .map(|n| (n, m.thresholds.get(n).map_or(0.5, |t| t.value)))
        .collect();
    let dir = p.detectors_dir().join(name);
    Ok(json!({
        "name": name,
        "classes": labels.names(),
        "head": m.head.kind,
        "calibration": m.head.calibration,
        "encoder": m.input.encoder.as_ref().map(|e| e.name.clone()),
        "layers": m.input.encoder.as_ref().map(|e| e.layers.clone()),
        "pooling": m.input.pooling,
        "window_secs": m.input.window_secs,
        "thresholds": thresholds,
        "validation": m.validation,
        "scanned": scan_dir(p, name).join("summary.json").is_file(),
        "created": modified_secs(&dir.join("detector.json")),
    }))
}

/// The detector the page means when none is named: the one scanned most recently.
fn latest_scanned(p: &Project) -> Option<String> {
    detector_names(p)
        .into_iter()
        .filter_map(|n| modified_secs(&scan_dir(p, &n).join("summary.json")).map(|t| (t, n)))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, n)| n)
}

// ---- project and recordings --------------------------------------------------------------------

pub async fn project(State(s): State<AppState>) -> ApiResult<Json<Value>> {
    let p = &s.project;
    let recs = p.recordings();
    let (strong, weak) = s.labels.counts();
    let mut classes = s.labels.classes();
    let detectors = detector_names(p);
    for d in &detectors {
        if let Ok(m) = read_manifest(p, d) {
            classes.extend(m.classes);
        }
    }
    classes.sort();
    classes.dedup();
    Ok(Json(json!({
        "root": p.root.display().to_string(),
        "recordings": recs.len(),
        "classes": classes,
        "labels": {"strong": strong, "weak": weak},
        "detectors": detectors,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorQuery {
    detector: Option<String>,
}

#[derive(Serialize)]
struct RecordingRow {
    #[serde(flatten)]
    rec: Recording,
    labels: usize,
    detections: Option<usize>,
}

pub async fn recordings(
    State(s): State<AppState>,
    q: Result<Query<DetectorQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let q = query(q)?;
    let p = s.project.clone();
    let st = s.clone();
    let rows = blocking(move || -> ApiResult<Value> {
        let det = match q.detector.filter(|d| !d.is_empty()) {
            Some(d) => Some(d),
            None => latest_scanned(&p),
        };
        let cutter = match &det {
            Some(d) => Some(Cutter::new(&read_manifest(&p, d)?, None)?),
            None => None,
        };
        let mut rows = Vec::new();
        for rec in p.recordings() {
            let detections = match (&det, &cutter) {
                (Some(d), Some(c)) => {
                    let file = npz_path(&scan_dir(&p, d), &rec.path);
                    match st.scores.get(&file)? {
                        Some(sc) => Some(c.events(&sc, &rec.path, rec.duration, None)?.len()),
                        None => None,
                    }
                }
                _ => None,
            };
            rows.push(RecordingRow {
                labels: st.labels.strong_count(&rec.path),
                rec,
                detections,
            });
        }
        Ok(json!(rows))
    })
    .await?;
    Ok(Json(rows))
}

// ---- audio ---------------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StretchQuery {
    path: String,
    start: Option<f64>,
    end: Option<f64>,
    cols: Option<usize>,
    bins: Option<usize>,
}

pub async fn audio(
    State(s): State<AppState>,
    q: Result<Query<StretchQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let q = query(q)?;
    let rec = s.project.recording(&q.path)?;
    let (a, b) = audio::stretch(q.start, q.end, rec.duration)?;
    if b - a > MAX_AUDIO_SECS {
        return Err(AppError::bad(format!(
            "the stretch {a}–{b} s is longer than {MAX_AUDIO_SECS} s; ask for a shorter one"
        )));
    }
    let bytes = blocking(move || {
        let w = s.audio.get(&rec.abs)?;
        Ok::<_, AppError>(audio::wav_bytes(&w, a, b))
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "audio/wav")], bytes).into_response())
}

pub async fn spectrogram(
    State(s): State<AppState>,
    q: Result<Query<StretchQuery>, QueryRejection>,
) -> ApiResult<Json<audio::Spectrogram>> {
    let q = query(q)?;
    let rec = s.project.recording(&q.path)?;
    let (a, b) = audio::stretch(q.start, q.end, rec.duration)?;
    let cols = q.cols.unwrap_or(1000);
    let bins = q.bins.unwrap_or(64);
    if !(1..=4000).contains(&cols) || !(8..=256).contains(&bins) {
        return Err(AppError::bad(format!(
            "cols {cols} must be in 1..=4000 and bins {bins} in 8..=256"
        )));
    }
    let spec = blocking(move || {
        let w = s.audio.get(&rec.abs)?;
        audio::spectrogram(&w, a, b, cols, bins)
    })
    .await?;
    Ok(Json(spec))
}

// ---- scores and events ---------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoresQuery {
    path: Option<String>,
    detector: String,
    threshold: Option<f64>,
    class: Option<String>,
}

/// A recording's cached scores from detector `name`'s scan, or a 404 that says so.
fn scanned(s: &AppState, rec: &Recording, name: &str) -> ApiResult<std::sync::Arc<ScanScores>> {
    let file = npz_path(&scan_dir(&s.project, name), &rec.path);
    s.scores.get(&file)?.ok_or_else(|| {
        AppError::NotFound(format!(
            "{} has not been scanned by detector {name:?}",
            rec.path
        ))
    })
}

fn required_path(q: &ScoresQuery) -> ApiResult<&str> {
    q.path
        .as_deref()
        .ok_or_else(|| AppError::bad("missing the `path` parameter"))
}

pub async fn scores(
    State(s): State<AppState>,
    q: Result<Query<ScoresQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let q = query(q)?;
    let rec = s.project.recording(required_path(&q)?)?;
    let m = read_manifest(&s.project, &q.detector)?;
    let cutter = Cutter::new(&m, None)?;
    let sc = scanned(&s, &rec, &q.detector)?;
    let g = sc.frames.grid;
    let r2 = 2.0 * g.rate as f64;
    let (mut onsets, mut offsets) = (Vec::new(), Vec::new());
    let mut keep = Vec::new();
    // Each frame's hop cell, clamped to the audio, as the score TSV has it.
    for i in 0..sc.frames.n_frames() {
        let centre2 = 2 * (g.offset + i as i64 * g.hop as i64) + g.win as i64;
        let on = ((centre2 - g.hop as i64) as f64 / r2).max(0.0);
        let off = ((centre2 + g.hop as i64) as f64 / r2).min(rec.duration);
        if off > on {
            onsets.push(on);
            offsets.push(off);
            keep.push(i);
        }
    }
    let mut by_class = serde_json::Map::new();
    for (c, name) in sc.classes.iter().enumerate() {
        let v: Vec<f32> = keep.iter().map(|&i| sc.frames.row(i)[c]).collect();
        by_class.insert(name.clone(), json!(v));
    }
    Ok(Json(json!({
        "path": rec.path,
        "detector": q.detector,
        "classes": sc.classes,
        "onsets": onsets,
        "offsets": offsets,
        "scores": by_class,
        "thresholds": cutter.thresholds,
    })))
}

#[derive(Serialize)]
struct EventOut {
    onset: f64,
    offset: f64,
    label: String,
}

fn check_class(cutter: &Cutter, class: &Option<String>) -> ApiResult<()> {
    if let Some(c) = class {
        if !cutter.labels.names().iter().any(|n| n == c) {
            return Err(AppError::bad(format!(
                "class {c:?}: the detector's classes are {:?}",
                cutter.labels.names()
            )));
        }
    }
    Ok(())
}

/// The reference events of `path` that the scorer counts: strong labels of the detector's
/// classes (or of `class`).
fn reference(s: &AppState, path: &str, classes: &[String]) -> Vec<Event> {
    s.labels
        .get(path)
        .strong
        .into_iter()
        .filter(|l| classes.contains(&l.label))
        .map(|l| Event::new(path, l.onset, l.offset, l.label))
        .collect()
}

fn scored_classes(cutter: &Cutter, class: &Option<String>) -> Vec<String> {
    match class {
        Some(c) => vec![c.clone()],
        None => cutter.labels.names().to_vec(),
    }
}

pub async fn events(
    State(s): State<AppState>,
    q: Result<Query<ScoresQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let q = query(q)?;
    let rec = s.project.recording(required_path(&q)?)?;
    let m = read_manifest(&s.project, &q.detector)?;
    let cutter = Cutter::new(&m, q.threshold)?;
    check_class(&cutter, &q.class)?;
    let sc = scanned(&s, &rec, &q.detector)?;
    let ev = cutter.events(&sc, &rec.path, rec.duration, q.class.as_deref())?;
    let classes = scored_classes(&cutter, &q.class);
    let has_labels = s.labels.strong_count(&rec.path) > 0 || s.labels.get(&rec.path).weak.is_some();
    let metrics: Option<Metrics> = if has_labels {
        let mut scorer = Scorer::new(&classes)?;
        scorer.add(&reference(&s, &rec.path, &classes), &ev);
        Some(scorer.metrics())
    } else {
        None
    };
    let out: Vec<EventOut> = ev
        .into_iter()
        .map(|e| EventOut {
            onset: e.onset,
            offset: e.offset,
            label: e.label,
        })
        .collect();
    Ok(Json(json!({
        "path": rec.path,
        "detector": q.detector,
        "count": out.len(),
        "events": out,
        "thresholds": cutter.thresholds,
        "metrics": metrics,
    })))
}

pub async fn summary(
    State(s): State<AppState>,
    q: Result<Query<ScoresQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let q = query(q)?;
    let st = s.clone();
    let v = blocking(move || -> ApiResult<Value> {
        let m = read_manifest(&st.project, &q.detector)?;
        let cutter = Cutter::new(&m, q.threshold)?;
        check_class(&cutter, &q.class)?;
        let classes = scored_classes(&cutter, &q.class);
        let mut scorer = Scorer::new(&classes)?;
        let (mut recordings, mut count, mut labelled) = (0usize, 0usize, 0usize);
        let dir = scan_dir(&st.project, &q.detector);
        for rec in st.project.recordings() {
            let Some(sc) = st.scores.get(&npz_path(&dir, &rec.path))? else {
                continue;
            };
            let ev = cutter.events(&sc, &rec.path, rec.duration, q.class.as_deref())?;
            recordings += 1;
            count += ev.len();
            let l = st.labels.get(&rec.path);
            if !l.strong.is_empty() || l.weak.is_some() {
                labelled += 1;
                scorer.add(&reference(&st, &rec.path, &classes), &ev);
            }
        }
        Ok(json!({
            "detector": q.detector,
            "recordings": recordings,
            "count": count,
            "labelled": labelled,
            "thresholds": cutter.thresholds,
            "metrics": (labelled > 0).then(|| scorer.metrics()),
        }))
    })
    .await?;
    Ok(Json(v))
}

// ---- labels ----------------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathQuery {
    path: String,
}

pub async fn get_labels(
    State(s): State<AppState>,
    q: Result<Query<PathQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let q = query(q)?;
    let rec = s.project.recording(&q.path)?;
    let l = s.labels.get(&rec.path);
    Ok(Json(
        json!({"path": rec.path, "strong": l.strong, "weak": l.weak}),
    ))
}

pub async fn put_labels(
    State(s): State<AppState>,
    q: Result<Query<PathQuery>, QueryRejection>,
    b: Result<Json<RecordingLabels>, JsonRejection>,
) -> ApiResult<Json<Value>> {
    let q = query(q)?;
    let new = body(b)?;
    let rec = s.project.recording(&q.path)?;
    s.labels.put(&s.project, &rec.path, rec.duration, new)?;
    let l = s.labels.get(&rec.path);
    Ok(Json(
        json!({"path": rec.path, "strong": l.strong, "weak": l.weak}),
    ))
}

// ---- models, detectors, thresholds -------------------------------------------------------------------

pub async fn models() -> ApiResult<Json<Value>> {
    let rows = blocking(|| {
        Ok(earmark::models::registry_status(
            &earmark::hub::HubOptions::from_env(),
        ))
    })
    .await?;
    let v: Vec<Value> = rows
        .into_iter()
        .map(|r| {
            let family = earmark_encoders::registry::find(r.name)
                .map(|m| format!("{:?}", m.family))
                .unwrap_or_default();
            json!({
                "name": r.name,
                "family": family,
                "dim": r.dim,
                "layers": r.layers,
                "available": r.found.is_some(),
                "found": r.found,
                "reason": r.found.is_none().then(|| format!(
                    "weights not found; looked in: {}", r.looked_in.join("; ")
                )),
            })
        })
        .collect();
    Ok(Json(json!(v)))
}

pub async fn detectors(State(s): State<AppState>) -> ApiResult<Json<Value>> {
    let v: Vec<Value> = detector_names(&s.project)
        .iter()
        .filter_map(|n| detector_json(&s.project, n).ok())
        .collect();
    Ok(Json(json!(v)))
}

pub async fn put_thresholds(
    State(s): State<AppState>,
    UrlPath(name): UrlPath<String>,
    b: Result<Json<BTreeMap<String, f64>>, JsonRejection>,
) -> ApiResult<Json<Value>> {
    let new = body(b)?;
    let _guard = s.detector_writes.lock().await;
    let dir = detector_dir(&s.project, &name)?;
    let mut m = read_manifest(&s.project, &name)?;
    let (_, labels, _) = earmark::scan::scanner::score_columns(
        &m,
        crate::scores::frame_scores(&m),
        &earmark::scan::ScanSettings::default(),
    )
    .map_err(AppError::internal)?;
    if new.is_empty() {
        return Err(AppError::bad("give at least one {\"class\": threshold}"));
    }
    for (c, &t) in &new {
        if !labels.names().iter().any(|n| n == c) {
            return Err(AppError::Unprocessable(format!(
                "class {c:?}: the detector's classes are {:?}",
                labels.names()
            )));
        }
        if !(0.0..=1.0).contains(&t) {
            return Err(AppError::Unprocessable(format!(
                "threshold {t} for {c:?}: a probability in [0, 1]"
            )));
        }
        let entry = m
            .thresholds
            .entry(c.clone())
            .or_insert_with(|| earmark::detector::Threshold {
                value: t,
                rule: "manual".into(),
                precision: f64::NAN,
                recall: f64::NAN,
                f1: f64::NAN,
                target_met: true,
            });
        entry.value = t;
        entry.rule = "manual".into();
    }
    let text = serde_json::to_string_pretty(&m).map_err(|e| AppError::internal(e.to_string()))?;
    let path = dir.join("detector.json");
    earmark::atomic::write_atomic(&path, text.as_bytes())
        .map_err(|e| AppError::internal(format!("{}: {e}", path.display())))?;
    Ok(Json(detector_json(&s.project, &name)?))
}

// ---- jobs --------------------------------------------------------------------------------------------

pub async fn train(
    State(s): State<AppState>,
    b: Result<Json<TrainRequest>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let req = body(b)?;
    let plan = req.plan()?;
    let st = s.clone();
    let name = plan.name.clone();
    let id = s.jobs.spawn(JobKind::Train, &name, move |rep| {
        jobs::train(&st.project, &st.labels, plan, rep)
    })?;
    Ok((StatusCode::ACCEPTED, Json(json!({"job": id}))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanRequest {
    detector: String,
}

pub async fn scan(
    State(s): State<AppState>,
    b: Result<Json<ScanRequest>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let req = body(b)?;
    detector_dir(&s.project, &req.detector)?;
    let st = s.clone();
    let name = req.detector.clone();
    let id = s.jobs.spawn(JobKind::Scan, &req.detector, move |rep| {
        jobs::scan(&st.project, &name, rep)
    })?;
    Ok((StatusCode::ACCEPTED, Json(json!({"job": id}))))
}

pub async fn list_jobs(State(s): State<AppState>) -> Json<Vec<Job>> {
    Json(s.jobs.list())
}

pub async fn get_job(
    State(s): State<AppState>,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<Json<Job>> {
    s.jobs
        .get(&id)
        .map(Json)
        .ok_or_else(|| AppError::NotFound(format!("no job {id:?}")))
}

pub async fn not_found() -> AppError {
    AppError::NotFound("no such endpoint; see docs/api.md".into())
}
