//! Frame classifiers on top of frame embeddings: linear, MLP, or a 1-D temporal convolution that
//! gives each frame a little context. They output one logit per frame and class; pooling to clip
//! level is the separate, named step in [`crate::pool`].

use std::sync::Mutex;

use candle_core::{DType, Result, Tensor};
use candle_nn::{Init, VarBuilder};
use serde::{Deserialize, Serialize};

use crate::mil::{Example, MilModel, MilOutput};
use crate::pool::Pooling;
use crate::rng::SplitMix64;
use crate::HeadError;

/// The layers between an embedding frame and its class logits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HeadKind {
    /// One linear layer.
    Linear,
    /// Linear → GELU → linear.
    Mlp { hidden: usize },
    /// 1-D temporal convolution (same padding) → GELU → linear: each frame sees `kernel` frames.
    Conv { hidden: usize, kernel: usize },
}

/// Everything needed to rebuild a [`FrameHead`] (the weights live in safetensors).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadConfig {
    pub in_dim: usize,
    pub n_classes: usize,
    pub kind: HeadKind,
    pub pooling: Pooling,
    /// Dropout rate on the (standardised) input and on hidden activations during training.
    pub dropout: f32,
    /// Per-dimension input standardisation fitted on training frames (None = identity).
    pub input_mean: Option<Vec<f32>>,
    pub input_std: Option<Vec<f32>>,
}

impl HeadConfig {
    /// A linear head without standardisation or dropout.
    pub fn linear(in_dim: usize, n_classes: usize, pooling: Pooling) -> Self {
        HeadConfig {
            in_dim,
            n_classes,
            kind: HeadKind::Linear,
            pooling,
            dropout: 0.0,
            input_mean: None,
            input_std: None,
        }
    }

    /// Checks sizes and ranges; every constructor and loader calls this first.
    pub fn validate(&self) -> std::result::Result<(), HeadError> {
        if self.in_dim == 0 || self.n_classes == 0 {
            return Err(HeadError::config(format!(
                "head needs in_dim and n_classes ≥ 1, got {} and {}",
                self.in_dim, self.n_classes
            )));
        }
        match self.kind {
            HeadKind::Linear => {}
            HeadKind::Mlp { hidden } | HeadKind::Conv { hidden, .. } if hidden == 0 => {
                return Err(HeadError::config("hidden size must be ≥ 1"))
            }
            HeadKind::Conv { kernel: 0, .. } => {
                return Err(HeadError::config("conv kernel must be ≥ 1"))
            }
            _ => {}
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(HeadError::config(format!(
                "dropout must be in [0, 1), got {}",
                self.dropout
            )));
        }
        for (name, v) in [
            ("input_mean", &self.input_mean),
            ("input_std", &self.input_std),
        ] {
            if let Some(v) = v {
                if v.len() != self.in_dim {
                    return Err(HeadError::shape(name, self.in_dim, v.len()));
                }
                if v.iter().any(|x| !x.is_finite()) {
                    return Err(HeadError::config(format!("{name} has non-finite values")));
                }
            }
        }
        if let Some(s) = &self.input_std {
            if s.iter().any(|&x| x <= 0.0) {
                return Err(HeadError::config("input_std must be positive"));
            }
        }
        Ok(())
    }

    /// The names and shapes of the tensors a head with this config owns, sorted by name.
    pub fn tensor_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let (d, c) = (self.in_dim, self.n_classes);
        let mut out = Vec::new();
        let feat = match self.kind {
            HeadKind::Linear => d,
            HeadKind::Mlp { hidden } => {
                out.push(("hidden.weight".to_string(), vec![hidden, d]));
                out.push(("hidden.bias".to_string(), vec![hidden]));
                hidden
            }
            HeadKind::Conv { hidden, kernel } => {
                out.push(("conv.weight".to_string(), vec![hidden, d, kernel]));
                out.push(("conv.bias".to_string(), vec![hidden]));
                hidden
            }
        };
        out.push(("proj.weight".to_string(), vec![c, feat]));
        out.push(("proj.bias".to_string(), vec![c]));
        if self.pooling.needs_attention() {
            out.push(("attention.weight".to_string(), vec![c, feat]));
            out.push(("attention.bias".to_string(), vec![c]));
        }
        if self.pooling.needs_alpha() {
            out.push(("alpha".to_string(), vec![c]));
        }
        out.sort();
        out
    }
}

/// A dense layer applied to the last axis of `[B,T,F]` by one `[B·T,F]` matmul (faster on CPU
/// than candle's per-batch broadcast matmul).
#[derive(Debug, Clone)]
struct Dense {
    weight: Tensor, // [out, in]
    bias: Tensor,   // [out]
}

impl Dense {
    /// A hidden layer: uniform ±1/√in (PyTorch's default).
    fn new(in_dim: usize, out_dim: usize, vb: VarBuilder) -> Result<Self> {
        let bound = 1.0 / (in_dim as f64).sqrt();
        Self::with_init(
            in_dim,
            out_dim,
            Init::Uniform {
                lo: -bound,
                up: bound,
            },
            vb,
        )
    }

    /// An output layer (`proj`, `attention`): zeros, see [`crate::init_varmap`] for why.
    fn output(in_dim: usize, out_dim: usize, vb: VarBuilder) -> Result<Self> {
        Self::with_init(in_dim, out_dim, Init::Const(0.0), vb)
    }

    fn with_init(in_dim: usize, out_dim: usize, init: Init, vb: VarBuilder) -> Result<Self> {
        let weight = vb.get_with_hints((out_dim, in_dim), "weight", init)?;
        let bias = vb.get_with_hints(out_dim, "bias", Init::Const(0.0))?;
        Ok(Dense { weight, bias })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, t, f) = x.dims3()?;
        let y = x.reshape((b * t, f))?.matmul(&self.weight.t()?)?;
        y.broadcast_add(&self.bias)?.reshape((b, t, ()))
    }
}

/// Temporal convolution with "same" padding (PyTorch's split: the extra pad goes right), written
/// as unfold + one matmul; the weight keeps PyTorch's Conv1d layout `[out, in, kernel]`.
#[derive(Debug, Clone)]
struct TemporalConv {
    weight: Tensor, // [H, D, K]
    bias: Tensor,   // [H]
    kernel: usize,
}

impl TemporalConv {
    fn new(in_dim: usize, out_dim: usize, kernel: usize, vb: VarBuilder) -> Result<Self> {
        let bound = 1.0 / ((in_dim * kernel) as f64).sqrt();
        let weight = vb.get_with_hints(
            (out_dim, in_dim, kernel),
            "weight",
            Init::Uniform {
                lo: -bound,
                up: bound,
            },
        )?;
        let bias = vb.get_with_hints(out_dim, "bias", Init::Const(0.0))?;
        Ok(TemporalConv {
            weight,
            bias,
            kernel,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, t, d) = x.dims3()?;
        let k = self.kernel;
        let left = (k - 1) / 2;
        let padded = x.pad_with_zeros(1, left, k - 1 - left)?;
        let shifted = (0..k)
            .map(|i| padded.narrow(1, i, t))
            .collect::<Result<Vec<_>>>()?;
        // [B,T,D,K] flattened matches the weight's [H, D·K] flattening.
        let cols = Tensor::stack(&shifted, 3)?.reshape((b * t, d * k))?;
        let h = self.weight.dim(0)?;
        let w = self.weight.reshape((h, d * k))?;
        cols.matmul(&w.t()?)?
            .broadcast_add(&self.bias)?
            .reshape((b, t, h))
    }
}

/// A frame classifier: `[B,T,D]` embeddings → `[B,T,C]` logits (+ attention logits when the
/// pooling needs them, + a learned α for auto-pool).
pub struct FrameHead {
    cfg: HeadConfig,
    /// (mean, 1/std) as `[1,1,D]`.
    standardize: Option<(Tensor, Tensor)>,
    hidden: Option<Dense>,
    conv: Option<TemporalConv>,
    proj: Dense,
    attention: Option<Dense>,
    alpha: Option<Tensor>,
    dropout_rng: Mutex<SplitMix64>,
}

impl std::fmt::Debug for FrameHead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameHead")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl FrameHead {
    /// Builds the head's variables under `vb` (`proj`, `hidden`, `conv`, `attention`, `alpha`).
    /// With a `VarMap`-backed builder, call [`crate::init_varmap`] afterwards for a seeded,
    /// reproducible initialisation (candle's CPU RNG cannot be seeded).
    pub fn new(cfg: HeadConfig, vb: VarBuilder) -> Result<Self> {
        cfg.validate().map_err(candle_core::Error::wrap)?;
        let dev = vb.device().clone();
        let (d, c) = (cfg.in_dim, cfg.n_classes);
        let standardize = match (&cfg.input_mean, &cfg.input_std) {
            (None, None) => None,
            (mean, std) => {
                let mean = mean.clone().unwrap_or_else(|| vec![0.0; d]);
                let inv: Vec<f32> = match std {
                    Some(s) => s.iter().map(|s| 1.0 / s).collect(),
                    None => vec![1.0; d],
                };
                Some((
                    Tensor::from_vec(mean, (1, 1, d), &dev)?,
                    Tensor::from_vec(inv, (1, 1, d), &dev)?,
                ))
            }
        };
        let (hidden, conv, feat) = match cfg.kind {
            HeadKind::Linear => (None, None, d),
            HeadKind::Mlp { hidden } => {
                (Some(Dense::new(d, hidden, vb.pp("hidden"))?), None, hidden)
            }
            HeadKind::Conv { hidden, kernel } => (
                None,
                Some(TemporalConv::new(d, hidden, kernel, vb.pp("conv"))?),
                hidden,
            ),
        };
        let proj = Dense::output(feat, c, vb.pp("proj"))?;
        let attention = if cfg.pooling.needs_attention() {
            Some(Dense::output(feat, c, vb.pp("attention"))?)
        } else {
            None
        };
        let alpha = if cfg.pooling.needs_alpha() {
            Some(vb.get_with_hints(c, "alpha", Init::Const(1.0))?)
        } else {
            None
        };
        Ok(FrameHead {
            cfg,
            standardize,
            hidden,
            conv,
            proj,
            attention,
            alpha,
            dropout_rng: Mutex::new(SplitMix64::derived(0, "dropout")),
        })
    }

    pub fn config(&self) -> &HeadConfig {
        &self.cfg
    }

    /// AutoPool α `[C]`, learned, initialised to 1.0.
    pub fn alpha(&self) -> Option<Tensor> {
        self.alpha.clone()
    }

    /// `x` `[B,T,D]` → frame logits `[B,T,C]` (and attention logits when the pooling needs them);
    /// every frame is treated as real (the output mask is all ones).
    pub fn forward(&self, x: &Tensor, train: bool) -> Result<MilOutput> {
        let (b, t, _) = x.dims3()?;
        let mask = Tensor::ones((b, t), DType::F32, x.device())?;
        self.forward_masked(x, &mask, train)
    }

    fn forward_masked(&self, x: &Tensor, mask: &Tensor, train: bool) -> Result<MilOutput> {
        let (b, t, d) = x.dims3()?;
        if d != self.cfg.in_dim {
            candle_core::bail!(
                "frame head: input has {d} dims per frame, the head expects {}",
                self.cfg.in_dim
            )
        }
        if mask.dims() != [b, t] {
            candle_core::bail!(
                "frame head: mask has shape {:?}, expected [{b}, {t}]",
                mask.dims()
            )
        }
        let mut h = x.to_dtype(DType::F32)?;
        if let Some((mean, inv_std)) = &self.standardize {
            h = h.broadcast_sub(mean)?.broadcast_mul(inv_std)?;
        }
        // Padding frames become exactly 0 (the training mean), like the conv's own edge padding,
        // so a clip's logits do not depend on what it was batched with.
        let m = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        h = h.broadcast_mul(&m)?;
        h = self.dropout(&h, train)?;
        if let Some(hidden) = &self.hidden {
            h = self.dropout(&hidden.forward(&h)?.gelu_erf()?, train)?;
        }
        if let Some(conv) = &self.conv {
            h = self.dropout(&conv.forward(&h)?.gelu_erf()?, train)?;
        }
        let frame_logits = self.proj.forward(&h)?;
        let att_logits = match &self.attention {
            Some(a) => Some(a.forward(&h)?),
            None => None,
        };
        Ok(MilOutput {
            frame_logits,
            att_logits,
            mask: mask.to_dtype(DType::F32)?,
        })
    }

    /// Inverted dropout from the head's own seeded stream (see [`MilModel::set_seed`]).
    fn dropout(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let p = self.cfg.dropout;
        if !train || p <= 0.0 {
            return Ok(x.clone());
        }
        let n = x.elem_count();
        let scale = 1.0 / (1.0 - p);
        let keep: Vec<f32> = {
            let mut rng = self.dropout_rng.lock().unwrap_or_else(|e| e.into_inner());
            (0..n)
                .map(|_| if rng.next_f32() < p { 0.0 } else { scale })
                .collect()
        };
        x.mul(&Tensor::from_vec(keep, x.shape(), x.device())?)
    }
}

impl MilModel for FrameHead {
    fn forward(&self, x: &Tensor, mask: &Tensor, train: bool) -> Result<MilOutput> {
        self.forward_masked(x, mask, train)
    }

    fn pooling(&self) -> Pooling {
        self.cfg.pooling
    }

    fn alpha(&self) -> Option<Tensor> {
        self.alpha.clone()
    }

    fn set_seed(&self, seed: u64) {
        *self.dropout_rng.lock().unwrap_or_else(|e| e.into_inner()) =
            SplitMix64::derived(seed, "dropout");
    }

    fn in_dim(&self) -> Option<usize> {
        Some(self.cfg.in_dim)
    }

    fn n_classes(&self) -> Option<usize> {
        Some(self.cfg.n_classes)
    }
}

/// Fits `input_mean`/`input_std` (population std, floored at 1e-5) over all frames of the
/// examples. Examples whose `dim` differs from the first one's, or whose `x` is shorter than
/// `n_frames·dim`, are skipped rather than trusted. No examples → two empty vectors.
pub fn fit_standardizer(examples: &[Example]) -> (Vec<f32>, Vec<f32>) {
    let Some(dim) = examples.first().map(|e| e.dim) else {
        return (Vec::new(), Vec::new());
    };
    let usable = || {
        examples
            .iter()
            .filter(move |e| e.dim == dim && e.x.len() >= e.n_frames * dim)
    };
    // Two passes in f64: the mean first, then squared deviations (no cancellation).
    let mut sum = vec![0f64; dim];
    let mut count = 0usize;
    for e in usable() {
        for row in e.x[..e.n_frames * dim].chunks_exact(dim) {
            for (s, &v) in sum.iter_mut().zip(row) {
                *s += v as f64;
            }
        }
        count += e.n_frames;
    }
    if count == 0 {
        return (vec![0.0; dim], vec![1.0; dim]);
    }
    let mean: Vec<f64> = sum.iter().map(|s| s / count as f64).collect();
    let mut sq = vec![0f64; dim];
    for e in usable() {
        for row in e.x[..e.n_frames * dim].chunks_exact(dim) {
            for ((s, &v), m) in sq.iter_mut().zip(row).zip(&mean) {
                let dv = v as f64 - m;
                *s += dv * dv;
            }
        }
    }
    let std = sq
        .iter()
        .map(|s| ((s / count as f64).sqrt() as f32).max(1e-5))
        .collect();
    (mean.iter().map(|&m| m as f32).collect(), std)
}
