//! `earmark demo`: what a clip summary hides and the frame view shows, in seconds.
//!
//! Synthesised 10 s clips, half of them with one short event; a MIL frame head on log-mel frames
//! learns frame scores from the clip labels; then the same frame curve of each held-out clip is
//! summarised by mean pooling and by max pooling (through the one `pool` path), next to where the
//! frame view puts the event.

use crate::atomic::write_atomic;
use crate::workflow::data::load_dataset;
use crate::workflow::evaluate::{detect, frame_scores, post_process};
use crate::workflow::train::{log_mel_representation, train_probe, Split};
use crate::workflow::WorkflowError;
use earmark_eval::roc_auc;
use earmark_heads::{pool_scores, stratified_split, Pooling, TrainOptions};
use earmark_report::{
    histogram, line_plot, render, Band, Block, Histogram, LinePlot, Report, Section, Series,
    SpanKind,
};
use earmark_synth::{write_dataset, Source, SynthOptions};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Options of [`run`].
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub out: PathBuf,
    pub clips: usize,
    pub seed: u64,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            out: PathBuf::from("earmark-demo"),
            clips: 80,
            seed: 0,
        }
    }
}

/// One held-out clip, as the demo prints it.
#[derive(Debug, Clone, Serialize)]
pub struct DemoRow {
    pub clip: String,
    /// `label onset–offset` of the true event, or `none`.
    pub truth: String,
    pub positive: bool,
    pub mean_pooled: f32,
    pub max_pooled: f32,
    /// Where the frame curve peaks (seconds) and whether that is inside the true event.
    pub peak_secs: f64,
    pub peak_inside: Option<bool>,
    /// Events found on the frame curve after post-processing.
    pub detected: String,
}

/// What the demo measured.
#[derive(Debug, Clone, Serialize)]
pub struct DemoResult {
    pub rows: Vec<DemoRow>,
    pub mean_pooling_auc: f64,
    pub max_pooling_auc: f64,
    pub mean_pooled_gap: f64,
    pub max_pooled_gap: f64,
    pub report: PathBuf,
}

fn truth_of(events: &[earmark_core::Event]) -> String {
    if events.is_empty() {
        return "none".into();
    }
    events
        .iter()
        .map(|e| format!("{} {:.2}–{:.2} s", e.label, e.onset, e.offset))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Runs the demo: data into `out/data`, figures into `out/demo.html`, rows into `out/demo.json`.
pub fn run(
    opts: &DemoOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<DemoResult, WorkflowError> {
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| WorkflowError::Io { path: p, source }
    };
    std::fs::create_dir_all(&opts.out).map_err(io(&opts.out))?;
    let dir = opts.out.join("data");
    let synth = SynthOptions {
        n_clips: opts.clips,
        clip_secs: 10.0,
        max_events_per_clip: 1,
        // One class of short events (80–250 ms damped transients) in 10 s: 1–2.5 % of the clip.
        classes: vec![earmark_synth::procedural_class("impact").expect("a built-in class")],
        snr_db: (3.0, 15.0),
        seed: opts.seed,
        ..SynthOptions::default()
    };
    progress(&format!(
        "synthesising {} clips of 10 s (half with one 80–250 ms impact) into {}",
        synth.n_clips,
        dir.display()
    ));
    write_dataset(&dir, &synth, &Source::Procedural)?;
    let data = load_dataset(
        &dir.join("audio"),
        &dir.join("weak.tsv"),
        Some(&dir.join("strong.tsv")),
        16_000,
        "demo".into(),
    )?;
    let targets: Vec<Vec<f32>> = data.clips.iter().map(|c| c.targets.clone()).collect();
    let parts = stratified_split(&targets, &[0.6, 0.15, 0.25], opts.seed);
    let split = Split {
        train: parts[0].clone(),
        val: parts[1].clone(),
        test: parts[2].clone(),
    };
    let rep = log_mel_representation(&data, true)?;
    let train_opts = TrainOptions {
        seed: opts.seed,
        ..TrainOptions::default()
    };
    progress("training a frame head on log-mel frames from clip labels only (max pooling)");
    let t = train_probe(&rep, &split, data.labels.len(), Pooling::Max, &train_opts)?;
    let k = data.labels.len();
    let pp = post_process(&vec![0.5; k]);
    let detected = detect(&data, &split.test, &t.test, t.grid, &pp)?;
    let mut rows = Vec::new();
    let mut plots = Vec::new();
    for ((&i, pred), det) in split.test.iter().zip(&t.test).zip(&detected) {
        let clip = &data.clips[i];
        let events = clip.events.clone().unwrap_or_default();
        // The clip's own class for positives; for negatives the class scored highest.
        let c = clip
            .targets
            .iter()
            .position(|&x| x > 0.5)
            .unwrap_or_else(|| {
                (0..k)
                    .max_by(|&a, &b| pred.clip_probs[a].total_cmp(&pred.clip_probs[b]))
                    .unwrap_or(0)
            });
        let mean = pool_scores(Pooling::Mean, &pred.frame_probs, k, None, None)?[c];
        let max = pool_scores(Pooling::Max, &pred.frame_probs, k, None, None)?[c];
        let f = frame_scores(pred, t.grid, k);
        let curve: Vec<f32> = f.rows().map(|r| r[c]).collect();
        let times: Vec<f64> = (0..curve.len())
            .map(|j| t.grid.frame_center(j as u64).0)
            .collect();
        let (mut best, mut at) = (f32::MIN, 0);
        for (j, &s) in curve.iter().enumerate() {
            if s > best {
                best = s;
                at = j;
            }
        }
        let peak = times.get(at).copied().unwrap_or(0.0);
        let inside = (!events.is_empty())
            .then(|| events.iter().any(|e| peak >= e.onset && peak <= e.offset));
        rows.push(DemoRow {
            clip: clip.id.clone(),
            truth: truth_of(&events),
            positive: clip.is_positive(),
            mean_pooled: mean,
            max_pooled: max,
            peak_secs: peak,
            peak_inside: inside,
            detected: truth_of(det),
        });
        if plots.len() < 6 {
            let mut bands: Vec<Band> = events
                .iter()
                .map(|e| Band {
                    start: e.onset,
                    end: e.offset,
                    label: format!("true {}", e.label),
                    kind: SpanKind::Truth,
                })
                .collect();
            bands.extend(det.iter().map(|e| Band {
                start: e.onset,
                end: e.offset,
                label: format!("detected {}", e.label),
                kind: SpanKind::Detected,
            }));
            plots.push(Block::Svg(line_plot(&LinePlot {
                title: format!(
                    "{} — truth: {} — mean-pooled {:.3}, max-pooled {:.3}",
                    clip.id,
                    truth_of(&events),
                    mean,
                    max
                ),
                x_label: "seconds".into(),
                y_label: format!("frame probability ({})", data.labels.names()[c]),
                series: vec![Series {
                    name: data.labels.names()[c].clone(),
                    points: times
                        .iter()
                        .zip(&curve)
                        .map(|(&a, &b)| (a, b as f64))
                        .collect(),
                    color: None,
                    dashed: false,
                }],
                bands,
                hlines: vec![
                    (mean as f64, "mean-pooled".into()),
                    (max as f64, "max-pooled".into()),
                ],
                y_range: Some((0.0, 1.0)),
                width: 0,
                height: 0,
            })));
        }
    }
    let y: Vec<bool> = rows.iter().map(|r| r.positive).collect();
    let mean_s: Vec<f64> = rows.iter().map(|r| r.mean_pooled as f64).collect();
    let max_s: Vec<f64> = rows.iter().map(|r| r.max_pooled as f64).collect();
    let gap = |s: &[f64]| {
        let avg = |want: bool| {
            let v: Vec<f64> = s
                .iter()
                .zip(&y)
                .filter(|(_, &p)| p == want)
                .map(|(&x, _)| x)
                .collect();
            v.iter().sum::<f64>() / v.len().max(1) as f64
        };
        avg(true) - avg(false)
    };
    let result_auc = |s: &[f64]| roc_auc(&y, s).unwrap_or(f64::NAN);
    let report_path = opts.out.join("demo.html");
    let groups = |s: &[f64]| {
        vec![
            (
                "clips with an event".to_string(),
                s.iter()
                    .zip(&y)
                    .filter(|(_, &p)| p)
                    .map(|(&x, _)| x)
                    .collect(),
            ),
            (
                "clips without".to_string(),
                s.iter()
                    .zip(&y)
                    .filter(|(_, &p)| !p)
                    .map(|(&x, _)| x)
                    .collect(),
            ),
        ]
    };
    let mut blocks = vec![Block::Paragraph(format!(
        "{} held-out clips. The same frame curve, summarised two ways: mean pooling dilutes a short \
         event over the whole clip (positive minus negative mean score {:.3}, clip AUC {:.3}); max \
         pooling keeps it (gap {:.3}, clip AUC {:.3}); the frame curve says where it is.",
        rows.len(),
        gap(&mean_s),
        result_auc(&mean_s),
        gap(&max_s),
        result_auc(&max_s)
    ))];
    blocks.push(Block::Grid(vec![
        Block::Svg(histogram(&Histogram {
            title: "mean-pooled clip scores".into(),
            x_label: "clip score".into(),
            groups: groups(&mean_s),
            bins: 20,
            range: Some((0.0, 1.0)),
            ..Default::default()
        })),
        Block::Svg(histogram(&Histogram {
            title: "max-pooled clip scores".into(),
            x_label: "clip score".into(),
            groups: groups(&max_s),
            bins: 20,
            range: Some((0.0, 1.0)),
            ..Default::default()
        })),
    ]));
    blocks.extend(plots);
    let html = render(&Report {
        title: "earmark demo: the clip summary and the frame view".into(),
        subtitle: format!("{} synthesised clips, seed {}", opts.clips, opts.seed),
        sections: vec![Section {
            id: "demo".into(),
            heading: "Mean pooling, max pooling, frames".into(),
            blocks,
        }],
    });
    write_atomic(&report_path, html.as_bytes()).map_err(io(&report_path))?;
    let result = DemoResult {
        mean_pooling_auc: result_auc(&mean_s),
        max_pooling_auc: result_auc(&max_s),
        mean_pooled_gap: gap(&mean_s),
        max_pooled_gap: gap(&max_s),
        rows,
        report: report_path,
    };
    let json_path = opts.out.join("demo.json");
    let json = serde_json::to_string_pretty(&result).expect("demo result serialises");
    write_atomic(&json_path, json.as_bytes()).map_err(io(&json_path))?;
    Ok(result)
}
