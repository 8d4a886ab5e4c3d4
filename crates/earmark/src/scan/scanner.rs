//! One recording through a detector, streamed: windows (the detector's window and hop) → the
//! detector's encoder and layers → its head → calibrated scores merged on the file's grid →
//! events. Memory is bounded by one window of audio and its embeddings plus the score curve
//! (a few bytes per class and frame).

use crate::cache::encoder_id;
use crate::detector::rows::EmbeddingPooling;
use crate::detector::{Detector, DetectorModel, Manifest};
use crate::models::{load_model, LoadOptions, LoadedModel};
use earmark_audio::{LastWindow, WindowOptions, Windows};
use earmark_core::{EventList, FrameGrid, Frames, LabelSet};
use earmark_detect::{events, Merge, PerClass, PostProcess, Stitcher};
use earmark_encoders::LayerSelection;
use earmark_heads::{predict, Example, Task};
use std::collections::BTreeMap;
use std::path::Path;

/// How scores become events, and how windows merge.
#[derive(Debug, Clone)]
pub struct ScanSettings {
    /// Per-class threshold overrides (class → probability); others use the detector's.
    pub thresholds: BTreeMap<String, f32>,
    /// One threshold for every class, overriding the detector's.
    pub threshold: Option<f32>,
    pub merge: Merge,
    /// Median filter width in score frames (`None`: 3 for frame heads, 1 for window heads).
    pub median_filter_frames: Option<usize>,
    pub min_event_secs: f64,
    pub merge_gap_secs: f64,
    /// Replace the detector's hop (seconds), e.g. for denser window scores.
    pub hop_secs: Option<f64>,
}

impl Default for ScanSettings {
    fn default() -> Self {
        ScanSettings {
            thresholds: BTreeMap::new(),
            threshold: None,
            merge: Merge::Mean,
            median_filter_frames: None,
            min_event_secs: 0.0,
            merge_gap_secs: 0.0,
            hop_secs: None,
        }
    }
}

/// What a detector's scores are and how they become events: the probability columns a scan keeps
/// (binary detectors keep the positive class), their labels, and the post-processing with the
/// thresholds resolved (`settings` over the detector's own). The web page re-thresholds cached
/// scores through this same function, so its events are the scan's.
pub fn score_columns(
    m: &Manifest,
    is_mil: bool,
    settings: &ScanSettings,
) -> Result<(Vec<usize>, LabelSet, PostProcess), String> {
    let columns: Vec<usize> = match m.task {
        Task::Binary => vec![1],
        t => (0..t.n_classes()).collect(),
    };
    let names = columns
        .iter()
        .map(|&c| m.classes.get(c).cloned())
        .collect::<Option<Vec<String>>>()
        .ok_or_else(|| {
            format!(
                "detector.json lists {} classes for a {:?} task",
                m.classes.len(),
                m.task
            )
        })?;
    for k in settings.thresholds.keys() {
        if !names.contains(k) {
            return Err(format!(
                "--threshold {k}=…: the detector's classes are {names:?}"
            ));
        }
    }
    let mut by_label = BTreeMap::new();
    for n in &names {
        let t = settings
            .thresholds
            .get(n)
            .copied()
            .or(settings.threshold)
            .or_else(|| m.thresholds.get(n).map(|t| t.value as f32))
            .unwrap_or(0.5);
        by_label.insert(n.clone(), t);
    }
    // The detector's own per-class choices (chosen on held-out clips at training) unless the
    // scan's settings override them.
    let median_filter_frames = match settings.median_filter_frames {
        Some(w) => PerClass::All(w),
        None if !m.post.is_empty() => PerClass::ByLabel(
            names
                .iter()
                .map(|n| {
                    let w = m.post.get(n).map_or(1, |p| p.median_filter_frames);
                    (n.clone(), w)
                })
                .collect(),
        ),
        None => PerClass::All(if is_mil { 3 } else { 1 }),
    };
    let min_event_secs = if settings.min_event_secs > 0.0 || m.post.is_empty() {
        PerClass::All(settings.min_event_secs)
    } else {
        PerClass::ByLabel(
            names
                .iter()
                .map(|n| (n.clone(), m.post.get(n).map_or(0.0, |p| p.min_event_secs)))
                .collect(),
        )
    };
    let post = PostProcess {
        thresholds: PerClass::ByLabel(by_label),
        hysteresis: None,
        median_filter_frames,
        min_event_secs,
        merge_gap_secs: PerClass::All(settings.merge_gap_secs),
    };
    let labels = LabelSet::new(names);
    post.validate(&labels).map_err(|e| e.to_string())?;
    Ok((columns, labels, post))
}

/// What one recording gave.
#[derive(Debug, Clone)]
pub struct FileResult {
    pub events: EventList,
    /// Classes whose only answer was one event covering the whole recording: a detector that
    /// says "everywhere" has not found where, so those events are left out and reported.
    pub whole_recording: Vec<String>,
    /// `[frames, classes]` calibrated scores on the score grid (kept when asked for).
    pub scores: Option<Frames>,
    pub audio_secs: f64,
    pub windows: usize,
}

/// A detector ready to scan: encoder loaded, post-processing resolved.
pub struct Scanner {
    pub detector: Detector,
    model: LoadedModel,
    layers: LayerSelection,
    pooling: Option<EmbeddingPooling>,
    window_samples: usize,
    hop_samples: u64,
    /// The grid scores are merged on: the encoder's (frame heads) or hop cells (window heads).
    score_grid: FrameGrid,
    /// Columns of the probabilities that are event classes (a binary task's column 0 is "not").
    columns: Vec<usize>,
    pub labels: LabelSet,
    pub post: PostProcess,
    merge: Merge,
    /// Root of the embedding cache (pooled detectors cache their window rows).
    cache: Option<std::path::PathBuf>,
    encoder_key: String,
}

fn data(what: impl ToString) -> String {
    what.to_string()
}

impl Scanner {
    /// Loads the detector's encoder and checks it is the one the detector was trained with.
    pub fn new(mut detector: Detector, settings: &ScanSettings) -> Result<Scanner, String> {
        // An encoder trained with the detector (crnn) moves into the scanner's model.
        let trained = match &mut detector.model {
            DetectorModel::Mil(m) => m.encoder.take(),
            DetectorModel::Pooled(_) => None,
        };
        let m = &detector.manifest;
        let spec = m.input.encoder.clone().ok_or_else(|| {
            format!(
                "{}: trained on a given embedding matrix, so it does not know which encoder made \
                 it; scan needs a detector trained from audio (`earmark train --audio …`)",
                detector.dir.display()
            )
        })?;
        // The name as given at training (a registry name, or a path relative to where `train`
        // ran), else the resolved source path the manifest recorded.
        let eat_frames = spec
            .eat_frames
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|e| format!("detector.json encoder.eat_frames: {e}"))?;
        let (model, id) = match trained {
            // The encoder was trained with this detector and lives in its folder.
            Some(enc) => {
                let model = LoadedModel {
                    encoder: enc,
                    spec: None,
                    source: detector.dir.join(crate::detector::ENCODER_DIR),
                    default_layers: LayerSelection::Last,
                    multi_layer: false,
                    options_key: String::new(),
                };
                (model, spec.checkpoint_id.clone())
            }
            None => {
                let load = LoadOptions {
                    eat_frames,
                    ..LoadOptions::from_env()
                };
                let model = load_model(&spec.name, &load)
                    .or_else(|e| {
                        let src = Path::new(&spec.source);
                        if src.exists() {
                            load_model(&spec.source, &load)
                        } else {
                            Err(e)
                        }
                    })
                    .map_err(|e| format!("encoder {} of the detector: {e}", spec.name))?;
                let id = encoder_id(&model, &spec.name);
                if id != spec.checkpoint_id {
                    return Err(format!(
                        "encoder {} resolves to weights ({}) other than those the detector was \
                         trained on: the scores would mean nothing; point it at the same checkpoint",
                        spec.name,
                        model.source.display()
                    ));
                }
                (model, id)
            }
        };
        let layers: LayerSelection = spec
            .layers
            .parse()
            .map_err(|e| format!("detector layers {:?}: {e}", spec.layers))?;
        let enc = model.encoder.as_ref();
        let rate = enc.sample_rate();
        let enc_grid = enc.grid();
        let window_secs = m.input.window_secs.unwrap_or(10.0);
        let hop_secs = settings
            .hop_secs
            .or(m.input.hop_secs)
            .unwrap_or(window_secs / 2.0);
        if !(window_secs > 0.0 && hop_secs > 0.0) {
            return Err(format!(
                "window {window_secs} s and hop {hop_secs} s must be positive"
            ));
        }
        let is_mil = matches!(detector.model, DetectorModel::Mil(_));
        // Window starts on whole encoder hops, so every window's frames share the file grid;
        // window heads also need the window to be whole hops, so it covers whole score cells.
        let hop_samples = ((hop_secs * rate as f64 / enc_grid.hop as f64)
            .round()
            .max(1.0) as u64)
            * enc_grid.hop;
        let mut window_samples = (window_secs * rate as f64).round() as usize;
        if !is_mil {
            let cells = ((window_samples as f64 / hop_samples as f64).round() as usize).max(1);
            window_samples = cells * hop_samples as usize;
        }
        let score_grid = if is_mil {
            enc_grid
        } else {
            FrameGrid::new(rate, hop_samples, hop_samples, 0)
        };
        let pooling = if is_mil {
            None
        } else {
            Some(m.input.pooling.parse::<EmbeddingPooling>().map_err(data)?)
        };
        let (columns, labels, post) = score_columns(m, is_mil, settings)?;
        Ok(Scanner {
            detector,
            model,
            layers,
            pooling,
            window_samples,
            hop_samples,
            score_grid,
            columns,
            labels,
            post,
            merge: settings.merge,
            cache: None,
            encoder_key: id,
        })
    }

    /// Cache pooled window rows under `root` (see [`crate::cache`]); a second scan of the same
    /// audio with the same encoder, layers, window, hop and pooling skips decoding and encoding.
    pub fn with_cache(mut self, root: Option<std::path::PathBuf>) -> Self {
        self.cache = root;
        self
    }

    pub fn window_secs(&self) -> f64 {
        self.window_samples as f64 / self.model.encoder.sample_rate() as f64
    }

    pub fn hop_secs(&self) -> f64 {
        self.hop_samples as f64 / self.model.encoder.sample_rate() as f64
    }

    /// Calibrated probabilities of the event columns for one window's frames.
    fn window_scores(&self, frames: &Frames) -> Result<Vec<f32>, String> {
        let c = self.columns.len();
        match &self.detector.model {
            DetectorModel::Pooled(_) => {
                let row = self
                    .pooling
                    .unwrap_or_default()
                    .pool(&frames.data, frames.dim);
                self.row_probs(&row)
            }
            DetectorModel::Mil(m) => {
                let ex = Example {
                    x: frames.data.clone(),
                    n_frames: frames.n_frames(),
                    dim: frames.dim,
                    targets: vec![0.0; c],
                };
                let pred = predict(&m.head, &[ex], 1, &candle_core::Device::Cpu).map_err(data)?;
                let mut probs = pred
                    .into_iter()
                    .next()
                    .map(|p| p.frame_probs)
                    .unwrap_or_default();
                if !m.calibrators.is_empty() {
                    for (i, p) in probs.iter_mut().enumerate() {
                        let q = (*p as f64).clamp(1e-7, 1.0 - 1e-7);
                        *p = m.calibrators[i % c].predict_one((q / (1.0 - q)).ln()) as f32;
                    }
                }
                Ok(probs)
            }
        }
    }

    /// The streaming plan of this detector.
    pub fn plan(&self) -> ScanPlan<'_> {
        ScanPlan {
            window_samples: self.window_samples,
            hop_samples: self.hop_samples,
            merge: self.merge,
            labels: &self.labels,
            post: &self.post,
        }
    }

    /// Scans one recording; `keep_scores` keeps the merged score curve for output.
    pub fn scan(&self, path: &Path, id: &str, keep_scores: bool) -> Result<FileResult, String> {
        let entry = match (&self.cache, &self.detector.model) {
            (Some(root), DetectorModel::Pooled(_)) => {
                let sha = crate::cache::file_sha256(path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                let key = crate::cache::sha256_hex(
                    format!(
                        "{}|scan|{}|{}|{}|{}|{:?}",
                        crate::cache::FORMAT_VERSION,
                        self.encoder_key,
                        self.layers,
                        self.window_samples,
                        self.hop_samples,
                        self.pooling
                    )
                    .as_bytes(),
                );
                Some(
                    root.join("scan")
                        .join(&key[..16])
                        .join(format!("{sha}.npz")),
                )
            }
            _ => None,
        };
        if let Some(p) = entry.as_ref().filter(|p| p.exists()) {
            if let Some((rows, end, windows)) = read_rows(p) {
                return self.replay(&rows, end, windows, id, keep_scores);
            }
        }
        let Some(p) = entry else {
            return scan_stream(self, &self.plan(), path, id, keep_scores);
        };
        let rec = Recorder {
            s: self,
            rows: std::cell::RefCell::new(Vec::new()),
        };
        let r = scan_stream(&rec, &self.plan(), path, id, keep_scores)?;
        let rows = rec.rows.into_inner();
        let end = (r.audio_secs * self.sample_rate() as f64).round() as u64;
        // A cache that cannot be written costs speed, not the scan.
        if let Err(e) = write_rows(&p, &rows, end, r.windows) {
            eprintln!("warning: embedding cache {}: {e}", p.display());
        }
        Ok(r)
    }

    /// Scores and events from cached window rows, without audio.
    fn replay(
        &self,
        rows: &[(Vec<f32>, u64)],
        end: u64,
        windows: usize,
        id: &str,
        keep_scores: bool,
    ) -> Result<FileResult, String> {
        let c = self.columns.len();
        let mut st = Stitcher::new(self.score_grid, c, self.merge).map_err(data)?;
        let mut curve = Vec::new();
        for (k, (row, len)) in rows.iter().enumerate() {
            let start = k as u64 * self.hop_samples;
            let cells = self.cells(&self.row_probs(row)?, *len);
            let f = Frames::new(cells, c, self.score_grid.shifted(start as i64)).map_err(data)?;
            st.add(&f).map_err(data)?;
            curve.extend_from_slice(&st.drain_ready(start + self.hop_samples).data);
        }
        curve.extend_from_slice(&st.finish(end).data);
        let scores = Frames::new(curve, c, self.score_grid).map_err(data)?;
        let ev = events(&scores, &self.labels, id, &self.post, Some(end)).map_err(data)?;
        let (ev, whole_recording) =
            drop_whole_recording(ev, end as f64 / self.sample_rate() as f64);
        Ok(FileResult {
            events: ev,
            whole_recording,
            scores: keep_scores.then_some(scores),
            audio_secs: end as f64 / self.sample_rate() as f64,
            windows,
        })
    }

    /// The encoder's frames of one window's real samples (selected layers concatenated).
    fn frames_of(&self, samples: &[f32], path: &Path) -> Result<Frames, String> {
        let out = self
            .model
            .encoder
            .encode(samples, &self.layers)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let refs: Vec<&Frames> = out.layers.iter().map(|(_, f)| f).collect();
        earmark_encoders::concat_layers(&refs).map_err(data)
    }

    /// A pooled head's calibrated probabilities of the event columns for one row.
    fn row_probs(&self, row: &[f32]) -> Result<Vec<f32>, String> {
        let DetectorModel::Pooled(m) = &self.detector.model else {
            return Err("row probabilities need a pooled-embedding head".into());
        };
        let p = m
            .predict_proba(earmark_heads::Rows::new(row, 1, row.len()).map_err(data)?)
            .map_err(data)?;
        Ok(self.columns.iter().map(|&k| p[k] as f32).collect())
    }

    /// A window's probabilities on every hop cell its `len` real samples cover.
    fn cells(&self, probs: &[f32], len: u64) -> Vec<f32> {
        let n = len.div_ceil(self.hop_samples) as usize;
        (0..n).flat_map(|_| probs.iter().copied()).collect()
    }
}

/// What turns one window of audio into scores: the seam between the streaming loop (windows,
/// stitching, events) and what computes scores, so the loop's timing can be tested with a
/// scorer whose answer is known.
pub trait WindowScorer {
    /// The rate windows are resampled to.
    fn sample_rate(&self) -> u32;
    /// The grid of a window's scores when the window starts at sample 0; a window starting at
    /// `s` has its scores on this grid shifted by `s`.
    fn window_grid(&self) -> FrameGrid;
    /// The grid scores are merged on for the whole file.
    fn file_grid(&self) -> FrameGrid;
    fn n_classes(&self) -> usize;
    /// Windows whose real audio is shorter than this are not scored.
    fn min_samples(&self) -> usize;
    /// Scores `[frames, classes]` (row-major) of a window's real samples.
    fn score(&self, samples: &[f32], path: &Path) -> Result<Vec<f32>, String>;
}

/// How a recording is cut and how its scores become events.
pub struct ScanPlan<'a> {
    pub window_samples: usize,
    /// A multiple of the window grid's hop.
    pub hop_samples: u64,
    pub merge: Merge,
    pub labels: &'a LabelSet,
    pub post: &'a PostProcess,
}

/// The streaming loop: windows of `path` → `scorer` → scores merged on the file grid → events.
pub fn scan_stream(
    scorer: &dyn WindowScorer,
    plan: &ScanPlan,
    path: &Path,
    id: &str,
    keep_scores: bool,
) -> Result<FileResult, String> {
    let rate = scorer.sample_rate();
    let wopts = WindowOptions {
        window_secs: plan.window_samples as f64 / rate as f64,
        hop_secs: plan.hop_samples as f64 / rate as f64,
        target_rate: Some(rate),
        last: LastWindow::Pad,
    };
    let windows = Windows::open(path, &wopts).map_err(|e| e.to_string())?;
    let c = scorer.n_classes();
    let mut st = Stitcher::new(scorer.file_grid(), c, plan.merge).map_err(data)?;
    let mut curve: Vec<f32> = Vec::new();
    let (mut end, mut n_windows) = (0u64, 0usize);
    for w in windows {
        let w = w.map_err(|e| e.to_string())?;
        n_windows += 1;
        end = end.max(w.start_sample + w.valid as u64);
        if w.valid < scorer.min_samples() {
            continue; // a tail shorter than one frame: nothing to score
        }
        let rows = scorer.score(&w.samples[..w.valid], path)?;
        if rows.is_empty() {
            continue;
        }
        let scored = Frames::new(rows, c, scorer.window_grid().shifted(w.start_sample as i64))
            .map_err(data)?;
        st.add(&scored).map_err(data)?;
        let ready = st.drain_ready(w.start_sample + plan.hop_samples);
        curve.extend_from_slice(&ready.data);
    }
    if n_windows == 0 || end == 0 {
        return Err(format!("{}: no audio", path.display()));
    }
    let rest = st.finish(end);
    curve.extend_from_slice(&rest.data);
    let scores = Frames::new(curve, c, scorer.file_grid()).map_err(data)?;
    let ev = events(&scores, plan.labels, id, plan.post, Some(end)).map_err(data)?;
    let (ev, whole_recording) = drop_whole_recording(ev, end as f64 / rate as f64);
    Ok(FileResult {
        events: ev,
        whole_recording,
        scores: keep_scores.then_some(scores),
        audio_secs: end as f64 / rate as f64,
        windows: n_windows,
    })
}

/// An event covering at least this fraction of its recording covers "the whole recording".
pub const WHOLE_RECORDING_FRACTION: f64 = 0.95;

/// Splits off the events that cover (almost) a whole recording of `secs` seconds: returns the
/// others and the classes of the dropped ones.
pub fn drop_whole_recording(ev: EventList, secs: f64) -> (EventList, Vec<String>) {
    let mut whole = Vec::new();
    let events = ev
        .events
        .into_iter()
        .filter(|e| {
            let covers = secs > 0.0 && e.offset - e.onset >= WHOLE_RECORDING_FRACTION * secs;
            if covers && !whole.contains(&e.label) {
                whole.push(e.label.clone());
            }
            !covers
        })
        .collect();
    (EventList { events }, whole)
}

impl WindowScorer for Scanner {
    fn sample_rate(&self) -> u32 {
        self.model.encoder.sample_rate()
    }

    fn window_grid(&self) -> FrameGrid {
        match self.detector.model {
            DetectorModel::Mil(_) => self.model.encoder.grid(),
            DetectorModel::Pooled(_) => self.score_grid,
        }
    }

    fn file_grid(&self) -> FrameGrid {
        self.score_grid
    }

    fn n_classes(&self) -> usize {
        self.columns.len()
    }

    fn min_samples(&self) -> usize {
        (self.model.encoder.grid().win as usize).max(1)
    }

    fn score(&self, samples: &[f32], path: &Path) -> Result<Vec<f32>, String> {
        let frames = self.frames_of(samples, path)?;
        if frames.n_frames() == 0 {
            return Ok(Vec::new());
        }
        let s = self.window_scores(&frames)?;
        Ok(match self.detector.model {
            DetectorModel::Mil(_) => s,
            DetectorModel::Pooled(_) => self.cells(&s, samples.len() as u64),
        })
    }
}

/// A pooled detector's scorer that keeps each window's pooled row for the cache.
struct Recorder<'a> {
    s: &'a Scanner,
    rows: std::cell::RefCell<Vec<(Vec<f32>, u64)>>,
}

impl WindowScorer for Recorder<'_> {
    fn sample_rate(&self) -> u32 {
        self.s.sample_rate()
    }
    fn window_grid(&self) -> FrameGrid {
        self.s.window_grid()
    }
    fn file_grid(&self) -> FrameGrid {
        self.s.file_grid()
    }
    fn n_classes(&self) -> usize {
        self.s.n_classes()
    }
    fn min_samples(&self) -> usize {
        self.s.min_samples()
    }
    fn score(&self, samples: &[f32], path: &Path) -> Result<Vec<f32>, String> {
        let frames = self.s.frames_of(samples, path)?;
        if frames.n_frames() == 0 {
            // Keep window k at index k: an unscorable window can only be the last one.
            return Ok(Vec::new());
        }
        let row = self
            .s
            .pooling
            .unwrap_or_default()
            .pool(&frames.data, frames.dim);
        let probs = self.s.row_probs(&row)?;
        self.rows.borrow_mut().push((row, samples.len() as u64));
        Ok(self.s.cells(&probs, samples.len() as u64))
    }
}

fn write_rows(p: &Path, rows: &[(Vec<f32>, u64)], end: u64, windows: usize) -> std::io::Result<()> {
    let dim = rows.first().map_or(0, |r| r.0.len());
    let mut npz = crate::npz::Npz::new();
    let flat: Vec<f32> = rows.iter().flat_map(|r| r.0.iter().copied()).collect();
    npz.add_f32("rows", &[rows.len(), dim], &flat);
    // Window lengths in samples (exact in f32 below 2^24 samples, ~17 min at 16 kHz).
    let lens: Vec<f32> = rows.iter().map(|r| r.1 as f32).collect();
    npz.add_f32("lens", &[rows.len()], &lens);
    npz.add_i64("end", end as i64);
    npz.add_i64("windows", windows as i64);
    npz.write(p)
}

/// Cached pooled rows of a recording: each window's row and its real length in samples, the
/// recording's length in samples, and how many windows the scan cut.
type CachedRows = (Vec<(Vec<f32>, u64)>, u64, usize);

fn read_rows(p: &Path) -> Option<CachedRows> {
    use crate::npy::NpyData;
    let m = crate::npy::read_npz(p).ok()?;
    let (NpyData::Float(r), NpyData::Float(l)) = (&m.get("rows")?.data, &m.get("lens")?.data)
    else {
        return None;
    };
    let int = |k: &str| match &m.get(k)?.data {
        NpyData::Int(v) if v.len() == 1 => Some(v[0]),
        _ => None,
    };
    let shape = &m.get("rows")?.shape;
    let (n, dim) = (*shape.first()?, *shape.get(1)?);
    if l.len() != n || r.len() != n * dim || dim == 0 {
        return None;
    }
    let rows = (0..n)
        .map(|i| {
            (
                r[i * dim..(i + 1) * dim]
                    .iter()
                    .map(|&v| v as f32)
                    .collect(),
                l[i] as u64,
            )
        })
        .collect();
    Some((
        rows,
        u64::try_from(int("end")?).ok()?,
        usize::try_from(int("windows")?).ok()?,
    ))
}
