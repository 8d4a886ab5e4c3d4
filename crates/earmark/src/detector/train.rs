//! Training a detector: rows (from a matrix or from audio) → head → calibration → held-out
//! metrics and per-class thresholds → a [`Manifest`] and the fitted model.
//!
//! Held-out numbers for pooled heads are the out-of-fold predictions of `cv`-fold stratified
//! cross-validation on the training rows (the folds of the calibration itself; with
//! `--calibration none`, the same folds fitted for evaluation only, then one model on all rows).
//! MIL heads hold out a stratified 20 % of the recordings for early stopping, calibration and
//! metrics.

use super::rows::{AudioRows, EmbeddingPooling, LabelKind};
use super::thresholds::{class_metrics, ThresholdRule};
use super::{
    DetectorError, DetectorModel, EncoderSpec, HeadSpec, InputSpec, Manifest, MilModel,
    PooledModel, TrainingSummary, Validation, FORMAT, VERSION,
};
use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use earmark_eval::calibration::{calibration_curve, BinStrategy};
use earmark_heads::{
    fit_calibrated, fit_standardizer, predict, stratified_kfold, stratified_split, Calibration,
    Classifier, Example, FittedCalibrator, FrameHead, Gbt, GbtOptions, HeadConfig, HeadKind,
    Learner, Logistic, LogisticOptions, Mlp, MlpOptions, Pooling, Rows, Targets, Task,
};
use earmark_report::{line_plot, LinePlot, Series};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Instant;

/// `--head`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum HeadKindArg {
    /// Histogram gradient-boosted trees on pooled embeddings.
    #[default]
    Gbt,
    Logistic,
    Mlp,
    /// A MIL frame head on the frames (the time axis kept; clip labels through a pooling rule).
    Mil,
    /// The built-in CRNN trained end to end from clip labels ([`super::crnn`]); the default
    /// for the built-in encoder.
    Crnn,
}

impl FromStr for HeadKindArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "gbt" => Ok(HeadKindArg::Gbt),
            "logistic" => Ok(HeadKindArg::Logistic),
            "mlp" => Ok(HeadKindArg::Mlp),
            "mil" => Ok(HeadKindArg::Mil),
            "crnn" => Ok(HeadKindArg::Crnn),
            o => Err(format!(
                "unknown head {o:?}: use crnn, gbt, logistic, mlp or mil"
            )),
        }
    }
}

impl std::fmt::Display for HeadKindArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HeadKindArg::Gbt => "gbt",
            HeadKindArg::Logistic => "logistic",
            HeadKindArg::Mlp => "mlp",
            HeadKindArg::Mil => "mil",
            HeadKindArg::Crnn => "crnn",
        })
    }
}

/// The head a run trains when `given` may be unset. The built-in encoder with weak labels learns
/// end to end ([`HeadKindArg::Crnn`]; `mil` means the same there): a frozen random encoder is
/// never a default. Pretrained encoders get gradient-boosted trees. `earmark train` and the web
/// page's train dialog both resolve through this.
pub fn resolve_head(
    encoder: &str,
    weak: bool,
    given: Option<HeadKindArg>,
) -> Result<HeadKindArg, String> {
    let builtin = encoder == "scratch";
    match (given, builtin) {
        (Some(HeadKindArg::Crnn), false) => Err(format!(
            "--head crnn trains the built-in encoder; drop --encoder {encoder} (or use --head mil \
             on its frozen frames)"
        )),
        (Some(HeadKindArg::Crnn | HeadKindArg::Mil) | None, true) if weak => Ok(HeadKindArg::Crnn),
        (Some(HeadKindArg::Crnn), true) => {
            Err("--head crnn learns from clip labels: give --weak TSV".into())
        }
        (Some(h), _) => Ok(h),
        (None, _) => Ok(HeadKindArg::Gbt),
    }
}

/// Everything `earmark train` decides besides the data.
#[derive(Debug, Clone)]
pub struct TrainSettings {
    pub head: HeadKindArg,
    pub calibration: Calibration,
    pub cv: usize,
    pub threshold_rule: ThresholdRule,
    pub gbt: GbtOptions,
    pub logistic: LogisticOptions,
    pub mlp: MlpOptions,
    pub mil: earmark_heads::TrainOptions,
    pub mil_pooling: Pooling,
    /// The MIL frame head: the logistic probe per frame (`Linear`), the MLP probe per frame, or
    /// a temporal conv (each frame sees its neighbours).
    pub mil_head: HeadKind,
    pub seed: u64,
}

impl Default for TrainSettings {
    fn default() -> Self {
        TrainSettings {
            head: HeadKindArg::Gbt,
            calibration: Calibration::Isotonic,
            cv: 3,
            threshold_rule: ThresholdRule::BestF1,
            gbt: GbtOptions::default(),
            logistic: LogisticOptions::default(),
            mlp: MlpOptions::default(),
            mil: earmark_heads::TrainOptions::default(),
            mil_pooling: Pooling::Max,
            mil_head: HeadKind::Conv {
                hidden: 64,
                kernel: 5,
            },
            seed: 0,
        }
    }
}

/// What a detector is trained on.
pub enum TrainInput {
    /// A matrix the user gave (`--embeddings X.npz`).
    Embeddings {
        x: Vec<f32>,
        dim: usize,
        targets: Targets,
        classes: Vec<String>,
        source: String,
    },
    /// Rows built from recordings ([`super::rows::audio_rows`]).
    Audio {
        rows: Box<AudioRows>,
        encoder: EncoderSpec,
        labels: LabelKind,
        pooling: EmbeddingPooling,
    },
}

/// A trained detector, ready for [`super::save_detector`].
pub struct Trained {
    pub manifest: Manifest,
    pub model: DetectorModel,
    pub reliability_svg: String,
}

/// Out-of-fold probabilities `[rows, n_classes]` of `learner` without calibration.
fn cross_val_raw<L: Learner>(
    learner: &L,
    x: Rows,
    y: &Targets,
    cv: usize,
) -> Result<Vec<f64>, DetectorError> {
    let fold_of = stratified_kfold(&y.strata(), cv)?;
    let nc = y.task.n_classes();
    let mut out = vec![0.0; x.rows * nc];
    for f in 0..cv {
        let (test, train): (Vec<usize>, Vec<usize>) = (0..x.rows).partition(|&i| fold_of[i] == f);
        let xt = x.select(&train);
        let m = learner.fit(Rows::new(&xt, train.len(), x.dim)?, &y.select(&train), None)?;
        let xv = x.select(&test);
        let p = m.predict_proba(Rows::new(&xv, test.len(), x.dim)?)?;
        for (j, &i) in test.iter().enumerate() {
            out[i * nc..(i + 1) * nc].copy_from_slice(&p[j * nc..(j + 1) * nc]);
        }
    }
    Ok(out)
}

/// Held-out *calibrated* probabilities that no calibrator saw: for each fold, calibrators fitted
/// on the other folds' held-out scores (log-odds of the raw probabilities) map this fold's
/// scores. The calibrators of the fitted model were fitted on each fold's own held-out rows, so
/// scoring them there would be in-sample (isotonic regression is then perfectly calibrated by
/// construction). Multi-class rows are renormalised as the fitted model does.
pub fn cross_fitted_calibration(
    task: Task,
    truth_of: &dyn Fn(usize) -> Vec<bool>,
    raw: &[f64],
    fold: &[usize],
    method: Calibration,
) -> Result<Vec<f64>, DetectorError> {
    if method == Calibration::None {
        return Ok(raw.to_vec());
    }
    let nc = task.n_classes();
    let n = fold.len();
    let k_folds = fold.iter().copied().max().map_or(0, |m| m + 1);
    let mut out = raw.to_vec();
    let cols: Vec<usize> = match task {
        Task::Binary => vec![1],
        t => (0..t.n_classes()).collect(),
    };
    for k in cols {
        let y = truth_of(k);
        let s: Vec<f64> = (0..n).map(|i| logit(raw[i * nc + k])).collect();
        for f in 0..k_folds {
            let (test, fit): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| fold[i] == f);
            let ys: Vec<bool> = fit.iter().map(|&i| y[i]).collect();
            if !ys.iter().any(|&b| b) || ys.iter().all(|&b| b) {
                continue; // one class only in the other folds: keep the raw probabilities
            }
            let ss: Vec<f64> = fit.iter().map(|&i| s[i]).collect();
            let Some(c) = FittedCalibrator::fit(method, &ss, &ys, None)? else {
                continue;
            };
            for &i in &test {
                out[i * nc + k] = c.predict_one(s[i]);
            }
        }
    }
    match task {
        Task::Binary => (0..n).for_each(|i| out[i * 2] = 1.0 - out[i * 2 + 1]),
        Task::MultiClass(_) => {
            for row in out.chunks_exact_mut(nc) {
                let z: f64 = row.iter().sum();
                row.iter_mut()
                    .for_each(|v| *v = if z > 0.0 { *v / z } else { 1.0 / nc as f64 });
            }
        }
        Task::MultiLabel(_) => {}
    }
    Ok(out)
}

/// Truth of probability column `k`.
fn truth(y: &Targets, k: usize) -> Vec<bool> {
    match y.task {
        Task::Binary if k == 0 => y.y.iter().map(|&v| v == 0).collect(),
        _ => y.column(k),
    }
}

/// Columns a reliability diagram and the per-class table show (binary: the positive class).
fn shown_columns(task: Task) -> Vec<usize> {
    match task {
        Task::Binary => vec![1],
        t => (0..t.n_classes()).collect(),
    }
}

/// The reliability diagram: per shown column pooled, fraction of positives against mean
/// probability in 10 uniform bins, before and after calibration.
pub fn reliability_svg(
    task: Task,
    truth_of: &dyn Fn(usize) -> Vec<bool>,
    raw: &[f64],
    calibrated: &[f64],
    method: Calibration,
) -> String {
    let nc = task.n_classes();
    let (mut y, mut r, mut c) = (Vec::new(), Vec::new(), Vec::new());
    for k in shown_columns(task) {
        y.extend(truth_of(k));
        r.extend(raw.iter().skip(k).step_by(nc).map(|p| p.clamp(0.0, 1.0)));
        c.extend(
            calibrated
                .iter()
                .skip(k)
                .step_by(nc)
                .map(|p| p.clamp(0.0, 1.0)),
        );
    }
    let curve = |p: &[f64]| {
        calibration_curve(&y, p, 10, BinStrategy::Uniform)
            .map(|cc| cc.prob_pred.into_iter().zip(cc.prob_true).collect())
            .unwrap_or_default()
    };
    let mut series = vec![
        Series::new("perfect calibration", vec![(0.0, 0.0), (1.0, 1.0)]),
        Series::new("uncalibrated", curve(&r)),
    ];
    series[0].dashed = true;
    if method != Calibration::None {
        series.push(Series::new(format!("{method}"), curve(&c)));
    }
    line_plot(&LinePlot {
        title: "Reliability (held-out predictions)".into(),
        x_label: "mean predicted probability".into(),
        y_label: "fraction positive".into(),
        series,
        y_range: Some((0.0, 1.0)),
        width: 480,
        height: 360,
        ..LinePlot::default()
    })
}

fn options_json<T: Serialize>(o: &T) -> serde_json::Value {
    serde_json::to_value(o).unwrap_or(serde_json::Value::Null)
}

/// Trains a detector on `input` with `settings`.
pub fn train_detector(
    input: TrainInput,
    settings: &TrainSettings,
) -> Result<Trained, DetectorError> {
    let start = Instant::now();
    if settings.head == HeadKindArg::Mil {
        let TrainInput::Audio {
            rows,
            encoder,
            labels,
            ..
        } = input
        else {
            return Err(DetectorError::data(
                "--head mil trains on frames: give --audio with labels, not --embeddings",
            ));
        };
        return train_mil(*rows, encoder, labels, settings, start);
    }
    let (x, dim, targets, classes, input_spec, mut training) = match input {
        TrainInput::Embeddings {
            x,
            dim,
            targets,
            classes,
            source,
        } => {
            let spec = InputSpec {
                kind: "embeddings".into(),
                dim,
                encoder: None,
                pooling: format!("as given ({source})"),
                window_secs: None,
                hop_secs: None,
                labels: None,
                overlap_fraction: None,
            };
            let rows = targets.rows();
            (
                x,
                dim,
                targets,
                classes,
                spec,
                TrainingSummary {
                    rows,
                    ..Default::default()
                },
            )
        }
        TrainInput::Audio {
            rows,
            encoder,
            labels,
            pooling,
        } => {
            let (labels_name, window, hop, overlap) = match &labels {
                LabelKind::Weak(_) => {
                    // A scan window as long as a typical training clip, half overlapping.
                    let w = (rows.median_file_secs * 10.0).round() / 10.0;
                    ("weak", w, w / 2.0, None)
                }
                LabelKind::Strong {
                    window_secs,
                    hop_secs,
                    overlap_fraction,
                    ..
                } => ("strong", *window_secs, *hop_secs, Some(*overlap_fraction)),
            };
            let spec = InputSpec {
                kind: "audio".into(),
                dim: rows.dim,
                encoder: Some(encoder),
                pooling: pooling.to_string(),
                window_secs: Some(window),
                hop_secs: Some(hop),
                labels: Some(labels_name.into()),
                overlap_fraction: overlap,
            };
            let n = rows.rows();
            let t = Targets::multi_label(rows.y, rows.classes.len())?;
            let summary = TrainingSummary {
                rows: n,
                files: Some(rows.files),
                failed_files: rows.failed,
                ..Default::default()
            };
            (rows.x, rows.dim, t, rows.classes, spec, summary)
        }
    };
    let n = targets.rows();
    let xr = Rows::new(&x, n, dim)?;
    for (k, name) in classes.iter().enumerate() {
        training.positives.insert(
            name.clone(),
            truth(&targets, k).iter().filter(|&&b| b).count(),
        );
    }
    let (method, cv) = (settings.calibration, settings.cv);
    if cv < 2 {
        return Err(DetectorError::data(format!(
            "--cv must be at least 2, got {cv}"
        )));
    }
    macro_rules! fit {
        ($learner:expr, $variant:ident) => {{
            let learner = $learner;
            let mut m = fit_calibrated(&learner, xr, &targets, None, method, cv)?;
            let (raw, cal) = match &m.out_of_fold {
                Some(o) => {
                    let cal = cross_fitted_calibration(
                        targets.task,
                        &|k| truth(&targets, k),
                        &o.raw_proba,
                        &o.fold,
                        method,
                    )?;
                    (o.raw_proba.clone(), cal)
                }
                None => {
                    let r = cross_val_raw(&learner, xr, &targets, cv)?;
                    (r.clone(), r)
                }
            };
            // The held-out predictions are summarised in the manifest; the bundle stays small.
            m.out_of_fold = None;
            (
                PooledModel::$variant(m),
                raw,
                cal,
                options_json(&learner.options),
            )
        }};
    }
    let (model, raw, cal, options) = match settings.head {
        HeadKindArg::Gbt => fit!(
            Gbt {
                options: GbtOptions {
                    seed: settings.seed,
                    ..settings.gbt.clone()
                }
            },
            Gbt
        ),
        HeadKindArg::Logistic => fit!(
            Logistic {
                options: settings.logistic.clone()
            },
            Logistic
        ),
        HeadKindArg::Mlp => fit!(
            Mlp {
                options: MlpOptions {
                    seed: settings.seed,
                    ..settings.mlp.clone()
                }
            },
            Mlp
        ),
        HeadKindArg::Mil => unreachable!("handled above"),
        HeadKindArg::Crnn => {
            return Err(DetectorError::data(
                "--head crnn trains the built-in CRNN from log-mel: use crnn::crnn_detector",
            ))
        }
    };
    let (validation, thresholds) = held_out(
        &classes,
        &|k| truth(&targets, k),
        &raw,
        &cal,
        settings.threshold_rule,
        format!(
            "out-of-fold predictions of {cv}-fold stratified cross-validation on the {n} training \
             rows; calibrated values from calibrators fitted on the other folds' held-out scores"
        ),
    );
    let svg = reliability_svg(targets.task, &|k| truth(&targets, k), &raw, &cal, method);
    training.seconds = start.elapsed().as_secs_f64();
    let manifest = Manifest {
        format: FORMAT.into(),
        version: VERSION,
        created_by: format!("earmark {}", env!("CARGO_PKG_VERSION")),
        classes,
        task: targets.task,
        input: input_spec,
        head: HeadSpec {
            kind: settings.head.to_string(),
            options,
            calibration: method.to_string(),
            cv,
        },
        thresholds,
        training,
        validation,
        post: BTreeMap::new(),
    };
    Ok(Trained {
        manifest,
        model: DetectorModel::Pooled(model),
        reliability_svg: svg,
    })
}

/// Per-class held-out metrics and thresholds from held-out probabilities `[rows, classes]`.
fn held_out(
    classes: &[String],
    truth_of: &dyn Fn(usize) -> Vec<bool>,
    raw: &[f64],
    cal: &[f64],
    rule: ThresholdRule,
    protocol: String,
) -> (Validation, BTreeMap<String, super::Threshold>) {
    let nc = classes.len();
    let col = |v: &[f64], k: usize| v.iter().skip(k).step_by(nc).copied().collect::<Vec<_>>();
    let mut validation = Validation {
        protocol,
        classes: BTreeMap::new(),
    };
    let mut thresholds = BTreeMap::new();
    for (k, name) in classes.iter().enumerate() {
        let m = class_metrics(&truth_of(k), &col(raw, k), &col(cal, k), rule);
        thresholds.insert(name.clone(), m.threshold.clone());
        validation.classes.insert(name.clone(), m);
    }
    (validation, thresholds)
}

/// Log-odds of a probability, clamped (the calibrators read scores on that scale).
fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-7, 1.0 - 1e-7);
    (p / (1.0 - p)).ln()
}

fn train_mil(
    rows: AudioRows,
    encoder: EncoderSpec,
    labels: LabelKind,
    s: &TrainSettings,
    start: Instant,
) -> Result<Trained, DetectorError> {
    let device = Device::Cpu;
    let classes = rows.classes.clone();
    let c = classes.len();
    let examples: Vec<Example> = rows
        .clips
        .iter()
        .map(|(_, f, t)| Example {
            x: f.data.clone(),
            n_frames: f.n_frames(),
            dim: f.dim,
            targets: t.clone(),
        })
        .collect();
    let targets: Vec<Vec<f32>> = examples.iter().map(|e| e.targets.clone()).collect();
    let parts = stratified_split(&targets, &[0.8, 0.2], s.seed);
    let (train_idx, val_idx) = (&parts[0], &parts[1]);
    if train_idx.is_empty() || val_idx.is_empty() {
        return Err(DetectorError::data(format!(
            "{} usable recordings are too few to hold out validation clips for a MIL head",
            examples.len()
        )));
    }
    let pick = |idx: &[usize]| idx.iter().map(|&i| examples[i].clone()).collect::<Vec<_>>();
    let (train_ex, val_ex) = (pick(train_idx), pick(val_idx));
    let (mean, std) = fit_standardizer(&train_ex);
    let cfg = HeadConfig {
        in_dim: examples[0].dim,
        n_classes: c,
        kind: HeadKind::Conv {
            hidden: 64,
            kernel: 5,
        },
        pooling: s.mil_pooling,
        dropout: 0.1,
        input_mean: Some(mean),
        input_std: Some(std),
    };
    let varmap = VarMap::new();
    let head = FrameHead::new(cfg, VarBuilder::from_varmap(&varmap, DType::F32, &device))?;
    earmark_heads::init_varmap(&varmap, s.seed)?;
    let opts = earmark_heads::TrainOptions {
        seed: s.seed,
        ..s.mil.clone()
    };
    let report = earmark_heads::train(&head, &varmap, &train_ex, &val_ex, &opts, &device)?;
    let pred = predict(&head, &val_ex, 16, &device)?;
    let raw: Vec<f64> = pred
        .iter()
        .flat_map(|p| p.clip_probs.iter().map(|&v| v as f64))
        .collect();
    let truth_k = |k: usize| {
        val_ex
            .iter()
            .map(|e| e.targets[k] > 0.5)
            .collect::<Vec<bool>>()
    };
    let mut calibrators = Vec::new();
    let mut cal = raw.clone();
    if s.calibration != Calibration::None {
        for k in 0..c {
            let scores: Vec<f64> = raw.iter().skip(k).step_by(c).map(|&p| logit(p)).collect();
            let f = FittedCalibrator::fit(s.calibration, &scores, &truth_k(k), None)?
                .ok_or_else(|| DetectorError::data("calibration none has no calibrator"))?;
            for (j, sc) in scores.iter().enumerate() {
                cal[j * c + k] = f.predict_one(*sc);
            }
            calibrators.push(f);
        }
    }
    let task = Task::MultiLabel(c);
    // Honest calibrated numbers: calibrators cross-fitted over folds of the validation clips.
    let strata: Vec<u32> = val_ex
        .iter()
        .map(|e| e.targets.iter().position(|&t| t > 0.5).unwrap_or(c) as u32)
        .collect();
    let folds = (2..=3usize)
        .rev()
        .find_map(|k| stratified_kfold(&strata, k).ok());
    if let Some(fold) = &folds {
        cal = cross_fitted_calibration(task, &truth_k, &raw, fold, s.calibration)?;
    }
    let (validation, thresholds) = held_out(
        &classes,
        &truth_k,
        &raw,
        &cal,
        s.threshold_rule,
        format!(
            "{} held-out recordings (stratified 20 %), also used for early stopping; calibrated \
             values {}",
            val_ex.len(),
            if folds.is_some() {
                "cross-fitted over folds of these recordings"
            } else {
                "in-sample (too few recordings to cross-fit)"
            }
        ),
    );
    let svg = reliability_svg(task, &truth_k, &raw, &cal, s.calibration);
    let mut positives = BTreeMap::new();
    for (k, name) in classes.iter().enumerate() {
        positives.insert(
            name.clone(),
            examples.iter().filter(|e| e.targets[k] > 0.5).count(),
        );
    }
    let (labels_name, overlap) = match &labels {
        LabelKind::Weak(_) => ("weak", None),
        LabelKind::Strong {
            overlap_fraction, ..
        } => ("strong", Some(*overlap_fraction)),
    };
    let manifest = Manifest {
        format: FORMAT.into(),
        version: VERSION,
        created_by: format!("earmark {}", env!("CARGO_PKG_VERSION")),
        classes,
        task,
        input: InputSpec {
            kind: "audio".into(),
            dim: examples[0].dim,
            encoder: Some(encoder),
            pooling: s.mil_pooling.to_string(),
            window_secs: Some((rows.median_file_secs * 10.0).round() / 10.0),
            hop_secs: Some((rows.median_file_secs * 5.0).round() / 10.0),
            labels: Some(labels_name.into()),
            overlap_fraction: overlap,
        },
        head: HeadSpec {
            kind: "mil".into(),
            options: serde_json::json!({
                "frame_head": s.mil_head, "train": opts,
                "epochs_run": report.epochs_run, "best_epoch": report.best_epoch,
            }),
            calibration: s.calibration.to_string(),
            cv: 0,
        },
        thresholds,
        training: TrainingSummary {
            rows: examples.len(),
            positives,
            files: Some(rows.files),
            failed_files: rows.failed.clone(),
            seconds: start.elapsed().as_secs_f64(),
        },
        validation,
        post: BTreeMap::new(),
    };
    Ok(Trained {
        manifest,
        model: DetectorModel::Mil(MilModel {
            head,
            varmap,
            calibrators,
            encoder: None,
        }),
        reliability_svg: svg,
    })
}
