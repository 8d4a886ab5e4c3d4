//! `earmark workflow`: the full loop from weak labels to boundaries, each decision backed by an
//! artifact.
//!
//! 1. clip summary and pooling choice — a MIL head per pooling rule on the frozen representation,
//!    clip AUC/AP per rule, the rule chosen on validation;
//! 2. frame-level score behaviour — frame curves against true boundaries;
//! 3. weak-label training — the built-in CNN trained end to end (the scratch baseline);
//! 4. boundary inspection on positive clips, negatives apart;
//! 5. frozen representation + probe against the scratch baseline on the same split, with paired
//!    bootstrap intervals;
//! 6. the adaptation decision (not tried here; the classifiers issue completes it).
//!
//! Writes `report.html`, `metrics.json`, `decision.md` and the test detections (`events_test.tsv`).

pub mod data;
mod decision;
pub mod evaluate;
mod report;
pub mod train;

use crate::atomic::write_atomic;
use data::{load_dataset, Dataset};
use earmark_core::{Event, EventList};
use earmark_heads::{stratified_split, Pooling, TrainOptions};
use earmark_synth::{write_dataset, Source, SynthOptions};
use evaluate::*;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;
use train::{Representation, Split, TrainSummary, Trained};

/// What went wrong, by remedy.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Annotation(#[from] crate::annotations::AnnotationFileError),
    #[error("{what}")]
    Data { what: String },
    #[error("usage: {what}")]
    Usage { what: String },
    #[error(transparent)]
    Synth(#[from] earmark_synth::SynthError),
    #[error(transparent)]
    Heads(#[from] earmark_heads::HeadError),
    #[error(transparent)]
    Model(#[from] crate::models::ModelError),
    #[error(transparent)]
    Detect(#[from] earmark_detect::DetectError),
    #[error("model: {0}")]
    Candle(#[from] candle_core::Error),
}

/// Options of [`run`]; `Default` is the embedded default dataset.
#[derive(Debug, Clone)]
pub struct WorkflowOptions {
    pub out: PathBuf,
    /// The user's recordings; `None` synthesises the default dataset into `out/data`.
    pub audio: Option<PathBuf>,
    pub weak: Option<PathBuf>,
    pub strong: Option<PathBuf>,
    /// A registry encoder for the frozen path (needs its weights); `None` uses log-mel frames.
    pub encoder: Option<String>,
    pub seed: u64,
    /// Size of the synthesised default dataset.
    pub synth_clips: usize,
    pub clip_secs: f64,
    pub train: TrainOptions,
    pub poolings: Vec<Pooling>,
    /// Step 6: how to adapt the frozen encoder (top layers or LoRA); `None` skips it. Only
    /// wav2vec2/HuBERT/AST encoders can be adapted.
    pub adapt: Option<earmark_encoders::adapt::AdaptOptions>,
}

impl Default for WorkflowOptions {
    fn default() -> Self {
        WorkflowOptions {
            out: PathBuf::from("earmark-workflow"),
            audio: None,
            weak: None,
            strong: None,
            encoder: None,
            seed: 0,
            synth_clips: 120,
            clip_secs: 10.0,
            train: TrainOptions {
                max_epochs: 30,
                ..TrainOptions::default()
            },
            poolings: Pooling::ALL.to_vec(),
            adapt: Some(earmark_encoders::adapt::AdaptOptions::default()),
        }
    }
}

/// Clip ranking and localisation of one pooling rule's MIL head (test split unless named).
#[derive(Debug, Clone, Serialize)]
pub struct PoolingResult {
    pub clip_auc: f64,
    pub clip_ap: f64,
    pub val_clip_auc: f64,
    pub val_event_f1: Option<f64>,
    /// See [`Evaluated::val_weak_localisation`].
    pub val_weak_localisation: f64,
    pub event_f1: Option<f64>,
    pub peak_inside: Option<f64>,
    /// Mean clip score of positive and negative test clips: how far apart the rule keeps them.
    pub mean_score_positive: f64,
    pub mean_score_negative: f64,
    pub train: TrainSummary,
}

/// One compared model.
#[derive(Debug, Clone, Serialize)]
pub struct ModelResult {
    pub representation: String,
    pub pooling: Pooling,
    pub clip_auc: Option<earmark_eval::Interval>,
    pub clip_ap: f64,
    pub event_f1: Option<earmark_eval::Interval>,
    pub segment_f1: Option<f64>,
    pub val_event_f1: Option<f64>,
    pub val_clip_auc: f64,
    pub thresholds: Vec<f32>,
    pub boundary: Option<Boundary>,
    pub train: TrainSummary,
}

/// The recording ids of each part.
#[derive(Debug, Clone, Serialize)]
pub struct SplitIds {
    pub seed: u64,
    pub train: Vec<String>,
    pub val: Vec<String>,
    pub test: Vec<String>,
}

/// `metrics.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Metrics {
    pub dataset: DatasetInfo,
    pub frozen_representation: String,
    pub pooling: std::collections::BTreeMap<String, PoolingResult>,
    pub chosen_pooling: Pooling,
    /// What the choice maximised, in words.
    pub pooling_criterion: String,
    /// The model carried to steps 3–4 (better on validation of the two in `models`).
    pub selected_model: String,
    pub event_f1: Option<f64>,
    pub segment_f1: Option<f64>,
    pub boundary: BoundaryOrReason,
    pub chance: Option<Chance>,
    pub models: std::collections::BTreeMap<String, ModelResult>,
    pub comparison: Comparison,
    pub adaptation: Adaptation,
    pub split: SplitIds,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DatasetInfo {
    pub description: String,
    pub classes: Vec<String>,
    pub recordings: usize,
    pub positives: usize,
    pub strong_labels: bool,
    pub skipped: Vec<data::Skipped>,
}

/// Boundary numbers, or why there are none.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum BoundaryOrReason {
    Measured(Box<Boundary>),
    Unavailable { available: bool, reason: String },
}

#[derive(Debug, Clone, Serialize)]
pub struct Chance {
    /// The selected model's detections moved to random places in their clips.
    pub event_f1: f64,
    pub onset_median_abs_s: Option<f64>,
    pub draws: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// `frozen_probe − scratch`, paired bootstrap over test recordings.
    pub clip_auc_difference: Option<earmark_eval::Interval>,
    pub event_f1_difference: Option<earmark_eval::Interval>,
    pub verdict: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Adaptation {
    pub tried: bool,
    /// Transformer layers fine-tuned (counted from the top), when tried.
    pub top_layers: Option<usize>,
    /// LoRA rank, when adapters were trained instead of whole layers.
    pub lora_rank: Option<usize>,
    /// `adapted − frozen_probe`, paired bootstrap over test recordings.
    pub clip_auc_difference: Option<earmark_eval::Interval>,
    pub event_f1_difference: Option<earmark_eval::Interval>,
    /// The model the decision keeps: `frozen_probe` unless the adapted one is better by more
    /// than the interval.
    pub kept: String,
    pub note: String,
}

/// What [`run`] leaves behind.
#[derive(Debug, Clone)]
pub struct WorkflowOutput {
    pub metrics: Metrics,
    pub report: PathBuf,
    pub metrics_path: PathBuf,
    pub decision: PathBuf,
    /// The lines the CLI prints.
    pub summary: Vec<String>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> WorkflowError + '_ {
    move |source| WorkflowError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Loads the user's data, or synthesises the default dataset into `out/data`.
pub fn prepare_data(
    opts: &WorkflowOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<Dataset, WorkflowError> {
    match (&opts.audio, &opts.weak) {
        (Some(audio), Some(weak)) => load_dataset(
            audio,
            weak,
            opts.strong.as_deref(),
            16_000,
            format!("{} with weak labels {}", audio.display(), weak.display())
                + &opts
                    .strong
                    .as_ref()
                    .map(|s| format!(" and strong labels {}", s.display()))
                    .unwrap_or_default(),
        ),
        (None, None) if opts.strong.is_none() => {
            let dir = opts.out.join("data");
            let synth = SynthOptions {
                n_clips: opts.synth_clips,
                clip_secs: opts.clip_secs,
                seed: opts.seed,
                ..SynthOptions::default()
            };
            progress(&format!(
                "synthesising {} clips of {} s into {}",
                synth.n_clips,
                synth.clip_secs,
                dir.display()
            ));
            let s = write_dataset(&dir, &synth, &Source::Procedural)?;
            load_dataset(
                &dir.join("audio"),
                &dir.join("weak.tsv"),
                Some(&dir.join("strong.tsv")),
                16_000,
                format!(
                    "synthesised default: {} clips of {} s, {} with events ({} events; classes {}), seed {}",
                    s.clips,
                    opts.clip_secs,
                    s.positives,
                    s.events,
                    s.classes.join(", "),
                    opts.seed
                ),
            )
        }
        _ => Err(WorkflowError::Usage {
            what: "--audio DIR and --weak TSV go together (--strong TSV is optional with them)"
                .into(),
        }),
    }
}

fn ids(data: &Dataset, idx: &[usize]) -> Vec<String> {
    idx.iter().map(|&i| data.clips[i].id.clone()).collect()
}

fn targets_of<'a>(data: &'a Dataset, idx: &[usize]) -> Vec<&'a [f32]> {
    idx.iter()
        .map(|&i| data.clips[i].targets.as_slice())
        .collect()
}

fn clip_probs(preds: &[earmark_heads::Prediction]) -> Vec<&[f32]> {
    preds.iter().map(|p| p.clip_probs.as_slice()).collect()
}

/// Everything measured about one trained model.
pub(crate) struct Evaluated {
    pub trained: Trained,
    pub thresholds: Vec<f32>,
    pub test_events: Vec<Vec<Event>>,
    pub val_clip_auc: f64,
    pub val_event_f1: Option<f64>,
    /// Localisation judged from weak labels alone: the mean over classes of the clip F1 of
    /// event decisions (at least one event, whole-clip events not counted) on validation clips,
    /// with each class's post-processing chosen there ([`crate::detector::crnn::choose_post`]).
    /// Flat frame scores (what mean pooling tends to learn) make whole-clip events and score 0.
    pub val_weak_localisation: f64,
    pub clip_auc: f64,
    pub clip_ap: f64,
    pub event_f1: Option<f64>,
    pub segment_f1: Option<f64>,
    pub boundary: Option<Boundary>,
}

fn evaluate_model(
    data: &Dataset,
    split: &Split,
    trained: Trained,
) -> Result<Evaluated, WorkflowError> {
    let k = data.labels.len();
    let thresholds = tune_thresholds(data, &split.val, &trained.val, trained.grid)?;
    let pp = post_process(&thresholds);
    let val_events = detect(data, &split.val, &trained.val, trained.grid, &pp)?;
    let test_events = detect(data, &split.test, &trained.test, trained.grid, &pp)?;
    let (val_clip_auc, _) =
        clip_ranking(&targets_of(data, &split.val), &clip_probs(&trained.val), k);
    let val_targets: Vec<Vec<f32>> = split
        .val
        .iter()
        .map(|&i| data.clips[i].targets.clone())
        .collect();
    let names: Vec<String> = data.labels.names().to_vec();
    let val_weak_localisation = crate::detector::crnn::choose_post(
        &trained.val,
        &val_targets,
        &names,
        trained.grid,
        crate::detector::ThresholdRule::BestF1,
    )
    .map(|posts| posts.iter().map(|p| p.f1).sum::<f64>() / posts.len().max(1) as f64)
    .map_err(|e| WorkflowError::Data {
        what: format!("weak-label localisation: {e}"),
    })?;
    let (clip_auc, clip_ap) = clip_ranking(
        &targets_of(data, &split.test),
        &clip_probs(&trained.test),
        k,
    );
    let (mut val_event_f1, mut ef1, mut sf1, mut b) = (None, None, None, None);
    if data.strong {
        let rv: Vec<Vec<Event>> = split
            .val
            .iter()
            .map(|&i| data.clips[i].events.clone().unwrap_or_default())
            .collect();
        val_event_f1 = Some(event_f1(
            &data.labels,
            &as_slices(&rv),
            &as_slices(&val_events),
        ));
        let rt: Vec<Vec<Event>> = split
            .test
            .iter()
            .map(|&i| data.clips[i].events.clone().unwrap_or_default())
            .collect();
        ef1 = Some(event_f1(
            &data.labels,
            &as_slices(&rt),
            &as_slices(&test_events),
        ));
        let secs: Vec<f64> = split
            .test
            .iter()
            .map(|&i| data.clips[i].secs(data.sample_rate))
            .collect();
        sf1 = Some(segment_f1(
            &data.labels,
            &as_slices(&rt),
            &as_slices(&test_events),
            &secs,
        ));
        b = Some(boundary(
            data,
            &split.test,
            &trained.test,
            trained.grid,
            &test_events,
        ));
    }
    Ok(Evaluated {
        trained,
        thresholds,
        test_events,
        val_clip_auc,
        val_event_f1,
        val_weak_localisation,
        clip_auc,
        clip_ap,
        event_f1: ef1,
        segment_f1: sf1,
        boundary: b,
    })
}

fn mean_scores(data: &Dataset, idx: &[usize], preds: &[earmark_heads::Prediction]) -> (f64, f64) {
    // Score of each clip's own classes (positives) vs every class of negatives.
    let (mut pos, mut np, mut neg, mut nn) = (0.0, 0usize, 0.0, 0usize);
    for (&i, p) in idx.iter().zip(preds) {
        for (c, &t) in data.clips[i].targets.iter().enumerate() {
            if t > 0.5 {
                pos += p.clip_probs[c] as f64;
                np += 1;
            } else if !data.clips[i].is_positive() {
                neg += p.clip_probs[c] as f64;
                nn += 1;
            }
        }
    }
    (pos / np.max(1) as f64, neg / nn.max(1) as f64)
}

/// Validation criterion of a model, compared lexicographically: event F1 when strong labels
/// exist (the task is finding events; 0 without them), then the weak-label localisation score,
/// which also breaks the ties when no rule finds any event on validation. Clip AUC is not a
/// criterion: a rule can rank clips well with frame scores that say nothing about where.
fn criterion(e: &Evaluated) -> (f64, f64) {
    (e.val_event_f1.unwrap_or(0.0), e.val_weak_localisation)
}

/// Runs the whole loop and writes the artifacts into `opts.out`.
pub fn run(
    opts: &WorkflowOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<WorkflowOutput, WorkflowError> {
    let start = Instant::now();
    std::fs::create_dir_all(&opts.out).map_err(io(&opts.out))?;
    if opts.poolings.is_empty() {
        return Err(WorkflowError::Usage {
            what: "at least one pooling rule is needed".into(),
        });
    }
    let data = prepare_data(opts, progress)?;
    if !data.skipped.is_empty() {
        progress(&format!(
            "{} of {} recordings failed to load and were left out (listed in metrics.json)",
            data.skipped.len(),
            data.skipped.len() + data.clips.len()
        ));
    }
    let targets: Vec<Vec<f32>> = data.clips.iter().map(|c| c.targets.clone()).collect();
    let parts = stratified_split(&targets, &[0.6, 0.2, 0.2], opts.seed);
    let split = Split {
        train: parts[0].clone(),
        val: parts[1].clone(),
        test: parts[2].clone(),
    };
    progress(&format!(
        "{} recordings ({} classes: {}); split train {} / val {} / test {}",
        data.clips.len(),
        data.labels.len(),
        data.labels.names().join(", "),
        split.train.len(),
        split.val.len(),
        split.test.len()
    ));
    let log_mel = train::log_mel_representation(&data, false)?;
    let loaded = match &opts.encoder {
        None => None,
        Some(name) => Some(crate::models::load_model(
            name,
            &crate::models::LoadOptions::from_env(),
        )?),
    };
    let frozen: Representation = match (&opts.encoder, &loaded) {
        (Some(name), Some(model)) => {
            progress(&format!("embedding every recording with {name}"));
            train::encoder_representation(&data, model, name)?
        }
        _ => train::log_mel_representation(&data, true)?,
    };
    let k = data.labels.len();

    // Step 1: a MIL head per pooling rule on the frozen representation.
    let mut per_rule: Vec<Evaluated> = Vec::new();
    for &p in &opts.poolings {
        let t = train::train_probe(&frozen, &split, k, p, &opts.train)?;
        let e = evaluate_model(&data, &split, t)?;
        progress(&format!(
            "step 1  pooling {:<15} clip AUC {:.3}  event F1 {}  ({} epochs, {:.1} s)",
            p.name(),
            e.clip_auc,
            e.event_f1
                .map(|f| format!("{f:.3}"))
                .unwrap_or_else(|| "—".into()),
            e.trained.report.epochs_run,
            e.trained.report.seconds
        ));
        per_rule.push(e);
    }
    let best = per_rule
        .iter()
        .enumerate()
        .max_by(|a, b| {
            let (ca, cb) = (criterion(a.1), criterion(b.1));
            ca.0.total_cmp(&cb.0)
                .then(ca.1.total_cmp(&cb.1))
                .then(b.0.cmp(&a.0))
        })
        .map(|(i, _)| i)
        .unwrap_or(0);
    let chosen = per_rule[best].trained.pooling;
    let pooling_criterion = if data.strong {
        "validation event-based F1 (DCASE collars), the task being to find events; ties (e.g. \
         every rule at 0) broken by the weak-label localisation score"
            .to_string()
    } else {
        "validation weak-label localisation: mean clip F1 of event decisions (at least one \
         event that does not cover the whole clip), post-processing chosen per class on the \
         validation clips (no strong labels to judge boundaries)"
            .to_string()
    };

    // Steps 3 and 5: the scratch baseline with the chosen rule, on the same split.
    let scratch = train::train_scratch(&log_mel, &split, k, chosen, &opts.train)?;
    progress(&format!(
        "step 3  scratch CNN ({} parameters) trained in {} epochs, {:.1} s",
        scratch.params, scratch.report.epochs_run, scratch.report.seconds
    ));
    let scratch = evaluate_model(&data, &split, scratch)?;

    let mut pooling = std::collections::BTreeMap::new();
    for e in &per_rule {
        let (mp, mn) = mean_scores(&data, &split.test, &e.trained.test);
        pooling.insert(
            e.trained.pooling.name().to_string(),
            PoolingResult {
                clip_auc: e.clip_auc,
                clip_ap: e.clip_ap,
                val_clip_auc: e.val_clip_auc,
                val_event_f1: e.val_event_f1,
                val_weak_localisation: e.val_weak_localisation,
                event_f1: e.event_f1,
                peak_inside: e.boundary.as_ref().and_then(|b| b.peak_inside),
                mean_score_positive: mp,
                mean_score_negative: mn,
                train: e.trained.summary(),
            },
        );
    }
    let rule_scores: Vec<(String, report::ScoreGroups)> = per_rule
        .iter()
        .map(|e| {
            (
                e.trained.pooling.name().to_string(),
                report::score_groups(&data, &split.test, e),
            )
        })
        .collect();
    let frozen_probe = per_rule.swap_remove(best);
    let seed = opts.seed ^ 0xB007;
    let result = |e: &Evaluated, rep: &str| -> ModelResult {
        let (auc, f1) = intervals(&data, &split.test, &e.trained.test, &e.test_events, seed);
        ModelResult {
            representation: rep.to_string(),
            pooling: e.trained.pooling,
            clip_auc: auc,
            clip_ap: e.clip_ap,
            event_f1: f1,
            segment_f1: e.segment_f1,
            val_event_f1: e.val_event_f1,
            val_clip_auc: e.val_clip_auc,
            thresholds: e.thresholds.clone(),
            boundary: e.boundary.clone(),
            train: e.trained.summary(),
        }
    };
    let mut models = std::collections::BTreeMap::new();
    models.insert(
        "frozen_probe".to_string(),
        result(&frozen_probe, &frozen.description),
    );
    models.insert(
        "scratch".to_string(),
        result(
            &scratch,
            "built-in CNN over log-mel, trained end to end from weak labels",
        ),
    );
    let comparison = compare(&data, &split, &frozen_probe, &scratch, seed);

    // Step 6: adapt the encoder's top layers, when there is a pretrained transformer to adapt.
    let adaptable = loaded.as_ref().and_then(|m| m.encoder.as_adaptable());
    let adaptation = match (&opts.adapt, adaptable) {
        (Some(a), Some(enc)) => {
            progress(&format!(
                "step 6  adapting the top {} layer(s) of {}{}",
                a.top_layers,
                opts.encoder.as_deref().unwrap_or(""),
                a.lora
                    .map(|l| format!(" with LoRA rank {}", l.rank))
                    .unwrap_or_default()
            ));
            let t = train::train_adapted_model(
                &data,
                &split,
                enc,
                k,
                chosen,
                a,
                &opts.train,
                &opts.out.join("adapted"),
            )?;
            progress(&format!(
                "step 6  adapted model ({} trainable parameters) trained in {} epochs, {:.1} s",
                t.params, t.report.epochs_run, t.report.seconds
            ));
            let e = evaluate_model(&data, &split, t)?;
            let diff = compare(&data, &split, &e, &frozen_probe, seed);
            models.insert(
                "adapted".to_string(),
                result(
                    &e,
                    &format!(
                        "{} with its top {} layer(s) {}, trained from weak labels",
                        opts.encoder.as_deref().unwrap_or(""),
                        a.top_layers,
                        if a.lora.is_some() {
                            "adapted through LoRA"
                        } else {
                            "fine-tuned"
                        }
                    ),
                ),
            );
            decision::adaptation(a, diff.clip_auc_difference, diff.event_f1_difference)
        }
        (None, _) => decision::adaptation_skipped("adaptation was switched off (--adapt-layers 0)"),
        (Some(_), None) => decision::adaptation_skipped(match &opts.encoder {
            None => "the frozen representation is log-mel frames, which have no layers to \
                     fine-tune; adaptation needs a pretrained transformer (`--encoder HUBERT_BASE`, \
                     `WAV2VEC2_BASE`, `AST` or a model folder)",
            Some(_) => "the chosen encoder is not a wav2vec2/HuBERT/AST transformer, whose top \
                        layers adaptation fine-tunes",
        }),
    };
    let (selected_name, selected) = if criterion(&scratch) > criterion(&frozen_probe) {
        ("scratch", &scratch)
    } else {
        ("frozen_probe", &frozen_probe)
    };
    let (boundary_out, chance_out) = match (&selected.boundary, data.strong) {
        (Some(b), true) => {
            let (f, on) = chance(&data, &split.test, &selected.test_events, 20, opts.seed);
            (
                BoundaryOrReason::Measured(Box::new(b.clone())),
                Some(Chance {
                    event_f1: f,
                    onset_median_abs_s: on,
                    draws: 20,
                }),
            )
        }
        _ => (
            BoundaryOrReason::Unavailable {
                available: false,
                reason: "no strong labels were given (--strong TSV): onsets and offsets cannot be \
                         checked, so no boundary numbers are reported"
                    .into(),
            },
            None,
        ),
    };
    let metrics = Metrics {
        dataset: DatasetInfo {
            description: data.description.clone(),
            classes: data.labels.names().to_vec(),
            recordings: data.clips.len(),
            positives: data.clips.iter().filter(|c| c.is_positive()).count(),
            strong_labels: data.strong,
            skipped: data.skipped.clone(),
        },
        frozen_representation: frozen.description.clone(),
        pooling,
        chosen_pooling: chosen,
        pooling_criterion,
        selected_model: selected_name.to_string(),
        event_f1: selected.event_f1,
        segment_f1: selected.segment_f1,
        boundary: boundary_out,
        chance: chance_out,
        models,
        comparison,
        adaptation,
        split: SplitIds {
            seed: opts.seed,
            train: ids(&data, &split.train),
            val: ids(&data, &split.val),
            test: ids(&data, &split.test),
        },
        seconds: start.elapsed().as_secs_f64(),
    };

    // Artifacts.
    let metrics_path = opts.out.join("metrics.json");
    let json = serde_json::to_string_pretty(&metrics).expect("metrics serialise");
    write_atomic(&metrics_path, json.as_bytes()).map_err(io(&metrics_path))?;
    let decision_path = opts.out.join("decision.md");
    let note = decision::note(&metrics);
    write_atomic(&decision_path, note.as_bytes()).map_err(io(&decision_path))?;
    let events_path = opts.out.join("events_test.tsv");
    let detections = EventList::new(selected.test_events.concat());
    crate::annotations::write_events(
        &events_path,
        crate::annotations::Format::DcaseTsv,
        &detections,
        0.0,
    )?;
    let report_path = opts.out.join("report.html");
    let html = report::render(&report::Inputs {
        data: &data,
        split: &split,
        metrics: &metrics,
        frozen_probe: &frozen_probe,
        rule_scores: &rule_scores,
        scratch: &scratch,
        selected,
        decision: &note,
    });
    write_atomic(&report_path, html.as_bytes()).map_err(io(&report_path))?;
    let summary = decision::summary_lines(&metrics);
    Ok(WorkflowOutput {
        metrics,
        report: report_path,
        metrics_path,
        decision: decision_path,
        summary,
    })
}

fn auc_stat<'a>(
    data: &'a Dataset,
    split: &'a Split,
    e: &'a Evaluated,
) -> impl Fn(&[usize]) -> Option<f64> + 'a {
    move |ix: &[usize]| {
        let t: Vec<&[f32]> = ix
            .iter()
            .map(|&j| data.clips[split.test[j]].targets.as_slice())
            .collect();
        let p: Vec<&[f32]> = ix
            .iter()
            .map(|&j| e.trained.test[j].clip_probs.as_slice())
            .collect();
        let (a, _) = clip_ranking(&t, &p, data.labels.len());
        a.is_finite().then_some(a)
    }
}

fn f1_stat<'a>(
    data: &'a Dataset,
    split: &'a Split,
    e: &'a Evaluated,
) -> impl Fn(&[usize]) -> Option<f64> + 'a {
    move |ix: &[usize]| {
        let r: Vec<&[Event]> = ix
            .iter()
            .map(|&j| data.clips[split.test[j]].events.as_deref().unwrap_or(&[]))
            .collect();
        let s: Vec<&[Event]> = ix.iter().map(|&j| e.test_events[j].as_slice()).collect();
        Some(event_f1(&data.labels, &r, &s))
    }
}

fn compare(
    data: &Dataset,
    split: &Split,
    frozen: &Evaluated,
    scratch: &Evaluated,
    seed: u64,
) -> Comparison {
    let n = split.test.len();
    let auc = paired_difference(
        n,
        seed,
        auc_stat(data, split, frozen),
        auc_stat(data, split, scratch),
    );
    let f1 = if data.strong {
        paired_difference(
            n,
            seed,
            f1_stat(data, split, frozen),
            f1_stat(data, split, scratch),
        )
    } else {
        None
    };
    let verdict = decision::verdict(auc.as_ref(), f1.as_ref());
    Comparison {
        clip_auc_difference: auc,
        event_f1_difference: f1,
        verdict,
    }
}
