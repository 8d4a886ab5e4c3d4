//! `report.html`: the workflow's measurements laid out step by step, with inline SVG plots from
//! `earmark-report` (pure); this module only picks what to draw.

use super::data::Dataset;
use super::evaluate::frame_scores;
use super::train::Split;
use super::{BoundaryOrReason, Evaluated, Metrics};
use earmark_report::{
    bar_chart, fmt_num, histogram, line_plot, render as render_html, Band, Bar, Block, Histogram,
    LinePlot, Report, Section, Series, SpanKind,
};

/// Named groups of values for one histogram (e.g. "class present" / "class absent").
pub(super) type ScoreGroups = Vec<(String, Vec<f64>)>;

pub(super) struct Inputs<'a> {
    pub data: &'a Dataset,
    pub split: &'a Split,
    pub metrics: &'a Metrics,
    pub frozen_probe: &'a Evaluated,
    /// Per pooling rule: test clip scores of classes present / absent.
    pub rule_scores: &'a [(String, ScoreGroups)],
    pub scratch: &'a Evaluated,
    pub selected: &'a Evaluated,
    pub decision: &'a str,
}

fn p(text: impl Into<String>) -> Block {
    Block::Paragraph(text.into())
}

/// Clip scores of (clip, class) pairs, split by whether the class is present.
pub(super) fn score_groups(
    data: &Dataset,
    idx: &[usize],
    e: &Evaluated,
) -> Vec<(String, Vec<f64>)> {
    let (mut pos, mut neg) = (Vec::new(), Vec::new());
    for (&i, pr) in idx.iter().zip(&e.trained.test) {
        for (c, &t) in data.clips[i].targets.iter().enumerate() {
            if t > 0.5 {
                pos.push(pr.clip_probs[c] as f64);
            } else {
                neg.push(pr.clip_probs[c] as f64);
            }
        }
    }
    vec![
        ("class present".to_string(), pos),
        ("class absent".to_string(), neg),
    ]
}

fn curves(inp: &Inputs, e: &Evaluated, pick: &[(usize, usize)]) -> Vec<Block> {
    let data = inp.data;
    let mut out = Vec::new();
    for &(j, _) in pick {
        let i = inp.split.test[j];
        let clip = &data.clips[i];
        let f = frame_scores(&e.trained.test[j], e.trained.grid, data.labels.len());
        let times: Vec<f64> = (0..f.n_frames())
            .map(|t| e.trained.grid.frame_center(t as u64).0)
            .collect();
        let series = data
            .labels
            .iter()
            .enumerate()
            .map(|(c, name)| Series {
                name: name.clone(),
                points: times
                    .iter()
                    .zip(f.rows())
                    .map(|(&t, r)| (t, r[c] as f64))
                    .collect(),
                color: None,
                dashed: false,
            })
            .collect();
        let mut bands: Vec<Band> = clip
            .events
            .iter()
            .flatten()
            .map(|ev| Band {
                start: ev.onset,
                end: ev.offset,
                label: format!("true {}", ev.label),
                kind: SpanKind::Truth,
            })
            .collect();
        bands.extend(e.test_events[j].iter().map(|ev| Band {
            start: ev.onset,
            end: ev.offset,
            label: format!("detected {}", ev.label),
            kind: SpanKind::Detected,
        }));
        let labels: Vec<String> = data
            .labels
            .iter()
            .zip(&clip.targets)
            .filter(|(_, &t)| t > 0.5)
            .map(|(n, _)| n.clone())
            .collect();
        out.push(Block::Svg(line_plot(&LinePlot {
            title: format!(
                "{} — {}",
                clip.id,
                if labels.is_empty() {
                    "negative (no event)".to_string()
                } else {
                    labels.join(", ")
                }
            ),
            x_label: "seconds".into(),
            y_label: "frame probability".into(),
            series,
            bands,
            hlines: e
                .thresholds
                .iter()
                .zip(data.labels.iter())
                .map(|(&t, n)| (t as f64, format!("threshold {n}")))
                .collect(),
            y_range: Some((0.0, 1.0)),
            width: 0,
            height: 0,
        })));
    }
    out
}

/// Onset and offset columns of the boundary table.
fn error_rows(b: &super::evaluate::Boundary) -> Vec<Vec<String>> {
    type Cell = fn(&earmark_eval::ErrorSummary) -> String;
    let rows: [(&str, Cell); 3] = [
        ("median |error| (s)", |s| fmt_num(s.median_abs, 3)),
        ("median error (s), IQR", |s| {
            format!("{} ({})", fmt_num(s.median, 3), fmt_num(s.iqr, 3))
        }),
        ("within 100 / 200 / 500 ms", |s| {
            format!(
                "{:.0} / {:.0} / {:.0} %",
                s.within_100ms * 100.0,
                s.within_200ms * 100.0,
                s.within_500ms * 100.0
            )
        }),
    ];
    rows.iter()
        .map(|(label, cell)| {
            let col = |e: &Option<earmark_eval::ErrorSummary>| {
                e.as_ref().map(cell).unwrap_or_else(|| "—".into())
            };
            vec![label.to_string(), col(&b.onset), col(&b.offset)]
        })
        .collect()
}

pub(super) fn render(inp: &Inputs) -> String {
    let m = inp.metrics;
    let data = inp.data;
    let mut sections = Vec::new();

    // 1. Clip summary and pooling choice.
    let mut rows = Vec::new();
    for (name, r) in &m.pooling {
        rows.push(vec![
            name.clone(),
            fmt_num(r.clip_auc, 3),
            fmt_num(r.clip_ap, 3),
            fmt_num(r.val_clip_auc, 3),
            fmt_num(r.val_weak_localisation, 3),
            r.event_f1.map(|f| fmt_num(f, 3)).unwrap_or("—".into()),
            r.peak_inside
                .map(|f| format!("{:.0} %", f * 100.0))
                .unwrap_or("—".into()),
            format!(
                "{} / {}",
                fmt_num(r.mean_score_positive, 3),
                fmt_num(r.mean_score_negative, 3)
            ),
        ]);
    }
    sections.push(Section {
        id: "pooling".into(),
        heading: "1. Clip summary and pooling choice".into(),
        blocks: vec![
            p(format!(
                "A MIL frame head was trained on the frozen representation ({}) once per pooling \
                 rule, with the same split and seed. Test-split numbers; the rule is chosen on {}.",
                m.frozen_representation, m.pooling_criterion
            )),
            Block::Table {
                header: [
                    "pooling",
                    "clip AUC",
                    "clip AP",
                    "val clip AUC",
                    "val weak localisation",
                    "event F1",
                    "peak inside event",
                    "mean clip score pos / neg",
                ]
                .map(String::from)
                .to_vec(),
                rows,
            },
            Block::Note {
                kind: "info".into(),
                text: format!("Chosen pooling: {}.", m.chosen_pooling),
            },
            p(
                "Clip-score distributions per pooling rule (each rule's own head, test clips): \
                 scores of the classes present against those absent, and the scratch model's with \
                 the chosen rule. The further apart, the better the clip summary separates them.",
            ),
            Block::Grid(
                inp.rule_scores
                    .iter()
                    .map(|(rule, groups)| {
                        Block::Svg(histogram(&Histogram {
                            title: format!("{rule} pooling: clip scores"),
                            x_label: "clip probability".into(),
                            groups: groups.clone(),
                            bins: 20,
                            range: Some((0.0, 1.0)),
                            ..Default::default()
                        }))
                    })
                    .chain(std::iter::once(Block::Svg(histogram(&Histogram {
                        title: format!("scratch ({}) clip scores", m.chosen_pooling),
                        x_label: "clip probability".into(),
                        groups: score_groups(data, &inp.split.test, inp.scratch),
                        bins: 20,
                        range: Some((0.0, 1.0)),
                        ..Default::default()
                    }))))
                    .collect(),
            ),
        ],
    });

    // 2. Frame-level score behaviour.
    let sel = inp.selected;
    let mut pos: Vec<(usize, usize)> = Vec::new();
    let mut neg: Vec<(usize, usize)> = Vec::new();
    for (j, &i) in inp.split.test.iter().enumerate() {
        if data.clips[i].is_positive() {
            pos.push((j, i));
        } else {
            neg.push((j, i));
        }
    }
    pos.truncate(4);
    neg.truncate(2);
    let mut blocks = vec![p(format!(
        "Frame probabilities of the selected model ({}) on a sample of test clips: {} positive \
         and {} negative. Green bands are true events (when strong labels exist), bars along the \
         bottom are detections after post-processing, dashed lines the per-class thresholds \
         tuned on validation.",
        m.selected_model,
        pos.len(),
        neg.len()
    ))];
    blocks.extend(curves(inp, sel, &pos));
    blocks.extend(curves(inp, sel, &neg));
    sections.push(Section {
        id: "frames".into(),
        heading: "2. Frame-level score behaviour".into(),
        blocks,
    });

    // 3. Weak-label training.
    let loss_series = |e: &Evaluated, name: &str| -> Vec<Series> {
        vec![
            Series {
                name: format!("{name} train"),
                points: e
                    .trained
                    .report
                    .train_loss
                    .iter()
                    .enumerate()
                    .map(|(i, &l)| ((i + 1) as f64, l as f64))
                    .collect(),
                color: None,
                dashed: false,
            },
            Series {
                name: format!("{name} validation"),
                points: e
                    .trained
                    .report
                    .val_loss
                    .iter()
                    .enumerate()
                    .map(|(i, &l)| ((i + 1) as f64, l as f64))
                    .collect(),
                color: None,
                dashed: true,
            },
        ]
    };
    let mut series = loss_series(inp.scratch, "scratch");
    series.extend(loss_series(inp.frozen_probe, "frozen probe"));
    sections.push(Section {
        id: "training".into(),
        heading: "3. Weak-label training".into(),
        blocks: vec![
            p(format!(
                "Both models learn frame scores from clip labels only: clip-level BCE through the \
                 {} pooling, class-weighted, early stopping on validation loss (best epoch restored). \
                 scratch: {} parameters, best epoch {} of {}, {:.1} s; frozen probe: {} parameters, \
                 best epoch {} of {}, {:.1} s.",
                m.chosen_pooling,
                inp.scratch.trained.params,
                inp.scratch.trained.report.best_epoch,
                inp.scratch.trained.report.epochs_run,
                inp.scratch.trained.report.seconds,
                inp.frozen_probe.trained.params,
                inp.frozen_probe.trained.report.best_epoch,
                inp.frozen_probe.trained.report.epochs_run,
                inp.frozen_probe.trained.report.seconds,
            )),
            Block::Svg(line_plot(&LinePlot {
                title: "clip-level loss per epoch".into(),
                x_label: "epoch".into(),
                y_label: "BCE".into(),
                series,
                ..Default::default()
            })),
        ],
    });

    // 4. Boundary inspection.
    let blocks = match &m.boundary {
        BoundaryOrReason::Measured(b) => {
            let mut v = vec![
                p(format!(
                    "Positive test clips only ({} clips, {} true events, {} matched with the 200 ms \
                     onset collar); negatives ({}) are counted apart as false alarms.",
                    b.positives, b.reference_events, b.matched, b.negatives
                )),
                Block::Table {
                    header: ["", "onset", "offset"].map(String::from).to_vec(),
                    rows: error_rows(b),
                },
                p(format!(
                    "Frame score peaks inside a true event: {}. False alarms per negative clip: {}.",
                    b.peak_inside
                        .map(|f| format!("{:.0} %", f * 100.0))
                        .unwrap_or("—".into()),
                    b.false_alarms_per_negative
                        .map(|f| fmt_num(f, 2))
                        .unwrap_or("—".into())
                )),
                Block::Grid(vec![
                    Block::Svg(histogram(&Histogram {
                        title: "onset error (estimate − truth)".into(),
                        x_label: "seconds".into(),
                        groups: vec![("onsets".into(), b.onset_errors.clone())],
                        bins: 20,
                        vlines: vec![(-0.2, "−200 ms".into()), (0.2, "+200 ms".into())],
                        ..Default::default()
                    })),
                    Block::Svg(histogram(&Histogram {
                        title: "offset error (estimate − truth)".into(),
                        x_label: "seconds".into(),
                        groups: vec![("offsets".into(), b.offset_errors.clone())],
                        bins: 20,
                        vlines: vec![(-0.2, "−200 ms".into()), (0.2, "+200 ms".into())],
                        ..Default::default()
                    })),
                ]),
            ];
            if let Some(c) = &m.chance {
                v.push(p(format!(
                    "Chance baseline (the same detections placed at random, {} draws): event F1 \
                     {:.3} against the model's {}.",
                    c.draws,
                    c.event_f1,
                    m.event_f1.map(|f| fmt_num(f, 3)).unwrap_or("—".into())
                )));
            }
            v
        }
        BoundaryOrReason::Unavailable { reason, .. } => vec![Block::Note {
            kind: "warn".into(),
            text: format!("Not measured: {reason}."),
        }],
    };
    sections.push(Section {
        id: "boundaries".into(),
        heading: "4. Boundary inspection (positive clips)".into(),
        blocks,
    });

    // 5. Frozen vs scratch.
    let mut bars_auc = Vec::new();
    let mut bars_f1 = Vec::new();
    for (name, r) in &m.models {
        if let Some(i) = r.clip_auc {
            bars_auc.push(Bar {
                label: name.clone(),
                value: i.value,
                interval: Some((i.lo, i.hi)),
            });
        }
        if let Some(i) = r.event_f1 {
            bars_f1.push(Bar {
                label: name.clone(),
                value: i.value,
                interval: Some((i.lo, i.hi)),
            });
        }
    }
    let mut grid = vec![Block::Svg(bar_chart(
        "clip ROC-AUC (95 % bootstrap CI)",
        "AUC",
        &bars_auc,
        Some((0.0, 1.0)),
    ))];
    if !bars_f1.is_empty() {
        grid.push(Block::Svg(bar_chart(
            "event-based F1 (95 % bootstrap CI)",
            "F1",
            &bars_f1,
            Some((0.0, 1.0)),
        )));
    }
    sections.push(Section {
        id: "frozen-vs-scratch".into(),
        heading: "5. Frozen representation + probe versus scratch".into(),
        blocks: vec![
            p(format!(
                "Same split, same pooling ({}), same post-processing. Frozen: {}. Scratch: the \
                 built-in CNN trained end to end. Intervals resample test recordings (500 paired \
                 resamples).",
                m.chosen_pooling, m.frozen_representation
            )),
            Block::Grid(grid),
            Block::Note {
                kind: "info".into(),
                text: format!("Verdict: {}.", m.comparison.verdict),
            },
        ],
    });

    // 6. Adaptation and the note.
    sections.push(Section {
        id: "adaptation".into(),
        heading: "6. Adaptation decision".into(),
        blocks: vec![Block::Note {
            kind: "warn".into(),
            text: m.adaptation.note.clone(),
        }],
    });
    sections.push(Section {
        id: "decision".into(),
        heading: "Decision note (decision.md)".into(),
        blocks: vec![Block::Pre(inp.decision.to_string())],
    });
    render_html(&Report {
        title: "earmark workflow report".into(),
        subtitle: format!(
            "{} — {} recordings, classes {}",
            m.dataset.description,
            m.dataset.recordings,
            m.dataset.classes.join(", ")
        ),
        sections,
    })
}
