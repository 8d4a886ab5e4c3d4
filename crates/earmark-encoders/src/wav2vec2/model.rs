//! wav2vec2 2.0 and HuBERT encoders: one implementation for both families.
//!
//! - wav2vec 2.0: Baevski et al., 2020, <https://arxiv.org/abs/2006.11477>
//! - HuBERT: Hsu et al., 2021, <https://arxiv.org/abs/2106.07447>
//! - Reference code: transformers' `modeling_wav2vec2.py` / `modeling_hubert.py`, torchaudio's
//!   `models/wav2vec2/components.py`.
//!
//! Struct fields and `vb.pp(..)` names are transformers' checkpoint keys. The conv stack runs
//! channels-last as unfold + matmul; the positional conv's weight norm is folded at load time.

use super::config::Config;
use crate::nn::{self, ConvCl, LayerNorm};
use candle_core::{bail, Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder};

/// The normalisation inside one conv layer.
#[derive(Debug, Clone)]
enum ConvNorm {
    None,
    /// GroupNorm(C, C): per channel over time (`feat_extract_norm = "group"`, layer 0 only).
    Group {
        weight: Tensor,
        bias: Tensor,
    },
    /// LayerNorm over channels (`feat_extract_norm = "layer"`, every layer).
    Layer(LayerNorm),
}

/// `feature_extractor.conv_layers.N`: conv → norm → GELU.
#[derive(Debug, Clone)]
pub struct ConvLayer {
    conv: ConvCl,
    layer_norm: ConvNorm,
}

impl ConvLayer {
    pub fn new(cfg: &Config, i: usize, vb: VarBuilder) -> Result<Self> {
        let cin = if i == 0 { 1 } else { cfg.conv_dim[i - 1] };
        let cout = cfg.conv_dim[i];
        let k = cfg.conv_kernel[i];
        let vc = vb.pp("conv");
        let weight = vc.get((cout, cin, k), "weight")?;
        let bias = if cfg.conv_bias {
            Some(vc.get(cout, "bias")?)
        } else {
            None
        };
        let conv = ConvCl::from_weight(&weight, bias, cfg.conv_stride[i], 1)?;
        let layer_norm = match (cfg.feat_extract_norm.as_str(), i) {
            ("group", 0) => {
                let vn = vb.pp("layer_norm");
                ConvNorm::Group {
                    weight: vn.get(cout, "weight")?,
                    bias: vn.get(cout, "bias")?,
                }
            }
            ("layer", _) => ConvNorm::Layer(nn::layer_norm(cout, 1e-5, vb.pp("layer_norm"))?),
            _ => ConvNorm::None,
        };
        Ok(ConvLayer { conv, layer_norm })
    }

    /// `[B, T, Cin]` → `[B, T', Cout]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if let ConvNorm::None = self.layer_norm {
            return self.conv.forward_gelu(x);
        }
        let y = self.conv.forward(x)?;
        match &self.layer_norm {
            ConvNorm::None => nn::gelu(&y),
            ConvNorm::Group { weight, bias } => {
                nn::group_norm_per_channel_gelu(&y, weight, bias, 1e-5)
            }
            ConvNorm::Layer(ln) => nn::gelu(&ln.forward(&y)?),
        }
    }
}

/// `feature_extractor`: the strided conv stack on the raw waveform.
#[derive(Debug, Clone)]
pub struct FeatureExtractor {
    conv_layers: Vec<ConvLayer>,
}

impl FeatureExtractor {
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let vb = vb.pp("conv_layers");
        let conv_layers = (0..cfg.conv_dim.len())
            .map(|i| ConvLayer::new(cfg, i, vb.pp(i)))
            .collect::<Result<Vec<_>>>()?;
        Ok(FeatureExtractor { conv_layers })
    }

    /// `[B, n]` samples → `[B, T, C]` conv features (after the last GELU).
    pub fn forward(&self, wave: &Tensor) -> Result<Tensor> {
        let (b, n) = wave.dims2()?;
        let mut x = wave.reshape((b, n, 1))?;
        for layer in &self.conv_layers {
            x = layer.forward(&x)?;
        }
        Ok(x)
    }

    /// Frames produced from `n` samples (0 when shorter than the receptive field).
    pub fn output_len(&self, n: usize) -> usize {
        let mut t = n;
        for l in &self.conv_layers {
            let (k, s) = (l.conv.kernel(), l.conv.stride());
            if t < k {
                return 0;
            }
            t = (t - k) / s + 1;
        }
        t
    }
}

/// `feature_projection`: optional LayerNorm, then Linear to the model width.
#[derive(Debug, Clone)]
pub struct FeatureProjection {
    layer_norm: Option<LayerNorm>,
    projection: Linear,
}

impl FeatureProjection {
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let c = *cfg.conv_dim.last().unwrap_or(&0);
        let layer_norm = if cfg.has_proj_layer_norm() {
            Some(nn::layer_norm(c, cfg.layer_norm_eps, vb.pp("layer_norm"))?)
        } else {
            None
        };
        let projection = nn::linear(c, cfg.hidden_size, vb.pp("projection"))?;
        Ok(FeatureProjection {
            layer_norm,
            projection,
        })
    }

    /// Returns `(projected, extract_features)`; the second is the normed conv features.
    pub fn forward(&self, conv: &Tensor) -> Result<(Tensor, Option<Tensor>)> {
        let normed = match &self.layer_norm {
            Some(ln) => Some(ln.forward(conv)?),
            None => None,
        };
        let projected = nn::apply_linear(&self.projection, normed.as_ref().unwrap_or(conv))?;
        Ok((projected, normed))
    }
}

/// `encoder.pos_conv_embed`: GELU(SamePad(weight-normed grouped Conv1d)).
#[derive(Debug, Clone)]
pub struct PosConvEmbed {
    conv: ConvCl,
    kernel: usize,
}

impl PosConvEmbed {
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let h = cfg.hidden_size;
        let k = cfg.num_conv_pos_embeddings;
        let g = cfg.num_conv_pos_embedding_groups;
        if h.checked_rem(g) != Some(0) {
            bail!("hidden_size {h} does not split into {g} positional conv groups");
        }
        let vc = vb.pp("conv");
        // Weight norm over dim 2: the legacy `weight_g`/`weight_v` names or torch's
        // parametrization names; a plain `weight` (already folded) also works.
        let weight = if vc.contains_tensor("weight_g") {
            let g_ = vc.get((1, 1, k), "weight_g")?;
            let v = vc.get((h, h / g, k), "weight_v")?;
            nn::fold_weight_norm(&g_, &v, 2)?
        } else if vc.contains_tensor("parametrizations.weight.original0") {
            let vp = vc.pp("parametrizations").pp("weight");
            let g_ = vp.get((1, 1, k), "original0")?;
            let v = vp.get((h, h / g, k), "original1")?;
            nn::fold_weight_norm(&g_, &v, 2)?
        } else if vc.contains_tensor("weight") {
            vc.get((h, h / g, k), "weight")?
        } else {
            // Report the modern names as missing.
            let vp = vc.pp("parametrizations").pp("weight");
            let g_ = vp.get((1, 1, k), "original0")?;
            let v = vp.get((h, h / g, k), "original1")?;
            nn::fold_weight_norm(&g_, &v, 2)?
        };
        let bias = vc.get(h, "bias")?;
        let conv = ConvCl::from_weight(&weight, Some(bias), 1, g)?;
        Ok(PosConvEmbed { conv, kernel: k })
    }

    /// `[B, T, H]` → `[B, T, H]`: padding `K/2` each side, the extra frame of even kernels dropped.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let t = x.dim(1)?;
        let pad = self.kernel / 2;
        let xp = x.pad_with_zeros(1, pad, pad)?;
        let y = self.conv.forward(&xp)?;
        nn::gelu(&y.narrow(1, 0, t)?)
    }
}

/// `encoder.layers.N.attention`.
#[derive(Debug, Clone)]
pub struct Attention {
    /// `q_proj`, `k_proj` and `v_proj`, fused.
    qkv: nn::Qkv,
    out_proj: Linear,
}

impl Attention {
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let h = cfg.hidden_size;
        Ok(Attention {
            qkv: nn::Qkv::new(
                nn::linear(h, h, vb.pp("q_proj"))?,
                nn::linear(h, h, vb.pp("k_proj"))?,
                nn::linear(h, h, vb.pp("v_proj"))?,
                cfg.num_attention_heads,
            )?,
            out_proj: nn::linear(h, h, vb.pp("out_proj"))?,
        })
    }

    pub fn forward(&self, x: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        nn::apply_linear(&self.out_proj, &self.attend(x, mask)?)
    }

    /// The attention output before `out_proj`.
    fn attend(&self, x: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        self.qkv.attend(x, mask)
    }
}

/// `encoder.layers.N.feed_forward`.
#[derive(Debug, Clone)]
pub struct FeedForward {
    intermediate_dense: Linear,
    output_dense: Linear,
}

impl FeedForward {
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        Ok(FeedForward {
            intermediate_dense: nn::linear(
                cfg.hidden_size,
                cfg.intermediate_size,
                vb.pp("intermediate_dense"),
            )?,
            output_dense: nn::linear(
                cfg.intermediate_size,
                cfg.hidden_size,
                vb.pp("output_dense"),
            )?,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = nn::apply_linear_gelu(&self.intermediate_dense, x)?;
        nn::apply_linear(&self.output_dense, &h)
    }
}

/// `encoder.layers.N`: post-LN (`do_stable_layer_norm = false`) or pre-LN.
#[derive(Debug, Clone)]
pub struct EncoderLayer {
    attention: Attention,
    layer_norm: LayerNorm,
    feed_forward: FeedForward,
    final_layer_norm: LayerNorm,
    pre_ln: bool,
}

impl EncoderLayer {
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let h = cfg.hidden_size;
        Ok(EncoderLayer {
            attention: Attention::new(cfg, vb.pp("attention"))?,
            layer_norm: nn::layer_norm(h, cfg.layer_norm_eps, vb.pp("layer_norm"))?,
            feed_forward: FeedForward::new(cfg, vb.pp("feed_forward"))?,
            final_layer_norm: nn::layer_norm(h, cfg.layer_norm_eps, vb.pp("final_layer_norm"))?,
            pre_ln: cfg.do_stable_layer_norm,
        })
    }

    pub fn forward(&self, x: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        if self.pre_ln {
            let a = self.attention.attend(&self.layer_norm.forward(x)?, mask)?;
            let h = nn::apply_linear_add(&self.attention.out_proj, &a, x)?;
            let f = nn::apply_linear_gelu(
                &self.feed_forward.intermediate_dense,
                &self.final_layer_norm.forward(&h)?,
            )?;
            nn::apply_linear_add(&self.feed_forward.output_dense, &f, &h)
        } else {
            let h = self
                .layer_norm
                .forward_add(x, &self.attention.forward(x, mask)?)?;
            self.final_layer_norm
                .forward_add(&h, &self.feed_forward.forward(&h)?)
        }
    }
}

/// `encoder`: positional conv, the transformer layers and the encoder layer norm.
#[derive(Debug, Clone)]
pub struct TransformerEncoder {
    pos_conv_embed: PosConvEmbed,
    layer_norm: LayerNorm,
    layers: Vec<EncoderLayer>,
    stable: bool,
}

impl TransformerEncoder {
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let vl = vb.pp("layers");
        Ok(TransformerEncoder {
            pos_conv_embed: PosConvEmbed::new(cfg, vb.pp("pos_conv_embed"))?,
            layer_norm: nn::layer_norm(cfg.hidden_size, cfg.layer_norm_eps, vb.pp("layer_norm"))?,
            layers: (0..cfg.num_hidden_layers)
                .map(|i| EncoderLayer::new(cfg, vl.pp(i)))
                .collect::<Result<Vec<_>>>()?,
            stable: cfg.do_stable_layer_norm,
        })
    }
}

/// Everything one forward pass can return. Tensors are `[B, T, ·]`.
#[derive(Debug, Clone)]
pub struct Wav2Vec2Output {
    /// Conv stack output after the last GELU.
    pub conv_features: Tensor,
    /// The feature projection's layer norm of `conv_features` (absent without that norm).
    pub extract_features: Option<Tensor>,
    /// `feature_projection(conv_features)`, before padded frames are zeroed.
    pub projected: Tensor,
    /// `(index, hidden state)` for each requested index, as transformers 5.x numbers them.
    pub hidden_states: Vec<(usize, Tensor)>,
    /// The encoder's final output (pre-LN models: final layer norm of hidden state L).
    pub last_hidden_state: Option<Tensor>,
    /// Valid frames per item when lengths were given.
    pub frame_lengths: Option<Vec<usize>>,
}

/// `Wav2Vec2Model` / `HubertModel` without heads.
#[derive(Debug, Clone)]
pub struct Wav2Vec2Model {
    pub feature_extractor: FeatureExtractor,
    pub feature_projection: FeatureProjection,
    pub encoder: TransformerEncoder,
}

impl Wav2Vec2Model {
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        if let Err(e) = cfg.validate() {
            bail!("unsupported wav2vec2/HuBERT config: {e}");
        }
        Ok(Wav2Vec2Model {
            feature_extractor: FeatureExtractor::new(cfg, vb.pp("feature_extractor"))?,
            feature_projection: FeatureProjection::new(cfg, vb.pp("feature_projection"))?,
            encoder: TransformerEncoder::new(cfg, vb.pp("encoder"))?,
        })
    }

    pub fn num_layers(&self) -> usize {
        self.encoder.layers.len()
    }

    /// Run `[B, n]` waveforms. `lengths` (valid samples per item) masks padding as
    /// transformers does with an `attention_mask`: padded frames are zeroed before the
    /// positional conv and excluded as attention keys (the conv stack still sees the padding).
    /// Only hidden states in `want` are kept, and layers past the largest wanted index are
    /// skipped unless `want_last` asks for the final output.
    pub fn forward(
        &self,
        wave: &Tensor,
        lengths: Option<&[usize]>,
        want: &[usize],
        want_last: bool,
    ) -> Result<Wav2Vec2Output> {
        let conv_features = self.feature_extractor.forward(wave)?;
        let (b, t, _) = conv_features.dims3()?;
        let (projected, extract_features) = self.feature_projection.forward(&conv_features)?;
        let frame_lengths = lengths.map(|ls| {
            ls.iter()
                .map(|&n| self.feature_extractor.output_len(n).min(t))
                .collect::<Vec<_>>()
        });
        if let Some(fl) = &frame_lengths {
            if fl.len() != b {
                bail!("{} lengths for a batch of {b}", fl.len());
            }
        }
        let dev = wave.device();
        let (mut h, mask) = match &frame_lengths {
            Some(fl) => (
                projected.broadcast_mul(&nn::frame_mask(fl, t, dev)?)?,
                Some(nn::key_mask(fl, t, dev)?),
            ),
            None => (projected.clone(), None),
        };
        let enc = &self.encoder;
        let pos = enc.pos_conv_embed.forward(&h)?;
        h = if enc.stable {
            (&h + pos)?
        } else {
            enc.layer_norm.forward_add(&h, &pos)?
        };
        let (h, states) = nn::run_stack(h, &enc.layers, want, want_last, |layer, h| {
            layer.forward(h, mask.as_ref())
        })?;
        let last_hidden_state = if want_last {
            Some(if enc.stable {
                enc.layer_norm.forward(&h)?
            } else {
                h
            })
        } else {
            None
        };
        let hidden_states = want
            .iter()
            .filter_map(|&i| states.get(i).cloned().flatten().map(|s| (i, s)))
            .collect();
        Ok(Wav2Vec2Output {
            conv_features,
            extract_features,
            projected,
            hidden_states,
            last_hidden_state,
            frame_lengths,
        })
    }
}
