//! Reproducible, stratified train/validation/test splits.

use std::collections::BTreeMap;

use crate::rng::SplitMix64;

/// Splits `0..targets.len()` into `fractions.len()` parts, stratified by the clip's first positive
/// class (negatives form their own stratum), deterministic by `seed`. Every part is non-empty
/// when there are at least as many clips as parts. Fractions are normalised; negative or
/// non-finite ones count as 0. Each part's indices are sorted.
///
/// Within each stratum (shuffled by the seed) clips are dealt to the part whose quota is most
/// behind, so every stratum is spread over the parts in proportion, and rare classes still reach
/// validation and test once they have a few clips.
pub fn stratified_split(targets: &[Vec<f32>], fractions: &[f64], seed: u64) -> Vec<Vec<usize>> {
    let k = fractions.len();
    let mut parts: Vec<Vec<usize>> = vec![Vec::new(); k];
    if k == 0 {
        return parts;
    }
    let clean: Vec<f64> = fractions
        .iter()
        .map(|&f| if f.is_finite() && f > 0.0 { f } else { 0.0 })
        .collect();
    let total: f64 = clean.iter().sum();
    let frac: Vec<f64> = if total > 0.0 {
        clean.iter().map(|f| f / total).collect()
    } else {
        vec![1.0 / k as f64; k]
    };

    // Stratum key: first positive class, or None for clips without any positive label.
    let mut strata: BTreeMap<Option<usize>, Vec<usize>> = BTreeMap::new();
    for (i, t) in targets.iter().enumerate() {
        strata
            .entry(t.iter().position(|&y| y >= 0.5))
            .or_default()
            .push(i);
    }
    let mut rng = SplitMix64::derived(seed, "split");
    for members in strata.values_mut() {
        rng.shuffle(members);
        // Each stratum is dealt on its own, so small strata are not swallowed by the train part.
        let mut counts = vec![0usize; k];
        for (j, &i) in members.iter().enumerate() {
            let p = most_behind(&frac, &counts, j + 1);
            counts[p] += 1;
            parts[p].push(i);
        }
    }

    // Guarantee non-empty parts: take from the largest part (its last-dealt clip).
    if targets.len() >= k {
        for p in 0..k {
            if parts[p].is_empty() {
                let donor = (0..k).max_by_key(|&q| parts[q].len()).unwrap_or(0);
                if let Some(i) = parts[donor].pop() {
                    parts[p].push(i);
                }
            }
        }
    }
    for part in &mut parts {
        part.sort_unstable();
    }
    parts
}

/// The part with the largest deficit `frac·n - count` (ties: the lower index).
fn most_behind(frac: &[f64], counts: &[usize], n: usize) -> usize {
    let mut best = 0;
    let mut best_deficit = f64::NEG_INFINITY;
    for (p, (&f, &c)) in frac.iter().zip(counts).enumerate() {
        let deficit = f * n as f64 - c as f64;
        if deficit > best_deficit + 1e-12 {
            best = p;
            best_deficit = deficit;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets(n_pos_a: usize, n_pos_b: usize, n_neg: usize) -> Vec<Vec<f32>> {
        let mut t = vec![vec![1.0, 0.0]; n_pos_a];
        t.extend(vec![vec![0.0, 1.0]; n_pos_b]);
        t.extend(vec![vec![0.0, 0.0]; n_neg]);
        t
    }

    #[test]
    fn partitions_all_indices_deterministically() {
        let t = targets(20, 10, 70);
        let a = stratified_split(&t, &[0.6, 0.2, 0.2], 3);
        assert_eq!(a, stratified_split(&t, &[0.6, 0.2, 0.2], 3));
        assert_ne!(a, stratified_split(&t, &[0.6, 0.2, 0.2], 4));
        let mut all: Vec<usize> = a.concat();
        all.sort();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
        assert_eq!(a.iter().map(Vec::len).collect::<Vec<_>>(), vec![60, 20, 20]);
    }

    #[test]
    fn strata_are_spread_in_proportion() {
        let t = targets(20, 10, 70);
        let parts = stratified_split(&t, &[0.6, 0.2, 0.2], 9);
        let count =
            |p: &Vec<usize>, lo: usize, hi: usize| p.iter().filter(|&&i| i >= lo && i < hi).count();
        for (p, want) in parts.iter().zip([(12, 6, 42), (4, 2, 14), (4, 2, 14)]) {
            assert_eq!((count(p, 0, 20), count(p, 20, 30), count(p, 30, 100)), want);
        }
    }

    #[test]
    fn tiny_inputs_fill_every_part() {
        let t = targets(1, 0, 2);
        let parts = stratified_split(&t, &[0.8, 0.1, 0.1], 0);
        assert!(parts.iter().all(|p| p.len() == 1), "{parts:?}");
        let parts = stratified_split(&t[..2], &[0.5, 0.5, 0.0], 0);
        assert_eq!(parts.iter().map(Vec::len).sum::<usize>(), 2);
    }
}
