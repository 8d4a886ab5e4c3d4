//! Seeded initialisation. candle's CPU RNG cannot be seeded, so every variable is re-drawn from
//! our own SplitMix64 stream, one stream per variable name: the same seed gives bit-identical
//! weights, and adding a variable does not change the others.

use candle_core::{DType, Device, Result, Tensor};
use candle_nn::{VarBuilder, VarMap};

use crate::head::{FrameHead, HeadConfig};
use crate::rng::{fnv1a, SplitMix64};

/// Why the output layers start at zero: every frame then scores the same, so the first
/// gradient of max pooling (split between tied frames) and of attention pooling (uniform weights)
/// is the mean-pooling direction — positives' frames minus negatives' — which points at what the
/// positives share. From a random direction instead, max pooling only ever sees each clip's
/// top-scoring frame; when those are all noise frames the head can stall for good (a linear
/// max-pooled head on the crate's synthetic task failed for 3 of 8 random initialisations and
/// for 0 of 8 with this rule). Hidden layers stay random, so there is no symmetry to break.
/// Re-initialises all variables of `varmap` deterministically from `seed`:
/// - `*alpha` → 1.0 (auto-pool starts as soft attention between mean and max);
/// - the output layers' weights, `proj.weight` and `attention.weight` (at any prefix) → 0;
/// - `*bias`, `*running_mean` → 0; rank-1 `*weight`, `*running_var` → 1 (norm layers);
/// - other tensors of rank ≥ 2 → uniform in ±1/√fan_in with fan_in = Π dims[1..] (PyTorch's
///   default for Linear and Conv: Kaiming-uniform with a = √5).
pub fn init_varmap(varmap: &VarMap, seed: u64) -> Result<()> {
    let data = varmap.data().lock().unwrap_or_else(|e| e.into_inner());
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    for name in names {
        let var = &data[name];
        let dims = var.dims().to_vec();
        let n: usize = dims.iter().product();
        let leaf = name.rsplit('.').next().unwrap_or(name);
        let values: Vec<f32> = if is_output_weight(name) {
            vec![0.0; n]
        } else if leaf == "alpha" || leaf == "running_var" {
            vec![1.0; n]
        } else if leaf == "bias" || leaf == "running_mean" || dims.len() < 2 && leaf != "weight" {
            vec![0.0; n]
        } else if dims.len() < 2 {
            vec![1.0; n]
        } else {
            let fan_in: usize = dims[1..].iter().product();
            let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
            let mut rng = SplitMix64::new(seed ^ fnv1a(name.as_bytes()));
            (0..n)
                .map(|_| ((rng.next_f64() * 2.0 - 1.0) * bound) as f32)
                .collect()
        };
        let t = Tensor::from_vec(values, dims, var.device())?.to_dtype(var.dtype())?;
        var.set(&t)?;
    }
    Ok(())
}

/// A fresh [`FrameHead`] with its own `VarMap`, initialised from `seed`.
pub fn seeded_head(cfg: HeadConfig, seed: u64, device: &Device) -> Result<(FrameHead, VarMap)> {
    let varmap = VarMap::new();
    let head = FrameHead::new(cfg, VarBuilder::from_varmap(&varmap, DType::F32, device))?;
    init_varmap(&varmap, seed)?;
    Ok((head, varmap))
}

/// `proj.weight` or `attention.weight`, at the root or under any prefix.
fn is_output_weight(name: &str) -> bool {
    ["proj.weight", "attention.weight"]
        .iter()
        .any(|w| name == *w || name.ends_with(&format!(".{w}")))
}
