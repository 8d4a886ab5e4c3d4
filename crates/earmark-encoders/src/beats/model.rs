//! BEATs: Audio Pre-Training with Acoustic Tokenizers.
//!
//! - Paper: Chen et al., "BEATs: Audio Pre-Training with Acoustic Tokenizers", ICML 2023,
//!   <https://arxiv.org/abs/2212.09058>
//! - Reference code: microsoft/unilm `beats/BEATs.py` (`BEATs`), `beats/backbone.py`
//!   (`TransformerEncoder`, `TransformerSentenceEncoderLayer`, `MultiheadAttention`).
//!
//! Field and `vb.pp(..)` names are the state dict's keys. Tokens are time-major: token
//! `n = t·F′ + f` is the 16×16 patch at time column `t`, frequency patch `f`. The positional
//! convolution and the relative positions run over that flattened token index. The released
//! models are post-norm with DeepNorm: `x = LN(α·x + sublayer(x))`, α = (2L)^¼.

use super::config::{relative_bucket, Config, NUM_MEL_BINS};
use super::kernel::{self, RelBias};
use crate::cpu;
use crate::nn::{self, ConvCl, LayerNorm};
use candle_core::{bail, DType, Device, Module, Result, Tensor, D};
use candle_nn::{Linear, VarBuilder};

/// `patch_embedding` (Conv2d 1 → E, kernel = stride = p) as one matmul over flattened patches,
/// then `layer_norm` and `post_extract_proj`.
#[derive(Debug, Clone)]
pub struct PatchEmbed {
    /// The conv weight `[E, p·p]` (row = (time tap, frequency tap)) and optional bias.
    patch_embedding: Linear,
    layer_norm: LayerNorm,
    post_extract_proj: Option<Linear>,
    patch: usize,
}

impl PatchEmbed {
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let (p, e, d) = (cfg.patch_size()?, cfg.embed_dim, cfg.encoder_embed_dim);
        let vp = vb.pp("patch_embedding");
        let w = vp.get((e, 1, p, p), "weight")?.reshape((e, p * p))?;
        let bias = if cfg.conv_bias {
            Some(vp.get(e, "bias")?)
        } else {
            None
        };
        Ok(PatchEmbed {
            patch_embedding: Linear::new(w, bias),
            // torch.nn.LayerNorm's default eps.
            layer_norm: nn::layer_norm(e, 1e-5, vb.pp("layer_norm"))?,
            post_extract_proj: if e != d {
                Some(nn::linear(e, d, vb.pp("post_extract_proj"))?)
            } else {
                None
            },
            patch: p,
        })
    }

    /// `[B, T, 128]` normalised fbank → conv output `[B, T′·F′, E]` (time-major tokens). The
    /// `T mod p` trailing frames and `128 mod p` top bins are not covered by any patch.
    pub fn patches(&self, x: &Tensor) -> Result<Tensor> {
        let (b, t, f) = x.dims3()?;
        let p = self.patch;
        let (tc, fp) = (t / p, f / p);
        if tc == 0 || fp == 0 {
            bail!("BEATs: [{t}, {f}] fbank is smaller than one {p}×{p} patch");
        }
        let x = x.narrow(1, 0, tc * p)?.narrow(2, 0, fp * p)?;
        // [B, T′, p_t, F′, p_f] → [B, T′, F′, p_t, p_f]: one row per patch, taps (time, freq).
        let rows = x
            .reshape((b, tc, p, fp, p))?
            .permute((0, 1, 3, 2, 4))?
            .contiguous()?
            .reshape((b, tc * fp, p * p))?;
        nn::apply_linear(&self.patch_embedding, &rows)
    }

    /// Conv output → `features`, the encoder's input `[B, N, D]`.
    pub fn project(&self, patches: &Tensor) -> Result<Tensor> {
        let x = self.layer_norm.forward(patches)?;
        match &self.post_extract_proj {
            Some(l) => nn::apply_linear(l, &x),
            None => Ok(x),
        }
    }
}

/// `encoder.pos_conv`: GELU(SamePad(weight-normed grouped Conv1d)) over the token axis.
#[derive(Debug, Clone)]
pub struct PosConv {
    conv: ConvCl,
    kernel: usize,
}

impl PosConv {
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let (d, k, g) = (cfg.encoder_embed_dim, cfg.conv_pos, cfg.conv_pos_groups);
        let vc = vb.pp("0");
        // Weight norm over dim 2 (one norm per tap), folded now: the legacy `weight_g`/
        // `weight_v` names of the releases, torch's parametrization names, or a folded weight.
        let weight = if vc.contains_tensor("weight") {
            vc.get((d, d / g, k), "weight")?
        } else if vc.contains_tensor("parametrizations.weight.original0") {
            let vp = vc.pp("parametrizations").pp("weight");
            nn::fold_weight_norm(
                &vp.get((1, 1, k), "original0")?,
                &vp.get((d, d / g, k), "original1")?,
                2,
            )?
        } else {
            nn::fold_weight_norm(
                &vc.get((1, 1, k), "weight_g")?,
                &vc.get((d, d / g, k), "weight_v")?,
                2,
            )?
        };
        let conv = ConvCl::from_weight(&weight, Some(vc.get(d, "bias")?), 1, g)?;
        Ok(PosConv { conv, kernel: k })
    }

    /// `[B, N, D]` → `[B, N, D]`: zero padding `K/2` each side; an even kernel yields `N + 1`
    /// outputs and `SamePad` drops the last.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let n = x.dim(1)?;
        let pad = self.kernel / 2;
        let y = self
            .conv
            .forward_gelu(&x.pad_with_zeros(1, pad, pad)?.contiguous()?)?;
        y.narrow(1, 0, n)?.contiguous()
    }
}

/// `encoder.layers.N.self_attn`.
#[derive(Debug, Clone)]
pub struct MultiheadAttention {
    /// `q_proj`, `k_proj`, `v_proj` concatenated: `[3D, D]`.
    qkv: Linear,
    out_proj: Linear,
    /// `grep_linear` rows summed in two groups of four, `[2, hd]`, and its summed biases.
    grep: Option<(Tensor, [f32; 2])>,
    /// `grep_a` `[H]`.
    grep_a: Option<Tensor>,
    /// `relative_attention_bias.weight` `[num_buckets, H]` (every layer stores layer 0's).
    relative_attention_bias: Option<Tensor>,
    num_heads: usize,
}

impl MultiheadAttention {
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let (d, h) = (cfg.encoder_embed_dim, cfg.encoder_attention_heads);
        let hd = d / h;
        let (q, k, v) = (
            nn::linear(d, d, vb.pp("q_proj"))?,
            nn::linear(d, d, vb.pp("k_proj"))?,
            nn::linear(d, d, vb.pp("v_proj"))?,
        );
        let w = Tensor::cat(&[q.weight(), k.weight(), v.weight()], 0)?;
        let b = match (q.bias(), k.bias(), v.bias()) {
            (Some(a), Some(b), Some(c)) => Some(Tensor::cat(&[a, b, c], 0)?),
            _ => None,
        };
        let (grep, grep_a) = if cfg.gru_rel_pos {
            let vg = vb.pp("grep_linear");
            let w = vg.get((8, hd), "weight")?;
            let bias = vg.get(8, "bias")?;
            // Σ_k u_k over a group = (Σ_k w_k)·q + Σ_k b_k.
            let w_sum = w.reshape((2, 4, hd))?.sum(1)?.contiguous()?;
            let b_sum = bias
                .reshape((2, 4))?
                .sum(1)?
                .to_dtype(DType::F32)?
                .to_vec1::<f32>()?;
            let a = vb.get((1, h, 1, 1), "grep_a")?.flatten_all()?;
            (Some((w_sum, [b_sum[0], b_sum[1]])), Some(a))
        } else {
            (None, None)
        };
        let relative_attention_bias = if cfg.relative_position_embedding {
            Some(vb.get((cfg.num_buckets, h), "relative_attention_bias.weight")?)
        } else {
            None
        };
        Ok(MultiheadAttention {
            qkv: Linear::new(w, b),
            out_proj: nn::linear(d, d, vb.pp("out_proj"))?,
            grep,
            grep_a,
            relative_attention_bias,
            num_heads: h,
        })
    }

    /// `residual + out_proj(attention(x))` with the position bias `pos` (ungated, shared).
    pub fn forward(
        &self,
        x: &Tensor,
        pos: Option<&PositionBias>,
        residual: &Tensor,
    ) -> Result<Tensor> {
        let (b, t, d) = x.dims3()?;
        let qkv = nn::apply_linear(&self.qkv, x)?;
        let heads = self.num_heads;
        // CPU fast path; `None` (another device or dtype) takes the generic ops instead.
        let fast = cpu::with_f32(&qkv, |s| -> Option<Vec<f32>> {
            let gate = match (&self.grep, &self.grep_a, pos) {
                (Some((w, bs)), Some(a), Some(_)) => Some(
                    cpu::with_f32(w, |ws| {
                        cpu::with_f32(a, |av| kernel::gates(s, b, t, d, heads, ws, *bs, av))
                    })
                    .flatten()?,
                ),
                _ => None,
            };
            match pos {
                Some(p) => cpu::with_f32(&p.by_distance, |bd| {
                    let rb = RelBias {
                        by_distance: bd,
                        gate: gate.as_deref(),
                    };
                    kernel::attention(s, b, t, d, heads, Some(&rb))
                }),
                None => Some(kernel::attention(s, b, t, d, heads, None)),
            }
        })
        .flatten();
        let a = match fast {
            Some(a) => Tensor::from_vec(a, (b, t, d), &Device::Cpu)?,
            None => self.generic(&qkv, pos)?,
        };
        nn::apply_linear_add(&self.out_proj, &a, residual)
    }

    /// Any device or dtype: the same arithmetic with candle ops and an `[H, T, T]` bias.
    fn generic(&self, qkv: &Tensor, pos: Option<&PositionBias>) -> Result<Tensor> {
        let (b, t, d3) = qkv.dims3()?;
        let (d, h) = (d3 / 3, self.num_heads);
        let hd = d / h;
        let split = |i: usize| -> Result<Tensor> {
            qkv.narrow(2, i * d, d)?
                .reshape((b, t, h, hd))?
                .transpose(1, 2)?
                .contiguous()
        };
        let (q, k, v) = (split(0)?, split(1)?, split(2)?);
        let mut w = (q.matmul(&k.t()?.contiguous()?)? * (hd as f64).powf(-0.5))?;
        if let Some(p) = pos {
            let bias = p.matrix(t)?.unsqueeze(0)?; // [1, H, T, T]
            let bias = match (&self.grep, &self.grep_a) {
                (Some((ws, bs)), Some(a)) => {
                    // [B, H, T, 2]: the two summed gate logits.
                    let u = q
                        .broadcast_matmul(&ws.t()?.to_dtype(q.dtype())?)?
                        .broadcast_add(&Tensor::new(&bs[..], q.device())?.to_dtype(q.dtype())?)?;
                    let s = candle_nn::ops::sigmoid(&u)?;
                    let (ga, gb) = (s.narrow(D::Minus1, 0, 1)?, s.narrow(D::Minus1, 1, 1)?);
                    let a = a.reshape((1, h, 1, 1))?.to_dtype(q.dtype())?;
                    let gate = ((ga * (gb.broadcast_mul(&a)? - 1.0)?)? + 2.0)?;
                    bias.broadcast_mul(&gate)?
                }
                _ => bias,
            };
            w = w.broadcast_add(&bias.to_dtype(w.dtype())?)?;
        }
        let w = candle_nn::ops::softmax_last_dim(&w)?;
        w.matmul(&v)?.transpose(1, 2)?.reshape((b, t, d))
    }
}

/// The relative-position bias of one forward pass, from layer 0's table: per head, the bias
/// of every distance `r = j − i` in `−(T−1)..=T−1`.
#[derive(Debug, Clone)]
pub struct PositionBias {
    /// `[H, 2T − 1]`, distance `r` at `r + T − 1`.
    pub by_distance: Tensor,
}

impl PositionBias {
    pub fn new(table: &Tensor, t: usize, num_buckets: usize, max_distance: usize) -> Result<Self> {
        let idx: Vec<u32> = (0..2 * t as i64 - 1)
            .map(|k| relative_bucket(k - (t as i64 - 1), num_buckets, max_distance) as u32)
            .collect();
        let idx = Tensor::from_vec(idx, 2 * t - 1, table.device())?;
        Ok(PositionBias {
            by_distance: table.index_select(&idx, 0)?.t()?.contiguous()?,
        })
    }

    /// `[H, T, T]`: `bias[h, i, j] = by_distance[h, j − i + T − 1]`.
    pub fn matrix(&self, t: usize) -> Result<Tensor> {
        let idx: Vec<u32> = (0..t)
            .flat_map(|i| (0..t).map(move |j| (j + t - 1 - i) as u32))
            .collect();
        let idx = Tensor::from_vec(idx, t * t, self.by_distance.device())?;
        let h = self.by_distance.dim(0)?;
        self.by_distance.index_select(&idx, 1)?.reshape((h, t, t))
    }
}

/// `encoder.layers.N`.
#[derive(Debug, Clone)]
pub struct Layer {
    self_attn: MultiheadAttention,
    self_attn_layer_norm: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    final_layer_norm: LayerNorm,
    alpha: f64,
    layer_norm_first: bool,
}

impl Layer {
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let (d, f) = (cfg.encoder_embed_dim, cfg.encoder_ffn_embed_dim);
        Ok(Layer {
            self_attn: MultiheadAttention::new(cfg, vb.pp("self_attn"))?,
            self_attn_layer_norm: nn::layer_norm(d, 1e-5, vb.pp("self_attn_layer_norm"))?,
            fc1: nn::linear(d, f, vb.pp("fc1"))?,
            fc2: nn::linear(f, d, vb.pp("fc2"))?,
            final_layer_norm: nn::layer_norm(d, 1e-5, vb.pp("final_layer_norm"))?,
            alpha: cfg.deep_norm_alpha(),
            layer_norm_first: cfg.layer_norm_first,
        })
    }

    pub fn forward(&self, x: &Tensor, pos: Option<&PositionBias>) -> Result<Tensor> {
        if self.layer_norm_first {
            let x = self
                .self_attn
                .forward(&self.self_attn_layer_norm.forward(x)?, pos, x)?;
            let h = nn::apply_linear_gelu(&self.fc1, &self.final_layer_norm.forward(&x)?)?;
            return nn::apply_linear_add(&self.fc2, &h, &x);
        }
        // Post-norm with DeepNorm: α scales the residual branch, not the sub-layer output.
        let scaled = |x: &Tensor| {
            if self.alpha == 1.0 {
                Ok(x.clone())
            } else {
                x * self.alpha
            }
        };
        let x =
            self.self_attn_layer_norm
                .forward(&self.self_attn.forward(x, pos, &scaled(x)?)?)?;
        let h = nn::apply_linear_gelu(&self.fc1, &x)?;
        self.final_layer_norm
            .forward(&nn::apply_linear_add(&self.fc2, &h, &scaled(&x)?)?)
    }
}

/// `encoder`.
#[derive(Debug, Clone)]
pub struct TransformerEncoder {
    pub pos_conv: PosConv,
    layers: Vec<Layer>,
    layer_norm: LayerNorm,
    /// Layer 0's `relative_attention_bias.weight`, shared by every layer.
    relative_table: Option<Tensor>,
    layer_norm_first: bool,
    num_buckets: usize,
    max_distance: usize,
}

impl TransformerEncoder {
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let layers = (0..cfg.encoder_layers)
            .map(|i| Layer::new(cfg, vb.pp("layers").pp(i)))
            .collect::<Result<Vec<_>>>()?;
        let relative_table = layers
            .first()
            .and_then(|l| l.self_attn.relative_attention_bias.clone());
        Ok(TransformerEncoder {
            pos_conv: PosConv::new(cfg, vb.pp("pos_conv"))?,
            layers,
            layer_norm: nn::layer_norm(cfg.encoder_embed_dim, 1e-5, vb.pp("layer_norm"))?,
            relative_table,
            layer_norm_first: cfg.layer_norm_first,
            num_buckets: cfg.num_buckets,
            max_distance: cfg.max_distance,
        })
    }
}

/// What one forward pass returns; tensors are `[B, N, D]` tokens unless noted.
#[derive(Debug, Clone)]
pub struct BeatsOutput {
    /// `features`: `post_extract_proj(layer_norm(patch conv))`, the encoder's input.
    pub features: Tensor,
    /// `(index, tokens)` for each requested hidden state (0 = input of layer 1).
    pub hidden_states: Vec<(usize, Tensor)>,
    /// The encoder's output (hidden state L; pre-norm models: its final layer norm), when asked.
    pub last_hidden_state: Option<Tensor>,
    /// `predictor` on every token of the output, `[B, N, C]`, for fine-tuned models.
    pub token_logits: Option<Tensor>,
}

/// `BEATs` (the model; the front end lives in [`super::BeatsEncoder`]).
#[derive(Debug, Clone)]
pub struct BeatsModel {
    pub embed: PatchEmbed,
    pub encoder: TransformerEncoder,
    predictor: Option<Linear>,
    freq_patches: usize,
}

impl BeatsModel {
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        cfg.validate()?;
        Ok(BeatsModel {
            embed: PatchEmbed::new(cfg, vb.clone())?,
            encoder: TransformerEncoder::new(cfg, vb.pp("encoder"))?,
            predictor: if cfg.finetuned_model {
                Some(nn::linear(
                    cfg.encoder_embed_dim,
                    cfg.predictor_class,
                    vb.pp("predictor"),
                )?)
            } else {
                None
            },
            freq_patches: cfg.freq_patches()?,
        })
    }

    pub fn num_layers(&self) -> usize {
        self.encoder.layers.len()
    }

    /// Tokens per time column (8 for the released models).
    pub fn freq_patches(&self) -> usize {
        self.freq_patches
    }

    pub fn has_head(&self) -> bool {
        self.predictor.is_some()
    }

    /// Hidden state 0 from `features`: `LN(features + pos_conv(features))` for post-norm
    /// models, `features + pos_conv(features)` for pre-norm ones.
    pub fn encoder_input(&self, features: &Tensor) -> Result<Tensor> {
        let enc = &self.encoder;
        let pos = enc.pos_conv.forward(features)?;
        if enc.layer_norm_first {
            features + pos
        } else {
            enc.layer_norm.forward_add(features, &pos)
        }
    }

    /// `[B, T, 128]` normalised fbank. Keeps the hidden states in `want`; runs every layer, the
    /// final norm (pre-norm models) and the head only when `want_last`.
    pub fn forward(&self, fbank: &Tensor, want: &[usize], want_last: bool) -> Result<BeatsOutput> {
        if fbank.dim(D::Minus1)? != NUM_MEL_BINS {
            bail!(
                "BEATs input has {} mel bins, expected {NUM_MEL_BINS}",
                fbank.dim(D::Minus1)?
            );
        }
        let features = self.embed.project(&self.embed.patches(fbank)?)?;
        let h = self.encoder_input(&features)?;
        let enc = &self.encoder;
        let t = h.dim(1)?;
        let pos = match &enc.relative_table {
            Some(tab) => Some(PositionBias::new(
                tab,
                t,
                enc.num_buckets,
                enc.max_distance,
            )?),
            None => None,
        };
        let (h, states) = nn::run_stack(h, &enc.layers, want, want_last, |layer, h| {
            layer.forward(h, pos.as_ref())
        })?;
        let (last, token_logits) = if want_last {
            let last = if enc.layer_norm_first {
                enc.layer_norm.forward(&h)?
            } else {
                h
            };
            let logits = match &self.predictor {
                Some(p) => Some(nn::apply_linear(p, &last)?),
                None => None,
            };
            (Some(last), logits)
        } else {
            (None, None)
        };
        Ok(BeatsOutput {
            features,
            hidden_states: want
                .iter()
                .filter_map(|&i| states.get(i).cloned().flatten().map(|s| (i, s)))
                .collect(),
            last_hidden_state: last,
            token_logits,
        })
    }

    /// `[B, N, C]` tokens → `[B, N / F′, C]`: the mean over each time column's `F′` tokens.
    pub fn column_mean(&self, x: &Tensor) -> Result<Tensor> {
        let (b, n, c) = x.dims3()?;
        let fp = self.freq_patches;
        x.reshape((b, n / fp, fp, c))?.to_dtype(DType::F32)?.mean(2)
    }
}
