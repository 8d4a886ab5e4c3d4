//! One parallel pass over the features of a tree for up to two nodes: each task owns a
//! contiguous block of features and, per feature, builds the node histograms in L1 (or derives
//! one by subtraction from the parent's stored histogram), scans them for the best split and
//! writes them to the stored histograms when asked.

use rayon::prelude::*;

use super::bins::Binned;
use super::hist::{self, FeatureHist, SplitInfo, SplitRules, Totals, EMPTY};

/// One child to build in a pass.
pub struct Job<'g> {
    pub rows: &'g [u32],
    pub gh: &'g [[f64; 2]],
    pub totals: Totals,
    /// Rows are `0..n` in order: read the column without gathering.
    pub identity: bool,
}

/// A block of feature slots and its parts of the parent's, small child's and large child's
/// stored histograms.
type Piece<'h> = (
    usize,
    Option<&'h mut [FeatureHist]>,
    Option<&'h mut [FeatureHist]>,
    Option<&'h mut [FeatureHist]>,
);

/// One parallel pass over the features for up to two nodes: builds the histogram of `small`
/// (directly), of `large` (directly, or as `parent − small` in `parent`'s buffer when `parent`
/// is given), scans each for its best split, and stores histograms into the given buffers.
#[allow(clippy::too_many_arguments)]
pub fn pass(
    data: &Binned,
    feats: &[usize],
    rules: SplitRules,
    small: Option<Job>,
    large: Option<Job>,
    parent: Option<(&mut [FeatureHist], Totals)>,
    small_store: Option<&mut [FeatureHist]>,
    large_store: Option<&mut [FeatureHist]>,
) -> (SplitInfo, SplitInfo) {
    let threads = rayon::current_num_threads().max(1);
    let block = feats.len().div_ceil(threads * 4).max(1);
    let parent_totals = parent.as_ref().map(|p| p.1);
    let mut pieces: Vec<Piece> = (0..feats.len())
        .step_by(block)
        .map(|s| (s, None, None, None))
        .collect();
    if let Some((p, _)) = parent {
        for (piece, ch) in pieces.iter_mut().zip(p.chunks_mut(block)) {
            piece.1 = Some(ch);
        }
    }
    if let Some(s) = small_store {
        for (piece, ch) in pieces.iter_mut().zip(s.chunks_mut(block)) {
            piece.2 = Some(ch);
        }
    }
    if let Some(s) = large_store {
        for (piece, ch) in pieces.iter_mut().zip(s.chunks_mut(block)) {
            piece.3 = Some(ch);
        }
    }
    let small = small.as_ref();
    let large = large.as_ref();
    pieces
        .into_par_iter()
        .map(|(s0, mut par, mut sst, mut lst)| {
            let mut best_s = SplitInfo::NONE;
            let mut best_l = SplitInfo::NONE;
            let mut hs = EMPTY;
            let mut hl = EMPTY;
            let s1 = (s0 + block).min(feats.len());
            for (k, slot) in (s0..s1).enumerate() {
                let f = feats[slot];
                let col = data.column(f);
                let nb = data.n_bins[f];
                if let Some(j) = small {
                    hist::clear(&mut hs, nb);
                    if j.identity {
                        hist::accumulate_all(&mut hs, col, j.gh);
                    } else {
                        hist::accumulate_gathered(&mut hs, col, j.rows, j.gh);
                    }
                    hist::best_split(&hs, nb, j.totals, &rules, slot, &mut best_s);
                    if let Some(st) = sst.as_deref_mut() {
                        st[k][..nb].copy_from_slice(&hs[..nb]);
                    }
                }
                if let (Some(p), Some(t)) = (par.as_deref_mut(), parent_totals) {
                    let ph = &mut p[k];
                    hist::subtract(ph, &hs, nb);
                    hist::best_split(ph, nb, t, &rules, slot, &mut best_l);
                } else if let Some(j) = large {
                    hist::clear(&mut hl, nb);
                    hist::accumulate_gathered(&mut hl, col, j.rows, j.gh);
                    hist::best_split(&hl, nb, j.totals, &rules, slot, &mut best_l);
                    if let Some(st) = lst.as_deref_mut() {
                        st[k][..nb].copy_from_slice(&hl[..nb]);
                    }
                }
            }
            (best_s, best_l)
        })
        .reduce(
            || (SplitInfo::NONE, SplitInfo::NONE),
            |a, b| (a.0.better(b.0), a.1.better(b.1)),
        )
}
