//! Frame scores → events: median filter, threshold or hysteresis, gap merging, minimum length.

use crate::error::DetectError;
use crate::perclass::PerClass;
use crate::scores::{check_scores, class_curve, half_sample_bounds, Scores};
use earmark_core::{Event, EventList, Frames, LabelSet};
use serde::{Deserialize, Serialize};

/// Two thresholds: an event starts where the score reaches `high` and lasts while it stays at or
/// above `low`, so a dip that a single threshold would split (or a noisy start) does not.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Hysteresis {
    pub high: f32,
    pub low: f32,
    /// Also extend backwards from the first frame ≥ `high` while the score is ≥ `low` (the
    /// "double threshold" of the DCASE literature). Off by default: the event then starts where
    /// the score first reaches `high`, as a streaming trigger would.
    #[serde(default)]
    pub extend_back: bool,
}

impl Hysteresis {
    pub fn new(high: f32, low: f32) -> Self {
        Hysteresis {
            high,
            low,
            extend_back: false,
        }
    }
}

/// Post-processing settings, in the order they are applied:
///
/// 1. a median filter of `median_filter_frames` (odd; 1 = off) on each class's score curve;
/// 2. `thresholds` (active where score ≥ threshold), or `hysteresis` when set, which then replaces
///    `thresholds` for every class;
/// 3. gaps shorter than `merge_gap_secs` between two events of a class are filled;
/// 4. events shorter than `min_event_secs` are dropped — after merging, so pieces of one event
///    split by a dip count together.
///
/// Every field takes one value for all classes or one per class (see [`PerClass`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PostProcess {
    pub thresholds: PerClass<f32>,
    pub hysteresis: Option<PerClass<Hysteresis>>,
    pub median_filter_frames: PerClass<usize>,
    pub min_event_secs: PerClass<f64>,
    pub merge_gap_secs: PerClass<f64>,
}

impl Default for PostProcess {
    /// Threshold 0.5, no hysteresis, no median filter, no minimum length, no gap merging: the
    /// plain thresholded frames, so every other step is a visible choice.
    fn default() -> Self {
        PostProcess {
            thresholds: PerClass::All(0.5),
            hysteresis: None,
            median_filter_frames: PerClass::All(1),
            min_event_secs: PerClass::All(0.0),
            merge_gap_secs: PerClass::All(0.0),
        }
    }
}

/// [`PostProcess`] resolved against a label set and checked.
#[derive(Debug, Clone)]
struct ClassSettings {
    detect: Detect,
    median: usize,
    min_secs: f64,
    gap_secs: f64,
}

#[derive(Debug, Clone, Copy)]
enum Detect {
    Threshold(f32),
    Hysteresis(Hysteresis),
}

impl PostProcess {
    /// Check the settings against `labels`; the same errors [`events`] would give.
    pub fn validate(&self, labels: &LabelSet) -> Result<(), DetectError> {
        self.resolve(labels).map(|_| ())
    }

    fn resolve(&self, labels: &LabelSet) -> Result<Vec<ClassSettings>, DetectError> {
        let thr = self.thresholds.resolve(labels, "thresholds")?;
        let hyst = match &self.hysteresis {
            Some(h) => Some(h.resolve(labels, "hysteresis")?),
            None => None,
        };
        let med = self
            .median_filter_frames
            .resolve(labels, "median_filter_frames")?;
        let min = self.min_event_secs.resolve(labels, "min_event_secs")?;
        let gap = self.merge_gap_secs.resolve(labels, "merge_gap_secs")?;
        let invalid = |what: String| Err(DetectError::Invalid { what });
        let mut out = Vec::with_capacity(labels.len());
        for (c, name) in labels.iter().enumerate() {
            let detect = match &hyst {
                Some(h) => {
                    let h = h[c];
                    if !h.high.is_finite() || !h.low.is_finite() || h.low > h.high {
                        return invalid(format!(
                            "hysteresis of {name:?} needs finite low <= high, got high {} low {}",
                            h.high, h.low
                        ));
                    }
                    Detect::Hysteresis(h)
                }
                None if !thr[c].is_finite() => {
                    return invalid(format!("threshold of {name:?} is {}", thr[c]));
                }
                None => Detect::Threshold(thr[c]),
            };
            if med[c] % 2 == 0 {
                return invalid(format!(
                    "median_filter_frames of {name:?} must be odd (1 = off), got {}",
                    med[c]
                ));
            }
            for (what, v) in [("min_event_secs", min[c]), ("merge_gap_secs", gap[c])] {
                if !(v.is_finite() && v >= 0.0) {
                    return invalid(format!("{what} of {name:?} must be >= 0, got {v}"));
                }
            }
            out.push(ClassSettings {
                detect,
                median: med[c],
                min_secs: min[c],
                gap_secs: gap[c],
            });
        }
        Ok(out)
    }
}

/// Events of one file from its frame scores (column `c` is class `labels[c]`).
///
/// Frames become seconds only through `scores.grid`, with [`crate::frames_to_span`]: an event
/// of frames `a..=b` runs from the start of `a`'s hop cell to the end of `b`'s. Onsets are clamped
/// at 0, and offsets at `total_samples` when given. Events are sorted by onset, then class order;
/// events of one class never overlap.
pub fn events(
    scores: &Frames,
    labels: &LabelSet,
    file: &str,
    pp: &PostProcess,
    total_samples: Option<u64>,
) -> Result<EventList, DetectError> {
    check_scores(scores, labels)?;
    let settings = pp.resolve(labels)?;
    let grid = &scores.grid;
    if grid.rate == 0 || grid.hop == 0 {
        return Err(DetectError::Invalid {
            what: format!("frame grid needs a positive rate and hop, got {grid:?}"),
        });
    }
    let r2 = 2.0 * grid.rate as f64;
    let mut found: Vec<(f64, usize, Event)> = Vec::new();
    for (c, (name, s)) in labels.iter().zip(&settings).enumerate() {
        let curve = median_filter(&class_curve(scores, c), s.median);
        // Half-sample bounds of each active run, clamped to the audio.
        let mut spans: Vec<(i128, i128)> = active_runs(&curve, s.detect)
            .into_iter()
            .filter_map(|(a, b)| half_sample_bounds(grid, a as u64, b as u64, total_samples))
            .collect();
        // Fill short gaps: compare in seconds, each side computed once from exact integers.
        let mut merged: Vec<(i128, i128)> = Vec::with_capacity(spans.len());
        for sp in spans.drain(..) {
            match merged.last_mut() {
                Some(last) if ((sp.0 - last.1) as f64 / r2) < s.gap_secs => last.1 = sp.1,
                _ => merged.push(sp),
            }
        }
        for (a, b) in merged {
            if ((b - a) as f64 / r2) < s.min_secs {
                continue;
            }
            let onset = a as f64 / r2;
            found.push((
                onset,
                c,
                Event::new(file, onset, b as f64 / r2, name.clone()),
            ));
        }
    }
    found.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
    Ok(found.into_iter().map(|(_, _, e)| e).collect())
}

impl Scores {
    /// [`events`] of these scores, clamped to `total_samples` when it is known.
    pub fn events(&self, file: &str, pp: &PostProcess) -> Result<EventList, DetectError> {
        events(&self.frames, &self.labels, file, pp, self.total_samples)
    }
}

/// Median of each `width`-frame neighbourhood (`width` odd; 1 returns the curve).
///
/// Edges are padded by reflection, `d c b a | a b c d | d c b a` — scipy.ndimage's default
/// `reflect` mode, which the DCASE baselines' `median_filter` uses — so results match theirs,
/// an event at the very start or end of a file is not eaten (zero padding would), and every
/// window holds `width` values (no even-count medians).
pub fn median_filter(curve: &[f32], width: usize) -> Vec<f32> {
    let n = curve.len();
    if width <= 1 || n == 0 {
        return curve.to_vec();
    }
    let half = (width / 2) as i64;
    let period = 2 * n as i64;
    let at = |j: i64| {
        // Reflection with the edge sample repeated, for any distance past the edge.
        let m = j.rem_euclid(period);
        let k = if m < n as i64 { m } else { period - 1 - m };
        curve[k as usize]
    };
    let mut buf = Vec::with_capacity(width);
    (0..n as i64)
        .map(|i| {
            buf.clear();
            buf.extend((i - half..=i + half).map(at));
            buf.sort_unstable_by(f32::total_cmp);
            buf[width / 2]
        })
        .collect()
}

/// Inclusive frame ranges where a class is active.
fn active_runs(curve: &[f32], detect: Detect) -> Vec<(usize, usize)> {
    let (on, keep, back) = match detect {
        Detect::Threshold(t) => (t, t, true),
        Detect::Hysteresis(h) => (h.high, h.low, h.extend_back),
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < curve.len() {
        if curve[i] < keep {
            i += 1;
            continue;
        }
        // A run of frames >= keep: it is an event if some frame reaches `on`; without
        // `extend_back` the event starts at the first such frame, and lasts to the run's end.
        let start = i;
        while i < curve.len() && curve[i] >= keep {
            i += 1;
        }
        if let Some(k) = (start..i).find(|&k| curve[k] >= on) {
            out.push((if back { start } else { k }, i - 1));
        }
    }
    out
}
