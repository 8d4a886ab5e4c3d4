//! Boundary errors on positive clips only: for reference events matched to an estimate (same label,
//! within the event-based collars), the signed onset and offset errors `estimate − reference` in
//! seconds, summarised by median, quartiles (numpy's linear interpolation) and the fraction within
//! 100, 200 and 500 ms. Negative clips (no reference event) have no boundaries and are left out.

use crate::sed::{matched_pairs, EventBasedOptions};
use earmark_core::Event;
use serde::{Deserialize, Serialize};

/// Summary of one error distribution (seconds; signed errors are `estimate − reference`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ErrorSummary {
    pub median: f64,
    pub q25: f64,
    pub q75: f64,
    /// `q75 − q25`.
    pub iqr: f64,
    /// Median of the absolute errors.
    pub median_abs: f64,
    pub within_100ms: f64,
    pub within_200ms: f64,
    pub within_500ms: f64,
}

/// Onset and offset error distributions over matched pairs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoundaryErrors {
    /// Files with at least one reference event.
    pub positive_files: usize,
    /// Reference events on those files.
    pub reference_events: usize,
    /// Matched (reference, estimate) pairs the errors come from.
    pub matched: usize,
    /// `est.onset − ref.onset` per pair.
    pub onset_errors: Vec<f64>,
    /// `est.offset − ref.offset` per pair.
    pub offset_errors: Vec<f64>,
    /// `None` when nothing matched.
    pub onset: Option<ErrorSummary>,
    pub offset: Option<ErrorSummary>,
}

/// numpy.quantile's default (linear) on sorted data.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Summarises signed errors; `None` for an empty or non-finite list.
pub fn summarize(errors: &[f64]) -> Option<ErrorSummary> {
    if errors.is_empty() || errors.iter().any(|e| !e.is_finite()) {
        return None;
    }
    let mut s = errors.to_vec();
    s.sort_by(f64::total_cmp);
    let mut a: Vec<f64> = errors.iter().map(|e| e.abs()).collect();
    a.sort_by(f64::total_cmp);
    let frac = |t: f64| a.iter().filter(|&&x| x <= t).count() as f64 / a.len() as f64;
    let (q25, q75) = (quantile(&s, 0.25), quantile(&s, 0.75));
    Some(ErrorSummary {
        median: quantile(&s, 0.5),
        q25,
        q75,
        iqr: q75 - q25,
        median_abs: quantile(&a, 0.5),
        within_100ms: frac(0.1),
        within_200ms: frac(0.2),
        within_500ms: frac(0.5),
    })
}

/// Boundary errors over all files of `reference`/`estimated` (events of many files, any order).
/// Pairs come from [`matched_pairs`] with `opts` per file; only files with a reference are counted.
/// For a looser pairing (errors beyond the collars), widen `opts` or set `evaluate_offset: false`.
pub fn boundary_errors(
    reference: &[Event],
    estimated: &[Event],
    opts: &EventBasedOptions,
) -> BoundaryErrors {
    let mut files: Vec<&str> = Vec::new();
    for e in reference {
        if !files.contains(&e.file.as_str()) {
            files.push(&e.file);
        }
    }
    let (mut on, mut off) = (Vec::new(), Vec::new());
    for f in &files {
        let r: Vec<Event> = reference.iter().filter(|e| e.file == *f).cloned().collect();
        let s: Vec<Event> = estimated.iter().filter(|e| e.file == *f).cloned().collect();
        for (j, i) in matched_pairs(&r, &s, opts) {
            on.push(s[i].onset - r[j].onset);
            off.push(s[i].offset - r[j].offset);
        }
    }
    BoundaryErrors {
        positive_files: files.len(),
        reference_events: reference.len(),
        matched: on.len(),
        onset: summarize(&on),
        offset: summarize(&off),
        onset_errors: on,
        offset_errors: off,
    }
}

/// Where one clip's frame score peaks relative to its true events: the time of the highest score
/// (first frame on ties) and its distance in seconds to the nearest reference event (0 inside).
/// `None` when the clip has no reference event or no finite score.
pub fn peak_inside(times: &[f64], scores: &[f32], reference: &[Event]) -> Option<PeakCheck> {
    if reference.is_empty() || times.len() != scores.len() {
        return None;
    }
    let (mut best, mut at) = (f32::NEG_INFINITY, None);
    for (i, &s) in scores.iter().enumerate() {
        if s.is_finite() && s > best {
            best = s;
            at = Some(i);
        }
    }
    let t = times[at?];
    let distance = reference
        .iter()
        .map(|e| {
            if t < e.onset {
                e.onset - t
            } else if t > e.offset {
                t - e.offset
            } else {
                0.0
            }
        })
        .fold(f64::INFINITY, f64::min);
    Some(PeakCheck {
        peak_secs: t,
        peak_score: best,
        distance_secs: distance,
        inside: distance == 0.0,
    })
}

/// The answer of [`peak_inside`] for one clip and class.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PeakCheck {
    pub peak_secs: f64,
    pub peak_score: f32,
    /// Seconds from the peak to the nearest true event; 0 when the peak is inside one.
    pub distance_secs: f64,
    pub inside: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_inside_hand_worked() {
        let times = [0.5, 1.5, 2.5, 3.5];
        let r = vec![Event::new("a", 1.0, 2.0, "x")];
        let p = peak_inside(&times, &[0.1, 0.9, 0.9, 0.2], &r).unwrap();
        assert!(p.inside && p.peak_secs == 1.5 && p.distance_secs == 0.0);
        let p = peak_inside(&times, &[0.1, 0.2, 0.3, f32::NAN], &r).unwrap();
        assert!(!p.inside && (p.distance_secs - 0.5).abs() < 1e-12);
        assert!(peak_inside(&times, &[0.1; 4], &[]).is_none());
        assert!(peak_inside(&times, &[f32::NAN; 4], &r).is_none());
    }

    #[test]
    fn hand_worked_errors() {
        let reference = vec![
            Event::new("a", 1.0, 2.0, "x"),
            Event::new("a", 5.0, 6.0, "x"),
            Event::new("b", 0.0, 10.0, "x"),
            Event::new("c", 3.0, 3.5, "x"), // missed: no estimate
        ];
        let estimated = vec![
            Event::new("a", 1.05, 2.0, "x"),  // onset +0.05, offset 0
            Event::new("a", 4.85, 5.7, "x"),  // onset -0.15, offset -0.3 (collar 0.2 fails)
            Event::new("b", 0.2, 11.5, "x"),  // onset +0.2, offset +1.5 (collar 2.0)
            Event::new("neg", 1.0, 2.0, "x"), // a negative clip: ignored
        ];
        let opts = EventBasedOptions {
            evaluate_offset: false,
            ..Default::default()
        };
        let b = boundary_errors(&reference, &estimated, &opts);
        assert_eq!((b.positive_files, b.reference_events, b.matched), (3, 4, 3));
        let on = b.onset.unwrap();
        // onset errors sorted: -0.15, 0.05, 0.2
        assert!((on.median - 0.05).abs() < 1e-12);
        assert!((on.q25 - (-0.05)).abs() < 1e-12);
        assert!((on.q75 - 0.125).abs() < 1e-12);
        assert!((on.iqr - 0.175).abs() < 1e-12);
        assert!((on.median_abs - 0.15).abs() < 1e-12);
        assert!((on.within_100ms - 1.0 / 3.0).abs() < 1e-12);
        assert!((on.within_500ms - 1.0).abs() < 1e-12);
        let off = b.offset.unwrap();
        // offset errors sorted: -0.3, 0.0, 1.5
        assert!((off.median - 0.0).abs() < 1e-12);
        assert!((off.within_200ms - 1.0 / 3.0).abs() < 1e-12);
        assert!((off.within_500ms - 2.0 / 3.0).abs() < 1e-12);
        // with the offset collar on, the second pair no longer matches
        let strict = boundary_errors(&reference, &estimated, &EventBasedOptions::default());
        assert_eq!(strict.matched, 2);
        assert!(summarize(&[]).is_none());
    }
}
