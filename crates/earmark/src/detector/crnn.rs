//! The default detector of `earmark train --audio DIR --weak TSV`: the built-in CRNN trained end
//! to end from clip labels, with the time axis kept from log-mel to events.
//!
//! ```text
//! log-mel (64 bands, 10 ms, dB) ─per-clip band standardisation─▶ pool to 20 ms
//!   ─▶ 2 spectral conv blocks ─▶ 3 dilated temporal conv blocks (±0.4 s context) ─▶ linear
//!   ─▶ frame logits
//!   ─sigmoid─▶ frame probabilities ─pooling rule (max)─▶ clip probability ◀─ BCE
//! ```
//!
//! The trunk is [`ScratchCnn`] with [`ScratchConfig::crnn`]; the head a [`FrameHead`]. Training
//! ([`train_crnn`]): a stratified 20 % of the labelled clips is held out; the others are
//! augmented every epoch ([`LogMelAugment`]: negatives mixed in as backgrounds, mixup with the
//! union of labels, gain, time and band shifts, SpecAugment masks), positives are weighted per
//! class, and the held-out clips' loss stops training early. Several seeds may be trained; the
//! one with the lowest held-out loss is kept.
//!
//! **Post-processing from weak labels only** ([`choose_post`]): on the held-out clips, for each
//! class, every (median filter, threshold, minimum length) in a grid is run through the scan's
//! own event extraction, and a clip counts as detected when it gets at least one event. The
//! choice maximises clip F1 of those decisions (or, with `--threshold precision:P|recall:R`, the
//! most recall at that precision, or precision at that recall); near-ties go to fewer events per
//! detected positive clip (a fragmented event costs event F1), then to the threshold nearest 0.5. An event
//! covering a whole clip is not a detection — weak labels cannot tell where an event is if the
//! detector says "everywhere" — and a threshold within 0.001 of 0 or 1, or a class that no
//! setting detects, is reported as a failure in the manifest rather than silently kept.
//! Thresholds are tried where clip decisions change: between consecutive per-clip maxima.
//!
//! **Why max pooling** (docs/devset.md has every figure): on the real-sound dev set's held-out
//! clips, max pooling reached a held-out loss of 0.990 against 1.067 for linear softmax, and
//! trains the most salient frame of each clip, which suits short events. The per-clip band
//! standardisation stays the default because the held-out clips preferred it (0.990 against
//! 1.030 with each band's median subtracted instead); the median variant
//! (`ScratchConfig::median_background`) keeps a frame's evidence local and localised far better
//! on synthetic recordings with strong labels (event F1 0.745 against 0.007), where the
//! standardised model learned to raise whole windows around a loud event.
//!
//! A class whose best setting is no more precise than its share of positive clips (plus
//! [`MIN_LIFT`]) was not learned: the most precise setting is kept instead and the class is
//! reported, so a scan is not flooded with its events.

use super::rows::read_labels;
use super::thresholds::{class_metrics, Threshold, ThresholdRule};
use super::{DetectorError, FailedFile};
use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use earmark_core::{FrameGrid, LabelSet};
use earmark_detect::{events, median_filter, PerClass, PostProcess};
use earmark_encoders::builtin::{ScratchCnn, ScratchConfig, ScratchEncoder};
use earmark_heads::{
    predict, stratified_split, train_augmented, AugmentOptions, Example, FrameHead, HeadConfig,
    LogMelAugment, MilModel, MilOutput, Pooling, Prediction, TrainHooks, TrainOptions, TrainReport,
};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The CRNN trunk and its frame head as one [`MilModel`] (log-mel frames in).
pub struct CrnnMil {
    pub cnn: ScratchCnn,
    pub head: FrameHead,
}

impl MilModel for CrnnMil {
    fn forward(&self, x: &Tensor, mask: &Tensor, train: bool) -> candle_core::Result<MilOutput> {
        let (h, m) = self.cnn.forward(x, mask, train)?;
        let out = self.head.forward(&h, train)?;
        Ok(MilOutput {
            frame_logits: out.frame_logits,
            att_logits: out.att_logits,
            mask: m,
        })
    }

    fn pooling(&self) -> Pooling {
        self.head.config().pooling
    }

    fn alpha(&self) -> Option<Tensor> {
        self.head.alpha()
    }

    fn set_seed(&self, seed: u64) {
        self.cnn.set_dropout_seed(seed);
        self.head.set_seed(seed);
    }

    fn in_dim(&self) -> Option<usize> {
        Some(self.cnn.config().n_mels)
    }

    fn n_classes(&self) -> Option<usize> {
        Some(self.head.config().n_classes)
    }
}

/// A CRNN with its variables: the trunk's and the head's in maps of their own (saved apart: the
/// trunk as the detector's encoder, the head as its frame head), plus one map holding both for
/// the optimiser.
pub struct CrnnParts {
    pub model: CrnnMil,
    pub cnn_vars: VarMap,
    pub head_vars: VarMap,
    pub all_vars: VarMap,
}

/// Builds a CRNN with seeded initial weights.
pub fn build_crnn(
    cfg: &ScratchConfig,
    n_classes: usize,
    pooling: Pooling,
    seed: u64,
    device: &Device,
) -> Result<CrnnParts, DetectorError> {
    let cnn_vars = VarMap::new();
    let head_vars = VarMap::new();
    let cnn = ScratchCnn::new(cfg, VarBuilder::from_varmap(&cnn_vars, DType::F32, device))?;
    let head = FrameHead::new(
        HeadConfig::linear(cfg.dim(), n_classes, pooling),
        VarBuilder::from_varmap(&head_vars, DType::F32, device),
    )?;
    let all_vars = VarMap::new();
    {
        let mut all = all_vars
            .data()
            .lock()
            .map_err(|_| DetectorError::data("internal: VarMap lock poisoned"))?;
        for (prefix, vm) in [("cnn.", &cnn_vars), ("head.", &head_vars)] {
            let data = vm
                .data()
                .lock()
                .map_err(|_| DetectorError::data("internal: VarMap lock poisoned"))?;
            for (k, v) in data.iter() {
                // The same Var (shared storage): training through `all_vars` moves both maps.
                all.insert(format!("{prefix}{k}"), v.clone());
            }
        }
    }
    earmark_heads::init_varmap(&all_vars, seed)?;
    Ok(CrnnParts {
        model: CrnnMil { cnn, head },
        cnn_vars,
        head_vars,
        all_vars,
    })
}

/// Everything the CRNN's training decides besides the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CrnnOptions {
    pub config: ScratchConfig,
    pub pooling: Pooling,
    pub augment: AugmentOptions,
    pub train: TrainOptions,
    /// Models trained from different seeds; the lowest held-out loss is kept.
    pub seeds: usize,
    /// Fraction of the labelled clips held out for early stopping and post-processing.
    pub val_fraction: f64,
}

impl Default for CrnnOptions {
    fn default() -> Self {
        CrnnOptions {
            config: ScratchConfig::crnn(),
            pooling: Pooling::Max,
            augment: AugmentOptions::default(),
            // 40 epochs of the 300 dev-set clips take about 7 minutes on 2 cores.
            train: TrainOptions {
                max_epochs: 40,
                batch_size: 16,
                learning_rate: 3e-3,
                weight_decay: 1e-4,
                patience: 10,
                min_epochs: 15,
                class_weighting: true,
                seed: 0,
            },
            seeds: 1,
            val_fraction: 0.2,
        }
    }
}

/// Labelled clips as log-mel frames.
pub struct Clips {
    pub names: Vec<String>,
    /// dB log-mel `[T, n_mels]` per clip, with multi-hot clip targets.
    pub examples: Vec<Example>,
    pub classes: Vec<String>,
    pub failed: Vec<FailedFile>,
    pub median_secs: f64,
}

/// Decodes every recording the weak labels name (at the config's rate, mixed to mono) and
/// computes its log-mel. A file that is missing or fails to decode is recorded and left out.
pub fn log_mel_clips(
    audio_dir: &Path,
    weak: &Path,
    cfg: &ScratchConfig,
    progress: &dyn Fn(usize, usize, &str),
) -> Result<Clips, DetectorError> {
    let labels = super::rows::LabelKind::Weak(weak.to_path_buf());
    let (table, classes) = read_labels(audio_dir, &labels)?;
    let opts = cfg.mel_options();
    let mut out = Clips {
        names: Vec::new(),
        examples: Vec::new(),
        classes: classes.clone(),
        failed: Vec::new(),
        median_secs: 0.0,
    };
    let mut secs = Vec::new();
    let total = table.len();
    for (k, (file, (names, _))) in table.iter().enumerate() {
        progress(k, total, file);
        let path = audio_dir.join(file);
        let fail = |reason: String| FailedFile {
            file: file.clone(),
            reason,
        };
        if !path.is_file() {
            out.failed
                .push(fail(format!("not found in {}", audio_dir.display())));
            continue;
        }
        let wave = match earmark_audio::load_mono(&path, Some(cfg.sample_rate)) {
            Ok(w) => w,
            Err(e) => {
                out.failed.push(fail(e.to_string()));
                continue;
            }
        };
        let f = match earmark_features::log_mel(&wave.samples, &opts) {
            Ok(f) if f.n_frames() >= cfg.time_pool => f,
            Ok(_) => {
                out.failed
                    .push(fail("too short: fewer frames than one output frame".into()));
                continue;
            }
            Err(e) => {
                out.failed.push(fail(format!("log-mel: {e}")));
                continue;
            }
        };
        secs.push(wave.samples.len() as f64 / cfg.sample_rate as f64);
        out.names.push(file.clone());
        out.examples.push(Example {
            n_frames: f.n_frames(),
            dim: f.dim,
            x: f.data,
            targets: classes
                .iter()
                .map(|c| names.contains(c) as u8 as f32)
                .collect(),
        });
    }
    progress(total, total, "");
    if out.examples.is_empty() {
        return Err(DetectorError::data(match out.failed.first() {
            Some(f) => format!(
                "none of the {total} recordings could be used; first failure: {}: {}",
                f.file, f.reason
            ),
            None => "no recordings".to_string(),
        }));
    }
    secs.sort_by(f64::total_cmp);
    out.median_secs = secs[secs.len() / 2];
    Ok(out)
}

/// How one class's frame scores become events, chosen on held-out clips from weak labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassPost {
    pub threshold: f64,
    pub median_filter_frames: usize,
    pub min_event_secs: f64,
    /// Clip decisions ("at least one event") against the weak labels.
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Mean events per detected positive clip (1 is an unfragmented single event).
    pub events_per_detected_clip: f64,
    /// Events that covered a whole held-out clip (not counted as detections).
    pub whole_clip_events: usize,
    pub clips: usize,
    pub positives: usize,
    /// Why this class's operating point cannot be trusted, if it cannot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// Median widths (output frames) the post-processing search tries.
pub const MEDIAN_CANDIDATES: [usize; 8] = [1, 3, 5, 7, 11, 15, 21, 31];
/// Minimum event lengths (seconds) it tries.
pub const MIN_EVENT_CANDIDATES: [f64; 3] = [0.0, 0.06, 0.12];
/// An event covering at least this fraction of a clip covers "the whole clip".
pub const WHOLE_CLIP_FRACTION: f64 = 0.95;

/// Most thresholds tried per (class, median width).
pub const MAX_THRESHOLDS: usize = 64;
/// How much a class's held-out precision must exceed its share of positive clips to count as
/// learned.
pub const MIN_LIFT: f64 = 0.1;
/// A threshold this close to 0 or 1 is degenerate.
pub const DEGENERATE_MARGIN: f64 = 1e-3;

/// Thresholds that can change a clip decision: midpoints between consecutive distinct per-clip
/// maxima of the (filtered) curves, at most [`MAX_THRESHOLDS`] of them evenly spread by rank.
/// Data-driven rather than a fixed grid, so scores that bunch near 0 or 1 (as a pooled model's
/// frame probabilities can) are still split where the clips differ.
fn threshold_candidates(curves: &[earmark_core::Frames]) -> Vec<f32> {
    let mut maxima: Vec<f32> = curves
        .iter()
        .map(|c| c.data.iter().copied().fold(f32::NEG_INFINITY, f32::max))
        .filter(|m| m.is_finite())
        .collect();
    maxima.sort_by(f32::total_cmp);
    maxima.dedup();
    let mids: Vec<f32> = maxima.windows(2).map(|w| 0.5 * (w[0] + w[1])).collect();
    if mids.len() <= MAX_THRESHOLDS {
        return mids;
    }
    (0..MAX_THRESHOLDS)
        .map(|i| mids[i * (mids.len() - 1) / (MAX_THRESHOLDS - 1)])
        .collect()
}

/// Chooses per class the post-processing (see the module doc) on held-out `preds` with weak
/// `targets`, the frames on `grid`.
pub fn choose_post(
    preds: &[Prediction],
    targets: &[Vec<f32>],
    classes: &[String],
    grid: FrameGrid,
    rule: ThresholdRule,
) -> Result<Vec<ClassPost>, DetectorError> {
    // The rule's score of a setting's clip precision and recall: settings that meet a target
    // always beat those that do not (then the most recall, or precision, wins); below the
    // target, the closest to it.
    let score = |p: f64, r: f64, f1: f64| match rule {
        ThresholdRule::BestF1 => f1,
        ThresholdRule::Precision(t) if p >= t => 1.0 + r,
        ThresholdRule::Precision(_) => p,
        ThresholdRule::Recall(t) if r >= t => 1.0 + p,
        ThresholdRule::Recall(_) => r,
    };
    let c = classes.len();
    let label = LabelSet::new(vec!["x".to_string()]);
    let mut out = Vec::with_capacity(c);
    for k in 0..c {
        let truth: Vec<bool> = targets.iter().map(|t| t[k] > 0.5).collect();
        let positives = truth.iter().filter(|&&b| b).count();
        // (rule score, events/detected positive, whole, |t − 0.5|, post)
        let mut best: Option<(f64, f64, usize, f64, ClassPost)> = None;
        // The setting with the highest precision that still detects a positive clip: the
        // fallback for a class the model did not learn (see below).
        let mut most_precise: Option<ClassPost> = None;
        for &med in &MEDIAN_CANDIDATES {
            // The class's median-filtered curve per clip, [T, 1] frames on the grid (filtered
            // once here; the events below run with a width-1 filter, which is the identity).
            let curves: Vec<earmark_core::Frames> = preds
                .iter()
                .map(|p| {
                    let v: Vec<f32> = p.frame_probs.iter().skip(k).step_by(c).copied().collect();
                    earmark_core::Frames::new(median_filter(&v, med), 1, grid)
                })
                .collect::<Result<_, _>>()
                .map_err(|e| DetectorError::data(format!("held-out scores: {e}")))?;
            let ts = threshold_candidates(&curves);
            for &min_secs in &MIN_EVENT_CANDIDATES {
                for &t in &ts {
                    let pp = PostProcess {
                        thresholds: PerClass::All(t),
                        hysteresis: None,
                        median_filter_frames: PerClass::All(1),
                        min_event_secs: PerClass::All(min_secs),
                        merge_gap_secs: PerClass::All(0.0),
                    };
                    let (mut tp, mut fp, mut fragments, mut whole) = (0usize, 0usize, 0usize, 0);
                    for (curve, &y) in curves.iter().zip(&truth) {
                        let n = curve.n_frames();
                        let clip_secs = n as f64 * grid.hop as f64 / grid.rate as f64;
                        let ev = events(curve, &label, "", &pp, None)
                            .map_err(|e| DetectorError::data(e.to_string()))?;
                        let mut count = 0usize;
                        for e in ev.iter() {
                            if e.offset - e.onset >= WHOLE_CLIP_FRACTION * clip_secs {
                                whole += 1;
                            } else {
                                count += 1;
                            }
                        }
                        if count > 0 {
                            if y {
                                tp += 1;
                                fragments += count;
                            } else {
                                fp += 1;
                            }
                        }
                    }
                    let p = if tp + fp > 0 {
                        tp as f64 / (tp + fp) as f64
                    } else {
                        0.0
                    };
                    let r = if positives > 0 {
                        tp as f64 / positives as f64
                    } else {
                        0.0
                    };
                    let f1 = if p + r > 0.0 {
                        2.0 * p * r / (p + r)
                    } else {
                        0.0
                    };
                    let frag = if tp > 0 {
                        fragments as f64 / tp as f64
                    } else {
                        f64::INFINITY
                    };
                    let centre = (t as f64 - 0.5).abs();
                    let sc = score(p, r, f1);
                    let post_here = ClassPost {
                        threshold: t as f64,
                        median_filter_frames: med,
                        min_event_secs: min_secs,
                        precision: p,
                        recall: r,
                        f1,
                        events_per_detected_clip: if tp > 0 { frag } else { 0.0 },
                        whole_clip_events: whole,
                        clips: truth.len(),
                        positives,
                        problem: None,
                    };
                    if tp > 0
                        && most_precise
                            .as_ref()
                            .is_none_or(|m: &ClassPost| (p, t as f64) > (m.precision, m.threshold))
                    {
                        most_precise = Some(post_here.clone());
                    }
                    let better = match &best {
                        None => true,
                        Some((bs, bfr, bw, bc, _)) => {
                            if sc > bs + 0.01 {
                                true
                            } else if sc < bs - 0.01 {
                                false
                            } else {
                                (frag, whole, centre, -sc) < (*bfr, *bw, *bc, -bs)
                            }
                        }
                    };
                    if better {
                        best = Some((sc, frag, whole, centre, post_here));
                    }
                }
            }
        }
        if preds.is_empty() {
            return Err(DetectorError::data(
                "no held-out clips to choose the post-processing on",
            ));
        }
        let mut post = best.map(|b| b.4).unwrap_or(ClassPost {
            // Every held-out clip peaks at the same score: nothing to choose between.
            threshold: 0.5,
            median_filter_frames: 1,
            min_event_secs: 0.0,
            precision: 0.0,
            recall: 0.0,
            f1: 0.0,
            events_per_detected_clip: 0.0,
            whole_clip_events: 0,
            clips: truth.len(),
            positives,
            problem: None,
        });
        // A class whose best setting is no more precise than its share of the held-out clips
        // was not learned: its "best F1" calls (nearly) every clip positive and would flood a
        // scan with events. Keep the most precise setting instead, and say so.
        let prior = positives as f64 / truth.len().max(1) as f64;
        let unlearned = positives > 0 && post.f1 > 0.0 && post.precision < prior + MIN_LIFT;
        if unlearned {
            if let Some(m) = most_precise.filter(|m| m.precision >= post.precision) {
                post = m;
            }
        }
        post.problem = if unlearned {
            Some(format!(
                "not learned: at the best F1 the held-out precision was no better than the share of \
                 positive clips ({prior:.2} + {MIN_LIFT}); the most precise setting is kept \
                 (precision {:.2}, recall {:.2}) so scans are not flooded",
                post.precision, post.recall
            ))
        } else if positives == 0 {
            Some("no held-out clip has this class: nothing to choose the threshold on".into())
        } else if post.f1 == 0.0 {
            Some("no setting detects any held-out clip of this class".into())
        } else if post.threshold <= DEGENERATE_MARGIN || post.threshold >= 1.0 - DEGENERATE_MARGIN {
            Some(format!(
                "threshold {:.4} is degenerate (within {DEGENERATE_MARGIN} of 0 or 1): the frame \
                 scores do not separate this class's clips from the others",
                post.threshold
            ))
        } else if let Some(what) = match rule {
            ThresholdRule::Precision(t) if post.precision < t => Some(format!("precision {t}")),
            ThresholdRule::Recall(t) if post.recall < t => Some(format!("recall {t}")),
            _ => None,
        } {
            Some(format!(
                "no setting reaches {what} on the held-out clips (closest: precision {:.3}, \
                 recall {:.3})",
                post.precision, post.recall
            ))
        } else if post.whole_clip_events > 0 {
            Some(format!(
                "{} held-out clip(s) became one event covering the whole clip",
                post.whole_clip_events
            ))
        } else {
            None
        };
        out.push(post);
    }
    Ok(out)
}

/// What [`train_crnn`] returns.
pub struct CrnnTrained {
    pub encoder: ScratchEncoder,
    pub head: FrameHead,
    pub head_vars: VarMap,
    pub report: TrainReport,
    /// Held-out loss of each seed's model.
    pub seed_losses: Vec<f32>,
    pub post: Vec<ClassPost>,
    /// Clip metrics on the held-out clips (pooled probabilities), per class.
    pub validation: Vec<super::ClassMetrics>,
    pub val_clips: usize,
    pub train_clips: usize,
}

/// Trains the CRNN on `clips` (see the module doc).
pub fn train_crnn(
    clips: &Clips,
    opts: &CrnnOptions,
    rule: ThresholdRule,
    progress: &dyn Fn(&str),
) -> Result<CrnnTrained, DetectorError> {
    let device = Device::Cpu;
    let c = clips.classes.len();
    let targets: Vec<Vec<f32>> = clips.examples.iter().map(|e| e.targets.clone()).collect();
    let vf = opts.val_fraction.clamp(0.05, 0.5);
    let parts = stratified_split(&targets, &[1.0 - vf, vf], opts.train.seed);
    let (tr, va) = (&parts[0], &parts[1]);
    if tr.is_empty() || va.is_empty() {
        return Err(DetectorError::data(format!(
            "{} usable recordings are too few to hold out validation clips",
            clips.examples.len()
        )));
    }
    let pick = |idx: &[usize]| -> Vec<Example> {
        idx.iter().map(|&i| clips.examples[i].clone()).collect()
    };
    let (train_ex, val_ex) = (pick(tr), pick(va));
    let augment = LogMelAugment::new(opts.augment.clone(), &train_ex);
    let mut best: Option<(f32, CrnnParts, TrainReport)> = None;
    let mut seed_losses = Vec::new();
    for s in 0..opts.seeds.max(1) {
        let seed = opts.train.seed.wrapping_add(s as u64);
        progress(&format!(
            "training the CRNN (seed {seed}, {} clips, {} held out)…",
            train_ex.len(),
            val_ex.len()
        ));
        let parts = build_crnn(&opts.config, c, opts.pooling, seed, &device)?;
        let topts = TrainOptions {
            seed,
            ..opts.train.clone()
        };
        let report = train_augmented(
            &parts.model,
            &parts.all_vars,
            &train_ex,
            &val_ex,
            &topts,
            &device,
            &TrainHooks {
                augment: Some(&augment),
                on_epoch: Some(&|e, tl, vl| {
                    progress(&format!(
                        "  epoch {e}: training loss {tl:.4}, held-out {:.4}",
                        vl.unwrap_or(f32::NAN)
                    ))
                }),
            },
        )?;
        progress(&format!(
            "seed {seed}: held-out loss {:.4} at epoch {} of {} ({:.0} s)",
            report.best_val_loss, report.best_epoch, report.epochs_run, report.seconds
        ));
        seed_losses.push(report.best_val_loss);
        if best.as_ref().is_none_or(|b| report.best_val_loss < b.0) {
            best = Some((report.best_val_loss, parts, report));
        }
    }
    let (_, parts, report) = best.expect("at least one seed");
    let preds = predict(&parts.model, &val_ex, 8, &device)?;
    let val_targets: Vec<Vec<f32>> = val_ex.iter().map(|e| e.targets.clone()).collect();
    let grid = opts.config.grid();
    let post = choose_post(&preds, &val_targets, &clips.classes, grid, rule)?;
    let mut validation = Vec::with_capacity(c);
    for (k, cp) in post.iter().enumerate() {
        let y: Vec<bool> = val_targets.iter().map(|t| t[k] > 0.5).collect();
        let p: Vec<f64> = preds.iter().map(|p| p.clip_probs[k] as f64).collect();
        let mut m = class_metrics(&y, &p, &p, rule);
        m.threshold = Threshold {
            value: cp.threshold,
            rule: format!(
                "{rule} of clip decisions from events (median {} frames, min {} s) on {} \
                 held-out clips",
                cp.median_filter_frames, cp.min_event_secs, cp.clips
            ),
            precision: cp.precision,
            recall: cp.recall,
            f1: cp.f1,
            target_met: cp.problem.is_none(),
        };
        validation.push(m);
    }
    let CrnnParts {
        model,
        cnn_vars,
        head_vars,
        ..
    } = parts;
    let CrnnMil { cnn, head } = model;
    Ok(CrnnTrained {
        encoder: ScratchEncoder::from_parts(cnn, cnn_vars, device),
        head,
        head_vars,
        report,
        seed_losses,
        post,
        validation,
        val_clips: val_ex.len(),
        train_clips: train_ex.len(),
    })
}

/// A detector from the trained CRNN: the manifest (encoder `crnn`, kept in the detector's
/// `encoder/` folder; head `crnn`; thresholds and post-processing chosen on held-out clips) and
/// the model, ready for [`super::save_detector`].
pub fn crnn_detector(
    clips: &Clips,
    opts: &CrnnOptions,
    rule: ThresholdRule,
    progress: &dyn Fn(&str),
) -> Result<super::Trained, DetectorError> {
    let start = std::time::Instant::now();
    let t = train_crnn(clips, opts, rule, progress)?;
    let cfg = &opts.config;
    let mut thresholds = std::collections::BTreeMap::new();
    let mut post = std::collections::BTreeMap::new();
    let mut validation = super::Validation {
        protocol: format!(
            "{} held-out recordings (stratified {:.0} %), also used for early stopping, the \
             choice among {} seed(s) and the post-processing; thresholds from clip decisions \
             (at least one event) against the weak labels",
            t.val_clips,
            opts.val_fraction.clamp(0.05, 0.5) * 100.0,
            opts.seeds.max(1)
        ),
        classes: std::collections::BTreeMap::new(),
    };
    for ((name, cp), m) in clips.classes.iter().zip(&t.post).zip(&t.validation) {
        thresholds.insert(name.clone(), m.threshold.clone());
        validation.classes.insert(name.clone(), m.clone());
        post.insert(name.clone(), cp.clone());
    }
    let mut positives = std::collections::BTreeMap::new();
    for (k, name) in clips.classes.iter().enumerate() {
        positives.insert(
            name.clone(),
            clips.examples.iter().filter(|e| e.targets[k] > 0.5).count(),
        );
    }
    let window = (clips.median_secs * 10.0).round().max(1.0) / 10.0;
    let manifest = super::Manifest {
        format: super::FORMAT.into(),
        version: super::VERSION,
        created_by: format!("earmark {}", env!("CARGO_PKG_VERSION")),
        classes: clips.classes.clone(),
        task: earmark_heads::Task::MultiLabel(clips.classes.len()),
        input: super::InputSpec {
            kind: "audio".into(),
            dim: cfg.dim(),
            encoder: Some(super::EncoderSpec {
                name: "crnn".into(),
                source: format!("<this detector's {}/ folder>", super::ENCODER_DIR),
                checkpoint_id: "trained with this detector".into(),
                layers: cfg.num_layers().to_string(),
                sample_rate: cfg.sample_rate,
                hop_samples: cfg.frame_hop_samples(),
                eat_frames: None,
            }),
            pooling: opts.pooling.to_string(),
            // Scan windows as long as the training clips (the model standardises each window
            // as it did each clip), half overlapping.
            window_secs: Some(window),
            hop_secs: Some(window / 2.0),
            labels: Some("weak".into()),
            overlap_fraction: None,
        },
        head: super::HeadSpec {
            kind: "crnn".into(),
            options: serde_json::json!({
                "crnn": opts,
                "params": t.encoder.num_parameters()
                    + t.head_vars.all_vars().iter().map(|v| v.elem_count()).sum::<usize>(),
                "epochs_run": t.report.epochs_run,
                "best_epoch": t.report.best_epoch,
                "train_loss": t.report.train_loss,
                "val_loss": t.report.val_loss,
                "seed_val_losses": t.seed_losses,
                "train_clips": t.train_clips,
                "val_clips": t.val_clips,
            }),
            calibration: "none (frame probabilities; thresholds chosen on held-out clips)".into(),
            cv: 0,
        },
        thresholds,
        training: super::TrainingSummary {
            rows: clips.examples.len(),
            positives,
            files: Some(clips.examples.len()),
            failed_files: clips.failed.clone(),
            seconds: start.elapsed().as_secs_f64(),
        },
        validation,
        post,
    };
    Ok(super::Trained {
        manifest,
        model: super::DetectorModel::Mil(super::MilModel {
            head: t.head,
            varmap: t.head_vars,
            calibrators: Vec::new(),
            encoder: Some(Box::new(t.encoder)),
        }),
        reliability_svg: String::new(),
    })
}
