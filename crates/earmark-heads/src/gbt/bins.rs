//! Feature binning, as scikit-learn's `_BinMapper`: per feature, up to `max_bins` bins whose
//! thresholds are midpoints between distinct values (few distinct values) or "midpoint"
//! percentiles (many), fitted on a subsample of at most 200,000 rows. A value `x` falls in bin
//! `b` = the number of thresholds below it, so `x <= thresholds[b]` ⇔ bin ≤ b, and a tree split
//! "bin ≤ b" becomes "x ≤ thresholds[b]" on raw values.
//!
//! Thresholds are stored as `f32` rounded *down* from the `f64` midpoint, so that `lo ≤ t < hi`
//! still holds for the two neighbouring `f32` values: training (binned) and prediction (raw)
//! send every training value the same way.

use crate::classifier::Rows;
use crate::rng::SplitMix64;

/// Rows used to fit the thresholds, like scikit-learn's `subsample=2e5`.
pub const BIN_SUBSAMPLE: usize = 200_000;

/// Per-feature bin thresholds.
#[derive(Clone, Debug)]
pub struct BinMapper {
    /// `thresholds[f]` is sorted ascending, strictly; feature `f` has `len + 1` bins.
    pub thresholds: Vec<Vec<f32>>,
}

/// Training data binned once: feature-major, `codes[f * rows + i]` is row `i`'s bin of feature `f`.
pub struct Binned {
    pub codes: Vec<u8>,
    pub rows: usize,
    pub dim: usize,
    /// Bins per feature (thresholds + 1), at most 256.
    pub n_bins: Vec<usize>,
}

impl Binned {
    /// Column `f`, one bin per row.
    #[inline]
    pub fn column(&self, f: usize) -> &[u8] {
        &self.codes[f * self.rows..(f + 1) * self.rows]
    }
}

impl BinMapper {
    /// Fits thresholds on (a seeded subsample of) `x`; `max_bins` in `2..=255` is checked by
    /// the caller.
    pub fn fit(x: Rows, max_bins: usize, seed: u64) -> BinMapper {
        let sample: Vec<usize> = if x.rows > BIN_SUBSAMPLE {
            let mut idx: Vec<usize> = (0..x.rows).collect();
            SplitMix64::derived(seed, "gbt-bins").shuffle(&mut idx);
            idx.truncate(BIN_SUBSAMPLE);
            idx.sort_unstable();
            idx
        } else {
            (0..x.rows).collect()
        };
        let mut col = vec![0f32; sample.len()];
        let thresholds = (0..x.dim)
            .map(|f| {
                for (c, &i) in col.iter_mut().zip(&sample) {
                    *c = x.data[i * x.dim + f];
                }
                feature_thresholds(&mut col, max_bins)
            })
            .collect();
        BinMapper { thresholds }
    }

    /// Bins `x` into a feature-major `u8` matrix.
    pub fn transform(&self, x: Rows) -> Binned {
        let (rows, dim) = (x.rows, x.dim);
        let mut codes = vec![0u8; rows * dim];
        // Transpose in blocks of rows so reads stay within a few cache lines per feature.
        const BLOCK: usize = 64;
        for r0 in (0..rows).step_by(BLOCK) {
            let r1 = (r0 + BLOCK).min(rows);
            for (f, t) in self.thresholds.iter().enumerate() {
                let out = &mut codes[f * rows + r0..f * rows + r1];
                for (o, i) in out.iter_mut().zip(r0..r1) {
                    *o = bin_of(t, x.data[i * dim + f]);
                }
            }
        }
        Binned {
            codes,
            rows,
            dim,
            n_bins: self.thresholds.iter().map(|t| t.len() + 1).collect(),
        }
    }
}

/// The bin of `v`: the number of thresholds strictly below it.
#[inline]
pub fn bin_of(t: &[f32], v: f32) -> u8 {
    t.partition_point(|&th| th < v) as u8
}

/// Thresholds of one feature (sorts `col` in place).
fn feature_thresholds(col: &mut [f32], max_bins: usize) -> Vec<f32> {
    col.sort_unstable_by(f32::total_cmp);
    let mut distinct: Vec<f32> = col.to_vec();
    distinct.dedup();
    let mids: Vec<f64> = if distinct.len() <= max_bins {
        distinct
            .windows(2)
            .map(|w| (w[0] as f64 + w[1] as f64) * 0.5)
            .collect()
    } else {
        // numpy.percentile(col, linspace(0, 100, max_bins + 1)[1:-1], method="midpoint").
        let n = col.len();
        (1..max_bins)
            .map(|k| {
                let q = k as f64 / max_bins as f64;
                let pos = q * (n - 1) as f64;
                let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
                (col[lo] as f64 + col[hi] as f64) * 0.5
            })
            .collect()
    };
    let mut out: Vec<f32> = Vec::with_capacity(mids.len());
    for m in mids {
        let t = round_down_f32(m);
        if out.last().is_none_or(|&last| t > last) {
            out.push(t);
        }
    }
    // A threshold at or above the largest value separates nothing.
    if let Some(&max) = col.last() {
        while out.last().is_some_and(|&t| t >= max) {
            out.pop();
        }
    }
    out
}

/// The largest `f32` not above `v` (finite `v`).
fn round_down_f32(v: f64) -> f32 {
    let t = v as f32;
    if (t as f64) > v {
        t.next_down()
    } else {
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_distinct_values_get_midpoints() {
        let mut col = vec![3.0, 1.0, 2.0, 1.0, 3.0];
        assert_eq!(feature_thresholds(&mut col, 255), vec![1.5, 2.5]);
        assert_eq!(bin_of(&[1.5, 2.5], 1.5), 0);
        assert_eq!(bin_of(&[1.5, 2.5], 2.0), 1);
        assert_eq!(bin_of(&[1.5, 2.5], 9.0), 2);
    }

    #[test]
    fn many_values_get_at_most_max_bins() {
        let mut col: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        let t = feature_thresholds(&mut col, 10);
        assert_eq!(t.len(), 9);
        assert!(t.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn adjacent_f32_values_stay_apart() {
        let a = 1.0f32;
        let b = a.next_up();
        let mut col = vec![a, b];
        let t = feature_thresholds(&mut col, 255);
        assert_eq!(bin_of(&t, a), 0);
        assert_eq!(bin_of(&t, b), 1);
    }
}
