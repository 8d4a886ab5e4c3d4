//! Pooling frame probabilities into clip probabilities: the named, explicit step between a frame
//! head and a clip-level decision.
//!
//! One function, [`pool`], serves training (it is differentiable in every rule) and inspection
//! alike, so what a head was trained through is exactly what the page shows.
//!
//! - mean and max: the classic MIL baselines;
//! - linear softmax: Wang, Metze et al., "A comparison of five multiple instance learning pooling
//!   functions for sound event detection with weak labeling" (ICASSP 2019);
//! - attention: Kong et al., "Audio Set classification with attention model" (2018);
//! - auto-pool: McFee, Salamon & Bello, "Adaptive pooling operators for weakly labeled sound event
//!   detection" (TASLP 2018), reference code `github.com/marl/autopool`.

use std::fmt;
use std::str::FromStr;

use candle_core::{DType, Device, Result, Tensor};
use serde::{Deserialize, Serialize};

use crate::HeadError;

/// How frame probabilities become a clip probability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    Mean,
    Max,
    LinearSoftmax,
    Attention,
    AutoPool,
}

impl Pooling {
    pub const ALL: [Pooling; 5] = [
        Pooling::Mean,
        Pooling::Max,
        Pooling::LinearSoftmax,
        Pooling::Attention,
        Pooling::AutoPool,
    ];

    pub fn name(&self) -> &'static str {
        match self {
            Pooling::Mean => "mean",
            Pooling::Max => "max",
            Pooling::LinearSoftmax => "linear_softmax",
            Pooling::Attention => "attention",
            Pooling::AutoPool => "auto_pool",
        }
    }

    /// Whether the model must produce attention logits for this rule.
    pub fn needs_attention(&self) -> bool {
        matches!(self, Pooling::Attention)
    }

    /// Whether the rule has a learned per-class α.
    pub fn needs_alpha(&self) -> bool {
        matches!(self, Pooling::AutoPool)
    }
}

impl fmt::Display for Pooling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Pooling {
    type Err = HeadError;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let norm = s.trim().to_ascii_lowercase().replace('-', "_");
        match norm.as_str() {
            "mean" => Ok(Pooling::Mean),
            "max" => Ok(Pooling::Max),
            "linear_softmax" => Ok(Pooling::LinearSoftmax),
            "attention" => Ok(Pooling::Attention),
            "auto_pool" | "autopool" => Ok(Pooling::AutoPool),
            _ => Err(HeadError::config(format!(
                "unknown pooling {s:?}: expected one of {}",
                Pooling::ALL.map(|p| p.name()).join(", ")
            ))),
        }
    }
}

/// Pushes padding far below any real value before a max/softmax; large enough to vanish in `exp`
/// and small enough to stay finite in f32.
const BIG: f64 = 1e9;

/// THE one pooling path, used by training and by inspection alike.
///
/// `probs` `[B,T,C]` frame probabilities in (0,1); `mask` `[B,T]` with 1 for real frames and 0 for
/// padding; `att_logits` `[B,T,C]` (required for [`Pooling::Attention`], ignored otherwise);
/// `alpha` `[C]` (required for [`Pooling::AutoPool`]). Returns clip probabilities `[B,C]`.
/// Padding frames never contribute; a clip without any real frame pools to 0.
///
/// - mean: `Σp·m / Σm`; max: max over real frames; linear softmax: `Σp²·m / Σp·m`;
/// - attention: `Σ p·softmax_t(att)` with the softmax over real frames only;
/// - auto-pool: `Σ p·softmax_t(α_c·p)` over real frames.
pub fn pool(
    pooling: Pooling,
    probs: &Tensor,
    mask: &Tensor,
    att_logits: Option<&Tensor>,
    alpha: Option<&Tensor>,
) -> Result<Tensor> {
    let (b, t, c) = probs.dims3()?;
    let mask_dims = mask.dims();
    if mask_dims != [b, t] {
        candle_core::bail!(
            "pool: mask has shape {mask_dims:?}, probs {:?} need [{b}, {t}]",
            probs.dims()
        )
    }
    let m = mask.to_dtype(probs.dtype())?.unsqueeze(2)?; // [B,T,1]
    match pooling {
        Pooling::Mean => {
            let num = probs.broadcast_mul(&m)?.sum(1)?;
            let den = m.sum(1)?.maximum(1e-12)?;
            num.broadcast_div(&den)
        }
        Pooling::Max => {
            // The max as a weighted sum with (detached) one-hot weights on the arg-max frame(s):
            // the value is exactly the max for a unique arg-max, and the gradient is a proper
            // subgradient, shared evenly between tied frames (candle's own max backward hands
            // every tied frame the full gradient, which makes an all-tied start — e.g. a
            // zero-initialised output layer — look T times steeper than it is).
            // Padding sits 1e9 below every real value, so it is never the arg-max.
            let masked = probs.broadcast_add(&m.affine(BIG, -BIG)?)?;
            let top = masked.max_keepdim(1)?.detach();
            let hit = masked
                .broadcast_eq(&top)?
                .to_dtype(probs.dtype())?
                .broadcast_mul(&m)?;
            let w = hit
                .broadcast_div(&hit.sum_keepdim(1)?.maximum(1.0)?)?
                .detach();
            (probs * w)?.sum(1)
        }
        Pooling::LinearSoftmax => {
            let pm = probs.broadcast_mul(&m)?;
            let num = (&pm * probs)?.sum(1)?;
            let den = pm.sum(1)?.maximum(1e-12)?;
            num.div(&den)
        }
        Pooling::Attention => {
            let att = match att_logits {
                Some(a) => a,
                None => candle_core::bail!("pool: attention pooling needs attention logits"),
            };
            if att.dims() != probs.dims() {
                candle_core::bail!(
                    "pool: attention logits have shape {:?}, probs {:?}",
                    att.dims(),
                    probs.dims()
                )
            }
            let w = masked_softmax_t(att, &m)?;
            (probs * w)?.sum(1)
        }
        Pooling::AutoPool => {
            let alpha = match alpha {
                Some(a) => a,
                None => candle_core::bail!("pool: auto-pool needs alpha"),
            };
            if alpha.dims() != [c] {
                candle_core::bail!("pool: alpha has shape {:?}, expected [{c}]", alpha.dims())
            }
            let a = probs.broadcast_mul(&alpha.reshape((1, 1, c))?)?;
            let w = masked_softmax_t(&a, &m)?;
            (probs * w)?.sum(1)
        }
    }
}

/// Softmax over the time axis (dim 1) of `[B,T,C]` logits, restricted to frames where `m`
/// (`[B,T,1]`) is 1. Padding gets weight exactly 0; a row without real frames gets all zeros.
fn masked_softmax_t(a: &Tensor, m: &Tensor) -> Result<Tensor> {
    let neg = m.affine(BIG, -BIG)?;
    let masked = a.broadcast_mul(m)?.broadcast_add(&neg)?;
    // The shift only guards exp against overflow; softmax is shift-invariant, so no gradient
    // needs to flow through it.
    let shift = masked.max_keepdim(1)?.detach();
    let e = masked.broadcast_sub(&shift)?.exp()?.broadcast_mul(m)?;
    let z = e.sum_keepdim(1)?.maximum(1e-30)?;
    e.broadcast_div(&z)
}

/// Convenience for one clip's plain scores: `probs` is `[T*C]` row-major (frame-major). Builds
/// tensors on the CPU and calls [`pool`]; returns the `C` clip probabilities.
pub fn pool_scores(
    pooling: Pooling,
    probs: &[f32],
    n_classes: usize,
    att_logits: Option<&[f32]>,
    alpha: Option<&[f32]>,
) -> std::result::Result<Vec<f32>, HeadError> {
    if n_classes == 0 {
        return Err(HeadError::shape("n_classes", "at least 1", 0));
    }
    if !probs.len().is_multiple_of(n_classes) {
        return Err(HeadError::shape(
            "frame probabilities",
            format!("a multiple of {n_classes} values (T*C)"),
            probs.len(),
        ));
    }
    let t = probs.len() / n_classes;
    let dev = Device::Cpu;
    let p = Tensor::from_slice(probs, (1, t, n_classes), &dev)?;
    let mask = Tensor::ones((1, t), DType::F32, &dev)?;
    let att = match att_logits {
        Some(a) if a.len() != probs.len() => {
            return Err(HeadError::shape("attention logits", probs.len(), a.len()))
        }
        Some(a) => Some(Tensor::from_slice(a, (1, t, n_classes), &dev)?),
        None if pooling.needs_attention() => {
            return Err(HeadError::config(
                "attention pooling needs attention logits",
            ))
        }
        None => None,
    };
    let alpha = match alpha {
        Some(a) if a.len() != n_classes => {
            return Err(HeadError::shape("alpha", n_classes, a.len()))
        }
        Some(a) => Some(Tensor::from_slice(a, n_classes, &dev)?),
        None if pooling.needs_alpha() => return Err(HeadError::config("auto-pool needs alpha")),
        None => None,
    };
    let out = pool(pooling, &p, &mask, att.as_ref(), alpha.as_ref())?;
    Ok(out.flatten_all()?.to_vec1()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Pooling::ALL {
            assert_eq!(p.name().parse::<Pooling>().unwrap(), p);
            assert_eq!(p.to_string(), p.name());
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(json, format!("\"{}\"", p.name()));
        }
        assert_eq!(
            "linear-softmax".parse::<Pooling>().unwrap(),
            Pooling::LinearSoftmax
        );
        assert_eq!("autopool".parse::<Pooling>().unwrap(), Pooling::AutoPool);
        assert_eq!("auto-pool".parse::<Pooling>().unwrap(), Pooling::AutoPool);
        let err = "median".parse::<Pooling>().unwrap_err().to_string();
        assert!(
            err.contains("linear_softmax") && err.contains("median"),
            "{err}"
        );
    }

    #[test]
    fn empty_clip_pools_to_zero_without_nan() {
        let dev = Device::Cpu;
        let p = Tensor::new(&[[[0.3f32], [0.6]]], &dev).unwrap();
        let m = Tensor::zeros((1, 2), DType::F32, &dev).unwrap();
        let att = Tensor::new(&[[[1.0f32], [2.0]]], &dev).unwrap();
        let alpha = Tensor::new(&[1.0f32], &dev).unwrap();
        for rule in Pooling::ALL {
            let v: Vec<f32> = pool(rule, &p, &m, Some(&att), Some(&alpha))
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            assert_eq!(v, vec![0.0], "{rule}");
        }
    }

    #[test]
    fn missing_inputs_are_errors() {
        assert!(pool_scores(Pooling::Attention, &[0.5; 4], 2, None, None).is_err());
        assert!(pool_scores(Pooling::AutoPool, &[0.5; 4], 2, None, None).is_err());
        assert!(pool_scores(Pooling::Mean, &[0.5; 5], 2, None, None).is_err());
        assert!(pool_scores(Pooling::Mean, &[0.5; 4], 0, None, None).is_err());
    }
}
