//! Detector bundles: what `earmark train` writes and `earmark predict` / `earmark scan` read.
//!
//! A detector is a directory:
//!
//! | file | holds |
//! |---|---|
//! | `detector.json` | the [`Manifest`]: classes, task, input (encoder name and checkpoint hash, layers, window and hop, pooling), head, calibration, per-class thresholds, training-data summary, validation metrics |
//! | `model.json` + `model.safetensors` | a pooled-embedding head (gradient-boosted trees, logistic or MLP probe) with its calibrators; large arrays in the safetensors file ([`store`]) |
//! | `head/` | a MIL frame head (`--head mil`): config and weights as `earmark_heads::save_head` writes them, and `calibrators.json` |
//! | `reliability.svg` | the reliability diagram of the held-out predictions, before and after calibration |
//!
//! Everything is written into a temporary sibling directory first and renamed into place, so a
//! failed run never leaves half a detector under the final name.

pub mod crnn;
pub mod input;
pub mod rows;
pub mod store;
pub mod thresholds;
pub mod train;

use earmark_heads::{
    Calibrated, Classifier, FittedCalibrator, FrameHead, GbtModel, HeadError, LogisticModel,
    MlpModel, Rows, Task,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use input::{audio_input, embeddings_input};
pub use rows::{EmbeddingPooling, LabelKind};
pub use thresholds::{ClassMetrics, Threshold, ThresholdRule};
pub use train::{resolve_head, train_detector, HeadKindArg, TrainInput, TrainSettings, Trained};

/// The manifest's `format` value.
pub const FORMAT: &str = "earmark-detector";
/// The manifest's `version`: bumped when a field changes meaning.
pub const VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum DetectorError {
    #[error("{path}: {reason}")]
    Io { path: PathBuf, reason: String },
    #[error("{path}: not an earmark detector: {reason}")]
    NotADetector { path: PathBuf, reason: String },
    #[error("{what}")]
    Data { what: String },
    #[error(transparent)]
    Head(#[from] HeadError),
    #[error("tensor computation failed: {0}")]
    Tensor(#[from] candle_core::Error),
}

impl DetectorError {
    pub(crate) fn io(path: &Path, reason: impl ToString) -> Self {
        DetectorError::Io {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn data(what: impl ToString) -> Self {
        DetectorError::Data {
            what: what.to_string(),
        }
    }
}

/// The encoder a detector reads, pinned by its weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncoderSpec {
    /// As given to `--encoder` (registry name, folder, `.pth`, `scratch:FILE`).
    pub name: String,
    pub source: String,
    /// Identity of the weights (a SHA-256 of the checkpoint bytes, or of the built-in
    /// encoder's seed and config): a scan refuses an encoder whose identity differs.
    pub checkpoint_id: String,
    pub layers: String,
    pub sample_rate: u32,
    pub hop_samples: usize,
    /// EAT's `--eat-frames` policy at training (`1024`, `round16`); a scan loads the encoder the
    /// same way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eat_frames: Option<String>,
}

/// What the detector's head reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputSpec {
    /// `embeddings` (trained on a matrix the user gave) or `audio`.
    pub kind: String,
    /// Row dimension of the pooled embedding (MIL: of the frames).
    pub dim: usize,
    pub encoder: Option<EncoderSpec>,
    /// How frames become a row: `mean`, `max`, `mean_max`; for MIL heads, the MIL pooling rule.
    pub pooling: String,
    /// The window a scan cuts and pools (weak labels: the median training clip; strong labels:
    /// `--window`).
    pub window_secs: Option<f64>,
    pub hop_secs: Option<f64>,
    /// `weak` or `strong` when trained from audio.
    pub labels: Option<String>,
    /// Strong labels: the overlap fraction that made a window positive.
    pub overlap_fraction: Option<f64>,
}

/// Head and calibration, as trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadSpec {
    pub kind: String,
    pub options: serde_json::Value,
    pub calibration: String,
    pub cv: usize,
}

/// What the detector was trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct TrainingSummary {
    pub rows: usize,
    /// Rows in which each class is present.
    pub positives: BTreeMap<String, usize>,
    pub files: Option<usize>,
    pub failed_files: Vec<FailedFile>,
    pub seconds: f64,
}

/// A file that could not be used, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedFile {
    pub file: String,
    pub reason: String,
}

/// Held-out quality per class, and where it was measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Validation {
    /// e.g. "out-of-fold predictions of 3-fold cross-validation on the training rows".
    pub protocol: String,
    pub classes: BTreeMap<String, ClassMetrics>,
}

/// `detector.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub created_by: String,
    /// Column names of the probabilities, in order.
    pub classes: Vec<String>,
    pub task: Task,
    pub input: InputSpec,
    pub head: HeadSpec,
    /// Per class: the probability at which a scan reports it, unless overridden.
    pub thresholds: BTreeMap<String, Threshold>,
    pub training: TrainingSummary,
    pub validation: Validation,
    /// Per class: how frame scores become events (median filter, minimum length), chosen on
    /// held-out clips with the thresholds. Empty for detectors that leave it to the scan's
    /// defaults.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub post: BTreeMap<String, crnn::ClassPost>,
}

/// A pooled-embedding head with its calibration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PooledModel {
    Gbt(Calibrated<GbtModel>),
    Logistic(Calibrated<LogisticModel>),
    Mlp(Calibrated<MlpModel>),
}

impl PooledModel {
    /// Calibrated probabilities `[rows, n_classes]`.
    pub fn predict_proba(&self, x: Rows) -> Result<Vec<f64>, HeadError> {
        match self {
            PooledModel::Gbt(m) => m.predict_proba(x),
            PooledModel::Logistic(m) => m.predict_proba(x),
            PooledModel::Mlp(m) => m.predict_proba(x),
        }
    }

    pub fn dim(&self) -> usize {
        match self {
            PooledModel::Gbt(m) => m.dim(),
            PooledModel::Logistic(m) => m.dim(),
            PooledModel::Mlp(m) => m.dim(),
        }
    }
}

/// A MIL frame head and the per-class calibrators of its clip scores (also applied to frame
/// probabilities: the maps are monotone, so events only move with the threshold's meaning).
pub struct MilModel {
    pub head: FrameHead,
    pub varmap: candle_nn::VarMap,
    pub calibrators: Vec<FittedCalibrator>,
    /// The encoder trained with the head (`crnn` detectors: the built-in CRNN's trunk), kept in
    /// the detector's `encoder/` folder; `None` when the head reads a frozen registry encoder.
    pub encoder: Option<Box<earmark_encoders::ScratchEncoder>>,
}

/// The fitted part of a detector.
pub enum DetectorModel {
    Pooled(PooledModel),
    Mil(MilModel),
}

/// A loaded detector.
pub struct Detector {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub model: DetectorModel,
}

const MANIFEST: &str = "detector.json";
const MODEL_JSON: &str = "model.json";
const MODEL_WEIGHTS: &str = "model.safetensors";
const MIL_DIR: &str = "head";
const MIL_CALIBRATORS: &str = "calibrators.json";
/// A trained built-in encoder: `config.json` (its `ScratchConfig`) and `model.safetensors`.
pub const ENCODER_DIR: &str = "encoder";
const ENCODER_CONFIG: &str = "config.json";
const ENCODER_WEIGHTS: &str = "model.safetensors";

/// The built-in encoder saved in a detector's `encoder/` folder.
pub fn load_trained_encoder(dir: &Path) -> Result<earmark_encoders::ScratchEncoder, DetectorError> {
    let cpath = dir.join(ENCODER_CONFIG);
    let text = std::fs::read_to_string(&cpath).map_err(|e| DetectorError::io(&cpath, e))?;
    let cfg: earmark_encoders::ScratchConfig =
        serde_json::from_str(&text).map_err(|e| DetectorError::io(&cpath, e))?;
    cfg.validate()
        .map_err(|e| DetectorError::io(&cpath, format!("encoder config: {e}")))?;
    earmark_encoders::ScratchEncoder::from_safetensors(
        cfg,
        &dir.join(ENCODER_WEIGHTS),
        &candle_core::Device::Cpu,
    )
    .map_err(|e| DetectorError::io(dir, e))
}

impl Detector {
    /// Reads a detector directory, checking its format, version and files.
    pub fn load(dir: &Path) -> Result<Detector, DetectorError> {
        let not = |reason: String| DetectorError::NotADetector {
            path: dir.to_path_buf(),
            reason,
        };
        let mpath = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&mpath)
            .map_err(|e| not(format!("cannot read {MANIFEST}: {e}")))?;
        let raw: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| not(format!("{MANIFEST}: {e}")))?;
        if raw.get("format").and_then(|v| v.as_str()) != Some(FORMAT) {
            return Err(not(format!("{MANIFEST} has no \"format\": \"{FORMAT}\"")));
        }
        let version = raw.get("version").and_then(|v| v.as_u64()).unwrap_or(0);
        if version != VERSION as u64 {
            return Err(not(format!(
                "{MANIFEST} is version {version}; this earmark reads version {VERSION}"
            )));
        }
        let manifest: Manifest =
            serde_json::from_value(raw).map_err(|e| not(format!("{MANIFEST}: {e}")))?;
        let model = if manifest.head.kind == "mil" || manifest.head.kind == "crnn" {
            let hdir = dir.join(MIL_DIR);
            let (head, varmap) = earmark_heads::load_head(&hdir, &candle_core::Device::Cpu)?;
            let cpath = hdir.join(MIL_CALIBRATORS);
            let calibrators = if cpath.exists() {
                let t =
                    std::fs::read_to_string(&cpath).map_err(|e| DetectorError::io(&cpath, e))?;
                serde_json::from_str(&t).map_err(|e| DetectorError::io(&cpath, e))?
            } else {
                Vec::new()
            };
            let edir = dir.join(ENCODER_DIR);
            let encoder = if edir.join(ENCODER_CONFIG).exists() {
                Some(Box::new(load_trained_encoder(&edir)?))
            } else {
                None
            };
            DetectorModel::Mil(MilModel {
                head,
                varmap,
                calibrators,
                encoder,
            })
        } else {
            let value =
                store::load(&dir.join(MODEL_JSON), &dir.join(MODEL_WEIGHTS)).map_err(&not)?;
            let m: PooledModel =
                serde_json::from_value(value).map_err(|e| not(format!("{MODEL_JSON}: {e}")))?;
            if m.dim() != manifest.input.dim {
                return Err(not(format!(
                    "{MODEL_JSON} reads {}-dim rows, {MANIFEST} says {}",
                    m.dim(),
                    manifest.input.dim
                )));
            }
            DetectorModel::Pooled(m)
        };
        if manifest.classes.len() != manifest.task.n_classes() {
            return Err(not(format!(
                "{} classes for a {:?} task",
                manifest.classes.len(),
                manifest.task
            )));
        }
        Ok(Detector {
            dir: dir.to_path_buf(),
            manifest,
            model,
        })
    }

    /// Calibrated probabilities `[rows, classes]` of pooled embedding rows (`X` of `earmark
    /// predict`). MIL detectors read frames, not rows: use a scan.
    pub fn predict_rows(
        &self,
        x: &[f32],
        rows: usize,
        dim: usize,
    ) -> Result<Vec<f64>, DetectorError> {
        let DetectorModel::Pooled(m) = &self.model else {
            return Err(DetectorError::data(format!(
                "{}: a MIL detector scores frames of audio, not embedding rows; run `earmark scan` on audio",
                self.dir.display()
            )));
        };
        if dim != self.manifest.input.dim {
            return Err(DetectorError::data(format!(
                "embeddings have {dim} columns; the detector {} was trained on {}",
                self.dir.display(),
                self.manifest.input.dim
            )));
        }
        Ok(m.predict_proba(Rows::new(x, rows, dim)?)?)
    }
}

/// Writes a detector directory atomically (a temporary sibling renamed into place; an existing
/// detector at `dir` is replaced only once the new one is complete).
pub fn save_detector(
    dir: &Path,
    manifest: &Manifest,
    model: &DetectorModel,
    reliability_svg: Option<&str>,
) -> Result<(), DetectorError> {
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| DetectorError::io(parent, e))?;
    let name = dir
        .file_name()
        .ok_or_else(|| DetectorError::io(dir, "the output path has no folder name"))?
        .to_string_lossy()
        .into_owned();
    if dir.exists() && !dir.join(MANIFEST).exists() {
        let empty = std::fs::read_dir(dir)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !empty {
            return Err(DetectorError::io(
                dir,
                "exists and is not a detector directory; choose another --out (nothing was changed)",
            ));
        }
    }
    let tmp = parent.join(format!(".{name}.{}.partial", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| DetectorError::io(&tmp, e))?;
    let result = (|| {
        match model {
            DetectorModel::Pooled(m) => {
                let v = serde_json::to_value(m).map_err(|e| DetectorError::io(&tmp, e))?;
                store::save(v, &tmp.join(MODEL_JSON), &tmp.join(MODEL_WEIGHTS))
                    .map_err(|e| DetectorError::io(&tmp, e))?;
            }
            DetectorModel::Mil(m) => {
                let hdir = tmp.join(MIL_DIR);
                earmark_heads::save_head(&hdir, m.head.config(), &m.varmap)?;
                let t = serde_json::to_string_pretty(&m.calibrators)
                    .map_err(|e| DetectorError::io(&hdir, e))?;
                crate::atomic::write_atomic(&hdir.join(MIL_CALIBRATORS), t.as_bytes())
                    .map_err(|e| DetectorError::io(&hdir, e))?;
                if let Some(enc) = &m.encoder {
                    let edir = tmp.join(ENCODER_DIR);
                    std::fs::create_dir_all(&edir).map_err(|e| DetectorError::io(&edir, e))?;
                    let cfg = serde_json::to_string_pretty(enc.cnn().config())
                        .map_err(|e| DetectorError::io(&edir, e))?;
                    crate::atomic::write_atomic(&edir.join(ENCODER_CONFIG), cfg.as_bytes())
                        .map_err(|e| DetectorError::io(&edir, e))?;
                    enc.save(&edir.join(ENCODER_WEIGHTS))
                        .map_err(|e| DetectorError::io(&edir, e))?;
                }
            }
        }
        if let Some(svg) = reliability_svg.filter(|s| !s.is_empty()) {
            let p = tmp.join("reliability.svg");
            crate::atomic::write_atomic(&p, svg.as_bytes())
                .map_err(|e| DetectorError::io(&p, e))?;
        }
        let text =
            serde_json::to_string_pretty(manifest).map_err(|e| DetectorError::io(&tmp, e))?;
        let p = tmp.join(MANIFEST);
        crate::atomic::write_atomic(&p, text.as_bytes()).map_err(|e| DetectorError::io(&p, e))?;
        if dir.exists() {
            let old = parent.join(format!(".{name}.{}.old", std::process::id()));
            std::fs::rename(dir, &old).map_err(|e| DetectorError::io(dir, e))?;
            std::fs::rename(&tmp, dir).map_err(|e| DetectorError::io(dir, e))?;
            let _ = std::fs::remove_dir_all(&old);
        } else {
            std::fs::rename(&tmp, dir).map_err(|e| DetectorError::io(dir, e))?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}
