//! The polyphonic sound detection score (Bilen et al., "A framework for the robust evaluation of sound
//! event detection", ICASSP 2020), computed as psds_eval 0.5.3 does from operating points (event lists
//! of one system at several thresholds).
//!
//! Per operating point: a detection is a true positive candidate when the summed fraction of it that
//! overlaps same-class references is ≥ dtc; a reference is detected when the summed fraction of it
//! covered by those detections is ≥ gtc. Other detections are cross-triggers on a class when their
//! overlap fraction with it is ≥ cttc, and false positives against the whole file ("world") in any
//! case. Rates are per hour. The PSD-ROC is the mean − alpha_st·std over classes of the step TPR
//! versus eFPR = FPR + alpha_ct·mean(CTR) curves; PSDS is its area up to max_efpr, normalised.

use crate::sed::nanmean;
use crate::EvalError;
use earmark_core::{Event, EventList};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

const SECS_PER_HOUR: f64 = 3600.0;

/// Detection, ground-truth and cross-trigger tolerance criteria.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PsdsParams {
    pub dtc_threshold: f64,
    pub gtc_threshold: f64,
    pub cttc_threshold: f64,
}

/// One operating point's per-class rates and psds_eval's count matrix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperatingPoint {
    pub threshold: f64,
    /// Per class: detected references / references.
    pub tpr: Vec<f64>,
    /// Per class: false positives per hour of audio.
    pub fpr: Vec<f64>,
    /// `[class][other class]`: cross-triggers per hour of the other class; NaN on the diagonal.
    pub ctr: Vec<Vec<f64>>,
    /// `[classes + 1][classes + 1]`: TP on the diagonal, CT off it, FP in the last ("world") column.
    pub counts: Vec<Vec<f64>>,
}

/// The PSD-ROC: eFPR points (per hour), the effective TPR, and the class mean and std it comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PsdRoc {
    pub xp: Vec<f64>,
    pub yp: Vec<f64>,
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

/// A PSDS value with its curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Psds {
    pub value: f64,
    pub roc: PsdRoc,
}

#[derive(Debug, Clone)]
struct Gt {
    file: String,
    onset: f64,
    offset: f64,
    /// `None`: the injected whole-file "world" event.
    class: Option<usize>,
}

/// psds_eval's `PSDSEval`: ground truth and file durations, then operating points.
#[derive(Debug, Clone)]
pub struct PsdsEval {
    params: PsdsParams,
    classes: Vec<String>,
    gt: Vec<Gt>,
    gt_count: Vec<f64>,
    gt_duration: Vec<f64>,
    dataset_duration: f64,
    ops: Vec<OperatingPoint>,
}

impl PsdsEval {
    /// `durations`: (file, seconds) for every evaluated file. Classes are the ground truth's labels,
    /// sorted.
    pub fn new(
        params: PsdsParams,
        ground_truth: &EventList,
        durations: &[(String, f64)],
    ) -> Result<Self, EvalError> {
        for (n, v) in [
            ("dtc_threshold", params.dtc_threshold),
            ("gtc_threshold", params.gtc_threshold),
            ("cttc_threshold", params.cttc_threshold),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(EvalError::Invalid {
                    what: format!("{n} must be between 0 and 1, got {v}"),
                });
            }
        }
        let classes: Vec<String> = ground_truth.labels().names().to_vec();
        let mut gt: Vec<Gt> = ground_truth
            .iter()
            .map(|e| Gt {
                file: e.file.clone(),
                onset: e.onset,
                offset: e.offset,
                class: classes.iter().position(|c| *c == e.label),
            })
            .collect();
        let mut seen: Vec<&str> = Vec::new();
        let mut dataset_duration = 0.0;
        for (f, d) in durations {
            if seen.contains(&f.as_str()) {
                continue;
            }
            seen.push(f);
            dataset_duration += d;
            gt.push(Gt {
                file: f.clone(),
                onset: 0.0,
                offset: *d,
                class: None,
            });
        }
        let mut gt_count = vec![0.0; classes.len()];
        let mut gt_duration = vec![0.0; classes.len()];
        for g in &gt {
            if let Some(c) = g.class {
                gt_count[c] += 1.0;
                gt_duration[c] += g.offset - g.onset;
            }
        }
        Ok(PsdsEval {
            params,
            classes,
            gt,
            gt_count,
            gt_duration,
            dataset_duration,
            ops: Vec::new(),
        })
    }

    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    pub fn operating_points(&self) -> &[OperatingPoint] {
        &self.ops
    }

    /// Evaluates one event list (one threshold of the system) and keeps it as an operating point.
    pub fn add_operating_point(&mut self, detections: &[Event], threshold: f64) -> &OperatingPoint {
        let op = self.evaluate(detections, threshold);
        self.ops.push(op);
        self.ops.last().expect("just pushed")
    }

    fn evaluate(&self, det: &[Event], threshold: f64) -> OperatingPoint {
        let n = self.classes.len();
        let p = self.params;
        let det_class: Vec<Option<usize>> = det
            .iter()
            .map(|d| self.classes.iter().position(|c| *c == d.label))
            .collect();
        // Intersections (inclusive bounds, as psds_eval's `<=`): (det, gt, det_precision, gt_coverage).
        struct Cross {
            d: usize,
            g: usize,
            same: bool,
            det_precision: f64,
            gt_coverage: f64,
        }
        let mut cross = Vec::new();
        for (di, d) in det.iter().enumerate() {
            for (gi, g) in self.gt.iter().enumerate() {
                if d.file == g.file && d.onset <= g.offset && g.onset <= d.offset {
                    let inter = d.offset.min(g.offset) - d.onset.max(g.onset);
                    cross.push(Cross {
                        d: di,
                        g: gi,
                        same: g.class.is_some() && g.class == det_class[di],
                        det_precision: inter / (d.offset - d.onset),
                        gt_coverage: inter / (g.offset - g.onset),
                    });
                }
            }
        }
        // pandas sums skip NaN
        let add = |acc: &mut f64, v: f64| {
            if !v.is_nan() {
                *acc += v
            }
        };
        let mut dtc_sum = vec![0.0; det.len()];
        let mut has_same = vec![false; det.len()];
        for c in cross.iter().filter(|c| c.same) {
            add(&mut dtc_sum[c.d], c.det_precision);
            has_same[c.d] = true;
        }
        let dtc_ok: Vec<bool> = (0..det.len())
            .map(|d| has_same[d] && dtc_sum[d] >= p.dtc_threshold)
            .collect();
        let mut gtc_sum = vec![0.0; self.gt.len()];
        for c in cross.iter().filter(|c| c.same && dtc_ok[c.d]) {
            add(&mut gtc_sum[c.g], c.gt_coverage);
        }
        let mut tp_gt = vec![false; self.gt.len()];
        let mut tp_det = vec![false; det.len()];
        for c in cross.iter().filter(|c| c.same) {
            if dtc_ok[c.d] && gtc_sum[c.g] >= p.gtc_threshold {
                tp_gt[c.g] = true;
                tp_det[c.d] = true;
            }
        }
        // Cross-triggers and false positives: (det, gt class or world) groups.
        let mut ct_sum: BTreeMap<(usize, Option<usize>), f64> = BTreeMap::new();
        for c in cross
            .iter()
            .filter(|c| !c.same && !tp_det[c.d] && !dtc_ok[c.d])
        {
            add(
                ct_sum.entry((c.d, self.gt[c.g].class)).or_insert(0.0),
                c.det_precision,
            );
        }
        let mut counts = vec![vec![0.0; n + 1]; n + 1];
        for (gi, g) in self.gt.iter().enumerate() {
            if let (true, Some(c)) = (tp_gt[gi], g.class) {
                counts[c][c] += 1.0;
            }
        }
        for (&(d, gc), &s) in &ct_sum {
            let Some(dc) = det_class[d] else { continue };
            match gc {
                None => counts[dc][n] += 1.0,
                Some(k) if s >= p.cttc_threshold => counts[dc][k] += 1.0,
                _ => {}
            }
        }
        let tpr = (0..n).map(|c| counts[c][c] / self.gt_count[c]).collect();
        let fpr = (0..n)
            .map(|c| counts[c][n] * SECS_PER_HOUR / self.dataset_duration)
            .collect();
        let ctr = (0..n)
            .map(|c| {
                (0..n)
                    .map(|k| {
                        if c == k {
                            f64::NAN
                        } else {
                            counts[c][k] * SECS_PER_HOUR / self.gt_duration[k]
                        }
                    })
                    .collect()
            })
            .collect();
        OperatingPoint {
            threshold,
            tpr,
            fpr,
            ctr,
            counts,
        }
    }

    /// psds_eval's `psds(alpha_ct, alpha_st, max_efpr)` (step curves, no interpolation).
    /// `max_efpr = None` uses the largest eFPR.
    pub fn psds(
        &self,
        alpha_ct: f64,
        alpha_st: f64,
        max_efpr: Option<f64>,
    ) -> Result<Psds, EvalError> {
        if !(0.0..=1.0).contains(&alpha_ct) {
            return Err(EvalError::Invalid {
                what: format!("alpha_ct must be between 0 and 1, got {alpha_ct}"),
            });
        }
        if alpha_st.is_nan() || alpha_st < 0.0 {
            return Err(EvalError::Invalid {
                what: format!("alpha_st can't be negative, got {alpha_st}"),
            });
        }
        let n = self.classes.len();
        if n == 0 || self.ops.is_empty() {
            return Err(EvalError::Undefined {
                what: "PSDS needs ground-truth classes and at least one operating point".into(),
            });
        }
        // Per class: (efpr, tpr) per operating point, plus psds_eval's padded (0, 0) point.
        let curves: Vec<Vec<(f64, f64)>> = (0..n)
            .map(|c| {
                let mut v: Vec<(f64, f64)> = self
                    .ops
                    .iter()
                    .map(|op| {
                        (
                            op.fpr[c] + alpha_ct * nanmean(op.ctr[c].iter().copied()),
                            op.tpr[c],
                        )
                    })
                    .collect();
                v.push((0.0, 0.0));
                v
            })
            .collect();
        let mut xp: Vec<f64> = curves.iter().flatten().map(|p| p.0).collect();
        xp.sort_by(f64::total_cmp);
        xp.dedup();
        let tpr_at: Vec<Vec<f64>> = curves.iter().map(|cv| step_curve(&xp, cv)).collect();
        let mut mean = Vec::with_capacity(xp.len());
        let mut std = Vec::with_capacity(xp.len());
        for k in 0..xp.len() {
            let col: Vec<f64> = tpr_at.iter().map(|r| r[k]).collect();
            let m = nanmean(col.iter().copied());
            mean.push(m);
            std.push(nanmean(col.iter().map(|x| (x - m) * (x - m))).sqrt());
        }
        let yp: Vec<f64> = mean
            .iter()
            .zip(&std)
            .map(|(m, s)| {
                let y = m - alpha_st * s;
                if y < 0.0 {
                    0.0
                } else {
                    y
                }
            })
            .collect();
        let max_x = max_efpr.unwrap_or(*xp.last().unwrap_or(&0.0));
        let value = auc(&xp, &yp, max_x) / max_x;
        Ok(Psds {
            value,
            roc: PsdRoc { xp, yp, mean, std },
        })
    }
}

/// psds_eval's `step_curve`: at each x, the running max of y over points with xp ≤ x (0 before).
fn step_curve(x: &[f64], pts: &[(f64, f64)]) -> Vec<f64> {
    let mut p = pts.to_vec();
    p.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out = Vec::with_capacity(x.len());
    let (mut k, mut best) = (0, 0.0f64);
    for &xv in x {
        while k < p.len() && p[k].0 <= xv {
            best = best.max(p[k].1);
            k += 1;
        }
        out.push(best);
    }
    out
}

/// psds_eval's `_auc`: area under the step curve `(x, y)` up to `max_x` (inserted when absent).
fn auc(x: &[f64], y: &[f64], max_x: f64) -> f64 {
    let mut xs = x.to_vec();
    let mut ys = y.to_vec();
    if !xs.contains(&max_x) {
        let i = xs.partition_point(|&v| v < max_x);
        let prev = if i > 0 { ys[i - 1] } else { ys[ys.len() - 1] };
        xs.insert(i, max_x);
        ys.insert(i, prev);
    }
    let mut area = 0.0;
    let valid: Vec<usize> = (0..xs.len()).filter(|&i| xs[i] <= max_x).collect();
    for w in valid.windows(2) {
        area += (xs[w[1]] - xs[w[0]]) * ys[w[0]];
    }
    area
}
