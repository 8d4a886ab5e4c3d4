//! Gradient/hessian histograms of one node and the best split they allow.
//!
//! A histogram has one [`HistBin`] per bin of a feature: the sums of the gradients and hessians
//! of the node's rows that fall in the bin (`f64` accumulators) and their count. Rows are given
//! as indices into a feature-major `u8` column, with the node's gradients gathered once into
//! row order ("ordered gradients"), so the inner loop reads one byte, one `[g, h]` pair and
//! updates a histogram that stays in L1.

/// Bins per feature histogram (a `u8` code indexes it without bounds checks).
pub const STRIDE: usize = 256;

/// One bin: gradient and hessian sums and row count.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct HistBin {
    pub g: f64,
    pub h: f64,
    pub n: u32,
}

/// The histogram of one feature.
pub type FeatureHist = [HistBin; STRIDE];

/// An all-zero feature histogram.
pub const EMPTY: FeatureHist = [HistBin {
    g: 0.0,
    h: 0.0,
    n: 0,
}; STRIDE];

/// Clears the first `n_bins` bins.
#[inline]
pub fn clear(hist: &mut FeatureHist, n_bins: usize) {
    hist[..n_bins].fill(HistBin::default());
}

/// Adds the rows `rows` of `col` (gradients `gh[j]` for row `rows[j]`) to `hist`.
#[inline]
pub fn accumulate_gathered(hist: &mut FeatureHist, col: &[u8], rows: &[u32], gh: &[[f64; 2]]) {
    // Two rows per step with independent loads; updates stay in program order.
    let mut r = rows.chunks_exact(2);
    let mut v = gh.chunks_exact(2);
    for (rr, vv) in (&mut r).zip(&mut v) {
        let b0 = col[rr[0] as usize] as usize;
        let b1 = col[rr[1] as usize] as usize;
        let e = &mut hist[b0];
        e.g += vv[0][0];
        e.h += vv[0][1];
        e.n += 1;
        let e = &mut hist[b1];
        e.g += vv[1][0];
        e.h += vv[1][1];
        e.n += 1;
    }
    for (&ri, vi) in r.remainder().iter().zip(v.remainder()) {
        let e = &mut hist[col[ri as usize] as usize];
        e.g += vi[0];
        e.h += vi[1];
        e.n += 1;
    }
}

/// Adds every row of `col` in order (the root: no gather).
#[inline]
pub fn accumulate_all(hist: &mut FeatureHist, col: &[u8], gh: &[[f64; 2]]) {
    for (&b, v) in col.iter().zip(gh) {
        let e = &mut hist[b as usize];
        e.g += v[0];
        e.h += v[1];
        e.n += 1;
    }
}

/// `parent −= child` over the first `n_bins` bins: the parent's buffer becomes the sibling's
/// histogram.
#[inline]
pub fn subtract(parent: &mut FeatureHist, child: &FeatureHist, n_bins: usize) {
    for (p, c) in parent[..n_bins].iter_mut().zip(&child[..n_bins]) {
        p.g -= c.g;
        p.h -= c.h;
        p.n -= c.n;
    }
}

/// Sums of a node: gradient, hessian, rows.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Totals {
    pub g: f64,
    pub h: f64,
    pub n: u32,
}

/// Constraints on a split, as scikit-learn's `Splitter`.
#[derive(Clone, Copy, Debug)]
pub struct SplitRules {
    pub min_samples_leaf: u32,
    pub min_hessian: f64,
    pub l2: f64,
}

/// The best split found so far for a node; `gain ≤ 0` means none.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SplitInfo {
    pub gain: f64,
    /// Position in the tree's feature list (not the raw feature index).
    pub slot: usize,
    /// Rows with bin ≤ `bin` go left.
    pub bin: u8,
    pub left: Totals,
    pub right: Totals,
}

impl SplitInfo {
    pub const NONE: SplitInfo = SplitInfo {
        gain: -1.0,
        slot: usize::MAX,
        bin: 0,
        left: Totals {
            g: 0.0,
            h: 0.0,
            n: 0,
        },
        right: Totals {
            g: 0.0,
            h: 0.0,
            n: 0,
        },
    };

    /// Keeps the better of two (higher gain; the lower feature slot on ties, as scikit-learn's
    /// first-wins scan over features).
    #[inline]
    pub fn better(self, other: SplitInfo) -> SplitInfo {
        if other.gain > self.gain || (other.gain == self.gain && other.slot < self.slot) {
            other
        } else {
            self
        }
    }
}

/// `G²/(H+λ)`, the negated loss of a node at its optimal value (scikit-learn's
/// `_loss_from_value(compute_node_value(G, H), G)`, sign flipped).
#[inline]
pub fn score(g: f64, h: f64, l2: f64) -> f64 {
    g * g / (h + l2 + 1e-15)
}

/// Scans bins `0..n_bins-1` as left-side thresholds and updates `best` when a split of feature
/// `slot` beats it (strictly, like scikit-learn; `min_gain_to_split` is 0).
///
/// The gain `G_L²/(H_L+λ) + G_R²/(H_R+λ) − G²/(H+λ)` is first compared without division, as
/// `G_L²(H_R+λ) + G_R²(H_L+λ) > (parent + best)(H_L+λ)(H_R+λ)` with a little slack, and computed
/// exactly only for the candidates that pass, so the choice is the exact one.
#[inline]
pub fn best_split(
    hist: &FeatureHist,
    n_bins: usize,
    node: Totals,
    rules: &SplitRules,
    slot: usize,
    best: &mut SplitInfo,
) {
    let l2 = rules.l2 + 1e-15;
    let parent = score(node.g, node.h, rules.l2);
    let (mut gl, mut hl, mut nl) = (0.0f64, 0.0f64, 0u32);
    let mut found: Option<(f64, usize, f64, f64, u32)> = None;
    let mut best_gain = best.gain.max(0.0);
    // The slack keeps every candidate whose exact gain could beat `best_gain`.
    let mut bar = (parent + best_gain) * (1.0 - 1e-9);
    for (b, e) in hist[..n_bins.saturating_sub(1)].iter().enumerate() {
        // An empty bin repeats the previous partition and gain, which never wins (strict `>`);
        // not testing for it keeps the loop free of unpredictable branches.
        gl += e.g;
        hl += e.h;
        nl += e.n;
        if nl < rules.min_samples_leaf {
            continue;
        }
        let nr = node.n - nl;
        if nr < rules.min_samples_leaf {
            break;
        }
        if hl < rules.min_hessian {
            continue;
        }
        let hr = node.h - hl;
        if hr < rules.min_hessian {
            break;
        }
        let gr = node.g - gl;
        let (dl, dr) = (hl + l2, hr + l2);
        if gl * gl * dr + gr * gr * dl > bar * (dl * dr) {
            let gain = gl * gl / dl + gr * gr / dr - parent;
            if gain > best_gain {
                best_gain = gain;
                bar = (parent + best_gain) * (1.0 - 1e-9);
                found = Some((gain, b, gl, hl, nl));
            }
        }
    }
    if let Some((gain, b, gl, hl, nl)) = found {
        let cand = SplitInfo {
            gain,
            slot,
            bin: b as u8,
            left: Totals {
                g: gl,
                h: hl,
                n: nl,
            },
            right: Totals {
                g: node.g - gl,
                h: node.h - hl,
                n: node.n - nl,
            },
        };
        *best = best.better(cand);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gathered_equals_direct_and_subtraction_recovers_sibling() {
        let col: Vec<u8> = (0..50u32).map(|i| (i * 7 % 5) as u8).collect();
        let gh: Vec<[f64; 2]> = (0..50).map(|i| [i as f64 - 20.0, 1.0 + i as f64]).collect();
        let mut all = EMPTY;
        accumulate_all(&mut all, &col, &gh);
        let left: Vec<u32> = (0..50).filter(|i| i % 3 == 0).collect();
        let right: Vec<u32> = (0..50).filter(|i| i % 3 != 0).collect();
        let gather = |rows: &[u32]| -> FeatureHist {
            let v: Vec<[f64; 2]> = rows.iter().map(|&r| gh[r as usize]).collect();
            let mut h = EMPTY;
            accumulate_gathered(&mut h, &col, rows, &v);
            h
        };
        let (l, r) = (gather(&left), gather(&right));
        subtract(&mut all, &l, 5);
        for b in 0..5 {
            assert_eq!(all[b].n, r[b].n);
            assert!((all[b].g - r[b].g).abs() < 1e-9 && (all[b].h - r[b].h).abs() < 1e-9);
        }
    }

    #[test]
    fn split_prefers_the_separating_bin() {
        // Bins 0,1 have negative gradients, 2,3 positive: the split is at bin 1.
        let mut h = EMPTY;
        for (b, g) in [(0, -3.0), (1, -2.0), (2, 2.0), (3, 3.0)] {
            h[b] = HistBin { g, h: 5.0, n: 5 };
        }
        let node = Totals {
            g: 0.0,
            h: 20.0,
            n: 20,
        };
        let rules = SplitRules {
            min_samples_leaf: 1,
            min_hessian: 1e-3,
            l2: 0.0,
        };
        let mut best = SplitInfo::NONE;
        best_split(&h, 4, node, &rules, 0, &mut best);
        assert_eq!(best.bin, 1);
        assert_eq!(best.left.n, 10);
        assert!((best.gain - 2.0 * 25.0 / 10.0).abs() < 1e-9);
    }
}
