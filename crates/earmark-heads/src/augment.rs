//! Training-time augmentation of clips whose frames are **band energies in dB** (log-mel as
//! `earmark_features::log_mel` returns it), for models trained from clip labels.
//!
//! Real recordings differ from a training set in their backgrounds, levels, timing and timbre;
//! each transform below attacks one of those, and all of them keep a clip's weak label true:
//!
//! - **background mixing**: a negative clip (no class present) is added *in the power domain*
//!   at a random relative level, so the event must be found over another scene;
//! - **mixup** between clips (Zhang et al. 2018), also in the power domain: the sum of two
//!   scenes holds the events of both, so the targets are their union (the DCASE baseline's
//!   convex blend of targets would tell the model that a clearly audible event is half there);
//! - **gain**: a level offset per clip, which only matters relative to what it is mixed with
//!   (the built-in models standardise each clip's bands);
//! - **time shift**: a circular roll, so an event's position carries no label information;
//! - **frequency shift**: a roll of the bands by a few bins (the edge band repeated), a cheap
//!   stand-in for sources of another size or pitch;
//! - **SpecAugment masks** (Park et al. 2019): a few time and band stripes set to the clip's
//!   band means, which the model's standardisation maps to 0. Time masks are kept short
//!   (`time_mask_frames`) so they never erase a whole short event and make its label false.
//!
//! Every draw comes from the caller's seeded [`SplitMix64`], so a training run is reproducible.

use serde::{Deserialize, Serialize};

use crate::mil::Example;
use crate::rng::SplitMix64;

/// Probabilities and ranges of each transform; `Default` is what `earmark train` uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AugmentOptions {
    /// Probability of mixing a negative training clip in as background.
    pub background_prob: f64,
    /// Level of the added background relative to the clip, in dB, drawn uniformly.
    pub background_db: (f64, f64),
    /// Probability of mixing another training clip in (targets: the union).
    pub mixup_prob: f64,
    /// Level of the mixed-in clip relative to this one, in dB, drawn uniformly.
    pub mixup_db: (f64, f64),
    /// Gain in dB, drawn uniformly, applied to each clip before mixing.
    pub gain_db: f64,
    /// Circular time shift by a uniform fraction of the clip.
    pub time_shift: bool,
    /// Largest band shift (either way), in bands.
    pub freq_shift_bands: usize,
    /// Number of time masks and the longest one, in frames.
    pub time_masks: usize,
    pub time_mask_frames: usize,
    /// Number of band masks and the widest one, in bands.
    pub freq_masks: usize,
    pub freq_mask_bands: usize,
}

impl Default for AugmentOptions {
    fn default() -> Self {
        AugmentOptions {
            background_prob: 0.5,
            background_db: (-12.0, 0.0),
            mixup_prob: 0.3,
            mixup_db: (-6.0, 6.0),
            gain_db: 6.0,
            time_shift: true,
            freq_shift_bands: 2,
            time_masks: 2,
            time_mask_frames: 8,
            freq_masks: 2,
            freq_mask_bands: 6,
        }
    }
}

impl AugmentOptions {
    /// No transform at all.
    pub fn none() -> Self {
        AugmentOptions {
            background_prob: 0.0,
            mixup_prob: 0.0,
            gain_db: 0.0,
            time_shift: false,
            freq_shift_bands: 0,
            time_masks: 0,
            freq_masks: 0,
            ..AugmentOptions::default()
        }
    }
}

/// What the training loop calls on the clips of each batch before they become tensors.
pub trait Augment: Sync {
    /// Returns augmented copies of `batch` (same lengths); `pool` is the whole training set,
    /// from which other clips may be drawn.
    fn augment(&self, batch: &[&Example], pool: &[Example], rng: &mut SplitMix64) -> Vec<Example>;
}

/// [`AugmentOptions`] on dB band energies.
#[derive(Debug, Clone)]
pub struct LogMelAugment {
    pub options: AugmentOptions,
    /// Indices of `pool` clips without any positive target (backgrounds).
    negatives: Vec<usize>,
}

impl LogMelAugment {
    /// `pool` is the training set the batches come from (its negatives become backgrounds).
    pub fn new(options: AugmentOptions, pool: &[Example]) -> Self {
        let negatives = pool
            .iter()
            .enumerate()
            .filter(|(_, e)| e.targets.iter().all(|&t| t < 0.5))
            .map(|(i, _)| i)
            .collect();
        LogMelAugment { options, negatives }
    }
}

/// `10·log10(10^(a/10) + 10^(b/10))` without overflow.
fn db_add(a: f32, b: f32) -> f32 {
    let (hi, lo) = if a >= b { (a, b) } else { (b, a) };
    hi + 10.0 * (1.0 + 10f32.powf((lo - hi) / 10.0)).log10()
}

/// Mean of all values (the clip's level, for relative mixing gains).
fn mean(x: &[f32]) -> f32 {
    if x.is_empty() {
        0.0
    } else {
        x.iter().sum::<f32>() / x.len() as f32
    }
}

/// Adds `other` (tiled or cut to `x`'s length, from a random start) at `rel_db` relative to
/// `x`'s mean level.
fn mix_into(x: &mut Example, other: &Example, rel_db: f32, rng: &mut SplitMix64) {
    let d = x.dim;
    if other.dim != d || other.n_frames == 0 {
        return;
    }
    let shift = (mean(&x.x) - mean(&other.x)) + rel_db;
    let start = rng.below(other.n_frames);
    for t in 0..x.n_frames {
        let s = (start + t) % other.n_frames;
        let src = &other.x[s * d..(s + 1) * d];
        for (v, &o) in x.x[t * d..(t + 1) * d].iter_mut().zip(src) {
            *v = db_add(*v, o + shift);
        }
    }
}

impl Augment for LogMelAugment {
    fn augment(&self, batch: &[&Example], pool: &[Example], rng: &mut SplitMix64) -> Vec<Example> {
        let o = &self.options;
        batch
            .iter()
            .map(|&e| {
                let mut x = e.clone();
                let d = x.dim;
                let t = x.n_frames;
                if d == 0 || t == 0 {
                    return x;
                }
                if o.gain_db > 0.0 {
                    let g = rng.range(-o.gain_db, o.gain_db) as f32;
                    x.x.iter_mut().for_each(|v| *v += g);
                }
                if !self.negatives.is_empty() && rng.next_f64() < o.background_prob {
                    let b = &pool[self.negatives[rng.below(self.negatives.len())]];
                    let rel = rng.range(o.background_db.0, o.background_db.1) as f32;
                    mix_into(&mut x, b, rel, rng);
                }
                if pool.len() > 1 && rng.next_f64() < o.mixup_prob {
                    let other = &pool[rng.below(pool.len())];
                    let rel = rng.range(o.mixup_db.0, o.mixup_db.1) as f32;
                    mix_into(&mut x, other, rel, rng);
                    if other.targets.len() == x.targets.len() {
                        for (y, &z) in x.targets.iter_mut().zip(&other.targets) {
                            *y = y.max(z);
                        }
                    }
                }
                if o.time_shift && t > 1 {
                    let k = rng.below(t);
                    x.x.rotate_right(k * d);
                }
                if o.freq_shift_bands > 0 && d > 2 * o.freq_shift_bands {
                    let s = rng.below(2 * o.freq_shift_bands + 1) as isize
                        - o.freq_shift_bands as isize;
                    if s != 0 {
                        for row in x.x.chunks_exact_mut(d) {
                            let src = row.to_vec();
                            for (j, v) in row.iter_mut().enumerate() {
                                let from = (j as isize - s).clamp(0, d as isize - 1) as usize;
                                *v = src[from];
                            }
                        }
                    }
                }
                if o.time_masks > 0 || o.freq_masks > 0 {
                    let mut band_mean = vec![0f32; d];
                    for row in x.x.chunks_exact(d) {
                        band_mean.iter_mut().zip(row).for_each(|(m, &v)| *m += v);
                    }
                    band_mean.iter_mut().for_each(|m| *m /= t as f32);
                    for _ in 0..o.time_masks {
                        let w = rng.below(o.time_mask_frames.min(t) + 1);
                        let s = rng.below(t - w + 1);
                        for row in x.x[s * d..(s + w) * d].chunks_exact_mut(d) {
                            row.copy_from_slice(&band_mean);
                        }
                    }
                    for _ in 0..o.freq_masks {
                        let w = rng.below(o.freq_mask_bands.min(d) + 1);
                        let s = rng.below(d - w + 1);
                        for row in x.x.chunks_exact_mut(d) {
                            row[s..s + w].copy_from_slice(&band_mean[s..s + w]);
                        }
                    }
                }
                x
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clip(level: f32, targets: Vec<f32>) -> Example {
        Example {
            x: (0..40).map(|i| level + (i % 4) as f32).collect(),
            n_frames: 10,
            dim: 4,
            targets,
        }
    }

    #[test]
    fn db_add_is_power_sum() {
        assert!((db_add(0.0, 0.0) - 10.0 * 2f32.log10()).abs() < 1e-5);
        assert!((db_add(60.0, -40.0) - 60.0).abs() < 1e-4);
        assert!((db_add(-40.0, 60.0) - 60.0).abs() < 1e-4);
    }

    #[test]
    fn mixup_takes_the_union_and_background_keeps_the_label() {
        let pool = vec![
            clip(-20.0, vec![1.0, 0.0]),
            clip(-30.0, vec![0.0, 0.0]),
            clip(-25.0, vec![0.0, 1.0]),
        ];
        let only_mixup = AugmentOptions {
            mixup_prob: 1.0,
            ..AugmentOptions::none()
        };
        let aug = LogMelAugment::new(only_mixup, &pool);
        let mut rng = SplitMix64::new(1);
        let mut seen_union = false;
        for _ in 0..20 {
            let out = aug.augment(&[&pool[0]], &pool, &mut rng);
            assert_eq!(out[0].targets[0], 1.0);
            seen_union |= out[0].targets[1] == 1.0;
            // Power sums only add energy.
            assert!(out[0].x.iter().zip(&pool[0].x).all(|(a, b)| a >= b));
        }
        assert!(seen_union);
        let only_bg = AugmentOptions {
            background_prob: 1.0,
            ..AugmentOptions::none()
        };
        let aug = LogMelAugment::new(only_bg, &pool);
        let out = aug.augment(&[&pool[2]], &pool, &mut rng);
        assert_eq!(out[0].targets, vec![0.0, 1.0]);
        assert_ne!(out[0].x, pool[2].x);
    }

    #[test]
    fn none_is_identity_and_masks_use_band_means() {
        let pool = vec![clip(-20.0, vec![1.0])];
        let aug = LogMelAugment::new(AugmentOptions::none(), &pool);
        let mut rng = SplitMix64::new(3);
        assert_eq!(aug.augment(&[&pool[0]], &pool, &mut rng)[0].x, pool[0].x);
        let masks = AugmentOptions {
            freq_masks: 1,
            freq_mask_bands: 4,
            ..AugmentOptions::none()
        };
        let aug = LogMelAugment::new(masks, &pool);
        for _ in 0..10 {
            let out = &aug.augment(&[&pool[0]], &pool, &mut rng)[0];
            // Every band is constant over time here, so a masked band equals its mean.
            assert_eq!(out.x, pool[0].x);
        }
    }
}
