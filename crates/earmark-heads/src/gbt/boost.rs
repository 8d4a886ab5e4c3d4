//! The boosting loop: binary log loss (one tree per iteration) and multinomial cross-entropy
//! (K trees per iteration on the gradients of the iteration's start), with scikit-learn's early
//! stopping on a stratified held-out fraction.

use serde::{Deserialize, Serialize};

use super::bins::BinMapper;
use super::grow::{GrowParams, Grower};
use super::hist::{SplitRules, STRIDE};
use super::tree::Tree;
use super::GbtOptions;
use crate::classifier::{sigmoid, Rows};
use crate::rng::SplitMix64;
use crate::HeadError;

/// The trees of one score column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ensemble {
    /// The initial raw score (log-odds of the weighted prior, or log of the class prior).
    #[serde(with = "super::tree::exact_f64")]
    pub baseline: f64,
    /// One tree per iteration.
    pub trees: Vec<Tree>,
}

impl Ensemble {
    /// The raw score of one row.
    pub fn predict_row(&self, x: &[f32]) -> f64 {
        self.baseline + self.trees.iter().map(|t| t.predict_row(x)).sum::<f64>()
    }
}

/// Binary (`y` in {0, 1}, one column) or softmax over `k` classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    Binary,
    Softmax(usize),
}

impl Loss {
    fn columns(self) -> usize {
        match self {
            Loss::Binary => 1,
            Loss::Softmax(k) => k,
        }
    }
}

/// A fitted loss: the ensembles (one per column) and the loss after each iteration.
pub struct Boosted {
    pub ensembles: Vec<Ensemble>,
    pub validation_loss: Vec<f64>,
}

/// Fits one boosted model. `y` holds class ids (`0/1` for binary), `w` one weight per row.
pub fn boost(
    x: Rows,
    y: &[u32],
    w: &[f64],
    loss: Loss,
    opts: &GbtOptions,
) -> Result<Boosted, HeadError> {
    let k = loss.columns();
    let n_classes = k.max(2);
    // Held-out rows for early stopping, stratified by class.
    let (train_idx, val_idx) = match &opts.early_stopping {
        Some(es) => stratified_holdout(y, n_classes, es.validation_fraction, opts.seed),
        None => ((0..x.rows).collect(), Vec::new()),
    };
    let owned;
    let xt = if val_idx.is_empty() {
        x
    } else {
        owned = x.select(&train_idx);
        Rows {
            data: &owned,
            rows: train_idx.len(),
            dim: x.dim,
        }
    };
    let yt: Vec<u32> = train_idx.iter().map(|&i| y[i]).collect();
    let wt: Vec<f64> = train_idx.iter().map(|&i| w[i]).collect();
    let n = xt.rows;
    if n == 0 {
        return Err(HeadError::data(
            "no training rows left after the validation split",
        ));
    }

    let mapper = BinMapper::fit(xt, opts.max_bins, opts.seed);
    let binned = mapper.transform(xt);

    // Baseline: weighted class priors.
    let mut prior = vec![0.0f64; n_classes];
    for (&c, &wi) in yt.iter().zip(&wt) {
        prior[c as usize] += wi;
    }
    let total: f64 = prior.iter().sum();
    if total <= 0.0 || !total.is_finite() {
        return Err(HeadError::data("the training rows' weights sum to 0"));
    }
    let eps = 1e-15;
    let baseline: Vec<f64> = match loss {
        Loss::Binary => {
            let p = (prior[1] / total).clamp(eps, 1.0 - eps);
            vec![(p / (1.0 - p)).ln()]
        }
        Loss::Softmax(_) => prior.iter().map(|&p| (p / total).max(eps).ln()).collect(),
    };

    let params = GrowParams {
        max_leaf_nodes: opts.max_leaf_nodes,
        max_depth: opts.max_depth,
        rules: SplitRules {
            min_samples_leaf: opts.min_samples_leaf.min(u32::MAX as usize) as u32,
            min_hessian: opts.min_hessian_to_split,
            l2: opts.l2_regularization,
        },
        learning_rate: opts.learning_rate,
        keep_rows: KEEP_ROWS_PER_BIN * STRIDE,
    };
    let mut grower = Grower::new(&binned, &mapper.thresholds, params);
    let mut ensembles: Vec<Ensemble> = baseline
        .iter()
        .map(|&b| Ensemble {
            baseline: b,
            trees: Vec::with_capacity(opts.max_iter),
        })
        .collect();
    // Raw scores, column-major: raw[c * n + i].
    let mut raw: Vec<f64> = baseline
        .iter()
        .flat_map(|&b| std::iter::repeat_n(b, n))
        .collect();
    let nv = val_idx.len();
    let mut raw_val: Vec<f64> = baseline
        .iter()
        .flat_map(|&b| std::iter::repeat_n(b, nv))
        .collect();
    let yv: Vec<u32> = val_idx.iter().map(|&i| y[i]).collect();
    let wv: Vec<f64> = val_idx.iter().map(|&i| w[i]).collect();
    let mut scores = Vec::new();
    if nv > 0 {
        scores.push(-mean_loss(&raw_val, &yv, &wv, loss));
    }

    let mut feature_rng = SplitMix64::derived(opts.seed, "gbt-features");
    let n_feats = ((opts.feature_fraction * x.dim as f64).round() as usize).clamp(1, x.dim);
    let mut all_feats: Vec<usize> = (0..x.dim).collect();
    let mut feats: Vec<usize> = Vec::with_capacity(n_feats);
    let mut gh: Vec<Vec<[f64; 2]>> = vec![vec![[0.0; 2]; n]; k];
    for iter in 0..opts.max_iter {
        gradients(&raw, &yt, &wt, loss, &mut gh);
        for (c, ens) in ensembles.iter_mut().enumerate() {
            feats.clear();
            if n_feats == x.dim {
                feats.extend(0..x.dim);
            } else {
                for j in 0..n_feats {
                    let r = j + feature_rng.below(x.dim - j);
                    all_feats.swap(j, r);
                }
                feats.extend_from_slice(&all_feats[..n_feats]);
                feats.sort_unstable();
            }
            let tree = grower.grow(&gh[c], &feats);
            let col = &mut raw[c * n..(c + 1) * n];
            for leaf in &grower.leaves {
                for &r in grower.leaf_rows(leaf) {
                    col[r as usize] += leaf.value;
                }
            }
            for (j, &i) in val_idx.iter().enumerate() {
                raw_val[c * nv + j] += tree.predict_row(x.row(i));
            }
            ens.trees.push(tree);
        }
        if raw.iter().any(|v| !v.is_finite()) {
            return Err(HeadError::Diverged {
                what: format!("non-finite raw scores after iteration {}", iter + 1),
            });
        }
        if let Some(es) = &opts.early_stopping {
            if nv > 0 {
                scores.push(-mean_loss(&raw_val, &yv, &wv, loss));
                if should_stop(&scores, es.n_iter_no_change, es.tol) {
                    break;
                }
            }
        }
    }
    Ok(Boosted {
        ensembles,
        validation_loss: scores.iter().map(|s| -s).collect(),
    })
}

/// Nodes with at least this many rows per histogram bin keep their histogram: below it,
/// building the larger child from its rows is cheaper than streaming the parent's histogram
/// through memory for the subtraction.
const KEEP_ROWS_PER_BIN: usize = 12;

/// `gh[c][i] = [g, h]` for every column and row, times the row weight.
fn gradients(raw: &[f64], y: &[u32], w: &[f64], loss: Loss, gh: &mut [Vec<[f64; 2]>]) {
    let n = y.len();
    match loss {
        Loss::Binary => {
            for (i, out) in gh[0].iter_mut().enumerate() {
                let p = sigmoid(raw[i]);
                let t = if y[i] == 1 { 1.0 } else { 0.0 };
                *out = [(p - t) * w[i], (p * (1.0 - p)) * w[i]];
            }
        }
        Loss::Softmax(k) => {
            let mut e = vec![0.0f64; k];
            for i in 0..n {
                let m = (0..k)
                    .map(|c| raw[c * n + i])
                    .fold(f64::NEG_INFINITY, f64::max);
                for (c, ec) in e.iter_mut().enumerate() {
                    *ec = (raw[c * n + i] - m).exp();
                }
                let z: f64 = e.iter().sum();
                for c in 0..k {
                    let p = e[c] / z;
                    let t = if y[i] as usize == c { 1.0 } else { 0.0 };
                    gh[c][i] = [(p - t) * w[i], (p * (1.0 - p)) * w[i]];
                }
            }
        }
    }
}

/// Weighted mean log loss of column-major raw scores.
fn mean_loss(raw: &[f64], y: &[u32], w: &[f64], loss: Loss) -> f64 {
    let n = y.len();
    let mut sum = 0.0;
    let mut wsum = 0.0;
    for i in 0..n {
        let l = match loss {
            // log(1 + e^s) − y s, stably.
            Loss::Binary => {
                let s = raw[i];
                let softplus = if s > 0.0 {
                    s + (-s).exp().ln_1p()
                } else {
                    s.exp().ln_1p()
                };
                softplus - if y[i] == 1 { s } else { 0.0 }
            }
            Loss::Softmax(k) => {
                let m = (0..k)
                    .map(|c| raw[c * n + i])
                    .fold(f64::NEG_INFINITY, f64::max);
                let z: f64 = (0..k).map(|c| (raw[c * n + i] - m).exp()).sum();
                m + z.ln() - raw[y[i] as usize * n + i]
            }
        };
        sum += w[i] * l;
        wsum += w[i];
    }
    if wsum > 0.0 {
        sum / wsum
    } else {
        0.0
    }
}

/// scikit-learn's `_should_stop`: stop when none of the last `n_iter_no_change` scores beats
/// the score just before them by more than `tol` (scores: higher is better).
fn should_stop(scores: &[f64], n_iter_no_change: usize, tol: f64) -> bool {
    let reference = n_iter_no_change + 1;
    if scores.len() < reference {
        return false;
    }
    let reference_score = scores[scores.len() - reference] + tol;
    !scores[scores.len() - n_iter_no_change..]
        .iter()
        .any(|&s| s > reference_score)
}

/// A stratified, seeded split into (train, validation) indices, both sorted; every class keeps
/// at least one training row, and the validation part has `ceil(fraction · n)` rows at most.
fn stratified_holdout(
    y: &[u32],
    n_classes: usize,
    fraction: f64,
    seed: u64,
) -> (Vec<usize>, Vec<usize>) {
    let mut rng = SplitMix64::derived(seed, "gbt-early-stopping");
    let mut train = Vec::new();
    let mut val = Vec::new();
    for c in 0..n_classes {
        let mut members: Vec<usize> = (0..y.len()).filter(|&i| y[i] as usize == c).collect();
        rng.shuffle(&mut members);
        let take = ((fraction * members.len() as f64).round() as usize)
            .min(members.len().saturating_sub(1));
        val.extend_from_slice(&members[..take]);
        train.extend_from_slice(&members[take..]);
    }
    train.sort_unstable();
    val.sort_unstable();
    (train, val)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_like_scikit_learn() {
        // Improving every step: never stop.
        let s: Vec<f64> = (0..20).map(|i| i as f64).collect();
        assert!(!should_stop(&s, 5, 1e-7));
        // Flat for 5 after the reference: stop.
        let s = [0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0];
        assert!(should_stop(&s, 5, 1e-7));
        assert!(!should_stop(&s[..5], 5, 1e-7));
    }

    #[test]
    fn holdout_is_stratified() {
        let y: Vec<u32> = (0..100).map(|i| u32::from(i % 4 == 0)).collect();
        let (t, v) = stratified_holdout(&y, 2, 0.2, 0);
        assert_eq!(t.len() + v.len(), 100);
        assert_eq!(v.iter().filter(|&&i| y[i] == 1).count(), 5);
        assert_eq!(v.len(), 20);
    }
}
