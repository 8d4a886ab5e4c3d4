//! Bootstrap intervals over recordings: resample the evaluated clips with replacement, recompute the
//! statistic, and take percentiles — the interval a comparison between two models needs before it is
//! called a difference. Deterministic by seed (own splitmix64, so intervals never move with a
//! dependency's RNG).

use earmark_core::SplitMix64;
use serde::{Deserialize, Serialize};

/// A point estimate with its percentile bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub value: f64,
    pub lo: f64,
    pub hi: f64,
    /// Coverage, e.g. 0.95.
    pub level: f64,
    /// Resamples whose statistic was defined (e.g. ROC-AUC needs both classes present).
    pub resamples: usize,
}

/// Options of [`bootstrap`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BootstrapOptions {
    pub resamples: usize,
    pub level: f64,
    pub seed: u64,
}

impl Default for BootstrapOptions {
    fn default() -> Self {
        BootstrapOptions {
            resamples: 1000,
            level: 0.95,
            seed: 0,
        }
    }
}

/// `stat(indices)` computed on the full set (`0..n`) and on `opts.resamples` resamples of `n`
/// indices drawn with replacement; `None` from `stat` marks an undefined resample, which is
/// skipped. Returns `None` when the full-set statistic is undefined or no resample is defined.
/// The same `seed` and `n` draw the same resamples, so two models bootstrapped with one seed are
/// compared on paired resamples.
pub fn bootstrap(
    n: usize,
    opts: &BootstrapOptions,
    stat: impl Fn(&[usize]) -> Option<f64>,
) -> Option<Interval> {
    let all: Vec<usize> = (0..n).collect();
    let value = stat(&all)?;
    let mut rng = SplitMix64::new(opts.seed ^ 0x5EED_B007);
    let mut values = Vec::with_capacity(opts.resamples);
    let mut idx = vec![0usize; n];
    for _ in 0..opts.resamples {
        for slot in idx.iter_mut() {
            *slot = rng.below(n);
        }
        if let Some(v) = stat(&idx).filter(|v| v.is_finite()) {
            values.push(v);
        }
    }
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let tail = (1.0 - opts.level.clamp(0.0, 1.0)) / 2.0;
    Some(Interval {
        value,
        lo: percentile(&values, tail),
        hi: percentile(&values, 1.0 - tail),
        level: opts.level,
        resamples: values.len(),
    })
}

/// numpy's linear-interpolation percentile on sorted data (`q` in 0..=1).
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_interval_covers_the_mean_and_shrinks_with_n() {
        let data: Vec<f64> = (0..200).map(|i| (i % 10) as f64).collect();
        let mean = |ix: &[usize]| Some(ix.iter().map(|&i| data[i]).sum::<f64>() / ix.len() as f64);
        let full = bootstrap(200, &BootstrapOptions::default(), mean).unwrap();
        assert!((full.value - 4.5).abs() < 1e-12);
        assert!(full.lo < 4.5 && full.hi > 4.5);
        // Standard error of the mean is 2.87/sqrt(200) ≈ 0.203 → 95 % half-width ≈ 0.40.
        let half = (full.hi - full.lo) / 2.0;
        assert!((0.3..0.5).contains(&half), "half-width {half}");
        let small = bootstrap(20, &BootstrapOptions::default(), mean).unwrap();
        assert!(small.hi - small.lo > full.hi - full.lo);
    }

    #[test]
    fn undefined_resamples_are_skipped_and_seed_is_deterministic() {
        let stat = |ix: &[usize]| {
            if ix.contains(&0) {
                Some(ix.len() as f64)
            } else {
                None
            }
        };
        let a = bootstrap(5, &BootstrapOptions::default(), stat).unwrap();
        let b = bootstrap(5, &BootstrapOptions::default(), stat).unwrap();
        assert_eq!(a, b);
        // P(0 not drawn in 5) = 0.8^5 ≈ 0.33.
        assert!(a.resamples > 550 && a.resamples < 780, "{}", a.resamples);
        assert!(bootstrap(5, &BootstrapOptions::default(), |_| None).is_none());
    }
}
