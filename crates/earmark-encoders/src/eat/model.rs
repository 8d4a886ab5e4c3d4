//! EAT: Efficient Audio Transformer.
//!
//! - Paper: Chen et al., "EAT: Self-Supervised Pre-Training with Efficient Audio Transformer",
//!   IJCAI 2024, <https://arxiv.org/abs/2401.03497>
//! - Reference code: the Hugging Face remote code of `worstchan/EAT-base_epoch30_finetune_AS2M`
//!   (`eat_model.py` `EAT`, `model_core.py` `PatchEmbed_new`, `AltBlock`, `AltAttention`,
//!   `get_2d_sincos_pos_embed_flexible`), itself the fairseq data2vec 2.0 image encoder of
//!   cwx-worst-one/EAT.
//!
//! Field and `vb.pp(..)` names are the checkpoint's keys below `model.` (`local_encoder.proj`,
//! `extra_tokens`, `fixed_positional_encoder.positions`, `blocks.N.{norm1,attn,norm2,mlp}`,
//! `pre_norm`, `fc_norm`, `head`). The patch conv `Conv2d(1, D, p, stride s)` runs as one gemm
//! over the patches. Token layout: 0 = CLS, `1 + t·F′ + f` = patch at time column `t`, frequency
//! patch `f` (time-major, frequency fastest; AST is the other way round).

use super::config::{Config, ModelVariant};
use crate::nn::{self, LayerNorm};
use candle_core::{bail, Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder};

/// `local_encoder` (`PatchEmbed_new`): the patch conv, kept as `[D, p·p]` for one gemm.
#[derive(Debug, Clone)]
pub struct PatchEmbed {
    proj: Linear,
    patch: usize,
    stride: usize,
}

impl PatchEmbed {
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let (d, p) = (cfg.embed_dim, cfg.patch_size);
        let vp = vb.pp("proj");
        // Conv2d weight [D, 1, p_time, p_freq]: row-major flattening matches a patch read as
        // (time row, mel column).
        let w = vp
            .get((d, cfg.in_chans, p, p), "weight")?
            .reshape((d, p * p))?;
        let b = vp.get(d, "bias")?;
        Ok(PatchEmbed {
            proj: Linear::new(w, Some(b)),
            patch: p,
            stride: cfg.stride,
        })
    }

    /// `[B, T, F]` normalised log-mel (time = image height) → `([B, T′·F′, D], T′, F′)`,
    /// tokens time-major.
    pub fn forward(&self, x: &Tensor) -> Result<(Tensor, usize, usize)> {
        let (b, t, f) = x.dims3()?;
        let (p, s) = (self.patch, self.stride);
        if t < p || f < p {
            bail!("EAT patch embedding: input [{t}, {f}] is smaller than one {p}×{p} patch");
        }
        let (td, fd) = ((t - p) / s + 1, (f - p) / s + 1);
        let patches = if s == p {
            // Non-overlapping patches: a reshape, with the frames and bins past the last whole
            // patch dropped as the strided conv drops them.
            x.narrow(1, 0, td * p)?
                .narrow(2, 0, fd * p)?
                .contiguous()?
                .reshape((b, td, p, fd, p))?
                .permute((0, 1, 3, 2, 4))?
        } else {
            let cols = (0..td)
                .map(|j| x.narrow(1, j * s, p))
                .collect::<Result<Vec<_>>>()?;
            let xt = Tensor::stack(&cols, 1)?; // [B, T′, p_t, F]
            let rows = (0..fd)
                .map(|i| xt.narrow(3, i * s, p))
                .collect::<Result<Vec<_>>>()?;
            Tensor::stack(&rows, 2)? // [B, T′, F′, p_t, p_f]
        };
        let patches = patches.contiguous()?.reshape((b, td * fd, p * p))?;
        Ok((nn::apply_linear(&self.proj, &patches)?, td, fd))
    }
}

/// EAT's 2-D sin-cos table (`get_2d_sincos_pos_embed_flexible(D, (max_length, W))`),
/// `[max_length·W, D]`, computed in f32 as the reference's NumPy code does. Row `t·W + f`; with
/// `k = D/4` and `ω_j = 10000^(−j/k)`, its channels are `[sin(fω) | cos(fω) | sin(tω) | cos(tω)]`:
/// the **frequency** index comes first (the reference names that half "h" but feeds it the
/// meshgrid's first output, which is the width coordinate).
pub fn sincos_table(dim: usize, max_length: usize, width: usize) -> Vec<f32> {
    let k = dim / 4;
    let omega: Vec<f32> = (0..k)
        .map(|j| 1.0f32 / 10000f32.powf(j as f32 / k as f32))
        .collect();
    let mut out = Vec::with_capacity(max_length * width * dim);
    for t in 0..max_length {
        for f in 0..width {
            for pos in [f as f32, t as f32] {
                out.extend(omega.iter().map(|w| (pos * w).sin()));
                out.extend(omega.iter().map(|w| (pos * w).cos()));
            }
        }
    }
    out
}

/// `blocks.N.attn` (`AltAttention`): fused `qkv` (rows q, k, v), softmax over keys, `proj`.
#[derive(Debug, Clone)]
pub struct AltAttention {
    qkv: nn::Qkv,
    proj: Linear,
}

impl AltAttention {
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let d = cfg.embed_dim;
        let vq = vb.pp("qkv");
        let w = vq.get((3 * d, d), "weight")?;
        let b = if cfg.qkv_bias {
            Some(vq.get(3 * d, "bias")?)
        } else {
            None
        };
        // The shared attention kernel takes the three projections; they are the row blocks of
        // the checkpoint's fused weight (channels 0..D = q, D..2D = k, 2D..3D = v).
        let part = |i: usize| -> Result<Linear> {
            let bi = match &b {
                Some(b) => Some(b.narrow(0, i * d, d)?),
                None => None,
            };
            Ok(Linear::new(w.narrow(0, i * d, d)?, bi))
        };
        Ok(AltAttention {
            qkv: nn::Qkv::new(part(0)?, part(1)?, part(2)?, cfg.num_heads)?,
            proj: nn::linear(d, d, vb.pp("proj"))?,
        })
    }

    /// `x + proj(attention(x))`, the residual add fused into the projection.
    pub fn forward_residual(&self, x: &Tensor) -> Result<Tensor> {
        let a = self.qkv.attend(x, None)?;
        nn::apply_linear_add(&self.proj, &a, x)
    }
}

/// `blocks.N.mlp` (timm `Mlp`): `fc2(GELU(fc1(x)))`, exact GELU.
#[derive(Debug, Clone)]
pub struct Mlp {
    fc1: Linear,
    fc2: Linear,
}

impl Mlp {
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let (d, h) = (cfg.embed_dim, cfg.mlp_hidden());
        Ok(Mlp {
            fc1: nn::linear(d, h, vb.pp("fc1"))?,
            fc2: nn::linear(h, d, vb.pp("fc2"))?,
        })
    }

    /// `x + mlp(x)`.
    pub fn forward_residual(&self, x: &Tensor) -> Result<Tensor> {
        let m = nn::apply_linear_gelu(&self.fc1, x)?;
        nn::apply_linear_add(&self.fc2, &m, x)
    }
}

/// `blocks.N` (`AltBlock` with `layer_norm_first = False`): post-norm,
/// `x = norm1(x + attn(x)); x = norm2(x + mlp(x))`. The block's second output (the FFN
/// target used in pre-training) is not a hidden state and is not computed.
#[derive(Debug, Clone)]
pub struct AltBlock {
    norm1: LayerNorm,
    attn: AltAttention,
    norm2: LayerNorm,
    mlp: Mlp,
}

impl AltBlock {
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let (d, eps) = (cfg.embed_dim, cfg.norm_eps);
        Ok(AltBlock {
            norm1: nn::layer_norm(d, eps, vb.pp("norm1"))?,
            attn: AltAttention::new(cfg, vb.pp("attn"))?,
            norm2: nn::layer_norm(d, eps, vb.pp("norm2"))?,
            mlp: Mlp::new(cfg, vb.pp("mlp"))?,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.norm1.forward(&self.attn.forward_residual(x)?)?;
        self.norm2.forward(&self.mlp.forward_residual(&h)?)
    }
}

/// Everything one forward pass returns; token tensors are `[B, 1 + N, D]`, CLS first.
#[derive(Debug, Clone)]
pub struct EatOutput {
    /// `(index, tokens)` for each requested hidden state: 0 = `pre_norm` output (the input of
    /// block 1), `i` = output of block `i`.
    pub hidden_states: Vec<(usize, Tensor)>,
    /// `extract_features`: the output of the last block (no final norm), when requested.
    pub last: Option<Tensor>,
    /// `head(fc_norm(last[:, 0]))`, `[B, num_classes]`, for fine-tuned checkpoints with `last`.
    pub logits: Option<Tensor>,
    /// Time columns `T′` and frequency patches `F′` of the patch grid.
    pub columns: usize,
    pub freq_patches: usize,
}

/// `EAT` (the `model.` submodule of `EATModel`).
#[derive(Debug, Clone)]
pub struct EatModel {
    pub local_encoder: PatchEmbed,
    extra_tokens: Tensor,
    /// `fixed_positional_encoder.positions` as `[max_length·W, D]`.
    positions: Option<Tensor>,
    blocks: Vec<AltBlock>,
    pre_norm: LayerNorm,
    /// `fc_norm` (torch's default eps 1e-5, not `norm_eps`) and `head`, for `"finetune"`.
    classifier: Option<(LayerNorm, Linear)>,
    cfg: Config,
}

impl EatModel {
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        if let Err(e) = cfg.check() {
            bail!("EAT config: {e}");
        }
        let d = cfg.embed_dim;
        let positions = if cfg.fixed_positions {
            let rows = cfg.position_rows();
            let vp = vb.pp("fixed_positional_encoder");
            // The checkpoint stores the table as a frozen Parameter: prefer it (it was computed
            // in f32 and differs from an f64 formula by up to 6e-5 at late columns); compute
            // it only for folders that lack it.
            let t = if vp.contains_tensor("positions") {
                vp.get((1, rows, d), "positions")?.reshape((rows, d))?
            } else {
                let w = cfg.mel_bins / cfg.patch_size;
                Tensor::from_vec(sincos_table(d, cfg.max_length, w), (rows, d), vb.device())?
                    .to_dtype(vb.dtype())?
            };
            Some(t)
        } else {
            None
        };
        let classifier = match cfg.model_variant {
            ModelVariant::Finetune => Some((
                nn::layer_norm(d, 1e-5, vb.pp("fc_norm"))?,
                nn::linear(d, cfg.num_classes, vb.pp("head"))?,
            )),
            ModelVariant::Pretrain => None,
        };
        let vbl = vb.pp("blocks");
        Ok(EatModel {
            local_encoder: PatchEmbed::new(cfg, vb.pp("local_encoder"))?,
            extra_tokens: vb.get((1, 1, d), "extra_tokens")?,
            positions,
            blocks: (0..cfg.depth)
                .map(|i| AltBlock::new(cfg, vbl.pp(i)))
                .collect::<Result<Vec<_>>>()?,
            pre_norm: nn::layer_norm(d, cfg.norm_eps, vb.pp("pre_norm"))?,
            classifier,
            cfg: cfg.clone(),
        })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn num_layers(&self) -> usize {
        self.blocks.len()
    }

    pub fn has_head(&self) -> bool {
        self.classifier.is_some()
    }

    /// The first `n` rows of the positional table, `[n, D]` (`None` without fixed positions).
    pub fn positions(&self, n: usize) -> Result<Option<Tensor>> {
        match &self.positions {
            None => Ok(None),
            Some(p) => {
                let rows = p.dim(0)?;
                if n > rows {
                    bail!(
                        "EAT input has {n} patches but the positional table has {rows} \
                         (max_length {} columns): use shorter windows",
                        self.cfg.max_length
                    );
                }
                Ok(Some(p.narrow(0, 0, n)?))
            }
        }
    }

    /// Hidden state 0: patches plus positions, then the CLS token (no position) in front, then
    /// `pre_norm`. Returns `(tokens [B, 1 + N, D], T′, F′)`.
    pub fn embed(&self, x: &Tensor) -> Result<(Tensor, usize, usize)> {
        let (mut h, td, fd) = self.local_encoder.forward(x)?;
        let (b, n, d) = h.dims3()?;
        if let Some(p) = self.positions(n)? {
            h = h.broadcast_add(&p)?;
        }
        let cls = self.extra_tokens.expand((b, 1, d))?;
        let h = Tensor::cat(&[&cls, &h], 1)?;
        Ok((self.pre_norm.forward(&h)?, td, fd))
    }

    /// `[B, T, mel_bins]` normalised log-mel. Keeps the hidden states in `want`; runs every
    /// block (and the classifier) only when `want_last`, otherwise stops at the highest index
    /// wanted.
    pub fn forward(&self, x: &Tensor, want: &[usize], want_last: bool) -> Result<EatOutput> {
        let (_, _, f) = x.dims3()?;
        if f != self.cfg.mel_bins {
            bail!(
                "EAT input has {f} mel bins, the config {}",
                self.cfg.mel_bins
            );
        }
        let (h, columns, freq_patches) = self.embed(x)?;
        let (h, states) = nn::run_stack(h, &self.blocks, want, want_last, |block, h| {
            block.forward(h)
        })?;
        let (last, logits) = if want_last {
            let logits = match &self.classifier {
                Some((norm, head)) => {
                    let cls = h.narrow(1, 0, 1)?.squeeze(1)?;
                    Some(nn::apply_linear(head, &norm.forward(&cls)?)?)
                }
                None => None,
            };
            (Some(h), logits)
        } else {
            (None, None)
        };
        Ok(EatOutput {
            hidden_states: want
                .iter()
                .filter_map(|&i| states.get(i).cloned().flatten().map(|s| (i, s)))
                .collect(),
            last,
            logits,
            columns,
            freq_patches,
        })
    }
}

/// Frames of a token tensor `[B, 1 + T′·F′, D]` for item `b`: CLS dropped, the `F′` patch tokens
/// of each time column averaged, the first `cols` columns kept. Returns `[cols, D]` row-major.
pub fn column_means(
    tokens: &Tensor,
    b: usize,
    columns: usize,
    freq_patches: usize,
    cols: usize,
) -> Result<Vec<f32>> {
    let (_, n, d) = tokens.dims3()?;
    if n != 1 + columns * freq_patches || cols > columns {
        bail!("EAT frames: {n} tokens for {columns} columns × {freq_patches} patches");
    }
    let x = tokens
        .get(b)?
        .narrow(0, 1, cols * freq_patches)?
        .reshape((cols, freq_patches, d))?;
    nn::to_vec_f32(&x.mean(1)?)
}

/// Read row 0 (the CLS token) of item `b`.
pub fn cls_token(tokens: &Tensor, b: usize) -> Result<Vec<f32>> {
    nn::to_vec_f32(&tokens.get(b)?.get(0)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table's halves: frequency first, each half `[sin | cos]`.
    #[test]
    fn sincos_layout() {
        let (d, w) = (8, 8);
        let t = sincos_table(d, 3, w);
        let row = |tt: usize, f: usize| &t[(tt * w + f) * d..(tt * w + f + 1) * d];
        // k = 2, ω = [1, 0.01].
        let r = row(2, 5);
        assert!((r[0] - 5f32.sin()).abs() < 1e-6);
        assert!((r[1] - 0.05f32.sin()).abs() < 1e-6);
        assert!((r[2] - 5f32.cos()).abs() < 1e-6);
        assert!((r[4] - 2f32.sin()).abs() < 1e-6);
        assert!((r[6] - 2f32.cos()).abs() < 1e-6);
    }
}
