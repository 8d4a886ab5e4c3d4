//! wav2vec 2.0 / HuBERT encoders loaded from transformers folders or torchaudio `.pth` files.
//!
//! Hidden states follow transformers 5.x exactly: `hidden_00` is the input of layer 1
//! (post-LN models: `encoder.layer_norm(projected + pos_conv(projected))`; pre-LN models: no
//! layer norm), `hidden_i` the output of layer `i`. For pre-LN ("stable layer norm") models,
//! `hidden_L` is the raw residual stream and `last_hidden_state` its final layer norm.

mod config;
mod model;

pub use config::{Config, TorchaudioBuilder};
pub use model::{Wav2Vec2Model, Wav2Vec2Output};

use crate::checkpoint::{self, build_checked, Checkpoint};
use crate::encoder::{Encoder, EncoderOutput, LayerSelection};
use crate::error::EncoderError;
use candle_core::{Device, Tensor};
use earmark_core::{FrameGrid, Frames};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// How the waveform is normalised before the conv stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum WaveformNorm {
    /// Raw samples.
    #[default]
    None,
    /// transformers' `Wav2Vec2FeatureExtractor(do_normalize=True)`: per item,
    /// `(x − mean) / sqrt(var + 1e-7)` over the item's own samples.
    ZeroMeanUnitVar,
    /// torchaudio bundles with `_normalize_waveform=True` (HUBERT_LARGE/XLARGE,
    /// WAV2VEC2_LARGE_LV60K): a layer norm over the waveform, eps 1e-5, biased variance.
    /// torchaudio normalises the whole `[B, n]` tensor at once; earmark does it per item, which is
    /// identical for one waveform and keeps batch results independent of the batch.
    LayerNorm,
}

impl WaveformNorm {
    /// Normalise `x` in place.
    pub fn apply(&self, x: &mut [f32]) {
        let eps = match self {
            WaveformNorm::None => return,
            WaveformNorm::ZeroMeanUnitVar => 1e-7,
            WaveformNorm::LayerNorm => 1e-5,
        };
        if x.is_empty() {
            return;
        }
        let n = x.len() as f64;
        let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
        let inv = 1.0 / (var + eps).sqrt();
        for v in x.iter_mut() {
            *v = ((*v as f64 - mean) * inv) as f32;
        }
    }
}

/// Checkpoint keys the encoder leaves unused on purpose: pre-training and fine-tuning heads.
const IGNORED: &[&str] = &[
    "masked_spec_embed",
    "wav2vec2.masked_spec_embed",
    "hubert.masked_spec_embed",
    "quantizer.",
    "project_hid.",
    "project_q.",
    "final_proj.",
    "label_embs_concat",
    "lm_head.",
    "projector.",
    "classifier.",
];

#[derive(Debug, Deserialize)]
struct Preprocessor {
    #[serde(default)]
    do_normalize: bool,
    #[serde(default)]
    sampling_rate: Option<u32>,
}

/// A loaded wav2vec2 or HuBERT encoder.
#[derive(Debug, Clone)]
pub struct Wav2Vec2Encoder {
    model: Wav2Vec2Model,
    config: Config,
    device: Device,
    rate: u32,
    /// Waveform normalisation applied by [`Encoder::encode`] and [`Wav2Vec2Encoder::run`].
    pub normalize: WaveformNorm,
    /// The backbone prefix of the checkpoint's keys (`""`, `"hubert."`, `"wav2vec2."`).
    prefix: String,
    /// The checkpoint file, and whether its keys were renamed from torchaudio's names.
    source: (PathBuf, bool),
}

impl Wav2Vec2Encoder {
    /// Build from a config and an already-read checkpoint whose keys use transformers' names
    /// (optionally under `wav2vec2.` / `hubert.`), checking the key set.
    pub fn from_checkpoint(
        config: Config,
        ckpt: Checkpoint,
        normalize: WaveformNorm,
        device: &Device,
    ) -> Result<Self, EncoderError> {
        config
            .validate()
            .map_err(|what| EncoderError::Unsupported {
                what: format!("wav2vec2/HuBERT config: {what}"),
            })?;
        let prefix = ckpt.backbone_prefix(&["wav2vec2.", "hubert."]);
        let source = (ckpt.path.clone(), false);
        let model = build_checked(ckpt, device, IGNORED, |vb| {
            let vb = match &prefix {
                Some(p) => vb.pp(p.trim_end_matches('.')),
                None => vb,
            };
            Wav2Vec2Model::new(&config, vb)
        })?;
        Ok(Wav2Vec2Encoder {
            model,
            config,
            device: device.clone(),
            rate: 16_000,
            normalize,
            prefix: prefix.unwrap_or_default(),
            source,
        })
    }

    /// A transformers model folder: `config.json` plus `model.safetensors` (new or legacy
    /// weight-norm names), a sharded safetensors index, or `pytorch_model.bin`. Normalisation
    /// follows `preprocessor_config.json`'s `do_normalize` when the file is present.
    pub fn from_hf_dir(dir: &Path, device: &Device) -> Result<Self, EncoderError> {
        let config: Config = checkpoint::read_json(&dir.join("config.json"))?;
        let pre_path = dir.join("preprocessor_config.json");
        let pre: Option<Preprocessor> = if pre_path.is_file() {
            Some(checkpoint::read_json(&pre_path)?)
        } else {
            None
        };
        let normalize = match &pre {
            Some(p) if p.do_normalize => WaveformNorm::ZeroMeanUnitVar,
            _ => WaveformNorm::None,
        };
        let ckpt = Checkpoint::read(&checkpoint::find_weights(dir)?, device)?;
        let mut enc = Self::from_checkpoint(config, ckpt, normalize, device)?;
        if let Some(rate) = pre.and_then(|p| p.sampling_rate) {
            enc.rate = rate;
        }
        Ok(enc)
    }

    /// A torchaudio state dict (`.pth`, old `weight_g/weight_v` or new parametrization names)
    /// with its `wav2vec2_model` builder kwargs. `model_type` is `"wav2vec2"` or `"hubert"`.
    pub fn from_torchaudio(
        pth: &Path,
        builder: &TorchaudioBuilder,
        model_type: &str,
        normalize: WaveformNorm,
        device: &Device,
    ) -> Result<Self, EncoderError> {
        let config = Config::from_torchaudio(builder, model_type)
            .map_err(|what| EncoderError::Unsupported { what })?;
        let ckpt = Checkpoint::read(pth, device)?.rename(torchaudio_to_hf);
        let mut enc = Self::from_checkpoint(config, ckpt, normalize, device)?;
        enc.source.1 = true;
        Ok(enc)
    }

    /// Like [`Wav2Vec2Encoder::from_torchaudio`], reading the builder kwargs from a JSON file:
    /// either the kwargs object itself or `{"kwargs": {...}}` as in the fixtures' `builder.json`.
    pub fn from_torchaudio_files(
        pth: &Path,
        builder_json: &Path,
        model_type: &str,
        normalize: WaveformNorm,
        device: &Device,
    ) -> Result<Self, EncoderError> {
        let v: serde_json::Value = checkpoint::read_json(builder_json)?;
        let kwargs = v.get("kwargs").cloned().unwrap_or(v);
        let builder: TorchaudioBuilder =
            serde_json::from_value(kwargs).map_err(|e| EncoderError::format(builder_json, e))?;
        Self::from_torchaudio(pth, &builder, model_type, normalize, device)
    }

    /// Set the waveform normalisation.
    pub fn with_normalize(mut self, normalize: WaveformNorm) -> Self {
        self.normalize = normalize;
        self
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn model(&self) -> &Wav2Vec2Model {
        &self.model
    }

    /// The prefix of the checkpoint's backbone keys: `""`, `"hubert."` or `"wav2vec2."`.
    pub fn key_prefix(&self) -> &str {
        &self.prefix
    }

    /// Read the checkpoint file this encoder was built from again, with the key names it was
    /// built with (torchaudio names renamed to transformers'). Used by [`crate::adapt`] to copy
    /// layers into trainable variables.
    pub fn read_checkpoint(&self) -> Result<Checkpoint, EncoderError> {
        let ckpt = Checkpoint::read(&self.source.0, &self.device)?;
        Ok(if self.source.1 {
            ckpt.rename(torchaudio_to_hf)
        } else {
            ckpt
        })
    }

    /// The same encoder (config, normalisation, sample rate, device) built from other weights
    /// with the same key names, e.g. a checkpoint with an adaptation overlay applied.
    pub fn rebuild(&self, ckpt: Checkpoint) -> Result<Self, EncoderError> {
        let mut enc =
            Self::from_checkpoint(self.config.clone(), ckpt, self.normalize, &self.device)?;
        enc.rate = self.rate;
        enc.source.1 = self.source.1;
        Ok(enc)
    }

    /// Frames produced from `n` samples.
    pub fn frames_for(&self, n: usize) -> usize {
        self.model.feature_extractor.output_len(n)
    }

    /// Run a batch. Items are normalised on their own samples, then zero-padded to the longest;
    /// when lengths differ, padding is masked as transformers does with an `attention_mask`
    /// (the conv stack, and a group norm in it, still sees the padding). Returns `[B, T, ·]`
    /// tensors; compare only each item's `frame_lengths` frames.
    pub fn run(
        &self,
        waves: &[&[f32]],
        want: &[usize],
        want_last: bool,
    ) -> Result<Wav2Vec2Output, EncoderError> {
        let n = waves.iter().map(|w| w.len()).max().unwrap_or(0);
        let min = waves.iter().map(|w| w.len()).min().unwrap_or(0);
        let rf = self.grid().win as usize;
        if waves.is_empty() || min < rf {
            return Err(EncoderError::Shape {
                expected: format!("at least one waveform of ≥ {rf} samples"),
                got: format!("{} waveforms, shortest {min} samples", waves.len()),
            });
        }
        let mut data = vec![0f32; waves.len() * n];
        for (row, w) in data.chunks_exact_mut(n).zip(waves) {
            row[..w.len()].copy_from_slice(w);
            self.normalize.apply(&mut row[..w.len()]);
        }
        let x = Tensor::from_vec(data, (waves.len(), n), &self.device)?;
        let lengths: Vec<usize> = waves.iter().map(|w| w.len()).collect();
        let lengths = (min != n).then_some(lengths.as_slice());
        Ok(self.model.forward(&x, lengths, want, want_last)?)
    }

    fn frames(&self, t: &Tensor, item: usize, frames: usize) -> Result<Frames, EncoderError> {
        let x = t.get(item)?.narrow(0, 0, frames)?;
        let dim = x.dim(1)?;
        let data = crate::nn::to_vec_f32(&x)?;
        Frames::new(data, dim, self.grid()).map_err(|e| EncoderError::Shape {
            expected: format!("rows of {dim}"),
            got: e.to_string(),
        })
    }

    fn outputs(
        &self,
        out: &Wav2Vec2Output,
        lens: &[usize],
        idx: &[usize],
    ) -> Result<Vec<EncoderOutput>, EncoderError> {
        let t = out.projected.dim(1)?;
        let mut res = Vec::with_capacity(lens.len());
        for (b, &n) in lens.iter().enumerate() {
            let frames = self.frames_for(n).min(t);
            let mut o = EncoderOutput::default();
            for &i in idx {
                if let Some((_, h)) = out.hidden_states.iter().find(|(j, _)| *j == i) {
                    o.layers.push((i, self.frames(h, b, frames)?));
                }
            }
            if let Some(ef) = &out.extract_features {
                o.extract_features = Some(self.frames(ef, b, frames)?);
            }
            if let Some(l) = &out.last_hidden_state {
                o.last_hidden_state = Some(self.frames(l, b, frames)?);
            }
            res.push(o);
        }
        Ok(res)
    }
}

/// torchaudio → transformers names: `encoder.transformer.*` → `encoder.*`,
/// `encoder.feature_projection.*` → `feature_projection.*`; `feature_extractor.*` unchanged.
pub fn torchaudio_to_hf(key: &str) -> Option<String> {
    if let Some(rest) = key.strip_prefix("encoder.transformer.") {
        Some(format!("encoder.{rest}"))
    } else {
        key.strip_prefix("encoder.feature_projection.")
            .map(|rest| format!("feature_projection.{rest}"))
    }
}

impl Encoder for Wav2Vec2Encoder {
    fn as_adaptable(&self) -> Option<&dyn crate::adapt::Adaptable> {
        Some(self)
    }

    fn name(&self) -> &str {
        if self.config.is_hubert() {
            "hubert"
        } else {
            "wav2vec2"
        }
    }

    fn sample_rate(&self) -> u32 {
        self.rate
    }

    fn dim(&self) -> usize {
        self.config.hidden_size
    }

    fn num_layers(&self) -> usize {
        self.model.num_layers()
    }

    /// Composed from the conv stack: hop = Π strides, window = receptive field, offset 0
    /// (320 / 400 samples at 16 kHz for the standard stack).
    fn grid(&self) -> FrameGrid {
        let c = &self.config;
        c.conv_kernel
            .iter()
            .zip(&c.conv_stride)
            .fold(FrameGrid::samples(self.rate), |g, (&k, &s)| {
                g.then(s as u64, k as u64, 0)
            })
    }

    /// Equal-length windows in one forward pass.
    fn encode_batch(
        &self,
        waves: &[&[f32]],
        layers: &LayerSelection,
    ) -> Result<Vec<EncoderOutput>, EncoderError> {
        let lens: Vec<usize> = waves.iter().map(|w| w.len()).collect();
        if lens.windows(2).any(|p| p[0] != p[1]) {
            return Err(EncoderError::Shape {
                expected: "equal-length windows".into(),
                got: format!("lengths {lens:?}"),
            });
        }
        let l = self.num_layers();
        let idx = layers.indices(l)?;
        let out = self.run(waves, &idx, idx.contains(&l))?;
        self.outputs(&out, &lens, &idx)
    }
}
