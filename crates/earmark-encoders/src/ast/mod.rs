//! The Audio Spectrogram Transformer as an [`Encoder`]: Kaldi fbank front end, ViT encoder,
//! and frames made from patch tokens.
//!
//! **Frames.** Hidden state `i` is a token sequence (CLS, distillation, `f_dim × t_dim`
//! patches). Its frames are the **mean over frequency rows of the patch tokens in each time
//! column**: frame `t = mean_f tokens[2 + f·t_dim + t]`, `[t_dim, H]`. The grid is the fbank grid
//! (hop 160, window 400 at 16 kHz) composed with the patching (`then(time_stride, patch, 0)`):
//! hop `time_stride·160`, window `(patch − 1)·160 + 400`, offset 0. All `t_dim` columns are
//! returned, those over the zero padding to `max_length` included (the reference's own view of a
//! padded clip; `earmark embed` drops frames past the audio when it stitches windows); the raw
//! tokens are kept in [`EncoderOutput::tokens`].

mod model;

pub use model::{AstModel, AstOutput, Config, MlpHead};

use crate::checkpoint::{self, build_checked, Checkpoint};
use crate::encoder::{Encoder, EncoderOutput, LayerSelection, Tokens};
use crate::error::EncoderError;
use candle_core::{Device, Tensor};
use earmark_core::{FrameGrid, Frames};
use earmark_features::{fbank, FbankOptions, FeatureConfig, FeatureKind};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// `ASTFeatureExtractor`'s settings (`preprocessor_config.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocessor {
    #[serde(default = "default_bins")]
    pub num_mel_bins: usize,
    #[serde(default = "default_len")]
    pub max_length: usize,
    #[serde(default = "default_mean")]
    pub mean: f32,
    #[serde(default = "default_std")]
    pub std: f32,
    #[serde(default = "default_true")]
    pub do_normalize: bool,
    #[serde(default = "default_rate")]
    pub sampling_rate: u32,
}

fn default_bins() -> usize {
    128
}
fn default_len() -> usize {
    1024
}
fn default_mean() -> f32 {
    -4.2677393
}
fn default_std() -> f32 {
    4.5689974
}
fn default_true() -> bool {
    true
}
fn default_rate() -> u32 {
    16_000
}

impl Default for Preprocessor {
    /// The AudioSet checkpoints' values.
    fn default() -> Self {
        Preprocessor {
            num_mel_bins: 128,
            max_length: 1024,
            mean: default_mean(),
            std: default_std(),
            do_normalize: true,
            sampling_rate: 16_000,
        }
    }
}

impl Preprocessor {
    /// The Kaldi fbank call of `ASTFeatureExtractor`: `kaldi.fbank(wave, sample_frequency,
    /// window_type='hanning', num_mel_bins)` with every other option at torchaudio's default
    /// (25 ms / 10 ms, snip edges, pre-emphasis 0.97, DC removal, no energy, no dither, no 2¹⁵
    /// scaling). Set by the reference's keyword names through `earmark-features`.
    pub fn fbank_options(&self) -> Result<FbankOptions, EncoderError> {
        let mut cfg = FeatureConfig::new(FeatureKind::Fbank);
        let set = |cfg: &mut FeatureConfig, k: &str, v: String| {
            cfg.set(k, &v).map_err(|e| EncoderError::Unsupported {
                what: format!("AST fbank option {k}={v}: {e}"),
            })
        };
        set(&mut cfg, "window_type", "hanning".into())?;
        set(&mut cfg, "num_mel_bins", self.num_mel_bins.to_string())?;
        set(&mut cfg, "sample_frequency", self.sampling_rate.to_string())?;
        set(&mut cfg, "dither", "0".into())?;
        match cfg {
            FeatureConfig::Fbank(o) => Ok(o),
            _ => Err(EncoderError::Unsupported {
                what: "AST front end: fbank options".into(),
            }),
        }
    }

    /// `ASTFeatureExtractor`: fbank, zero-pad or truncate to `max_length` frames **in the log
    /// domain**, then `(x − mean) / (2·std)`. Returns `[max_length · num_mel_bins]` row-major
    /// and the number of fbank frames that came from audio (before padding / truncation).
    pub fn features(&self, wave: &[f32]) -> Result<(Vec<f32>, usize), EncoderError> {
        let fb = fbank(wave, &self.fbank_options()?).map_err(|e| EncoderError::Shape {
            expected: "at least one 25 ms fbank frame".into(),
            got: e.to_string(),
        })?;
        let (n, f) = (fb.n_frames(), self.num_mel_bins);
        let mut x = vec![0f32; self.max_length * f];
        let keep = n.min(self.max_length);
        x[..keep * f].copy_from_slice(&fb.data[..keep * f]);
        if self.do_normalize {
            let denom = 2.0 * self.std;
            for v in &mut x {
                *v = (*v - self.mean) / denom;
            }
        }
        Ok((x, n))
    }
}

/// A loaded AST, optionally with its AudioSet (or other) classification head.
#[derive(Debug, Clone)]
pub struct AstEncoder {
    model: AstModel,
    head: Option<MlpHead>,
    config: Config,
    /// The front end's settings.
    pub preprocessor: Preprocessor,
    device: Device,
    /// The backbone prefix of the checkpoint's keys (`""` or `"audio_spectrogram_transformer."`).
    prefix: String,
    /// The checkpoint file.
    source: PathBuf,
}

impl AstEncoder {
    /// Build from a config and a checkpoint with on-disk (4.x / hub) key names, either a bare
    /// `ASTModel` or an `ASTForAudioClassification` (backbone under
    /// `audio_spectrogram_transformer.`, head under `classifier.`). The key set is checked.
    pub fn from_checkpoint(
        config: Config,
        ckpt: Checkpoint,
        preprocessor: Preprocessor,
        device: &Device,
    ) -> Result<Self, EncoderError> {
        let prefix = ckpt.backbone_prefix(&["audio_spectrogram_transformer."]);
        let labels = config.labels();
        let source = ckpt.path.clone();
        let (model, head) = build_checked(ckpt, device, &[], |vb| {
            let vm = match &prefix {
                Some(p) => vb.pp(p.trim_end_matches('.')),
                None => vb.clone(),
            };
            let model = AstModel::new(&config, vm)?;
            let head = match (&prefix, &labels) {
                (Some(_), Some(l)) => Some(MlpHead::new(&config, l.len(), vb.pp("classifier"))?),
                _ => None,
            };
            Ok((model, head))
        })?;
        Ok(AstEncoder {
            model,
            head,
            config,
            preprocessor,
            device: device.clone(),
            prefix: prefix.unwrap_or_default(),
            source,
        })
    }

    /// A transformers folder: `config.json`, weights, and `preprocessor_config.json` (AudioSet
    /// defaults when absent).
    pub fn from_hf_dir(dir: &Path, device: &Device) -> Result<Self, EncoderError> {
        let config: Config = checkpoint::read_json(&dir.join("config.json"))?;
        let pre_path = dir.join("preprocessor_config.json");
        let pre: Preprocessor = if pre_path.is_file() {
            checkpoint::read_json(&pre_path)?
        } else {
            Preprocessor::default()
        };
        if pre.max_length != config.max_length || pre.num_mel_bins != config.num_mel_bins {
            return Err(EncoderError::Shape {
                expected: format!(
                    "{} frames × {} bins (config.json)",
                    config.max_length, config.num_mel_bins
                ),
                got: format!(
                    "{} × {} (preprocessor_config.json)",
                    pre.max_length, pre.num_mel_bins
                ),
            });
        }
        let ckpt = Checkpoint::read(&checkpoint::find_weights(dir)?, device)?;
        Self::from_checkpoint(config, ckpt, pre, device)
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn model(&self) -> &AstModel {
        &self.model
    }

    /// The prefix of the checkpoint's backbone keys: `""` or `"audio_spectrogram_transformer."`.
    pub fn key_prefix(&self) -> &str {
        &self.prefix
    }

    /// Read the checkpoint file this encoder was built from again. Used by [`crate::adapt`] to
    /// copy layers into trainable variables.
    pub fn read_checkpoint(&self) -> Result<Checkpoint, EncoderError> {
        Checkpoint::read(&self.source, &self.device)
    }

    /// The same encoder (config, front end, device) built from other weights with the same key
    /// names, e.g. a checkpoint with an adaptation overlay applied.
    pub fn rebuild(&self, ckpt: Checkpoint) -> Result<Self, EncoderError> {
        Self::from_checkpoint(
            self.config.clone(),
            ckpt,
            self.preprocessor.clone(),
            &self.device,
        )
    }

    /// Whether a classification head was loaded.
    pub fn has_head(&self) -> bool {
        self.head.is_some()
    }

    /// Run normalised fbank `input_values` `[B, max_length, num_mel_bins]` (flat, row-major).
    /// Returns the model output and logits `[B, labels]` when a head is loaded and `want_last`.
    pub fn run_features(
        &self,
        input_values: &[f32],
        batch: usize,
        want: &[usize],
        want_last: bool,
    ) -> Result<(AstOutput, Option<Tensor>), EncoderError> {
        let c = &self.config;
        let per = c.max_length * c.num_mel_bins;
        if batch == 0 || input_values.len() != batch * per {
            return Err(EncoderError::Shape {
                expected: format!("{batch} × [{}, {}]", c.max_length, c.num_mel_bins),
                got: format!("{} values", input_values.len()),
            });
        }
        let x = Tensor::from_slice(
            input_values,
            (batch, c.max_length, c.num_mel_bins),
            &self.device,
        )?;
        let out = self.model.forward(&x, want, want_last)?;
        let logits = match (&self.head, &out.pooler_output) {
            (Some(h), Some(p)) => Some(h.forward(p)?),
            _ => None,
        };
        Ok((out, logits))
    }

    /// Frames of a token tensor `[B, tokens, H]` for item `b`: mean over frequency rows of the
    /// patch tokens in each time column, the first `cols` columns.
    fn frames(&self, t: &Tensor, b: usize, cols: usize) -> Result<Frames, EncoderError> {
        let c = &self.config;
        let (fd, td, h) = (c.f_dim(), c.t_dim(), c.hidden_size);
        let x = t
            .get(b)?
            .narrow(0, 2, fd * td)?
            .reshape((fd, td, h))?
            .mean(0)?;
        let data = crate::nn::to_vec_f32(&x.narrow(0, 0, cols)?)?;
        Frames::new(data, h, self.grid()).map_err(|e| EncoderError::Shape {
            expected: format!("rows of {h}"),
            got: e.to_string(),
        })
    }

    fn tokens(t: &Tensor, b: usize) -> Result<Tokens, EncoderError> {
        let x = t.get(b)?;
        let (n, h) = x.dims2()?;
        Ok(Tokens {
            data: crate::nn::to_vec_f32(&x)?,
            shape: [n, h],
        })
    }
}

impl Encoder for AstEncoder {
    fn as_adaptable(&self) -> Option<&dyn crate::adapt::Adaptable> {
        Some(self)
    }

    fn name(&self) -> &str {
        "ast"
    }

    fn sample_rate(&self) -> u32 {
        self.preprocessor.sampling_rate
    }

    fn dim(&self) -> usize {
        self.config.hidden_size
    }

    fn num_layers(&self) -> usize {
        self.model.num_layers()
    }

    /// Fbank grid (hop 10 ms, window 25 ms, snip edges) composed with the time patching.
    fn grid(&self) -> FrameGrid {
        let rate = self.preprocessor.sampling_rate;
        let hop = (rate / 100) as u64; // 10 ms
        let win = (rate as u64 * 25) / 1000; // 25 ms
        FrameGrid::new(rate, hop, win, 0).then(
            self.config.time_stride as u64,
            self.config.patch_size as u64,
            0,
        )
    }

    /// Clips of up to `max_length` fbank frames each (10.24 s for AudioSet ASTs); longer input is
    /// truncated as `ASTFeatureExtractor` does, so window long files first.
    fn encode_batch(
        &self,
        waves: &[&[f32]],
        layers: &LayerSelection,
    ) -> Result<Vec<EncoderOutput>, EncoderError> {
        let l = self.num_layers();
        let idx = layers.indices(l)?;
        let mut input = Vec::new();
        for w in waves {
            input.extend(self.preprocessor.features(w)?.0);
        }
        let want_last = idx.contains(&l) || self.head.is_some();
        let (out, logits) = self.run_features(&input, waves.len(), &idx, want_last)?;
        let td = self.config.t_dim();
        let mut res = Vec::with_capacity(waves.len());
        for b in 0..waves.len() {
            // Every time column, as the `earmark embed` contract defines AST frames (the mean over
            // frequency of each column's patch tokens), including columns over the zero padding
            // to `max_length`; windowed callers drop frames past the audio on the file grid.
            let cols = td;
            let mut o = EncoderOutput::default();
            let mut toks = Vec::new();
            for (i, h) in &out.hidden_states {
                o.layers.push((*i, self.frames(h, b, cols)?));
                toks.push((*i, Self::tokens(h, b)?));
            }
            o.tokens = Some(toks);
            if let Some(last) = &out.last_hidden_state {
                o.last_hidden_state = Some(self.frames(last, b, cols)?);
            }
            if let Some(lg) = &logits {
                o.logits = Some(crate::nn::to_vec_f32(&lg.get(b)?)?);
                o.classes = self.config.labels();
            }
            res.push(o);
        }
        Ok(res)
    }
}
