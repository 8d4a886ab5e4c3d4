//! AST: Audio Spectrogram Transformer.
//!
//! - Paper: Gong, Chung & Glass, "AST: Audio Spectrogram Transformer", Interspeech 2021,
//!   <https://arxiv.org/abs/2104.01778>
//! - Reference code: transformers' `modeling_audio_spectrogram_transformer.py` (`ASTModel`,
//!   `ASTForAudioClassification`).
//!
//! Field and `vb.pp(..)` names are the checkpoint's on-disk (transformers 4.x / hub) keys
//! (`encoder.layer.N.attention.attention.query`, …), which transformers 5.x still writes. The
//! patch embedding `Conv2d(1, H, (p, p), stride (fstride, tstride))` runs as unfold + matmul.
//! Token layout: 0 = CLS, 1 = distillation, `2 + f·t_dim + t` = patch at frequency row `f`, time
//! column `t` (frequency-major, time fastest).

use crate::nn::{self, LayerNorm};
use candle_core::{bail, Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

fn default_eps() -> f64 {
    1e-12
}
fn default_true() -> bool {
    true
}
fn default_gelu() -> String {
    "gelu".into()
}

/// transformers' `ASTConfig` fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[serde(default = "default_gelu")]
    pub hidden_act: String,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    pub patch_size: usize,
    #[serde(default = "default_true")]
    pub qkv_bias: bool,
    pub frequency_stride: usize,
    pub time_stride: usize,
    /// Input frames (fbank rows) per clip.
    pub max_length: usize,
    pub num_mel_bins: usize,
    /// Class names of a classification head.
    #[serde(default)]
    pub id2label: Option<BTreeMap<String, String>>,
}

impl Config {
    /// `MIT/ast-finetuned-audioset-10-10-0.4593`.
    pub fn audioset_10_10() -> Self {
        Config {
            hidden_size: 768,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            intermediate_size: 3072,
            hidden_act: "gelu".into(),
            layer_norm_eps: 1e-12,
            patch_size: 16,
            qkv_bias: true,
            frequency_stride: 10,
            time_stride: 10,
            max_length: 1024,
            num_mel_bins: 128,
            id2label: None,
        }
    }

    /// Patch rows along frequency: `(num_mel_bins − patch) / fstride + 1`.
    pub fn f_dim(&self) -> usize {
        (self.num_mel_bins.saturating_sub(self.patch_size)) / self.frequency_stride + 1
    }

    /// Patch columns along time: `(max_length − patch) / tstride + 1`.
    pub fn t_dim(&self) -> usize {
        (self.max_length.saturating_sub(self.patch_size)) / self.time_stride + 1
    }

    /// Class names ordered by id.
    pub fn labels(&self) -> Option<Vec<String>> {
        let m = self.id2label.as_ref()?;
        let mut v: Vec<(usize, String)> = m
            .iter()
            .filter_map(|(k, v)| k.parse().ok().map(|k| (k, v.clone())))
            .collect();
        v.sort();
        Some(v.into_iter().map(|(_, s)| s).collect())
    }
}

/// `embeddings`: patches, CLS and distillation tokens, position embeddings.
#[derive(Debug, Clone)]
pub struct Embeddings {
    cls_token: Tensor,
    distillation_token: Tensor,
    position_embeddings: Tensor,
    /// `patch_embeddings.projection` as `[p·p, H]` (flattened `(k_freq, k_time)`) and bias.
    projection: (Tensor, Tensor),
    cfg: Config,
}

impl Embeddings {
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let h = cfg.hidden_size;
        let p = cfg.patch_size;
        let n = cfg.f_dim() * cfg.t_dim() + 2;
        let vp = vb.pp("patch_embeddings").pp("projection");
        let w = vp.get((h, 1, p, p), "weight")?;
        let b = vp.get(h, "bias")?;
        Ok(Embeddings {
            cls_token: vb.get((1, 1, h), "cls_token")?,
            distillation_token: vb.get((1, 1, h), "distillation_token")?,
            position_embeddings: vb.get((1, n, h), "position_embeddings")?,
            projection: (w.reshape((h, p * p))?.t()?.contiguous()?, b),
            cfg: cfg.clone(),
        })
    }

    /// `[B, T, F]` normalised fbank → `[B, 2 + f_dim·t_dim, H]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, t, f) = x.dims3()?;
        let c = &self.cfg;
        if t != c.max_length || f != c.num_mel_bins {
            bail!(
                "AST input [{t}, {f}], expected [{}, {}]",
                c.max_length,
                c.num_mel_bins
            );
        }
        let p = c.patch_size;
        let (fd, td) = (c.f_dim(), c.t_dim());
        let x = x.transpose(1, 2)?.contiguous()?; // [B, F, T]
        let cols = (0..td)
            .map(|j| x.narrow(2, j * c.time_stride, p))
            .collect::<Result<Vec<_>>>()?;
        let xt = Tensor::stack(&cols, 2)?; // [B, F, td, p_t]
        let rows = (0..fd)
            .map(|i| xt.narrow(1, i * c.frequency_stride, p))
            .collect::<Result<Vec<_>>>()?;
        let patches = Tensor::stack(&rows, 1)? // [B, fd, p_f, td, p_t]
            .permute((0, 1, 3, 2, 4))?
            .contiguous()?
            .reshape((b * fd * td, p * p))?;
        let h = c.hidden_size;
        let emb = patches
            .matmul(&self.projection.0)?
            .broadcast_add(&self.projection.1)?
            .reshape((b, fd * td, h))?;
        let cls = self.cls_token.expand((b, 1, h))?;
        let dist = self.distillation_token.expand((b, 1, h))?;
        Tensor::cat(&[&cls, &dist, &emb], 1)?.broadcast_add(&self.position_embeddings)
    }
}

/// `encoder.layer.N.attention`: `attention.{query,key,value}` and `output.dense`.
#[derive(Debug, Clone)]
pub struct Attention {
    /// `query`, `key` and `value`, fused.
    qkv: nn::Qkv,
    dense: Linear,
}

impl Attention {
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let h = cfg.hidden_size;
        let va = vb.pp("attention");
        let qkv = |name: &str| -> Result<Linear> {
            if cfg.qkv_bias {
                nn::linear(h, h, va.pp(name))
            } else {
                candle_nn::linear_no_bias(h, h, va.pp(name))
            }
        };
        Ok(Attention {
            qkv: nn::Qkv::new(
                qkv("query")?,
                qkv("key")?,
                qkv("value")?,
                cfg.num_attention_heads,
            )?,
            dense: nn::linear(h, h, vb.pp("output").pp("dense"))?,
        })
    }

    /// `residual + attention(x)`, the residual add fused into the output projection.
    pub fn forward(&self, x: &Tensor, residual: &Tensor) -> Result<Tensor> {
        let a = self.qkv.attend(x, None)?;
        nn::apply_linear_add(&self.dense, &a, residual)
    }
}

/// `encoder.layer.N`: a pre-LN ViT block.
#[derive(Debug, Clone)]
pub struct Layer {
    attention: Attention,
    intermediate: Linear,
    output: Linear,
    layernorm_before: LayerNorm,
    layernorm_after: LayerNorm,
}

impl Layer {
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let (h, i, eps) = (cfg.hidden_size, cfg.intermediate_size, cfg.layer_norm_eps);
        Ok(Layer {
            attention: Attention::new(cfg, vb.pp("attention"))?,
            intermediate: nn::linear(h, i, vb.pp("intermediate").pp("dense"))?,
            output: nn::linear(i, h, vb.pp("output").pp("dense"))?,
            layernorm_before: nn::layer_norm(h, eps, vb.pp("layernorm_before"))?,
            layernorm_after: nn::layer_norm(h, eps, vb.pp("layernorm_after"))?,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = self
            .attention
            .forward(&self.layernorm_before.forward(x)?, x)?;
        let m = nn::apply_linear_gelu(&self.intermediate, &self.layernorm_after.forward(&h)?)?;
        nn::apply_linear_add(&self.output, &m, &h)
    }
}

/// Everything one forward pass returns; tensors are `[B, tokens, H]`.
#[derive(Debug, Clone)]
pub struct AstOutput {
    /// `(index, hidden state)` for each requested index (0 = embeddings, i = layer i output).
    pub hidden_states: Vec<(usize, Tensor)>,
    /// `layernorm(hidden_L)`, when requested.
    pub last_hidden_state: Option<Tensor>,
    /// `(last[:, 0] + last[:, 1]) / 2`, `[B, H]`, with the last hidden state.
    pub pooler_output: Option<Tensor>,
}

/// `ASTModel`.
#[derive(Debug, Clone)]
pub struct AstModel {
    pub embeddings: Embeddings,
    layers: Vec<Layer>,
    layernorm: LayerNorm,
}

impl AstModel {
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        if cfg.hidden_act != "gelu" {
            bail!("AST hidden_act {:?} (only exact gelu)", cfg.hidden_act);
        }
        let vl = vb.pp("encoder").pp("layer");
        Ok(AstModel {
            embeddings: Embeddings::new(cfg, vb.pp("embeddings"))?,
            layers: (0..cfg.num_hidden_layers)
                .map(|i| Layer::new(cfg, vl.pp(i)))
                .collect::<Result<Vec<_>>>()?,
            layernorm: nn::layer_norm(cfg.hidden_size, cfg.layer_norm_eps, vb.pp("layernorm"))?,
        })
    }

    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// `[B, T, F]` normalised fbank. Keeps the hidden states in `want`; runs all layers and the
    /// final layer norm only when `want_last`.
    pub fn forward(&self, x: &Tensor, want: &[usize], want_last: bool) -> Result<AstOutput> {
        let h = self.embeddings.forward(x)?;
        let (h, states) = nn::run_stack(h, &self.layers, want, want_last, |layer, h| {
            layer.forward(h)
        })?;
        let (last, pooled) = if want_last {
            let last = self.layernorm.forward(&h)?;
            let pooled = ((last.narrow(1, 0, 1)? + last.narrow(1, 1, 1)?)? * 0.5)?.squeeze(1)?;
            (Some(last), Some(pooled))
        } else {
            (None, None)
        };
        Ok(AstOutput {
            hidden_states: want
                .iter()
                .filter_map(|&i| states.get(i).cloned().flatten().map(|s| (i, s)))
                .collect(),
            last_hidden_state: last,
            pooler_output: pooled,
        })
    }
}

/// `ASTForAudioClassification`'s head: `classifier.layernorm`, `classifier.dense`.
#[derive(Debug, Clone)]
pub struct MlpHead {
    layernorm: LayerNorm,
    dense: Linear,
}

impl MlpHead {
    pub fn new(cfg: &Config, num_labels: usize, vb: VarBuilder) -> Result<Self> {
        Ok(MlpHead {
            layernorm: nn::layer_norm(cfg.hidden_size, cfg.layer_norm_eps, vb.pp("layernorm"))?,
            dense: nn::linear(cfg.hidden_size, num_labels, vb.pp("dense"))?,
        })
    }

    /// `[B, H]` pooled output → `[B, num_labels]` logits.
    pub fn forward(&self, pooled: &Tensor) -> Result<Tensor> {
        self.dense.forward(&self.layernorm.forward(pooled)?)
    }
}
