//! From a trained model's frame probabilities to every number the workflow reports: clip ranking
//! per class, events through `earmark-detect` (frames → seconds only through the grid), sed_eval's
//! event- and segment-based F1, boundary errors and score peaks on positive clips, false alarms on
//! negative clips, a chance baseline, and bootstrap intervals over test recordings.

use super::data::Dataset;
use super::WorkflowError;
use earmark_core::{Event, FrameGrid, Frames, LabelSet};
use earmark_detect::{events, Hysteresis, PerClass, PostProcess};
use earmark_eval::{
    average_precision, bootstrap, boundary_errors, peak_inside, roc_auc, BootstrapOptions,
    ErrorSummary, EventBasedMetrics, EventBasedOptions, Interval, SegmentBasedMetrics,
};
use earmark_heads::Prediction;
use serde::Serialize;

/// Frame probabilities of one clip as `Frames` on the model's grid.
pub fn frame_scores(p: &Prediction, grid: FrameGrid, classes: usize) -> Frames {
    Frames {
        data: p.frame_probs.clone(),
        dim: classes,
        grid,
    }
}

/// Macro-averaged clip ROC-AUC and AP over the classes where both outcomes occur.
pub fn clip_ranking(targets: &[&[f32]], clip_probs: &[&[f32]], classes: usize) -> (f64, f64) {
    let (mut auc, mut ap, mut n) = (0.0, 0.0, 0usize);
    for c in 0..classes {
        let y: Vec<bool> = targets.iter().map(|t| t[c] > 0.5).collect();
        let s: Vec<f64> = clip_probs.iter().map(|p| p[c] as f64).collect();
        if let (Ok(a), Ok(p)) = (roc_auc(&y, &s), average_precision(&y, &s)) {
            auc += a;
            ap += p;
            n += 1;
        }
    }
    if n == 0 {
        (f64::NAN, f64::NAN)
    } else {
        (auc / n as f64, ap / n as f64)
    }
}

/// The post-processing the workflow applies: hysteresis (high = the class threshold, low = half
/// of it), a 3-frame median filter, events shorter than 40 ms dropped, gaps under 100 ms filled.
pub fn post_process(thresholds: &[f32]) -> PostProcess {
    PostProcess {
        thresholds: PerClass::Each(thresholds.to_vec()),
        hysteresis: Some(PerClass::Each(
            thresholds
                .iter()
                .map(|&t| Hysteresis::new(t, t * 0.5))
                .collect(),
        )),
        median_filter_frames: PerClass::All(3),
        min_event_secs: PerClass::All(0.04),
        merge_gap_secs: PerClass::All(0.1),
    }
}

/// Detected events of the given clips.
pub fn detect(
    data: &Dataset,
    idx: &[usize],
    preds: &[Prediction],
    grid: FrameGrid,
    pp: &PostProcess,
) -> Result<Vec<Vec<Event>>, WorkflowError> {
    let mut out = Vec::with_capacity(idx.len());
    for (&i, p) in idx.iter().zip(preds) {
        let clip = &data.clips[i];
        let f = frame_scores(p, grid, data.labels.len());
        let ev = events(
            &f,
            &data.labels,
            &clip.id,
            pp,
            Some(clip.samples.len() as u64),
        )?;
        out.push(ev.into_vec());
    }
    Ok(out)
}

/// sed_eval's overall (micro) event-based F1 with DCASE collars over the given clips.
pub fn event_f1(labels: &LabelSet, refs: &[&[Event]], ests: &[&[Event]]) -> f64 {
    let mut m = EventBasedMetrics::new(labels.clone(), EventBasedOptions::default())
        .expect("labels are non-empty");
    for (r, e) in refs.iter().zip(ests) {
        m.evaluate(r, e);
    }
    m.results().overall.f_measure.f_measure
}

/// sed_eval's overall segment-based F1 on 1 s segments.
pub fn segment_f1(labels: &LabelSet, refs: &[&[Event]], ests: &[&[Event]], secs: &[f64]) -> f64 {
    let mut m = SegmentBasedMetrics::new(labels.clone(), 1.0).expect("positive resolution");
    for ((r, e), &s) in refs.iter().zip(ests).zip(secs) {
        // Labels come from the dataset's own label set, so evaluation cannot meet an unknown one.
        let _ = m.evaluate(r, e, Some(s));
    }
    m.results().overall.f_measure.f_measure
}

/// Per-class thresholds that maximise event-based F1 on the validation clips (grid 0.1 … 0.9).
pub fn tune_thresholds(
    data: &Dataset,
    val: &[usize],
    preds: &[Prediction],
    grid: FrameGrid,
) -> Result<Vec<f32>, WorkflowError> {
    let k = data.labels.len();
    let mut best = vec![0.5f32; k];
    if !data.strong {
        return Ok(best);
    }
    let refs: Vec<Vec<Event>> = val
        .iter()
        .map(|&i| data.clips[i].events.clone().unwrap_or_default())
        .collect();
    for (c, name) in data.labels.iter().enumerate() {
        let one = LabelSet::new([name.clone()]);
        let rc: Vec<Vec<Event>> = refs
            .iter()
            .map(|r| r.iter().filter(|e| &e.label == name).cloned().collect())
            .collect();
        let mut best_f = -1.0;
        for step in 1..=9 {
            let t = step as f32 / 10.0;
            let mut th = vec![1.01f32; k];
            th[c] = t;
            let est = detect(data, val, preds, grid, &post_process(&th))?;
            let ec: Vec<Vec<Event>> = est
                .iter()
                .map(|v| v.iter().filter(|e| &e.label == name).cloned().collect())
                .collect();
            let f = event_f1(&one, &as_slices(&rc), &as_slices(&ec));
            if f > best_f + 1e-9 {
                best_f = f;
                best[c] = t;
            }
        }
    }
    Ok(best)
}

pub fn as_slices(v: &[Vec<Event>]) -> Vec<&[Event]> {
    v.iter().map(|x| x.as_slice()).collect()
}

/// Boundary evidence on positive clips, negatives kept apart.
#[derive(Debug, Clone, Serialize)]
pub struct Boundary {
    /// Test clips with at least one true event.
    pub positives: usize,
    pub reference_events: usize,
    /// Reference events matched to a detection (same class, DCASE onset collar; offsets free).
    pub matched: usize,
    pub onset_median_abs_s: Option<f64>,
    pub offset_median_abs_s: Option<f64>,
    /// Fraction of matched onsets within 200 ms.
    pub within_200ms: Option<f64>,
    pub onset: Option<ErrorSummary>,
    pub offset: Option<ErrorSummary>,
    /// Fraction of (positive clip, true class) pairs whose frame score peaks inside a true event.
    pub peak_inside: Option<f64>,
    /// Median distance from that peak to the nearest true event of its class (0 inside).
    pub peak_distance_median_s: Option<f64>,
    pub negatives: usize,
    /// Detections per negative clip (false alarms: nothing is there).
    pub false_alarms_per_negative: Option<f64>,
    /// Signed errors, for the histograms.
    #[serde(skip)]
    pub onset_errors: Vec<f64>,
    #[serde(skip)]
    pub offset_errors: Vec<f64>,
}

fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// Boundary errors use a looser pairing than the F1 (onset collar only, offsets free), so a
/// detection whose offset is late still tells how late.
pub fn boundary(
    data: &Dataset,
    idx: &[usize],
    preds: &[Prediction],
    grid: FrameGrid,
    est: &[Vec<Event>],
) -> Boundary {
    let (mut refs, mut ests, mut peaks) = (Vec::new(), Vec::new(), Vec::new());
    let (mut positives, mut negatives, mut false_alarms) = (0usize, 0usize, 0usize);
    for ((&i, p), e) in idx.iter().zip(preds).zip(est) {
        let clip = &data.clips[i];
        let r = clip.events.clone().unwrap_or_default();
        if r.is_empty() {
            negatives += 1;
            false_alarms += e.len();
            continue;
        }
        positives += 1;
        let f = frame_scores(p, grid, data.labels.len());
        let times: Vec<f64> = (0..f.n_frames())
            .map(|j| grid.frame_center(j as u64).0)
            .collect();
        for (c, name) in data.labels.iter().enumerate() {
            let rc: Vec<Event> = r.iter().filter(|x| &x.label == name).cloned().collect();
            if rc.is_empty() {
                continue;
            }
            let curve: Vec<f32> = f.rows().map(|row| row[c]).collect();
            if let Some(pk) = peak_inside(&times, &curve, &rc) {
                peaks.push(pk);
            }
        }
        refs.extend(r);
        ests.extend(e.iter().cloned());
    }
    let opts = EventBasedOptions {
        evaluate_offset: false,
        ..Default::default()
    };
    let b = boundary_errors(&refs, &ests, &opts);
    let mut dist: Vec<f64> = peaks.iter().map(|p| p.distance_secs).collect();
    Boundary {
        positives,
        reference_events: b.reference_events,
        matched: b.matched,
        onset_median_abs_s: b.onset.map(|s| s.median_abs),
        offset_median_abs_s: b.offset.map(|s| s.median_abs),
        within_200ms: b.onset.map(|s| s.within_200ms),
        onset: b.onset,
        offset: b.offset,
        peak_inside: (!peaks.is_empty())
            .then(|| peaks.iter().filter(|p| p.inside).count() as f64 / peaks.len() as f64),
        peak_distance_median_s: median(&mut dist),
        negatives,
        false_alarms_per_negative: (negatives > 0).then(|| false_alarms as f64 / negatives as f64),
        onset_errors: b.onset_errors,
        offset_errors: b.offset_errors,
    }
}

/// A chance detector with the model's own output statistics: each detected event moved to a
/// uniformly random place in its clip (same label and length), averaged over `draws`.
pub fn chance(
    data: &Dataset,
    idx: &[usize],
    est: &[Vec<Event>],
    draws: usize,
    seed: u64,
) -> (f64, Option<f64>) {
    let mut rng = earmark_core::SplitMix64::new(seed ^ 0xC4A2CE);
    let refs: Vec<Vec<Event>> = idx
        .iter()
        .map(|&i| data.clips[i].events.clone().unwrap_or_default())
        .collect();
    let (mut f_sum, mut onset_meds) = (0.0, Vec::new());
    for _ in 0..draws {
        let moved: Vec<Vec<Event>> = idx
            .iter()
            .zip(est)
            .map(|(&i, ev)| {
                let len = data.clips[i].secs(data.sample_rate);
                ev.iter()
                    .map(|e| {
                        let d = e.duration().min(len);
                        let on = rng.next_f64() * (len - d);
                        Event::new(e.file.clone(), on, on + d, e.label.clone())
                    })
                    .collect()
            })
            .collect();
        f_sum += event_f1(&data.labels, &as_slices(&refs), &as_slices(&moved));
        let b = boundary_errors(
            &refs.concat(),
            &moved.concat(),
            &EventBasedOptions {
                evaluate_offset: false,
                t_collar_secs: f64::INFINITY,
                ..Default::default()
            },
        );
        if let Some(s) = b.onset {
            onset_meds.push(s.median_abs);
        }
    }
    (f_sum / draws as f64, median(&mut onset_meds))
}

/// Clip AUC and event F1 of a model on the test clips, each with a bootstrap interval over test
/// recordings (the same resamples for every model, so differences are paired).
pub fn intervals(
    data: &Dataset,
    idx: &[usize],
    preds: &[Prediction],
    est: &[Vec<Event>],
    seed: u64,
) -> (Option<Interval>, Option<Interval>) {
    let opts = BootstrapOptions {
        resamples: 500,
        level: 0.95,
        seed,
    };
    let k = data.labels.len();
    let auc = bootstrap(idx.len(), &opts, |ix| {
        let t: Vec<&[f32]> = ix
            .iter()
            .map(|&j| data.clips[idx[j]].targets.as_slice())
            .collect();
        let p: Vec<&[f32]> = ix.iter().map(|&j| preds[j].clip_probs.as_slice()).collect();
        let (a, _) = clip_ranking(&t, &p, k);
        a.is_finite().then_some(a)
    });
    let f1 = data.strong.then(|| {
        bootstrap(idx.len(), &opts, |ix| {
            let r: Vec<&[Event]> = ix
                .iter()
                .map(|&j| data.clips[idx[j]].events.as_deref().unwrap_or(&[]))
                .collect();
            let e: Vec<&[Event]> = ix.iter().map(|&j| est[j].as_slice()).collect();
            Some(event_f1(&data.labels, &r, &e))
        })
    });
    (auc, f1.flatten())
}

/// Paired bootstrap interval of `a − b` for a per-resample statistic of two models.
pub fn paired_difference(
    n: usize,
    seed: u64,
    a: impl Fn(&[usize]) -> Option<f64>,
    b: impl Fn(&[usize]) -> Option<f64>,
) -> Option<Interval> {
    let opts = BootstrapOptions {
        resamples: 500,
        level: 0.95,
        seed,
    };
    bootstrap(n, &opts, |ix| Some(a(ix)? - b(ix)?))
}
