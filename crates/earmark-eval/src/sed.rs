//! sed_eval's segment-based and event-based metrics (Mesaros, Heittola, Virtanen, "Metrics for
//! polyphonic sound event detection", 2016), reproducing `sed_eval.sound_event` 0.2.1 exactly:
//! the same float64 comparisons, the same `eps` in rates, the same matching (mir_eval's
//! Hopcroft–Karp for `optimal`, list order for `greedy`) and so the same substitutions.
//!
//! Both accumulators take one file at a time, in the caller's order, like sed_eval's `.evaluate()`.

use crate::EvalError;
use earmark_core::{Event, LabelSet};
use serde::{Deserialize, Serialize};

/// numpy.spacing(1), the `eps` sed_eval adds to rate denominators.
const EPS: f64 = f64::EPSILON;

/// F-measure, precision and recall (NaN where sed_eval gives NaN: no output or no reference).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FScores {
    pub f_measure: f64,
    pub precision: f64,
    pub recall: f64,
}

/// Error rate and its parts; `substitution_rate` is `None` class-wise (sed_eval has none there).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ErrorRates {
    pub error_rate: f64,
    pub substitution_rate: Option<f64>,
    pub deletion_rate: f64,
    pub insertion_rate: f64,
}

/// Segment-based accuracy figures (balance factor 0.5).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Accuracy {
    pub accuracy: f64,
    pub balanced_accuracy: f64,
    pub sensitivity: f64,
    pub specificity: f64,
}

/// One block of sed_eval's `.results()`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MetricBlock {
    pub f_measure: FScores,
    pub error_rate: ErrorRates,
    /// Segment-based only.
    pub accuracy: Option<Accuracy>,
}

/// One class of sed_eval's `.results()['class_wise']`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassResult {
    pub label: String,
    pub metrics: MetricBlock,
    pub n_ref: f64,
    pub n_sys: f64,
}

/// sed_eval's `.results()`: overall (micro), class-wise, and the class-wise average (`nanmean` over
/// classes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SedResults {
    pub overall: MetricBlock,
    pub class_wise: Vec<ClassResult>,
    pub class_wise_average: MetricBlock,
}

impl SedResults {
    pub fn class(&self, label: &str) -> Option<&ClassResult> {
        self.class_wise.iter().find(|c| c.label == label)
    }
}

/// Raw counts, as sed_eval keeps them (floats). Event-based leaves `ntn`, `s`, `d`, `i` at 0 and
/// uses `nsubs`; segment-based uses `s`, `d`, `i`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Counts {
    pub ntp: f64,
    pub ntn: f64,
    pub nfp: f64,
    pub nfn: f64,
    pub nref: f64,
    pub nsys: f64,
    pub nsubs: f64,
    pub s: f64,
    pub d: f64,
    pub i: f64,
}

fn precision(ntp: f64, nsys: f64) -> f64 {
    if nsys == 0.0 {
        f64::NAN
    } else {
        ntp / nsys
    }
}

fn recall(ntp: f64, nref: f64) -> f64 {
    if nref == 0.0 {
        f64::NAN
    } else {
        ntp / nref
    }
}

fn f_measure(p: f64, r: f64) -> f64 {
    if p == 0.0 && r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    }
}

fn fscores(c: &Counts) -> FScores {
    let p = precision(c.ntp, c.nsys);
    let r = recall(c.ntp, c.nref);
    FScores {
        f_measure: f_measure(p, r),
        precision: p,
        recall: r,
    }
}

fn accuracy(c: &Counts) -> Accuracy {
    let sensitivity = c.ntp / (c.ntp + c.nfn + EPS);
    let specificity = c.ntn / (c.ntn + c.nfp + EPS);
    Accuracy {
        accuracy: (c.ntp + c.ntn) / (c.ntp + c.ntn + c.nfn + c.nfp + EPS),
        balanced_accuracy: 0.5 * sensitivity + 0.5 * specificity,
        sensitivity,
        specificity,
    }
}

fn class_error_rates(c: &Counts) -> ErrorRates {
    let d = c.nfn / (c.nref + EPS);
    let i = c.nfp / (c.nref + EPS);
    ErrorRates {
        error_rate: d + i,
        substitution_rate: None,
        deletion_rate: d,
        insertion_rate: i,
    }
}

fn sid_rates(nref: f64, s: f64, d: f64, i: f64) -> ErrorRates {
    let (s, d, i) = (s / (nref + EPS), d / (nref + EPS), i / (nref + EPS));
    ErrorRates {
        error_rate: s + d + i,
        substitution_rate: Some(s),
        deletion_rate: d,
        insertion_rate: i,
    }
}

/// numpy.nanmean: the mean of the non-NaN values (NaN when there are none).
pub(crate) fn nanmean(v: impl IntoIterator<Item = f64>) -> f64 {
    let (mut s, mut n) = (0.0, 0usize);
    for x in v {
        if !x.is_nan() {
            s += x;
            n += 1;
        }
    }
    if n == 0 {
        f64::NAN
    } else {
        s / n as f64
    }
}

fn class_average(class_wise: &[ClassResult]) -> MetricBlock {
    let m = |f: &dyn Fn(&MetricBlock) -> f64| nanmean(class_wise.iter().map(|c| f(&c.metrics)));
    let accuracy =
        if class_wise.iter().all(|c| c.metrics.accuracy.is_some()) && !class_wise.is_empty() {
            let a = |f: &dyn Fn(&Accuracy) -> f64| {
                m(&|b: &MetricBlock| b.accuracy.as_ref().map_or(f64::NAN, f))
            };
            Some(Accuracy {
                accuracy: a(&|x| x.accuracy),
                balanced_accuracy: a(&|x| x.balanced_accuracy),
                sensitivity: a(&|x| x.sensitivity),
                specificity: a(&|x| x.specificity),
            })
        } else {
            None
        };
    MetricBlock {
        f_measure: FScores {
            f_measure: m(&|b| b.f_measure.f_measure),
            precision: m(&|b| b.f_measure.precision),
            recall: m(&|b| b.f_measure.recall),
        },
        error_rate: ErrorRates {
            error_rate: m(&|b| b.error_rate.error_rate),
            substitution_rate: None,
            deletion_rate: m(&|b| b.error_rate.deletion_rate),
            insertion_rate: m(&|b| b.error_rate.insertion_rate),
        },
        accuracy,
    }
}

// ------------------------------------------------------------------------------------------------
// Segment-based
// ------------------------------------------------------------------------------------------------

/// Segment-based metrics: each file is cut into `time_resolution` segments; an event is active in
/// segments `floor(onset / res)` to `ceil(offset / res) − 1`.
#[derive(Debug, Clone)]
pub struct SegmentBasedMetrics {
    labels: LabelSet,
    time_resolution: f64,
    overall: Counts,
    class_wise: Vec<Counts>,
}

impl SegmentBasedMetrics {
    pub fn new(labels: LabelSet, time_resolution: f64) -> Result<Self, EvalError> {
        if !(time_resolution > 0.0 && time_resolution.is_finite()) {
            return Err(EvalError::Invalid {
                what: format!("time_resolution must be a positive number, got {time_resolution}"),
            });
        }
        let n = labels.len();
        Ok(SegmentBasedMetrics {
            labels,
            time_resolution,
            overall: Counts::default(),
            class_wise: vec![Counts::default(); n],
        })
    }

    fn roll(&self, events: &[Event], len: usize) -> Result<Vec<Vec<bool>>, EvalError> {
        let mut roll = vec![vec![false; self.labels.len()]; len];
        for e in events {
            let c = self
                .labels
                .index_of(&e.label)
                .ok_or_else(|| EvalError::UnknownLabel {
                    label: e.label.clone(),
                })?;
            let on = (e.onset / self.time_resolution).floor().max(0.0) as usize;
            let off = ((e.offset / self.time_resolution).ceil().max(0.0) as usize).min(len);
            for row in roll.iter_mut().take(off).skip(on) {
                row[c] = true;
            }
        }
        Ok(roll)
    }

    /// Adds one file. `evaluated_length_secs`: the file's duration; `None` uses the largest offset
    /// of either list, as sed_eval does.
    pub fn evaluate(
        &mut self,
        reference: &[Event],
        estimated: &[Event],
        evaluated_length_secs: Option<f64>,
    ) -> Result<(), EvalError> {
        let len_secs = evaluated_length_secs.unwrap_or_else(|| {
            reference
                .iter()
                .chain(estimated)
                .map(|e| e.offset)
                .fold(0.0, f64::max)
        });
        if !(len_secs >= 0.0 && len_secs.is_finite()) {
            return Err(EvalError::Invalid {
                what: format!("evaluated length must be a non-negative number, got {len_secs}"),
            });
        }
        let len = (len_secs / self.time_resolution).ceil() as usize;
        let r = self.roll(reference, len)?;
        let s = self.roll(estimated, len)?;
        for (a, b) in r.iter().zip(&s) {
            let (mut tp, mut tn, mut fp, mut fn_, mut nr, mut ns) = (0u64, 0, 0, 0, 0, 0);
            for (&x, &y) in a.iter().zip(b) {
                tp += (x && y) as u64;
                tn += (!x && !y) as u64;
                fp += (y && !x) as u64;
                fn_ += (x && !y) as u64;
                nr += x as u64;
                ns += y as u64;
            }
            let o = &mut self.overall;
            o.ntp += tp as f64;
            o.ntn += tn as f64;
            o.nfp += fp as f64;
            o.nfn += fn_ as f64;
            o.nref += nr as f64;
            o.nsys += ns as f64;
            o.s += (nr.min(ns) - tp) as f64;
            o.d += nr.saturating_sub(ns) as f64;
            o.i += ns.saturating_sub(nr) as f64;
        }
        for (c, cw) in self.class_wise.iter_mut().enumerate() {
            for (a, b) in r.iter().zip(&s) {
                let (x, y) = (a[c], b[c]);
                cw.ntp += (x && y) as u8 as f64;
                cw.ntn += (!x && !y) as u8 as f64;
                cw.nfp += (y && !x) as u8 as f64;
                cw.nfn += (x && !y) as u8 as f64;
                cw.nref += x as u8 as f64;
                cw.nsys += y as u8 as f64;
            }
        }
        Ok(())
    }

    pub fn overall_counts(&self) -> Counts {
        self.overall
    }

    /// Counts per class, in the label set's order.
    pub fn class_counts(&self) -> Vec<(String, Counts)> {
        self.labels
            .iter()
            .cloned()
            .zip(self.class_wise.iter().copied())
            .collect()
    }

    pub fn results(&self) -> SedResults {
        let o = &self.overall;
        let overall = MetricBlock {
            f_measure: fscores(o),
            error_rate: sid_rates(o.nref, o.s, o.d, o.i),
            accuracy: Some(accuracy(o)),
        };
        let class_wise: Vec<ClassResult> = self
            .class_counts()
            .into_iter()
            .map(|(label, c)| ClassResult {
                label,
                metrics: MetricBlock {
                    f_measure: fscores(&c),
                    error_rate: class_error_rates(&c),
                    accuracy: Some(accuracy(&c)),
                },
                n_ref: c.nref,
                n_sys: c.nsys,
            })
            .collect();
        let class_wise_average = class_average(&class_wise);
        SedResults {
            overall,
            class_wise,
            class_wise_average,
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Event-based
// ------------------------------------------------------------------------------------------------

/// How estimated events are paired with references.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Matching {
    /// Maximum bipartite matching (sed_eval `event_matching_type='optimal'`).
    #[default]
    Optimal,
    /// Each reference, in list order, takes the first unmatched estimate that fits.
    Greedy,
}

/// Event-based options; defaults are DCASE's: 200 ms onset collar, offset collar
/// `max(200 ms, 20 % of the reference length)`, onsets and offsets evaluated, optimal matching.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventBasedOptions {
    pub t_collar_secs: f64,
    pub percentage_of_length: f64,
    pub evaluate_onset: bool,
    pub evaluate_offset: bool,
    pub matching: Matching,
}

impl Default for EventBasedOptions {
    fn default() -> Self {
        EventBasedOptions {
            t_collar_secs: 0.2,
            percentage_of_length: 0.2,
            evaluate_onset: true,
            evaluate_offset: true,
            matching: Matching::Optimal,
        }
    }
}

impl EventBasedOptions {
    /// `|ref.onset − est.onset| <= t_collar` in f64, no rounding.
    pub fn onset_ok(&self, r: &Event, e: &Event) -> bool {
        !self.evaluate_onset || (r.onset - e.onset).abs() <= self.t_collar_secs
    }

    /// `|ref.offset − est.offset| <= max(t_collar, percentage × ref length)`.
    pub fn offset_ok(&self, r: &Event, e: &Event) -> bool {
        !self.evaluate_offset
            || (r.offset - e.offset).abs()
                <= self
                    .t_collar_secs
                    .max(self.percentage_of_length * (r.offset - r.onset))
    }

    fn times_ok(&self, r: &Event, e: &Event) -> bool {
        self.onset_ok(r, e) && self.offset_ok(r, e)
    }
}

/// mir_eval's / sed_eval's Hopcroft–Karp, ported with Python's dict orders so that it returns the same
/// matching (which decides substitutions). `graph`: estimates (in first-hit order) with their
/// reference neighbours. Returns, per reference, its matched estimate.
fn bipartite_match(
    graph: &[(usize, Vec<usize>)],
    n_est: usize,
    n_ref: usize,
) -> Vec<Option<usize>> {
    let mut adj: Vec<&[usize]> = vec![&[]; n_est];
    for (u, vs) in graph {
        adj[*u] = vs;
    }
    let mut matching: Vec<Option<usize>> = vec![None; n_ref];
    for (u, vs) in graph {
        for &v in vs {
            if matching[v].is_none() {
                matching[v] = Some(*u);
                break;
            }
        }
    }
    // pred[u]: None = not in pred; Some(None) = first layer (Python's `unmatched` flag); Some(Some(v)).
    fn recurse(
        v: usize,
        preds: &mut [Option<Vec<usize>>],
        pred: &mut [Option<Option<usize>>],
        matching: &mut [Option<usize>],
    ) -> bool {
        if let Some(l) = preds[v].take() {
            for u in l {
                if let Some(pu) = pred[u].take() {
                    let found = match pu {
                        None => true,
                        Some(pv) => recurse(pv, preds, pred, matching),
                    };
                    if found {
                        matching[v] = Some(u);
                        return true;
                    }
                }
            }
        }
        false
    }
    loop {
        let mut preds: Vec<Option<Vec<usize>>> = vec![None; n_ref];
        let mut unmatched: Vec<usize> = Vec::new();
        let mut pred: Vec<Option<Option<usize>>> = vec![None; n_est];
        for (u, _) in graph {
            pred[*u] = Some(None);
        }
        for u in matching.iter().flatten() {
            pred[*u] = None;
        }
        let mut layer: Vec<usize> = graph
            .iter()
            .map(|(u, _)| *u)
            .filter(|u| pred[*u].is_some())
            .collect();
        while !layer.is_empty() && unmatched.is_empty() {
            let mut new_layer: Vec<(usize, Vec<usize>)> = Vec::new();
            for &u in &layer {
                for &v in adj[u] {
                    if preds[v].is_none() {
                        match new_layer.iter_mut().find(|(x, _)| *x == v) {
                            Some((_, us)) => us.push(u),
                            None => new_layer.push((v, vec![u])),
                        }
                    }
                }
            }
            layer = Vec::new();
            for (v, us) in new_layer {
                preds[v] = Some(us);
                match matching[v] {
                    Some(mu) => {
                        layer.push(mu);
                        pred[mu] = Some(Some(v));
                    }
                    None => unmatched.push(v),
                }
            }
        }
        if unmatched.is_empty() {
            return matching;
        }
        for &v in &unmatched {
            recurse(v, &mut preds, &mut pred, &mut matching);
        }
    }
}

/// Optimal matching of `reference` to `estimated` where `fits(ref, est)`; returns (ref, est) pairs
/// sorted by reference index.
fn optimal_pairs(
    reference: &[&Event],
    estimated: &[&Event],
    fits: impl Fn(&Event, &Event) -> bool,
) -> Vec<(usize, usize)> {
    let mut graph: Vec<(usize, Vec<usize>)> = Vec::new();
    for (j, r) in reference.iter().enumerate() {
        for (i, e) in estimated.iter().enumerate() {
            if fits(r, e) {
                match graph.iter_mut().find(|(u, _)| *u == i) {
                    Some((_, vs)) => vs.push(j),
                    None => graph.push((i, vec![j])),
                }
            }
        }
    }
    let m = bipartite_match(&graph, estimated.len(), reference.len());
    m.iter()
        .enumerate()
        .filter_map(|(j, u)| u.map(|u| (j, u)))
        .collect()
}

/// Pairs of (reference index, estimate index) within one file that count as class-wise true positives
/// (same label, onset/offset within the collars), matched as `opts.matching` says.
pub fn matched_pairs(
    reference: &[Event],
    estimated: &[Event],
    opts: &EventBasedOptions,
) -> Vec<(usize, usize)> {
    let mut labels: Vec<&str> = reference.iter().map(|e| e.label.as_str()).collect();
    labels.sort_unstable();
    labels.dedup();
    let mut out = Vec::new();
    for l in labels {
        let ri: Vec<usize> = (0..reference.len())
            .filter(|&j| reference[j].label == l)
            .collect();
        let ei: Vec<usize> = (0..estimated.len())
            .filter(|&i| estimated[i].label == l)
            .collect();
        match opts.matching {
            Matching::Optimal => {
                let r: Vec<&Event> = ri.iter().map(|&j| &reference[j]).collect();
                let e: Vec<&Event> = ei.iter().map(|&i| &estimated[i]).collect();
                for (j, i) in optimal_pairs(&r, &e, |a, b| opts.times_ok(a, b)) {
                    out.push((ri[j], ei[i]));
                }
            }
            Matching::Greedy => {
                let mut used = vec![false; ei.len()];
                for &j in &ri {
                    if let Some(k) = (0..ei.len())
                        .find(|&k| !used[k] && opts.times_ok(&reference[j], &estimated[ei[k]]))
                    {
                        used[k] = true;
                        out.push((j, ei[k]));
                    }
                }
            }
        }
    }
    out.sort_unstable();
    out
}

/// Event-based metrics: an estimate is correct when its label matches and its onset (and offset) lie
/// within the collars of a reference; each event is used once.
#[derive(Debug, Clone)]
pub struct EventBasedMetrics {
    labels: LabelSet,
    opts: EventBasedOptions,
    overall: Counts,
    class_wise: Vec<Counts>,
}

impl EventBasedMetrics {
    pub fn new(labels: LabelSet, opts: EventBasedOptions) -> Result<Self, EvalError> {
        if !(opts.t_collar_secs >= 0.0 && opts.percentage_of_length >= 0.0) {
            return Err(EvalError::Invalid {
                what: "t_collar_secs and percentage_of_length must be non-negative numbers".into(),
            });
        }
        let n = labels.len();
        Ok(EventBasedMetrics {
            labels,
            opts,
            overall: Counts::default(),
            class_wise: vec![Counts::default(); n],
        })
    }

    /// Adds one file's reference and estimated events (all of one file, in list order).
    pub fn evaluate(&mut self, reference: &[Event], estimated: &[Event]) {
        let o = self.opts;
        let (nref, nsys) = (reference.len(), estimated.len());
        let mut ref_ok = vec![false; nref];
        let mut sys_ok = vec![false; nsys];
        let ntp;
        match o.matching {
            Matching::Optimal => {
                let r: Vec<&Event> = reference.iter().collect();
                let e: Vec<&Event> = estimated.iter().collect();
                let pairs = optimal_pairs(&r, &e, |a, b| a.label == b.label && o.times_ok(a, b));
                for &(j, i) in &pairs {
                    ref_ok[j] = true;
                    sys_ok[i] = true;
                }
                ntp = pairs.len();
            }
            Matching::Greedy => {
                for (j, r) in reference.iter().enumerate() {
                    for (i, e) in estimated.iter().enumerate() {
                        if !sys_ok[i] && r.label == e.label && o.times_ok(r, e) {
                            ref_ok[j] = true;
                            sys_ok[i] = true;
                            break;
                        }
                    }
                }
                ntp = sys_ok.iter().filter(|&&x| x).count();
            }
        }
        // Substitutions: leftover references and estimates that fit in time, whatever the label.
        let mut nsubs = 0usize;
        let mut counted = vec![false; nsys];
        for j in (0..nref).filter(|&j| !ref_ok[j]) {
            for i in (0..nsys).filter(|&i| !sys_ok[i]) {
                if !counted[i] && o.times_ok(&reference[j], &estimated[i]) {
                    counted[i] = true;
                    nsubs += 1;
                    break;
                }
            }
        }
        let ov = &mut self.overall;
        ov.nref += nref as f64;
        ov.nsys += nsys as f64;
        ov.ntp += ntp as f64;
        ov.nsubs += nsubs as f64;
        ov.nfp += (nsys - ntp - nsubs) as f64;
        ov.nfn += (nref - ntp - nsubs) as f64;

        let pairs = matched_pairs(reference, estimated, &o);
        for (c, label) in self.labels.iter().enumerate() {
            let cr = reference.iter().filter(|e| &e.label == label).count();
            let cs = estimated.iter().filter(|e| &e.label == label).count();
            let tp = pairs
                .iter()
                .filter(|(j, _)| &reference[*j].label == label)
                .count();
            let cw = &mut self.class_wise[c];
            cw.nref += cr as f64;
            cw.nsys += cs as f64;
            cw.ntp += tp as f64;
            cw.nfp += (cs - tp) as f64;
            cw.nfn += (cr - tp) as f64;
        }
    }

    pub fn overall_counts(&self) -> Counts {
        self.overall
    }

    /// Counts per class, in the label set's order.
    pub fn class_counts(&self) -> Vec<(String, Counts)> {
        self.labels
            .iter()
            .cloned()
            .zip(self.class_wise.iter().copied())
            .collect()
    }

    pub fn results(&self) -> SedResults {
        let o = &self.overall;
        let overall = MetricBlock {
            f_measure: fscores(o),
            error_rate: sid_rates(o.nref, o.nsubs, o.nfn, o.nfp),
            accuracy: None,
        };
        let class_wise: Vec<ClassResult> = self
            .class_counts()
            .into_iter()
            .map(|(label, c)| ClassResult {
                label,
                metrics: MetricBlock {
                    f_measure: fscores(&c),
                    error_rate: class_error_rates(&c),
                    accuracy: None,
                },
                n_ref: c.nref,
                n_sys: c.nsys,
            })
            .collect();
        let class_wise_average = class_average(&class_wise);
        SedResults {
            overall,
            class_wise,
            class_wise_average,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optimal_beats_greedy_on_a_shared_estimate() {
        let r = vec![
            Event::new("f", 14.0, 14.3, "x"),
            Event::new("f", 14.3, 14.6, "x"),
        ];
        let e = vec![
            Event::new("f", 14.12, 14.42, "x"),
            Event::new("f", 13.85, 14.15, "x"),
        ];
        let opt = matched_pairs(&r, &e, &EventBasedOptions::default());
        assert_eq!(opt, vec![(0, 1), (1, 0)]);
        let greedy = EventBasedOptions {
            matching: Matching::Greedy,
            ..Default::default()
        };
        assert_eq!(matched_pairs(&r, &e, &greedy), vec![(0, 0)]);
    }

    #[test]
    fn collars_are_inclusive() {
        let o = EventBasedOptions::default();
        // 0.2 - 0.0 is exactly 0.2: inside the onset collar
        assert!(o.onset_ok(
            &Event::new("f", 0.0, 1.0, "x"),
            &Event::new("f", 0.2, 1.0, "x")
        ));
        // offset collar max(0.2, 0.2 * 10) = 2.0, error exactly 2.0: inside
        assert!(o.offset_ok(
            &Event::new("f", 0.0, 10.0, "x"),
            &Event::new("f", 0.0, 12.0, "x")
        ));
        assert!(!o.offset_ok(
            &Event::new("f", 0.0, 10.0, "x"),
            &Event::new("f", 0.0, 12.01, "x")
        ));
        // short events: the 0.2 s floor
        assert!(o.offset_ok(
            &Event::new("f", 0.0, 0.5, "x"),
            &Event::new("f", 0.0, 0.7, "x")
        ));
    }

    #[test]
    fn collar_is_compared_in_f64() {
        let o = EventBasedOptions::default();
        let r = Event::new("f", 1.2, 1.5, "x");
        assert!(o.onset_ok(&r, &Event::new("f", 1.4, 1.5, "x")));
        let r = Event::new("f", 3.3, 3.6, "x");
        assert!(!o.onset_ok(&r, &Event::new("f", 3.5, 3.6, "x")));
    }
}
