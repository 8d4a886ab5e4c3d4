//! Background jobs the page starts — training a detector, scanning the project — each on a
//! blocking thread, with its progress readable while it runs.

use crate::error::AppError;
use crate::labels::Labels;
use crate::project::{check_name, Project};
use earmark::cache::EmbeddingCache;
use earmark::detector::crnn::{crnn_detector, log_mel_clips, CrnnOptions};
use earmark::detector::{
    audio_input, resolve_head, save_detector, train_detector, Detector, EmbeddingPooling,
    HeadKindArg, LabelKind, TrainSettings,
};
use earmark::scan::{self, Input, RunOptions, ScanSettings, Scanner};
use earmark_core::{format_weak_tsv, WeakLabel};
use earmark_encoders::LayerSelection;
use earmark_heads::{Calibration, Pooling};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    Train,
    Scan,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Running,
    Done,
    Failed,
}

/// What `GET /api/jobs/ID` answers.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    pub id: String,
    pub kind: JobKind,
    pub detector: String,
    pub state: JobState,
    pub progress: f64,
    pub message: String,
    pub error: Option<String>,
    pub result: Option<serde_json::Value>,
    pub started: f64,
    pub finished: Option<f64>,
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[derive(Default)]
pub struct Jobs {
    jobs: Mutex<BTreeMap<u64, Job>>,
}

/// A running job's handle for reporting progress.
#[derive(Clone)]
pub struct Reporter {
    jobs: Arc<Jobs>,
    id: u64,
}

impl Reporter {
    pub fn progress(&self, fraction: f64, message: impl Into<String>) {
        self.jobs.update(self.id, |j| {
            j.progress = fraction.clamp(0.0, 1.0);
            j.message = message.into();
        });
    }
}

impl Jobs {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Job>> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update(&self, id: u64, f: impl FnOnce(&mut Job)) {
        if let Some(j) = self.lock().get_mut(&id) {
            f(j);
        }
    }

    pub fn list(&self) -> Vec<Job> {
        self.lock().values().cloned().collect()
    }

    pub fn get(&self, id: &str) -> Option<Job> {
        let id: u64 = id.parse().ok()?;
        self.lock().get(&id).cloned()
    }

    /// Registers a job for `detector`, refusing one while another job writes the same detector
    /// (training it, or scanning with it while it is retrained).
    fn start(&self, kind: JobKind, detector: &str) -> Result<u64, AppError> {
        let mut jobs = self.lock();
        if let Some(j) = jobs
            .values()
            .find(|j| j.state == JobState::Running && j.detector == detector)
        {
            return Err(AppError::Conflict(format!(
                "job {} ({:?}) is still running on detector {detector:?}",
                j.id, j.kind
            )));
        }
        let id = jobs.keys().next_back().map_or(1, |k| k + 1);
        jobs.insert(
            id,
            Job {
                id: id.to_string(),
                kind,
                detector: detector.to_string(),
                state: JobState::Running,
                progress: 0.0,
                message: "starting".into(),
                error: None,
                result: None,
                started: now(),
                finished: None,
            },
        );
        Ok(id)
    }

    /// Runs `work` on a blocking thread as job `kind` on `detector`; returns the job's id.
    pub fn spawn<F>(
        self: &Arc<Self>,
        kind: JobKind,
        detector: &str,
        work: F,
    ) -> Result<String, AppError>
    where
        F: FnOnce(&Reporter) -> Result<serde_json::Value, String> + Send + 'static,
    {
        let id = self.start(kind, detector)?;
        let rep = Reporter {
            jobs: self.clone(),
            id,
        };
        tokio::task::spawn_blocking(move || {
            // A panic inside a job (a bug, never user data) fails the job instead of hanging it.
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&rep)))
                .unwrap_or_else(|_| Err("the job crashed (a bug): see the server's log".into()));
            rep.jobs.update(rep.id, |j| {
                j.finished = Some(now());
                match out {
                    Ok(v) => {
                        j.state = JobState::Done;
                        j.progress = 1.0;
                        j.message = "done".into();
                        j.result = Some(v);
                    }
                    Err(e) => {
                        j.state = JobState::Failed;
                        j.message = "failed".into();
                        j.error = Some(e);
                    }
                }
            });
        });
        Ok(id.to_string())
    }
}

/// `POST /api/train`'s body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainRequest {
    pub name: String,
    #[serde(default = "scratch")]
    pub encoder: String,
    pub layers: Option<String>,
    pub pooling: Option<String>,
    /// Absent or empty: what `earmark train` picks — `crnn` for the built-in encoder with weak
    /// labels (`mil` means `crnn` there too), `gbt` otherwise ([`resolve_head`]).
    pub head: Option<String>,
    #[serde(default = "isotonic")]
    pub calibration: String,
    #[serde(default = "weak")]
    pub labels: String,
    pub window: Option<f64>,
    pub hop: Option<f64>,
    pub max_iter: Option<usize>,
    /// Maximum training epochs of the MLP, MIL and CRNN heads (CRNN: its minimum is capped to
    /// it, as `earmark train --epochs` does).
    pub epochs: Option<usize>,
    pub cv: Option<usize>,
}

fn scratch() -> String {
    "scratch".into()
}
fn isotonic() -> String {
    "isotonic".into()
}
fn weak() -> String {
    "weak".into()
}

/// A checked training request: everything parsed before the job starts, so a typo is a 400
/// and not a failed job.
pub struct TrainPlan {
    pub name: String,
    pub encoder: String,
    pub layers: Option<LayerSelection>,
    pub pooling: EmbeddingPooling,
    pub settings: TrainSettings,
    pub strong: Option<(f64, f64)>,
    /// Head `crnn`: the built-in CRNN trained end to end from the weak labels, with exactly the
    /// options `earmark train --audio DIR --weak TSV` uses (the dialog's pooling and epochs on
    /// top); `settings`, `layers` and `pooling` are then unused.
    pub crnn: Option<CrnnOptions>,
}

impl TrainRequest {
    pub fn plan(&self) -> Result<TrainPlan, AppError> {
        check_name(&self.name)?;
        let bad = |f: &str, v: &str, e: String| AppError::bad(format!("{f} {v:?}: {e}"));
        let given: Option<HeadKindArg> = match self.head.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(h) => Some(h.parse().map_err(|e: String| bad("head", h, e))?),
        };
        let calibration: Calibration = self
            .calibration
            .parse()
            .map_err(|e| bad("calibration", &self.calibration, format!("{e}")))?;
        let strong = match self.labels.as_str() {
            "weak" => None,
            "strong" => {
                let w = self.window.unwrap_or(1.0);
                let h = self.hop.unwrap_or(w / 2.0);
                if !(w > 0.0 && w.is_finite() && h > 0.0 && h.is_finite()) {
                    return Err(AppError::bad(format!(
                        "window {w} and hop {h}: positive seconds"
                    )));
                }
                Some((w, h))
            }
            o => return Err(bad("labels", o, "use weak or strong".into())),
        };
        // Registry names only: a path or a Hub id would have the page read (or download) files
        // the user never put in the project.
        if earmark_encoders::registry::find(&self.encoder).is_none() {
            let names: Vec<&str> = earmark_encoders::registry::MODELS
                .iter()
                .map(|m| m.name)
                .collect();
            return Err(AppError::bad(format!(
                "encoder {:?}: the page trains with a registry encoder ({}); use `earmark train \
                 --encoder PATH` for a checkpoint elsewhere",
                self.encoder,
                names.join(", ")
            )));
        }
        // The head as `earmark train` resolves it; its refusals in the page's own words.
        let builtin = self.encoder == "scratch";
        if given == Some(HeadKindArg::Crnn) {
            if !builtin {
                return Err(bad(
                    "head",
                    "crnn",
                    format!(
                        "it trains the built-in encoder (scratch) end to end; pick another head \
                         for {}",
                        self.encoder
                    ),
                ));
            }
            if strong.is_some() {
                return Err(bad(
                    "head",
                    "crnn",
                    "it learns from clip labels: use labels weak".into(),
                ));
            }
        }
        let head = resolve_head(&self.encoder, strong.is_none(), given)
            .map_err(|e| bad("head", self.head.as_deref().unwrap_or(""), e))?;
        let mut settings = TrainSettings {
            head,
            calibration,
            ..TrainSettings::default()
        };
        if let Some(cv) = self.cv {
            if cv < 2 {
                return Err(AppError::bad("cv: at least 2 folds"));
            }
            settings.cv = cv;
        }
        if let Some(m) = self.max_iter {
            if m == 0 {
                return Err(AppError::bad("max_iter: at least 1"));
            }
            settings.gbt.max_iter = m;
        }
        if self.epochs == Some(0) {
            return Err(AppError::bad("epochs: at least 1"));
        }
        if let Some(e) = self.epochs {
            settings.mil.max_epochs = e;
        }
        let pooling_given = self
            .pooling
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty());
        let mut pooling = EmbeddingPooling::Mean;
        let mut crnn = None;
        match (head, pooling_given) {
            (HeadKindArg::Crnn, p) => {
                // As `earmark train`'s run_crnn: the defaults, the seed, then the given flags.
                let mut opts = CrnnOptions::default();
                opts.train.seed = settings.seed;
                if let Some(e) = self.epochs {
                    opts.train.max_epochs = e;
                    opts.train.min_epochs = opts.train.min_epochs.min(e);
                }
                if let Some(p) = p {
                    opts.pooling = p
                        .parse::<Pooling>()
                        .map_err(|e| bad("pooling", p, format!("{e}")))?;
                }
                crnn = Some(opts);
            }
            (HeadKindArg::Mil, Some(p)) => {
                settings.mil_pooling = p
                    .parse::<Pooling>()
                    .map_err(|e| bad("pooling", p, format!("{e}")))?;
            }
            (_, Some(p)) => pooling = p.parse().map_err(|e: String| bad("pooling", p, e))?,
            (_, None) => {}
        }
        let layers = match self.layers.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(l) => Some(
                l.parse::<LayerSelection>()
                    .map_err(|e| bad("layers", l, e.to_string()))?,
            ),
        };
        Ok(TrainPlan {
            name: self.name.clone(),
            encoder: self.encoder.clone(),
            layers,
            pooling,
            settings,
            strong,
            crnn,
        })
    }
}

/// Trains `plan` on the project's labels and writes `.earmark/detectors/NAME/`.
pub fn train(
    project: &Project,
    labels: &Labels,
    plan: TrainPlan,
    rep: &Reporter,
) -> Result<serde_json::Value, String> {
    let tmp = project.own().join("tmp");
    std::fs::create_dir_all(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    let kind = match plan.strong {
        None => {
            let weak: Vec<WeakLabel> = labels.weak_for_training();
            if weak.is_empty() {
                return Err(
                    "no recording has a label yet: label some clips (or events) first".into(),
                );
            }
            let p = tmp.join(format!("weak-{}.tsv", plan.name));
            earmark::atomic::write_atomic(&p, format_weak_tsv(&weak).as_bytes())
                .map_err(|e| format!("{}: {e}", p.display()))?;
            LabelKind::Weak(p)
        }
        Some((window_secs, hop_secs)) => {
            if labels.counts().0 == 0 {
                return Err("no strong labels yet: mark some events on the timeline first".into());
            }
            LabelKind::Strong {
                path: project.labels_dir().join("strong.tsv"),
                window_secs,
                hop_secs,
                overlap_fraction: 0.5,
            }
        }
    };
    if let (Some(opts), LabelKind::Weak(weak)) = (&plan.crnn, &kind) {
        return train_crnn(project, &plan.name, weak, opts, &plan.settings, rep);
    }
    let cache = EmbeddingCache::new(Some(project.cache_dir()));
    rep.progress(0.0, format!("loading encoder {}", plan.encoder));
    let progress = |done: usize, total: usize, file: &str| {
        rep.progress(
            0.8 * done as f64 / total.max(1) as f64,
            format!("embedding {}/{total} {file}", done + 1),
        );
    };
    let input = audio_input(
        &project.root,
        kind,
        &plan.encoder,
        plan.layers.as_ref(),
        plan.pooling,
        &cache,
        &earmark::models::LoadOptions::from_env(),
        &progress,
    )
    .map_err(|e| e.to_string())?;
    rep.progress(
        0.8,
        format!(
            "training {} (calibration {}, {}-fold)",
            plan.settings.head, plan.settings.calibration, plan.settings.cv
        ),
    );
    let trained = train_detector(input, &plan.settings).map_err(|e| e.to_string())?;
    let out = project.detectors_dir().join(&plan.name);
    save_detector(
        &out,
        &trained.manifest,
        &trained.model,
        Some(&trained.reliability_svg),
    )
    .map_err(|e| e.to_string())?;
    Ok(serde_json::json!({
        "detector": plan.name,
        "head": trained.manifest.head.kind,
        "validation": trained.manifest.validation,
        "training": trained.manifest.training,
        "thresholds": trained.manifest.thresholds,
    }))
}

/// The share of a CRNN job's progress bar spent reading the recordings (the rest is training).
const CRNN_READING: f64 = 0.15;

/// Trains the built-in CRNN end to end on the weak labels in `weak` (as `earmark train --audio
/// DIR --weak TSV` does) and writes `.earmark/detectors/NAME/`.
fn train_crnn(
    project: &Project,
    name: &str,
    weak: &std::path::Path,
    opts: &CrnnOptions,
    settings: &TrainSettings,
    rep: &Reporter,
) -> Result<serde_json::Value, String> {
    rep.progress(0.0, "reading the recordings");
    let progress = |done: usize, total: usize, file: &str| {
        rep.progress(
            CRNN_READING * done as f64 / total.max(1) as f64,
            if done < total {
                format!("reading {}/{total} {file}", done + 1)
            } else {
                format!("read {total} recordings")
            },
        );
    };
    let clips =
        log_mel_clips(&project.root, weak, &opts.config, &progress).map_err(|e| e.to_string())?;
    // Training reports each epoch ("  epoch E: …"); early stopping may end a seed sooner, so
    // the bar moves by epochs over the most there can be.
    let most = (opts.train.max_epochs * opts.seeds.max(1)).max(1);
    let epochs = std::cell::Cell::new(0usize);
    let on_message = |msg: &str| {
        let msg = msg.trim();
        if msg.starts_with("epoch ") {
            epochs.set(epochs.get() + 1);
        }
        rep.progress(
            CRNN_READING + (0.98 - CRNN_READING) * epochs.get() as f64 / most as f64,
            format!("CRNN: {msg}"),
        );
    };
    let trained = crnn_detector(&clips, opts, settings.threshold_rule, &on_message)
        .map_err(|e| e.to_string())?;
    rep.progress(0.98, "writing the detector");
    let out = project.detectors_dir().join(name);
    save_detector(&out, &trained.manifest, &trained.model, None).map_err(|e| e.to_string())?;
    let m = &trained.manifest;
    let warnings: Vec<String> = m
        .post
        .iter()
        .filter_map(|(class, p)| p.problem.as_ref().map(|w| format!("class {class}: {w}")))
        .collect();
    Ok(serde_json::json!({
        "detector": name,
        "head": m.head.kind,
        "validation": m.validation,
        "training": m.training,
        "thresholds": m.thresholds,
        "warnings": warnings,
    }))
}

/// Scans every recording of the project with detector `name` into `.earmark/scans/NAME/`.
pub fn scan(project: &Project, name: &str, rep: &Reporter) -> Result<serde_json::Value, String> {
    let dir = project.detectors_dir().join(name);
    rep.progress(0.0, "loading the detector and its encoder");
    let detector = Detector::load(&dir).map_err(|e| e.to_string())?;
    let scanner =
        Scanner::new(detector, &ScanSettings::default())?.with_cache(Some(project.cache_dir()));
    let inputs: Vec<Input> = project
        .recordings()
        .into_iter()
        .map(|r| Input {
            id: r.path,
            path: r.abs,
        })
        .collect();
    if inputs.is_empty() {
        return Err("the project has no recordings".into());
    }
    let opts = RunOptions {
        out: project.scans_dir().join(name),
        scores: true,
        scores_npz: true,
        formats: Vec::new(),
        shard: None,
        restart: false,
    };
    let summary = scan::run(
        &inputs,
        &scanner,
        &opts,
        &mut |done, total, audio, wall, file| {
            rep.progress(
                done as f64 / total.max(1) as f64,
                format!(
                    "{done}/{total} recordings, {:.0}× real time  {file}",
                    if wall > 0.0 { audio / wall } else { 0.0 }
                ),
            );
        },
    )?;
    serde_json::to_value(&summary).map_err(|e| e.to_string())
}
