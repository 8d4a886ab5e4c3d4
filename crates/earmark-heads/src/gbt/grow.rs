//! Leaf-wise (best-first) tree growing, as scikit-learn's `TreeGrower`: the leaf whose best
//! split has the largest gain is split next until `max_leaf_nodes` leaves exist or no leaf can
//! be split (depth, `min_samples_leaf`, hessian and gain limits).
//!
//! The rows of each node are a contiguous range of one index array, partitioned in place
//! (stably, so column reads stay in ascending order). For each split, both children's
//! histograms are built feature by feature in L1 and scanned for their best split right away,
//! in parallel over contiguous blocks of features. Large nodes also keep their full histogram:
//! splitting them builds only the smaller child and derives the larger one by subtraction. For
//! small nodes the subtraction would move more memory than building the histogram from the rows
//! costs, so their histograms are not kept.

use super::bins::Binned;
use super::hist::{FeatureHist, SplitInfo, SplitRules, Totals, EMPTY};
use super::pass::{pass, Job};
use super::tree::{NodeSplit, Tree, TreeNode};

/// What a tree may become.
#[derive(Clone, Copy, Debug)]
pub struct GrowParams {
    pub max_leaf_nodes: usize,
    pub max_depth: Option<usize>,
    pub rules: SplitRules,
    pub learning_rate: f64,
    /// Nodes with at least this many rows keep their histogram for the subtraction trick.
    pub keep_rows: usize,
}

/// The training rows of a leaf (`rows[start..end]` of the grower) and its value.
#[derive(Clone, Copy, Debug)]
pub struct Leaf {
    pub start: usize,
    pub end: usize,
    pub value: f64,
}

struct Candidate {
    node: usize,
    start: usize,
    end: usize,
    depth: usize,
    totals: Totals,
    split: SplitInfo,
    hist: Option<Vec<FeatureHist>>,
}

/// Grows trees over one binned training set, reusing its buffers between trees.
pub struct Grower<'a> {
    data: &'a Binned,
    thresholds: &'a [Vec<f32>],
    params: GrowParams,
    rows: Vec<u32>,
    scratch: Vec<u32>,
    gh_small: Vec<[f64; 2]>,
    gh_large: Vec<[f64; 2]>,
    pool: Vec<Vec<FeatureHist>>,
    /// The leaves of the last grown tree.
    pub leaves: Vec<Leaf>,
}

impl<'a> Grower<'a> {
    pub fn new(data: &'a Binned, thresholds: &'a [Vec<f32>], params: GrowParams) -> Self {
        Grower {
            data,
            thresholds,
            params,
            rows: Vec::with_capacity(data.rows),
            scratch: Vec::with_capacity(data.rows),
            gh_small: Vec::with_capacity(data.rows),
            gh_large: Vec::with_capacity(data.rows),
            pool: Vec::new(),
            leaves: Vec::new(),
        }
    }

    /// The training rows of a leaf of the last tree.
    pub fn leaf_rows(&self, leaf: &Leaf) -> &[u32] {
        &self.rows[leaf.start..leaf.end]
    }

    fn value(&self, t: Totals) -> f64 {
        -t.g / (t.h + self.params.rules.l2 + 1e-15) * self.params.learning_rate
    }

    fn take_hist(&mut self, slots: usize) -> Vec<FeatureHist> {
        match self.pool.pop() {
            Some(h) if h.len() == slots => h,
            _ => vec![EMPTY; slots],
        }
    }

    /// Grows one tree on gradients and hessians `gh[i] = [g_i, h_i]` of every training row,
    /// using the features `feats` (raw indices, ascending).
    pub fn grow(&mut self, gh: &[[f64; 2]], feats: &[usize]) -> Tree {
        let n = self.data.rows;
        let p = self.params;
        let msl = p.rules.min_samples_leaf as usize;
        self.rows.clear();
        self.rows.extend(0..n as u32);
        self.leaves.clear();
        let mut nodes: Vec<TreeNode> = Vec::new();
        let root = gh.iter().fold(Totals::default(), |t, v| Totals {
            g: t.g + v[0],
            h: t.h + v[1],
            n: t.n + 1,
        });
        nodes.push(TreeNode {
            count: n as u32,
            value: self.value(root),
            split: None,
        });
        let mut cands: Vec<Candidate> = Vec::new();
        let splittable = n >= 2 * msl
            && root.h >= p.rules.min_hessian
            && p.max_depth.is_none_or(|d| d > 0)
            && !feats.is_empty();
        if splittable {
            let keep = n >= p.keep_rows;
            let mut store = keep.then(|| self.take_hist(feats.len()));
            let job = Job {
                rows: &self.rows,
                gh,
                totals: root,
                identity: true,
            };
            let (split, _) = pass(
                self.data,
                feats,
                p.rules,
                Some(job),
                None,
                None,
                store.as_deref_mut(),
                None,
            );
            self.push_or_leaf(&mut nodes, &mut cands, 0, 0, n, 0, root, split, store);
        } else {
            self.finalize(&mut nodes, 0, 0, n, root);
        }
        let mut n_leaves = 1;
        while let Some(best) = (0..cands.len()).reduce(|a, b| {
            if cands[b].split.gain > cands[a].split.gain {
                b
            } else {
                a
            }
        }) {
            let c = cands.remove(best);
            let s = c.split;
            let f = feats[s.slot];
            let mid = self.partition(c.start, c.end, f, s.bin);
            let (l, r) = (nodes.len(), nodes.len() + 1);
            nodes[c.node].split = Some(NodeSplit {
                feature: f,
                threshold: self.thresholds[f][s.bin as usize],
                left: l,
                right: r,
                gain: s.gain,
            });
            for t in [s.left, s.right] {
                nodes.push(TreeNode {
                    count: t.n,
                    value: self.value(t),
                    split: None,
                });
            }
            n_leaves += 1;
            if n_leaves >= p.max_leaf_nodes {
                self.finalize(&mut nodes, l, c.start, mid, s.left);
                self.finalize(&mut nodes, r, mid, c.end, s.right);
                self.pool.extend(c.hist);
                for rest in std::mem::take(&mut cands) {
                    self.finalize(&mut nodes, rest.node, rest.start, rest.end, rest.totals);
                    self.pool.extend(rest.hist);
                }
                break;
            }
            let depth = c.depth + 1;
            let deep_ok = p.max_depth.is_none_or(|d| depth < d);
            let want_l = deep_ok && (mid - c.start) >= 2 * msl;
            let want_r = deep_ok && (c.end - mid) >= 2 * msl;
            self.split_children(
                &mut nodes,
                &mut cands,
                feats,
                gh,
                c,
                mid,
                depth,
                (want_l, want_r),
            );
        }
        Tree { nodes }
    }

    /// Builds the children's histograms (smaller directly, larger by subtraction when the
    /// parent kept its histogram), finds their best splits and queues or finalises them.
    #[allow(clippy::too_many_arguments)]
    fn split_children(
        &mut self,
        nodes: &mut [TreeNode],
        cands: &mut Vec<Candidate>,
        feats: &[usize],
        gh: &[[f64; 2]],
        c: Candidate,
        mid: usize,
        depth: usize,
        want: (bool, bool),
    ) {
        let s = c.split;
        let (l_node, r_node) = (nodes.len() - 2, nodes.len() - 1);
        let left = (l_node, c.start, mid, s.left, want.0);
        let right = (r_node, mid, c.end, s.right, want.1);
        let (small, large) = if mid - c.start <= c.end - mid {
            (left, right)
        } else {
            (right, left)
        };
        let keep_rows = self.params.keep_rows;
        let mut parent_hist = c.hist;
        let subtract = large.4 && parent_hist.is_some();
        let build_small = small.4 || subtract;
        let build_large = large.4 && !subtract;
        if !(small.4 || large.4) {
            self.pool.extend(parent_hist);
            self.finalize(nodes, small.0, small.1, small.2, small.3);
            self.finalize(nodes, large.0, large.1, large.2, large.3);
            return;
        }
        // Ordered gradients, gathered once per child.
        let gather = |buf: &mut Vec<[f64; 2]>, rows: &[u32]| {
            buf.clear();
            buf.extend(rows.iter().map(|&r| gh[r as usize]));
        };
        if build_small {
            gather(&mut self.gh_small, &self.rows[small.1..small.2]);
        }
        if build_large {
            gather(&mut self.gh_large, &self.rows[large.1..large.2]);
        }
        let keep_small = small.4 && small.2 - small.1 >= keep_rows;
        let keep_large = large.4 && large.2 - large.1 >= keep_rows;
        let mut small_store = keep_small.then(|| self.take_hist(feats.len()));
        let mut large_store = (keep_large && !subtract).then(|| self.take_hist(feats.len()));
        if !subtract {
            self.pool.extend(parent_hist.take());
        }
        let job_small = build_small.then(|| Job {
            rows: &self.rows[small.1..small.2],
            gh: &self.gh_small,
            totals: small.3,
            identity: false,
        });
        let job_large = build_large.then(|| Job {
            rows: &self.rows[large.1..large.2],
            gh: &self.gh_large,
            totals: large.3,
            identity: false,
        });
        let (split_small, split_large) = pass(
            self.data,
            feats,
            self.params.rules,
            job_small,
            job_large,
            parent_hist.as_deref_mut().map(|h| (h, large.3)),
            small_store.as_deref_mut(),
            large_store.as_deref_mut(),
        );
        if subtract {
            // The parent's buffer now holds the larger child's histogram.
            if keep_large {
                large_store = parent_hist;
            } else {
                self.pool.extend(parent_hist);
            }
        }
        let split_small = if small.4 {
            split_small
        } else {
            SplitInfo::NONE
        };
        let split_large = if large.4 {
            split_large
        } else {
            SplitInfo::NONE
        };
        let (sn, ss, se, st, _) = small;
        self.push_or_leaf(
            nodes,
            cands,
            sn,
            ss,
            se,
            depth,
            st,
            split_small,
            small_store,
        );
        let (ln, ls, le, lt, _) = large;
        self.push_or_leaf(
            nodes,
            cands,
            ln,
            ls,
            le,
            depth,
            lt,
            split_large,
            large_store,
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn push_or_leaf(
        &mut self,
        nodes: &mut [TreeNode],
        cands: &mut Vec<Candidate>,
        node: usize,
        start: usize,
        end: usize,
        depth: usize,
        totals: Totals,
        split: SplitInfo,
        hist: Option<Vec<FeatureHist>>,
    ) {
        if split.gain > 0.0 {
            cands.push(Candidate {
                node,
                start,
                end,
                depth,
                totals,
                split,
                hist,
            });
        } else {
            self.pool.extend(hist);
            self.finalize(nodes, node, start, end, totals);
        }
    }

    fn finalize(
        &mut self,
        nodes: &mut [TreeNode],
        node: usize,
        start: usize,
        end: usize,
        t: Totals,
    ) {
        let value = self.value(t);
        nodes[node].value = value;
        self.leaves.push(Leaf { start, end, value });
    }

    /// Stable in-place partition of `rows[start..end]` by `bin(f) <= bin`; returns the split point.
    fn partition(&mut self, start: usize, end: usize, f: usize, bin: u8) -> usize {
        let col = self.data.column(f);
        self.scratch.clear();
        let mut w = start;
        for i in start..end {
            let r = self.rows[i];
            if col[r as usize] <= bin {
                self.rows[w] = r;
                w += 1;
            } else {
                self.scratch.push(r);
            }
        }
        self.rows[w..end].copy_from_slice(&self.scratch);
        w
    }
}
