//! `decision.md` and the lines the CLI prints: sentences written from the measurements — every
//! number and every comparative word below comes from `Metrics`, so the note changes when the
//! evidence does.

use super::{Adaptation, BoundaryOrReason, Metrics};
use earmark_encoders::adapt::AdaptOptions;
use earmark_eval::Interval;
use std::fmt::Write;

fn f3(x: Option<f64>) -> String {
    x.filter(|v| v.is_finite())
        .map(|v| format!("{v:.3}"))
        .unwrap_or_else(|| "—".into())
}

fn ms(x: Option<f64>) -> String {
    x.map(|v| format!("{:.0} ms", v * 1000.0))
        .unwrap_or_else(|| "—".into())
}

fn pct(x: Option<f64>) -> String {
    x.map(|v| format!("{:.0} %", v * 100.0))
        .unwrap_or_else(|| "—".into())
}

fn ci(i: Option<&Interval>) -> String {
    match i {
        Some(i) => format!("{:.3} [{:.3}, {:.3}]", i.value, i.lo, i.hi),
        None => "—".into(),
    }
}

/// Whether the paired difference `frozen − scratch` is resolved by the test set.
pub(super) fn verdict(auc: Option<&Interval>, f1: Option<&Interval>) -> String {
    let judge = |what: &str, i: Option<&Interval>| -> String {
        match i {
            Some(i) if i.lo > 0.0 => format!(
                "the frozen probe is better on {what} by {:.3} (95 % CI {:.3} to {:.3})",
                i.value, i.lo, i.hi
            ),
            Some(i) if i.hi < 0.0 => format!(
                "the scratch baseline is better on {what} by {:.3} (95 % CI {:.3} to {:.3})",
                -i.value, -i.hi, -i.lo
            ),
            Some(i) => format!(
                "no difference on {what} is resolved by this test set (frozen − scratch {:.3}, \
                 95 % CI {:.3} to {:.3} spans 0)",
                i.value, i.lo, i.hi
            ),
            None => format!("{what} could not be compared"),
        }
    };
    let mut v = judge("clip ROC-AUC", auc);
    if f1.is_some() {
        v.push_str("; ");
        v.push_str(&judge("event-based F1", f1));
    }
    v
}

/// Step 6 when it was not run, and why.
pub(super) fn adaptation_skipped(reason: &str) -> Adaptation {
    Adaptation {
        tried: false,
        top_layers: None,
        lora_rank: None,
        clip_auc_difference: None,
        event_f1_difference: None,
        kept: "frozen_probe".into(),
        note: format!(
            "Adaptation was not tried: {reason}. The frozen encoder is kept; the frozen-versus-scratch \
             comparison above is the evidence an adaptation run would start from."
        ),
    }
}

/// Step 6's decision from the paired differences `adapted − frozen_probe`: keep the frozen
/// encoder unless the adapted one is better by more than the interval (its lower bound above 0)
/// on the task's measure — event F1 with strong labels, clip ROC-AUC without.
pub(super) fn adaptation(
    a: &AdaptOptions,
    auc: Option<Interval>,
    f1: Option<Interval>,
) -> Adaptation {
    // Event F1 decides when there is one to compare (an interval pinned at 0 — neither model
    // found an event — says nothing, and clip AUC decides instead).
    let informative = |i: &&Interval| i.value != 0.0 || i.lo != i.hi;
    let (what, primary) = match (f1.as_ref().filter(informative), &auc) {
        (Some(i), _) => ("event-based F1", Some(i)),
        (None, Some(i)) => ("clip ROC-AUC", Some(i)),
        _ => ("clip ROC-AUC", None),
    };
    let how = match a.lora {
        Some(l) => format!(
            "LoRA adapters (rank {}, alpha {}) on the attention projections of the top {} layer(s)",
            l.rank, l.alpha, a.top_layers
        ),
        None => format!("the top {} transformer layer(s) fine-tuned", a.top_layers),
    };
    let kept_adapted = primary.is_some_and(|i| i.lo > 0.0);
    let evidence = match primary {
        Some(i) => format!(
            "adapted − frozen on {what}: {:.3} (95 % CI {:.3} to {:.3})",
            i.value, i.lo, i.hi
        ),
        None => format!("{what} could not be compared on this test set"),
    };
    let next = if kept_adapted {
        match a.lora {
            None => "Test LoRA adapters (rank 8) on the same layers: if they match the fine-tuned \
                     layers within the interval, they are the cheaper model to keep."
                .to_string(),
            Some(_) => format!(
                "Test one more adapted layer (top {}) on the same split.",
                a.top_layers + 1
            ),
        }
    } else if primary.is_some_and(|i| i.hi < 0.0) {
        "Adaptation hurt on this data: it over-fits the training clips. Keep the frozen encoder; \
         the next change worth testing is more labelled clips, not more trainable parameters."
            .to_string()
    } else {
        "The test set does not separate the two: keep the frozen encoder (cheaper, no overlay to \
         ship). The next change worth testing is a larger test split or more labelled clips, so \
         that an interval of this width can resolve a difference."
            .to_string()
    };
    Adaptation {
        tried: true,
        top_layers: Some(a.top_layers),
        lora_rank: a.lora.map(|l| l.rank),
        clip_auc_difference: auc,
        event_f1_difference: f1,
        kept: if kept_adapted {
            "adapted"
        } else {
            "frozen_probe"
        }
        .into(),
        note: format!(
            "Tried {how}, lower layers frozen and cached, same split and pooling rule as the \
             frozen probe. {evidence}. Decision: keep the {} ({}). {next} The adapted layers are \
             in `adapted/overlay.safetensors` (checkpoint key names; base checkpoint + overlay = \
             the adapted encoder) with its frame head in `adapted/head/`.",
            if kept_adapted {
                "adapted encoder"
            } else {
                "frozen encoder"
            },
            if kept_adapted {
                "better by more than the interval"
            } else {
                "the adapted one is not better by more than the interval"
            }
        ),
    }
}

/// The short note to keep.
pub(super) fn note(m: &Metrics) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Decision note\n");
    let _ = writeln!(
        s,
        "Data: {}. {} recordings ({} with events), classes: {}. Test split: {} recordings; split seed {} \
         (ids in metrics.json).\n",
        m.dataset.description,
        m.dataset.recordings,
        m.dataset.positives,
        m.dataset.classes.join(", "),
        m.split.test.len(),
        m.split.seed
    );

    // Pooling.
    let _ = writeln!(s, "## Pooling rule: `{}`\n", m.chosen_pooling);
    let _ = writeln!(s, "Chosen by {}.\n", m.pooling_criterion);
    let mut rows: Vec<Vec<String>> = Vec::new();
    for (name, r) in &m.pooling {
        rows.push(vec![
            name.clone(),
            f3(Some(r.clip_auc)),
            f3(Some(r.clip_ap)),
            f3(Some(r.val_weak_localisation)),
            f3(r.event_f1),
            pct(r.peak_inside),
            format!(
                "{:.3} / {:.3}",
                r.mean_score_positive, r.mean_score_negative
            ),
        ]);
    }
    s.push_str(&earmark_report::md_table(
        &[
            "pooling",
            "clip AUC",
            "clip AP",
            "val weak localisation",
            "event F1",
            "peak inside event",
            "mean clip score pos / neg",
        ],
        &rows,
    ));
    s.push('\n');
    if m.pooling
        .values()
        .all(|r| r.event_f1.is_some_and(|f| f < 0.05))
    {
        let _ = writeln!(
            s,
            "On this data no rule's frozen-representation head localises: every test event F1 is \
             below 0.05, so the choice rests on the weak-label localisation score and the \
             frame view recovered little here. The end-to-end model below (and `earmark train`'s \
             CRNN) is where localisation has to come from.\n"
        );
    }
    let stuck: Vec<&str> = m
        .pooling
        .iter()
        .filter(|(_, r)| r.train.best_epoch <= 1 && r.train.epochs_run > 1)
        .map(|(n, _)| n.as_str())
        .collect();
    if !stuck.is_empty() {
        let _ = writeln!(
            s,
            "Training note: with {} the validation loss never improved after epoch 1, so the \
             weights kept are epoch 1's — the clip-level signal through this rule was too weak to \
             learn from in {} epochs; its numbers describe a head that barely moved.\n",
            stuck
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", "),
            m.pooling[stuck[0]].train.epochs_run
        );
    }
    let capped: Vec<&str> = m
        .pooling
        .iter()
        .filter(|(_, r)| r.train.best_epoch == r.train.epochs_run && r.train.epochs_run > 1)
        .map(|(n, _)| n.as_str())
        .collect();
    if !capped.is_empty() {
        let _ = writeln!(
            s,
            "Still improving at the epoch limit: {} (more epochs, `--epochs`, may change its row).\n",
            capped
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let chosen = &m.pooling[m.chosen_pooling.name()];
    if let Some(mean) = m
        .pooling
        .get("mean")
        .filter(|_| m.chosen_pooling.name() != "mean")
    {
        let gap_c = chosen.mean_score_positive - chosen.mean_score_negative;
        let gap_m = mean.mean_score_positive - mean.mean_score_negative;
        let _ = writeln!(
            s,
            "Evidence: with `{}` the mean clip score of positive clips sits {:.3} above negatives; \
             mean pooling keeps a gap of {:.3}. Event F1 {} ({}) against {} (mean); the frame score \
             peaks inside the true event in {} of positive clips against {} with mean pooling.\n",
            m.chosen_pooling,
            gap_c,
            gap_m,
            f3(chosen.event_f1),
            m.chosen_pooling,
            f3(mean.event_f1),
            pct(chosen.peak_inside),
            pct(mean.peak_inside)
        );
    }
    let best_auc = m
        .pooling
        .iter()
        .max_by(|a, b| a.1.clip_auc.total_cmp(&b.1.clip_auc))
        .map(|(n, r)| (n.clone(), r.clip_auc));
    if let Some((n, a)) = best_auc {
        if n != m.chosen_pooling.name() {
            let _ = writeln!(
                s,
                "Note: `{n}` has the highest test clip AUC ({a:.3}); the clip summary alone would \
                 have picked it, but the choice is made on validation {}.\n",
                if m.dataset.strong_labels {
                    "localisation"
                } else {
                    "weak-label localisation"
                }
            );
        }
    }

    // Boundaries.
    let _ = writeln!(s, "## Boundary evidence (positive clips only)\n");
    match &m.boundary {
        BoundaryOrReason::Measured(b) => {
            let _ = writeln!(
                s,
                "Model `{}`: {} positive test clips, {} true events, {} matched (onset collar 200 ms). \
                 Onset median |error| {}, offset median |error| {}; {} of matched onsets within 200 ms. \
                 The frame score peaks inside a true event for {} of (clip, class) pairs (median distance \
                 {}). Negative clips ({}) get {} detections each on average.\n",
                m.selected_model,
                b.positives,
                b.reference_events,
                b.matched,
                ms(b.onset_median_abs_s),
                ms(b.offset_median_abs_s),
                pct(b.within_200ms),
                pct(b.peak_inside),
                ms(b.peak_distance_median_s),
                b.negatives,
                f3(b.false_alarms_per_negative)
            );
            if let Some(c) = &m.chance {
                let _ = writeln!(
                    s,
                    "Against chance (the same detections moved to random places, {} draws): event F1 \
                     {} vs {:.3}; onset median |error| {} vs {}.\n",
                    c.draws,
                    f3(m.event_f1),
                    c.event_f1,
                    ms(b.onset_median_abs_s),
                    ms(c.onset_median_abs_s)
                );
            }
        }
        BoundaryOrReason::Unavailable { reason, .. } => {
            let _ = writeln!(s, "Not measured: {reason}.\n");
        }
    }

    // Frozen versus scratch.
    let _ = writeln!(
        s,
        "## Scratch baseline, frozen representation + probe, adapted encoder\n"
    );
    for (name, r) in &m.models {
        let _ = writeln!(
            s,
            "- `{name}` ({}): clip AUC {}, event F1 {}, segment F1 {}",
            r.representation,
            ci(r.clip_auc.as_ref()),
            ci(r.event_f1.as_ref()),
            f3(r.segment_f1)
        );
    }
    let _ = writeln!(s, "\nVerdict: {}.\n", m.comparison.verdict);
    let _ = writeln!(s, "## Adaptation\n\n{}\n", m.adaptation.note);
    let _ = writeln!(
        s,
        "## Smallest next change worth testing\n\n{}",
        next_change(m)
    );
    s
}

/// The one next experiment the numbers point at.
fn next_change(m: &Metrics) -> String {
    if let BoundaryOrReason::Measured(b) = &m.boundary {
        if let (Some(on), Some(off)) = (b.onset_median_abs_s, b.offset_median_abs_s) {
            if b.peak_inside.unwrap_or(0.0) < 0.7 {
                return format!(
                    "The frame score peaks inside the event in only {} of positive clips: frames do \
                     not yet localise. Test a head with more temporal context (a wider temporal conv) \
                     before tuning thresholds.",
                    pct(b.peak_inside)
                );
            }
            if b.false_alarms_per_negative.unwrap_or(0.0) > 0.5 {
                return format!(
                    "Negative clips get {} detections each: raise the per-class thresholds or the \
                     minimum event length, and check false alarms per hour on negatives again.",
                    f3(b.false_alarms_per_negative)
                );
            }
            if off > 1.5 * on {
                return format!(
                    "Offsets are the weaker boundary (median |error| {} vs {} for onsets): test a \
                     higher hysteresis low threshold (offsets end earlier) and compare offset errors.",
                    ms(Some(off)),
                    ms(Some(on))
                );
            }
            if on > 0.1 {
                return format!(
                    "Onsets are off by {} (median): test a finer frame hop (the scratch CNN's \
                     time pooling 2 → 1) and compare onset errors.",
                    ms(Some(on))
                );
            }
        }
    } else {
        return "Label the boundaries of a few dozen positive clips (a strong TSV) so that \
                localisation can be measured; every boundary decision waits on it."
            .into();
    }
    match (
        &m.comparison.event_f1_difference,
        &m.comparison.clip_auc_difference,
    ) {
        (Some(i), _) | (None, Some(i)) if i.lo <= 0.0 && i.hi >= 0.0 => {
            "Frozen and scratch are not separated by this test set: test a pretrained encoder \
             (`--encoder HUBERT_BASE` or `AST`) as the frozen representation, or a larger test set."
                .into()
        }
        _ => {
            "Test a pretrained encoder as the frozen representation (`--encoder NAME`) on the same \
              split, and compare with the intervals above."
                .into()
        }
    }
}

/// What the CLI prints at the end.
pub(super) fn summary_lines(m: &Metrics) -> Vec<String> {
    let mut v = Vec::new();
    v.push(format!("dataset: {}", m.dataset.description));
    for (name, r) in &m.pooling {
        v.push(format!(
            "pooling {name:<15} clip AUC {:.3}  AP {:.3}  event F1 {}  peak inside {}",
            r.clip_auc,
            r.clip_ap,
            f3(r.event_f1),
            pct(r.peak_inside)
        ));
    }
    v.push(format!(
        "chosen pooling: {} (by {})",
        m.chosen_pooling, m.pooling_criterion
    ));
    for (name, r) in &m.models {
        v.push(format!(
            "model {name:<13} clip AUC {}  event F1 {}  segment F1 {}",
            ci(r.clip_auc.as_ref()),
            ci(r.event_f1.as_ref()),
            f3(r.segment_f1)
        ));
    }
    match &m.boundary {
        BoundaryOrReason::Measured(b) => v.push(format!(
            "boundaries ({}, {} positive test clips): onset median |err| {}, offset {}, within 200 ms {}, peak inside {}",
            m.selected_model,
            b.positives,
            ms(b.onset_median_abs_s),
            ms(b.offset_median_abs_s),
            pct(b.within_200ms),
            pct(b.peak_inside)
        )),
        BoundaryOrReason::Unavailable { reason, .. } => v.push(format!("boundaries: {reason}")),
    }
    if let Some(c) = &m.chance {
        v.push(format!(
            "chance: event F1 {:.3}, onset median |err| {}",
            c.event_f1,
            ms(c.onset_median_abs_s)
        ));
    }
    v.push(format!("frozen vs scratch: {}", m.comparison.verdict));
    let a = &m.adaptation;
    v.push(if a.tried {
        format!(
            "adaptation: adapted − frozen clip AUC {}, event F1 {}; kept {}",
            ci(a.clip_auc_difference.as_ref()),
            ci(a.event_f1_difference.as_ref()),
            a.kept
        )
    } else {
        "adaptation: not tried (see decision.md)".to_string()
    });
    v
}
