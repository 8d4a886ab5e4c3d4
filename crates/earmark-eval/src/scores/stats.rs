//! The per-recording counting behind the threshold sweeps: runs of segments at each distinct
//! score, their intersection- or collar-based counts, and the sums over recordings.

use super::table::round6;
use super::{BestFscore, ClassRoc, ClassStatistics, CollarOptions, ScorePsdsParams, SECS_PER_HOUR};
use std::collections::BTreeMap;

/// Best F1 of one class's counts; `None` without references (recall undefined).
pub fn best_fscore(st: &ClassStatistics) -> Option<BestFscore> {
    if st.n_ref == 0 {
        return None;
    }
    let n = st.scores.len();
    let (mut best, mut best_f) = (0usize, f64::NEG_INFINITY);
    let mut prf = Vec::with_capacity(n);
    for i in 0..n {
        let (tp, fp) = (st.tps[i], st.fps[i]);
        let p = if tp + fp == 0 {
            1.0
        } else {
            tp as f64 / (tp + fp).max(1) as f64
        };
        let r = tp as f64 / st.n_ref as f64;
        let f = 2.0 * p * r / (p + r).max(1e-15);
        // the last index of the maximum (the highest threshold among equal F1s)
        if f >= best_f {
            best_f = f;
            best = i;
        }
        prf.push((p, r, f));
    }
    let threshold = if best > 0 {
        (st.scores[best] + st.scores[best - 1]) / 2.0
    } else {
        f64::NEG_INFINITY
    };
    Some(BestFscore {
        class: st.class.clone(),
        threshold,
        threshold_at_or_above: if best > 0 { threshold } else { st.scores[0] },
        f1: prf[best].2,
        precision: prf[best].0,
        recall: prf[best].1,
        tps: st.tps[best],
        fps: st.fps[best],
        n_ref: st.n_ref,
    })
}

/// For each distinct score `u` of `col` (descending), the runs of segments with score ≥ `u` as
/// (onset, offset) seconds are passed to `stats`; returns (u, change of the counts) where they
/// change.
pub(super) fn sweep(
    col: &[f64],
    timestamps: &[f64],
    width: usize,
    mut stats: impl FnMut(&[(f64, f64)]) -> Vec<i64>,
) -> Vec<(f64, Vec<i64>)> {
    let n = col.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| col[b].total_cmp(&col[a]));
    let mut active = vec![false; n];
    let mut start_of_end = vec![0usize; n];
    let mut runs: BTreeMap<usize, usize> = BTreeMap::new();
    let mut prev = vec![0i64; width];
    let mut out = Vec::new();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < n {
        let u = col[order[i]];
        while i < n && col[order[i]] == u {
            let f = order[i];
            let (mut s, mut e) = (f, f);
            if f > 0 && active[f - 1] {
                s = start_of_end[f - 1];
                runs.remove(&s);
            }
            if f + 1 < n && active[f + 1] {
                e = runs.remove(&(f + 1)).unwrap_or(f + 1);
            }
            active[f] = true;
            runs.insert(s, e);
            start_of_end[e] = s;
            i += 1;
        }
        spans.clear();
        spans.extend(
            runs.iter()
                .map(|(&s, &e)| (timestamps[s], timestamps[e + 1])),
        );
        let st = stats(&spans);
        let delta: Vec<i64> = st.iter().zip(&prev).map(|(a, b)| a - b).collect();
        if delta.iter().any(|&d| d != 0) {
            out.push((u, delta));
        }
        prev = st;
    }
    out
}

/// Sums deltas of all recordings: ascending unique scores (+∞ appended) and counts at each.
pub(super) fn accumulate(
    mut deltas: Vec<(f64, Vec<i64>)>,
    width: usize,
) -> (Vec<f64>, Vec<Vec<i64>>) {
    deltas.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut scores: Vec<f64> = Vec::new();
    let mut rows: Vec<Vec<i64>> = Vec::new();
    let mut acc = vec![0i64; width];
    for (s, d) in deltas {
        for (a, x) in acc.iter_mut().zip(&d) {
            *a += x;
        }
        if scores.last() == Some(&s) {
            *rows.last_mut().expect("a row per score") = acc.clone();
        } else {
            scores.push(s);
            rows.push(acc.clone());
        }
    }
    scores.reverse();
    rows.reverse();
    scores.push(f64::INFINITY);
    rows.push(vec![0; width]);
    (scores, rows)
}

pub(super) fn intersection(a: (f64, f64), b: (f64, f64)) -> f64 {
    (a.1.min(b.1) - a.0.max(b.0)).max(0.0)
}

/// sed_scores_eval's intersection-based `statistics_fn` for one recording, class `c` and the
/// detected runs: `[tps, fps, cts per other class…]`.
pub(super) fn intersection_step(
    c: usize,
    runs: &[(f64, f64)],
    truth: &[Vec<(f64, f64)>],
    dtc: f64,
    gtc: f64,
    cttc: Option<f64>,
) -> Vec<i64> {
    let target = &truth[c];
    let is_dtc: Vec<bool> = runs
        .iter()
        .map(|&d| {
            let len = d.1 - d.0;
            let mut total = 0.0;
            for &g in target {
                total += intersection(d, g);
            }
            len > 0.0 && round6(total) >= round6(dtc * len)
        })
        .collect();
    let fps = runs.iter().filter(|d| d.1 > d.0).count() as i64
        - is_dtc.iter().filter(|&&x| x).count() as i64;
    let mut tps = 0i64;
    for &g in target {
        let mut covered = 0.0;
        for (d, &ok) in runs.iter().zip(&is_dtc) {
            if ok {
                covered += intersection(*d, g);
            }
        }
        tps += (round6(covered) >= round6(gtc * (g.1 - g.0))) as i64;
    }
    let mut out = vec![tps, fps];
    if let Some(cttc) = cttc {
        for (_, other) in truth.iter().enumerate().filter(|(o, _)| *o != c) {
            if other.is_empty() {
                out.push(0);
                continue;
            }
            let mut n = 0i64;
            for (&d, &ok) in runs.iter().zip(&is_dtc) {
                let len = d.1 - d.0;
                let mut total = 0.0;
                if !ok {
                    for &g in other {
                        total += intersection(d, g);
                    }
                }
                n += (len > 0.0 && round6(total) >= round6(cttc * len)) as i64;
            }
            out.push(n);
        }
    }
    out
}

/// sed_scores_eval's collar-based `statistics_fn`: `[tps, fps]` with one-to-one matching.
pub(super) fn collar_step(
    runs: &[(f64, f64)],
    target: &[(f64, f64)],
    o: &CollarOptions,
) -> Vec<i64> {
    let hits: Vec<Vec<usize>> = runs
        .iter()
        .map(|&(on, off)| {
            (0..target.len())
                .filter(|&g| {
                    let (gon, goff) = target[g];
                    let off_collar = o
                        .offset_collar_secs
                        .max(o.offset_collar_rate * (goff - gon));
                    round6((on - gon).abs() - o.onset_collar_secs) <= 0.0
                        && round6((off - goff).abs() - off_collar) <= 0.0
                })
                .collect()
        })
        .collect();
    let tps = max_matching(&hits, target.len()) as i64;
    vec![tps, runs.len() as i64 - tps]
}

/// Size of a maximum bipartite matching (augmenting paths; the size is unique).
pub(super) fn max_matching(adj: &[Vec<usize>], n_right: usize) -> usize {
    fn augment(
        u: usize,
        adj: &[Vec<usize>],
        seen: &mut [bool],
        owner: &mut [Option<usize>],
    ) -> bool {
        for &v in &adj[u] {
            if !seen[v] {
                seen[v] = true;
                if owner[v].is_none_or(|w| augment(w, adj, seen, owner)) {
                    owner[v] = Some(u);
                    return true;
                }
            }
        }
        false
    }
    let mut owner = vec![None; n_right];
    let mut size = 0;
    for u in 0..adj.len() {
        if adj[u].is_empty() {
            continue;
        }
        let mut seen = vec![false; n_right];
        size += augment(u, adj, &mut seen, &mut owner) as usize;
    }
    size
}

/// One class's ROC: TPR and eFPR per threshold, sorted, monotone, cut at `max_efpr`
/// (sed_scores_eval's `_single_class_roc_from_intermediate_statistics` + `_unique_cummax_sort`).
pub(super) fn class_roc(
    st: &ClassStatistics,
    t_ref_other: &[f64],
    dataset_duration: f64,
    p: &ScorePsdsParams,
) -> ClassRoc {
    let n = st.scores.len();
    let tpr: Vec<f64> = st
        .tps
        .iter()
        .map(|&t| t as f64 / st.n_ref.max(1) as f64)
        .collect();
    let efpr: Vec<f64> = (0..n)
        .map(|i| {
            let fp_rate = st.fps[i] as f64 / dataset_duration;
            let e = if p.alpha_ct == 0.0 || st.cts.is_empty() {
                fp_rate
            } else {
                let mut sum = 0.0;
                for (cts, t) in st.cts.iter().zip(t_ref_other) {
                    sum += cts[i] as f64 / t.max(1e-12);
                }
                fp_rate + p.alpha_ct * (sum / st.cts.len() as f64)
            };
            e * SECS_PER_HOUR
        })
        .collect();
    // xsort by (efpr, tpr); keep points where the running max of TPR rises; last per unique eFPR.
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&a, &b| efpr[a].total_cmp(&efpr[b]).then(tpr[a].total_cmp(&tpr[b])));
    let mut kept: Vec<usize> = Vec::new();
    let mut best = f64::NEG_INFINITY;
    for (k, &i) in idx.iter().enumerate() {
        if k == 0 || tpr[i] > best {
            kept.push(i);
        }
        best = best.max(tpr[i]);
    }
    let mut out = ClassRoc {
        class: st.class.clone(),
        tpr: Vec::new(),
        efpr: Vec::new(),
        scores: Vec::new(),
        psds: 0.0,
    };
    for (k, &i) in kept.iter().enumerate() {
        let last_of_x = kept.get(k + 1).is_none_or(|&j| efpr[j] != efpr[i]);
        if last_of_x && efpr[i] <= p.max_efpr {
            out.tpr.push(tpr[i]);
            out.efpr.push(efpr[i]);
            out.scores.push(st.scores[i]);
        }
    }
    out.psds = staircase_auc(&out.tpr, &out.efpr, p.max_efpr) / p.max_efpr;
    out
}

/// The PSD-ROC from the class ROCs: step interpolation on the union of eFPRs, mean − alpha_st·std
/// (population std), floored at 0, extended to `max_efpr`.
pub(super) fn multi_class_roc(
    classes: &[ClassRoc],
    alpha_st: f64,
    max_efpr: f64,
) -> (Vec<f64>, Vec<f64>) {
    let mut xs: Vec<f64> = classes
        .iter()
        .flat_map(|c| c.efpr.iter().copied())
        .collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    let n = classes.len() as f64;
    let mut etpr = Vec::with_capacity(xs.len() + 1);
    for &x in &xs {
        let ys: Vec<f64> = classes
            .iter()
            .map(|c| {
                // scipy interp1d(kind='previous', fill_value=(0, tpr[-1]))
                let k = c.efpr.partition_point(|&e| e <= x);
                if k == 0 {
                    0.0
                } else {
                    c.tpr[k - 1]
                }
            })
            .collect();
        let mut sum = 0.0;
        for y in &ys {
            sum += y;
        }
        let mu = sum / n;
        let mut var = 0.0;
        for y in &ys {
            var += (y - mu) * (y - mu);
        }
        let sigma = (var / n).sqrt();
        etpr.push((mu - alpha_st * sigma).max(0.0));
    }
    if let Some(&last) = etpr.last() {
        etpr.push(last);
        xs.push(max_efpr);
    }
    (etpr, xs)
}

/// sed_scores_eval's `staircase_auc(y, x, max_x)`: Σ yᵢ (xᵢ₊₁ − xᵢ) over points with x ≤ max_x,
/// closed at max_x.
pub(super) fn staircase_auc(y: &[f64], x: &[f64], max_x: f64) -> f64 {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let cut = idx.iter().position(|&i| x[i] > max_x).unwrap_or(idx.len());
    let mut xs: Vec<f64> = idx[..cut].iter().map(|&i| x[i]).collect();
    xs.push(max_x);
    let mut auc = 0.0;
    for (k, &i) in idx[..cut].iter().enumerate() {
        auc += y[i] * (xs[k + 1] - xs[k]);
    }
    auc
}
