//! Light adaptation: fine-tune the top `k` transformer layers of a wav2vec2 / HuBERT or AST
//! encoder with candle's autodiff, the layers below frozen.
//!
//! - Full fine-tuning of the top layers follows the common "freeze the bottom, tune the top"
//!   recipe of the SSL-speech literature (e.g. SUPERB, Yang et al., 2021,
//!   <https://arxiv.org/abs/2105.01051>).
//! - LoRA: Hu et al., 2021, <https://arxiv.org/abs/2106.09685>; reference code: peft's
//!   `LoraLayer` (`lora_A` Kaiming-uniform, `lora_B` zero, scale `alpha / rank`).
//!
//! The frozen part runs once per clip ([`Adaptable::lower`]) and its output, hidden state
//! `L − k`, is cached; an epoch then costs only the top layers. [`TrainableTop`] holds the top
//! `k` layers (and what follows them in the reference: the final layer norm of pre-LN
//! "stable layer norm" wav2vec2 models and of AST; post-LN wav2vec2 models apply their encoder
//! layer norm *before* the stack, so it stays frozen below) with weights copied from the
//! checkpoint into a [`VarMap`] under the checkpoint's own key names. With [`LoraOptions`] the
//! copied weights stay constants and only the adapters on the attention `q`/`k`/`v`/`out`
//! projections are variables (`<projection>.lora_A.weight` `[r, in]`,
//! `<projection>.lora_B.weight` `[out, r]`, B zero so the initial output is the frozen model's).
//!
//! The layers here are written with plain candle ops (no fused CPU kernels) so that gradients
//! flow; dropout is omitted (training mode equals evaluation mode; the supported checkpoints'
//! configs use little or no dropout in these layers, and the MIL head has its own).
//!
//! [`TrainableTop::save`] writes an **overlay**: only the adapted tensors, as safetensors with the
//! checkpoint's key names (LoRA: the adapter pairs, `lora_B` pre-multiplied by `alpha / rank`).
//! [`apply_overlay`] folds one into a checkpoint (`W + B·A` for adapters) and
//! [`Adaptable::with_overlay`] rebuilds the adapted encoder from its base checkpoint.

use crate::ast::AstEncoder;
use crate::checkpoint::Checkpoint;
use crate::encoder::Encoder;
use crate::error::EncoderError;
use crate::wav2vec2::Wav2Vec2Encoder;
use candle_core::{DType, Device, Result, Tensor, Var, D};
use candle_nn::VarMap;
use earmark_core::{FrameGrid, SplitMix64};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// LoRA adapters on the attention projections of the adapted layers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LoraOptions {
    pub rank: usize,
    pub alpha: f64,
}

impl Default for LoraOptions {
    fn default() -> Self {
        LoraOptions {
            rank: 8,
            alpha: 16.0,
        }
    }
}

/// What to adapt. `top_layers` is usually 1 or 2 (any `1..=L` works).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AdaptOptions {
    pub top_layers: usize,
    /// `None`: the top layers' weights are trained directly.
    pub lora: Option<LoraOptions>,
    /// Seeds the LoRA `A` initialisation.
    pub seed: u64,
}

impl Default for AdaptOptions {
    fn default() -> Self {
        AdaptOptions {
            top_layers: 1,
            lora: None,
            seed: 0,
        }
    }
}

/// Hidden state `L − k` of one clip: the cacheable input of the trainable top.
#[derive(Debug, Clone, PartialEq)]
pub struct Lower {
    /// `[rows, dim]` row-major.
    pub hidden: Vec<f32>,
    /// Frames (wav2vec2 / HuBERT) or tokens (AST: CLS, distillation, patches).
    pub rows: usize,
    pub dim: usize,
    /// The hidden-state index, `L − k`.
    pub layer: usize,
}

impl Lower {
    /// `[1, rows, dim]`.
    pub fn tensor(&self, device: &Device) -> Result<Tensor> {
        Tensor::from_slice(&self.hidden, (1, self.rows, self.dim), device)
    }
}

/// An encoder whose top layers can be adapted.
pub trait Adaptable: Encoder {
    /// Runs the frozen layers on one waveform: hidden state `L − top_layers`.
    fn lower(&self, wave: &[f32], top_layers: usize) -> std::result::Result<Lower, EncoderError>;

    /// The trainable top, its weights copied from `ckpt` (this encoder's checkpoint, with the key
    /// names the encoder was built from).
    fn trainable_top_from(
        &self,
        ckpt: &Checkpoint,
        opts: &AdaptOptions,
    ) -> std::result::Result<TrainableTop, EncoderError>;

    /// Re-reads this encoder's checkpoint file.
    fn checkpoint(&self) -> std::result::Result<Checkpoint, EncoderError>;

    /// The trainable top, its weights copied from this encoder's checkpoint file.
    fn trainable_top(
        &self,
        opts: &AdaptOptions,
    ) -> std::result::Result<TrainableTop, EncoderError> {
        self.trainable_top_from(&self.checkpoint()?, opts)
    }

    /// This encoder rebuilt from its base checkpoint with an overlay from
    /// [`TrainableTop::save`] applied.
    fn with_overlay(&self, overlay: &Path) -> std::result::Result<Self, EncoderError>
    where
        Self: Sized;
}

fn check_k(k: usize, l: usize) -> std::result::Result<usize, EncoderError> {
    if k == 0 || k > l {
        return Err(EncoderError::Unsupported {
            what: format!("adapting the top {k} layers of a {l}-layer encoder (use 1..={l})"),
        });
    }
    Ok(l - k)
}

impl Adaptable for Wav2Vec2Encoder {
    fn lower(&self, wave: &[f32], top_layers: usize) -> std::result::Result<Lower, EncoderError> {
        let layer = check_k(top_layers, self.num_layers())?;
        let out = self.run(&[wave], &[layer], false)?;
        let h = match out.hidden_states.into_iter().next() {
            Some((_, h)) => h,
            None => {
                return Err(EncoderError::Layer {
                    requested: layer,
                    max: self.num_layers(),
                })
            }
        };
        let (_, t, dim) = h.dims3()?;
        let rows = self.frames_for(wave.len()).min(t);
        let hidden = crate::nn::to_vec_f32(&h.get(0)?.narrow(0, 0, rows)?)?;
        Ok(Lower {
            hidden,
            rows,
            dim,
            layer,
        })
    }

    fn trainable_top_from(
        &self,
        ckpt: &Checkpoint,
        opts: &AdaptOptions,
    ) -> std::result::Result<TrainableTop, EncoderError> {
        let c = self.config();
        let first = check_k(opts.top_layers, self.num_layers())?;
        let p = self.key_prefix();
        let spec = Spec {
            layers: (first..c.num_hidden_layers)
                .map(|i| format!("{p}encoder.layers.{i}"))
                .collect(),
            names: W2V2_NAMES,
            pre_ln: c.do_stable_layer_norm,
            qkv_bias: true,
            heads: c.num_attention_heads,
            hidden: c.hidden_size,
            inner: c.intermediate_size,
            eps: c.layer_norm_eps,
            final_norm: c
                .do_stable_layer_norm
                .then(|| format!("{p}encoder.layer_norm")),
            output: Output::Frames,
            first,
            grid: self.grid(),
        };
        TrainableTop::build(spec, ckpt, opts, &Device::Cpu)
    }

    fn checkpoint(&self) -> std::result::Result<Checkpoint, EncoderError> {
        self.read_checkpoint()
    }

    fn with_overlay(&self, overlay: &Path) -> std::result::Result<Self, EncoderError> {
        self.rebuild(apply_overlay(self.read_checkpoint()?, overlay)?)
    }
}

impl Adaptable for AstEncoder {
    fn lower(&self, wave: &[f32], top_layers: usize) -> std::result::Result<Lower, EncoderError> {
        let layer = check_k(top_layers, self.num_layers())?;
        let (x, _) = self.preprocessor.features(wave)?;
        let (out, _) = self.run_features(&x, 1, &[layer], false)?;
        let h = match out.hidden_states.into_iter().next() {
            Some((_, h)) => h,
            None => {
                return Err(EncoderError::Layer {
                    requested: layer,
                    max: self.num_layers(),
                })
            }
        };
        let (_, rows, dim) = h.dims3()?;
        Ok(Lower {
            hidden: crate::nn::to_vec_f32(&h)?,
            rows,
            dim,
            layer,
        })
    }

    fn trainable_top_from(
        &self,
        ckpt: &Checkpoint,
        opts: &AdaptOptions,
    ) -> std::result::Result<TrainableTop, EncoderError> {
        let c = self.config();
        let first = check_k(opts.top_layers, self.num_layers())?;
        let p = self.key_prefix();
        let spec = Spec {
            layers: (first..c.num_hidden_layers)
                .map(|i| format!("{p}encoder.layer.{i}"))
                .collect(),
            names: AST_NAMES,
            pre_ln: true,
            qkv_bias: c.qkv_bias,
            heads: c.num_attention_heads,
            hidden: c.hidden_size,
            inner: c.intermediate_size,
            eps: c.layer_norm_eps,
            final_norm: Some(format!("{p}layernorm")),
            output: Output::AstColumns {
                f_dim: c.f_dim(),
                t_dim: c.t_dim(),
            },
            first,
            grid: self.grid(),
        };
        TrainableTop::build(spec, ckpt, opts, &Device::Cpu)
    }

    fn checkpoint(&self) -> std::result::Result<Checkpoint, EncoderError> {
        self.read_checkpoint()
    }

    fn with_overlay(&self, overlay: &Path) -> std::result::Result<Self, EncoderError> {
        self.rebuild(apply_overlay(self.read_checkpoint()?, overlay)?)
    }
}

/// Checkpoint key suffixes of one layer's parts, relative to the layer's prefix.
#[derive(Debug, Clone, Copy)]
struct Names {
    q: &'static str,
    k: &'static str,
    v: &'static str,
    out: &'static str,
    /// Post-LN: after attention; pre-LN: before it.
    norm1: &'static str,
    /// Post-LN: after the feed-forward; pre-LN: before it.
    norm2: &'static str,
    ff_in: &'static str,
    ff_out: &'static str,
}

const W2V2_NAMES: Names = Names {
    q: "attention.q_proj",
    k: "attention.k_proj",
    v: "attention.v_proj",
    out: "attention.out_proj",
    norm1: "layer_norm",
    norm2: "final_layer_norm",
    ff_in: "feed_forward.intermediate_dense",
    ff_out: "feed_forward.output_dense",
};

const AST_NAMES: Names = Names {
    q: "attention.attention.query",
    k: "attention.attention.key",
    v: "attention.attention.value",
    out: "attention.output.dense",
    norm1: "layernorm_before",
    norm2: "layernorm_after",
    ff_in: "intermediate.dense",
    ff_out: "output.dense",
};

/// How the last hidden state becomes frames.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Output {
    /// Tokens are frames (wav2vec2 / HuBERT).
    Frames,
    /// AST: the mean over frequency rows of each time column's patch tokens.
    AstColumns { f_dim: usize, t_dim: usize },
}

/// Everything [`TrainableTop::build`] needs to know about a family.
struct Spec {
    /// Key prefix of each adapted layer, bottom first.
    layers: Vec<String>,
    names: Names,
    pre_ln: bool,
    qkv_bias: bool,
    heads: usize,
    hidden: usize,
    inner: usize,
    eps: f64,
    final_norm: Option<String>,
    output: Output,
    first: usize,
    grid: FrameGrid,
}

/// A linear layer `[out, in]` with an optional LoRA pair `(A [r, in], B [out, r], scale)`.
#[derive(Debug, Clone)]
struct Proj {
    weight: Tensor,
    bias: Option<Tensor>,
    lora: Option<(Tensor, Tensor, f64)>,
}

impl Proj {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, t, i) = x.dims3()?;
        let x2 = x.reshape((b * t, i))?;
        let mut y = x2.matmul(&self.weight.t()?)?;
        if let Some(bias) = &self.bias {
            y = y.broadcast_add(bias)?;
        }
        if let Some((a, bm, s)) = &self.lora {
            y = (y + (x2.matmul(&a.t()?)?.matmul(&bm.t()?)? * *s)?)?;
        }
        y.reshape((b, t, ()))
    }
}

/// A layer norm over the last axis, written with differentiable ops.
#[derive(Debug, Clone)]
struct Norm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl Norm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mean = x.mean_keepdim(D::Minus1)?;
        let xc = x.broadcast_sub(&mean)?;
        let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
        xc.broadcast_div(&(var + self.eps)?.sqrt()?)?
            .broadcast_mul(&self.weight)?
            .broadcast_add(&self.bias)
    }
}

/// One transformer layer: post-LN (wav2vec2 base) or pre-LN (stable-LN wav2vec2, AST).
#[derive(Debug, Clone)]
struct Block {
    q: Proj,
    k: Proj,
    v: Proj,
    out: Proj,
    norm1: Norm,
    norm2: Norm,
    ff_in: Proj,
    ff_out: Proj,
    pre_ln: bool,
    heads: usize,
}

impl Block {
    fn attend(&self, x: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        let (b, t, h) = x.dims3()?;
        let hd = h / self.heads;
        let split = |p: &Proj| -> Result<Tensor> {
            p.forward(x)?
                .reshape((b, t, self.heads, hd))?
                .transpose(1, 2)?
                .contiguous()
        };
        let (q, k, v) = (split(&self.q)?, split(&self.k)?, split(&self.v)?);
        let mut w = (q.matmul(&k.t()?.contiguous()?)? * (hd as f64).powf(-0.5))?;
        if let Some(m) = mask {
            w = w.broadcast_add(m)?;
        }
        // Softmax with the (constant) row maximum subtracted: shift-invariant, so detaching it
        // changes no gradient.
        let w = w
            .broadcast_sub(&w.max_keepdim(D::Minus1)?.detach())?
            .exp()?;
        let w = w.broadcast_div(&w.sum_keepdim(D::Minus1)?)?;
        let a = w.matmul(&v)?.transpose(1, 2)?.reshape((b, t, h))?;
        self.out.forward(&a)
    }

    fn feed_forward(&self, x: &Tensor) -> Result<Tensor> {
        self.ff_out.forward(&self.ff_in.forward(x)?.gelu_erf()?)
    }

    fn forward(&self, x: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        if self.pre_ln {
            let h = (x + self.attend(&self.norm1.forward(x)?, mask)?)?;
            &h + self.feed_forward(&self.norm2.forward(&h)?)?
        } else {
            let h = self.norm1.forward(&(x + self.attend(x, mask)?)?)?;
            self.norm2.forward(&(&h + self.feed_forward(&h)?)?)
        }
    }
}

/// Where the top's tensors come from: variables (full fine-tuning) or checkpoint constants.
struct Source<'a> {
    ckpt: &'a Checkpoint,
    varmap: &'a VarMap,
    trainable: bool,
    missing: Vec<String>,
}

impl Source<'_> {
    fn get(&mut self, name: &str, dims: &[usize]) -> Result<Tensor> {
        let Some(t) = self.ckpt.tensors.get(name) else {
            self.missing.push(name.to_string());
            return Tensor::zeros(dims, DType::F32, &Device::Cpu);
        };
        if t.dims() != dims {
            candle_core::bail!(
                "shape mismatch for {name}: checkpoint has {:?}, the model expects {dims:?}",
                t.dims()
            );
        }
        let t = t.to_dtype(DType::F32)?.to_device(&Device::Cpu)?;
        if !self.trainable {
            return Ok(t);
        }
        let var = Var::from_tensor(&t)?;
        let out = var.as_tensor().clone();
        self.varmap
            .data()
            .lock()
            .map_err(|_| candle_core::Error::Msg("varmap lock poisoned".into()))?
            .insert(name.to_string(), var);
        Ok(out)
    }

    fn norm(&mut self, name: &str, size: usize, eps: f64) -> Result<Norm> {
        Ok(Norm {
            weight: self.get(&format!("{name}.weight"), &[size])?,
            bias: self.get(&format!("{name}.bias"), &[size])?,
            eps,
        })
    }

    fn proj(
        &mut self,
        name: &str,
        in_dim: usize,
        out_dim: usize,
        bias: bool,
        lora: Option<(&LoraOptions, u64)>,
    ) -> Result<Proj> {
        let weight = self.get(&format!("{name}.weight"), &[out_dim, in_dim])?;
        let bias = if bias {
            Some(self.get(&format!("{name}.bias"), &[out_dim])?)
        } else {
            None
        };
        let lora = match lora {
            None => None,
            Some((o, seed)) => {
                let r = o.rank;
                let a_name = format!("{name}.lora_A.weight");
                // peft: kaiming_uniform(a=√5) for A, i.e. uniform ±1/√in; zeros for B.
                let bound = 1.0 / (in_dim as f64).sqrt();
                let mut rng = SplitMix64::derived(seed, &a_name);
                let a: Vec<f32> = (0..r * in_dim)
                    .map(|_| rng.range(-bound, bound) as f32)
                    .collect();
                let a = Var::from_tensor(&Tensor::from_vec(a, (r, in_dim), &Device::Cpu)?)?;
                let b = Var::zeros((out_dim, r), DType::F32, &Device::Cpu)?;
                let (at, bt) = (a.as_tensor().clone(), b.as_tensor().clone());
                let mut data = self
                    .varmap
                    .data()
                    .lock()
                    .map_err(|_| candle_core::Error::Msg("varmap lock poisoned".into()))?;
                data.insert(a_name, a);
                data.insert(format!("{name}.lora_B.weight"), b);
                Some((at, bt, o.alpha / r as f64))
            }
        };
        Ok(Proj { weight, bias, lora })
    }
}

/// The top `k` layers of an encoder (plus its final layer norm where the reference has one
/// after the stack), trainable: weights as [`Var`]s of a [`VarMap`] named by the checkpoint's
/// keys, or LoRA adapters beside constant weights.
pub struct TrainableTop {
    blocks: Vec<Block>,
    final_norm: Option<Norm>,
    output: Output,
    varmap: VarMap,
    lora: Option<LoraOptions>,
    first: usize,
    dim: usize,
    grid: FrameGrid,
}

impl std::fmt::Debug for TrainableTop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrainableTop")
            .field("first_layer", &self.first)
            .field("top_layers", &self.blocks.len())
            .field("lora", &self.lora)
            .field("output", &self.output)
            .finish_non_exhaustive()
    }
}

impl TrainableTop {
    fn build(
        spec: Spec,
        ckpt: &Checkpoint,
        opts: &AdaptOptions,
        device: &Device,
    ) -> std::result::Result<Self, EncoderError> {
        if !device.is_cpu() {
            return Err(EncoderError::Unsupported {
                what: "adaptation runs on the CPU".into(),
            });
        }
        if let Some(l) = &opts.lora {
            if l.rank == 0 || !(l.alpha.is_finite() && l.alpha > 0.0) {
                return Err(EncoderError::Unsupported {
                    what: format!(
                        "LoRA rank {} alpha {} (need rank ≥ 1, alpha > 0)",
                        l.rank, l.alpha
                    ),
                });
            }
        }
        let h = spec.hidden;
        if spec.heads == 0 || !h.is_multiple_of(spec.heads) {
            return Err(EncoderError::Unsupported {
                what: format!("{h} hidden units in {} attention heads", spec.heads),
            });
        }
        let varmap = VarMap::new();
        let mut src = Source {
            ckpt,
            varmap: &varmap,
            trainable: opts.lora.is_none(),
            missing: Vec::new(),
        };
        let lora = opts.lora.as_ref().map(|l| (l, opts.seed));
        let n = spec.names;
        let mut blocks = Vec::with_capacity(spec.layers.len());
        let built = (|| -> Result<Option<Norm>> {
            for p in &spec.layers {
                let at = |s: &str| format!("{p}.{s}");
                blocks.push(Block {
                    q: src.proj(&at(n.q), h, h, spec.qkv_bias, lora)?,
                    k: src.proj(&at(n.k), h, h, spec.qkv_bias, lora)?,
                    v: src.proj(&at(n.v), h, h, spec.qkv_bias, lora)?,
                    out: src.proj(&at(n.out), h, h, true, lora)?,
                    norm1: src.norm(&at(n.norm1), h, spec.eps)?,
                    norm2: src.norm(&at(n.norm2), h, spec.eps)?,
                    ff_in: src.proj(&at(n.ff_in), h, spec.inner, true, None)?,
                    ff_out: src.proj(&at(n.ff_out), spec.inner, h, true, None)?,
                    pre_ln: spec.pre_ln,
                    heads: spec.heads,
                });
            }
            spec.final_norm
                .as_ref()
                .map(|name| src.norm(name, h, spec.eps))
                .transpose()
        })();
        let missing = std::mem::take(&mut src.missing);
        if !missing.is_empty() {
            return Err(EncoderError::Checkpoint {
                path: ckpt.path.clone(),
                missing,
                unexpected: Vec::new(),
            });
        }
        let final_norm = built.map_err(|e| EncoderError::format(&ckpt.path, e))?;
        Ok(TrainableTop {
            blocks,
            final_norm,
            output: spec.output,
            varmap,
            lora: opts.lora,
            first: spec.first,
            dim: h,
            grid: spec.grid,
        })
    }

    /// The hidden-state index the top reads (`L − k`).
    pub fn first_layer(&self) -> usize {
        self.first
    }

    /// `k`.
    pub fn top_layers(&self) -> usize {
        self.blocks.len()
    }

    /// Width of the output frames.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The output frames' grid (the encoder's).
    pub fn grid(&self) -> FrameGrid {
        self.grid
    }

    pub fn lora(&self) -> Option<LoraOptions> {
        self.lora
    }

    /// The trainable variables, named by checkpoint keys.
    pub fn varmap(&self) -> &VarMap {
        &self.varmap
    }

    /// The variables' names, sorted.
    pub fn trainable_names(&self) -> Vec<String> {
        let mut v: Vec<String> = match self.varmap.data().lock() {
            Ok(d) => d.keys().cloned().collect(),
            Err(e) => e.into_inner().keys().cloned().collect(),
        };
        v.sort();
        v
    }

    /// Number of trainable values.
    pub fn num_trainable(&self) -> usize {
        self.varmap.all_vars().iter().map(|v| v.elem_count()).sum()
    }

    /// The last hidden state: `hidden` `[B, N, H]` (hidden state `L − k`) through the top layers
    /// and the final norm. `mask` `[B, N]` (1 real, 0 padding) excludes padding as attention keys.
    pub fn forward_hidden(&self, hidden: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        let key_mask = match mask {
            Some(m) => {
                let (b, n) = m.dims2()?;
                Some(((m.to_dtype(DType::F32)? - 1.0)? * 1e9)?.reshape((b, 1, 1, n))?)
            }
            None => None,
        };
        let mut h = hidden.to_dtype(DType::F32)?;
        for block in &self.blocks {
            h = block.forward(&h, key_mask.as_ref())?;
        }
        match &self.final_norm {
            Some(norm) => norm.forward(&h),
            None => Ok(h),
        }
    }

    /// Frames `[B, T, H]` and their mask `[B, T]` from a padded batch of cached hidden states.
    /// wav2vec2 / HuBERT: frames are the tokens, the mask is `mask`. AST: each time column's patch
    /// tokens averaged over frequency (all columns real). Dropout is not modelled, so `train`
    /// changes nothing.
    pub fn forward(
        &self,
        hidden: &Tensor,
        mask: &Tensor,
        _train: bool,
    ) -> Result<(Tensor, Tensor)> {
        let last = self.forward_hidden(hidden, Some(mask))?;
        match self.output {
            Output::Frames => Ok((last, mask.to_dtype(DType::F32)?)),
            Output::AstColumns { f_dim, t_dim } => {
                let (b, n, h) = last.dims3()?;
                if n != 2 + f_dim * t_dim {
                    candle_core::bail!(
                        "AST top: {n} tokens, expected {} (2 + {f_dim}·{t_dim})",
                        2 + f_dim * t_dim
                    );
                }
                let frames = last
                    .narrow(1, 2, f_dim * t_dim)?
                    .reshape((b, f_dim, t_dim, h))?
                    .mean(1)?;
                Ok((frames, Tensor::ones((b, t_dim), DType::F32, last.device())?))
            }
        }
    }

    /// The overlay's tensors: the variables under their checkpoint names, `lora_B` multiplied
    /// by `alpha / rank`.
    pub fn overlay(&self) -> Result<HashMap<String, Tensor>> {
        let scale = self.lora.map(|l| l.alpha / l.rank as f64);
        let data = self
            .varmap
            .data()
            .lock()
            .map_err(|_| candle_core::Error::Msg("varmap lock poisoned".into()))?;
        data.iter()
            .map(|(k, v)| {
                let t = v.as_tensor().detach();
                let t = match scale {
                    Some(s) if k.ends_with(".lora_B.weight") => (t * s)?,
                    _ => t.copy()?,
                };
                Ok((k.clone(), t))
            })
            .collect()
    }

    /// Writes the overlay (see [`TrainableTop::overlay`]) as safetensors, through a temporary
    /// file renamed into place.
    pub fn save(&self, path: &Path) -> std::result::Result<(), EncoderError> {
        let tensors = self.overlay()?;
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = std::path::PathBuf::from(tmp);
        candle_core::safetensors::save(&tensors, &tmp)
            .map_err(|e| EncoderError::format(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| EncoderError::io(path, e))
    }
}

/// Folds an overlay written by [`TrainableTop::save`] into `ckpt`: plain tensors replace the
/// checkpoint's, adapter pairs add `B·A` to `<projection>.weight`. Every overlay key must name
/// a checkpoint tensor of the same shape.
pub fn apply_overlay(
    mut ckpt: Checkpoint,
    overlay: &Path,
) -> std::result::Result<Checkpoint, EncoderError> {
    let over = Checkpoint::read(overlay, &Device::Cpu)?;
    let mut unexpected = Vec::new();
    let mut keys: Vec<&String> = over.tensors.keys().collect();
    keys.sort();
    for key in keys {
        let t = &over.tensors[key];
        if key.ends_with(".lora_B.weight") {
            let base = key.trim_end_matches(".lora_B.weight");
            if !over.tensors.contains_key(&format!("{base}.lora_A.weight")) {
                unexpected.push(key.clone());
            }
            continue;
        }
        let (target, value) = match key.strip_suffix(".lora_A.weight") {
            Some(base) => {
                let Some(b) = over.tensors.get(&format!("{base}.lora_B.weight")) else {
                    unexpected.push(key.clone());
                    continue;
                };
                let target = format!("{base}.weight");
                let Some(w) = ckpt.tensors.get(&target) else {
                    unexpected.push(key.clone());
                    continue;
                };
                let delta = b.matmul(t)?;
                if delta.dims() != w.dims() {
                    return Err(EncoderError::Shape {
                        expected: format!("{target} {:?}", w.dims()),
                        got: format!("B·A {:?} from {}", delta.dims(), overlay.display()),
                    });
                }
                let merged = (w + delta)?;
                (target, merged)
            }
            None => {
                let Some(w) = ckpt.tensors.get(key) else {
                    unexpected.push(key.clone());
                    continue;
                };
                if w.dims() != t.dims() {
                    return Err(EncoderError::Shape {
                        expected: format!("{key} {:?}", w.dims()),
                        got: format!("{:?} in {}", t.dims(), overlay.display()),
                    });
                }
                (key.clone(), t.clone())
            }
        };
        ckpt.tensors.insert(target, value);
    }
    if !unexpected.is_empty() {
        return Err(EncoderError::Checkpoint {
            path: overlay.to_path_buf(),
            missing: Vec::new(),
            unexpected,
        });
    }
    Ok(ckpt)
}
