//! EAT (Efficient Audio Transformer) as an [`Encoder`], read from its Hugging Face folder
//! (`config.json` + `model.safetensors`; the folder's remote-code `.py` files are never run).
//!
//! **Front end** (cwx-worst-one/EAT `feature_extract.py`, `inference.py`): Kaldi fbank with the
//! Hann window, 128 bins, no 2¹⁵ scaling; the log-mel is zero-padded or truncated to the target
//! length **before** `(x + 4.268) / (2·4.569)`, so padded rows hold 0.467061, not 0. How the
//! target length is chosen is earmark's policy, [`EatFrames`]: a fixed length (1024, the
//! reference scripts' default) or the window's own length rounded up to 16.
//! EAT has no padding mask, so the policy changes every token; it belongs in the cache key
//! ([`EatEncoder::cache_key`]).
//!
//! **Hidden states** are token sequences `[1 + T′·8, D]`: row 0 is the CLS token, then the patch
//! tokens time-major (8 frequency patches per 160 ms column). State 0 is the `pre_norm` output
//! (the input of block 1), state `i` the output of block `i`; blocks are post-norm and there is
//! no final norm, so state `L` is the reference's `extract_features`.
//!
//! **Frames** of a state are the mean of each column's 8 patch tokens (CLS excluded), on the fbank
//! grid composed with the patching: hop 2560, window 2800, offset 0 samples at 16 kHz. Only the
//! columns that hold real audio (`⌈frames / 16⌉`) are returned: padded columns are kept in the
//! raw tokens ([`EncoderOutput::tokens`]), where the reference has them. The CLS token is the
//! model's clip summary: it is returned separately ([`EncoderOutput::cls`]), never as a frame.
//! Fine-tuned checkpoints also return the AudioSet `logits` (before the sigmoid).

mod config;
mod model;

pub use config::{Config, EatFrames, ModelVariant, ParseEatFramesError};
pub use model::{
    cls_token, column_means, sincos_table, AltAttention, AltBlock, EatModel, EatOutput, Mlp,
    PatchEmbed,
};

use crate::checkpoint::{self, build_checked, Checkpoint};
use crate::encoder::{Encoder, EncoderOutput, LayerSelection, Tokens};
use crate::error::EncoderError;
use candle_core::{Device, Tensor};
use earmark_core::{FrameGrid, Frames};
use earmark_features::{fbank, FbankOptions, WindowType};
use std::path::Path;

/// EAT's normalisation mean (the reference's rounded constant; AST's −4.2677393 differs).
pub const NORM_MEAN: f32 = -4.268;
/// EAT's normalisation standard deviation (the input is divided by twice this).
pub const NORM_STD: f32 = 4.569;
/// The sample rate every EAT checkpoint was trained at.
pub const SAMPLE_RATE: u32 = 16_000;

/// The Kaldi fbank call of the reference scripts: `kaldi.fbank(wave, htk_compat=True,
/// sample_frequency=16000, use_energy=False, window_type='hanning', num_mel_bins, dither=0,
/// frame_shift=10)`, every other option at torchaudio's default.
pub fn fbank_options(mel_bins: usize) -> FbankOptions {
    FbankOptions {
        window_type: WindowType::Hanning,
        num_mel_bins: mel_bins,
        htk_compat: true,
        use_energy: false,
        dither: 0.0,
        frame_shift: 10.0,
        frame_length: 25.0,
        sample_frequency: SAMPLE_RATE as f64,
        ..FbankOptions::default()
    }
}

/// The raw log-mel `[T, mel_bins]` of one waveform (the fixtures' `fbank_raw`) and `T`.
///
/// The reference subtracts the clip mean first. That is a mathematical no-op (the fbank removes
/// each frame's own DC offset), so it is left out: one f32 rounding of every sample fewer, and
/// closer to the fixtures (3.1e-5 against 6.8e-5 relative on the 1 s `fbank_raw`).
pub fn log_mel(wave: &[f32], mel_bins: usize) -> Result<(Vec<f32>, usize), EncoderError> {
    let fb = fbank(wave, &fbank_options(mel_bins)).map_err(|e| EncoderError::Shape {
        expected: "at least 400 samples (one 25 ms fbank frame) at 16 kHz".into(),
        got: format!("{} samples: {e}", wave.len()),
    })?;
    let n = fb.n_frames();
    Ok((fb.data, n))
}

/// Fit a raw log-mel of `frames` rows to `target` rows (zero rows appended, or extra rows cut),
/// **then** normalise: the model input `[target, mel_bins]`.
pub fn fit_and_normalise(raw: &[f32], frames: usize, mel_bins: usize, target: usize) -> Vec<f32> {
    let mut x = vec![0f32; target * mel_bins];
    let keep = frames.min(target) * mel_bins;
    x[..keep].copy_from_slice(&raw[..keep]);
    let denom = 2.0 * NORM_STD;
    for v in &mut x {
        *v = (*v - NORM_MEAN) / denom;
    }
    x
}

/// One window's model input.
#[derive(Debug, Clone, PartialEq)]
pub struct EatInput {
    /// Normalised log-mel `[target_frames, mel_bins]`, row-major.
    pub values: Vec<f32>,
    /// The frames the model reads (after padding / truncation).
    pub target_frames: usize,
    /// The fbank frames computed from the audio, before padding / truncation.
    pub audio_frames: usize,
}

/// A loaded EAT, with its classifier when the checkpoint is fine-tuned.
#[derive(Debug, Clone)]
pub struct EatEncoder {
    model: EatModel,
    config: Config,
    frames: EatFrames,
    device: Device,
}

impl EatEncoder {
    /// Build from a config and a checkpoint with the Hub key names (`model.` prefix, or none).
    /// The key set must match the config exactly: `model_variant = "finetune"` needs
    /// `fc_norm`/`head`, `"pretrain"` must not have them.
    pub fn from_checkpoint(
        config: Config,
        ckpt: Checkpoint,
        device: &Device,
    ) -> Result<Self, EncoderError> {
        if let Err(e) = config.check() {
            return Err(EncoderError::format(&ckpt.path, format!("EAT config: {e}")));
        }
        let prefix = ckpt.backbone_prefix(&["model."]);
        let model = build_checked(ckpt, device, &[], |vb| {
            let vm = match &prefix {
                Some(p) => vb.pp(p.trim_end_matches('.')),
                None => vb,
            };
            EatModel::new(&config, vm)
        })?;
        Ok(EatEncoder {
            model,
            config,
            frames: EatFrames::default(),
            device: device.clone(),
        })
    }

    /// A Hugging Face folder: `config.json` (EATConfig fields) and `model.safetensors`.
    pub fn from_hf_dir(dir: &Path, device: &Device) -> Result<Self, EncoderError> {
        let cfg_path = dir.join("config.json");
        let config: Config = checkpoint::read_json(&cfg_path)?;
        if let Err(e) = config.check() {
            return Err(EncoderError::format(&cfg_path, format!("EAT config: {e}")));
        }
        let ckpt = Checkpoint::read(&checkpoint::find_weights(dir)?, device)?;
        Self::from_checkpoint(config, ckpt, device)
    }

    /// The same encoder with another frame-fitting policy.
    pub fn with_frames(mut self, frames: EatFrames) -> Result<Self, EncoderError> {
        if let EatFrames::Fixed(n) = frames {
            self.check_target(n)?;
        }
        self.frames = frames;
        Ok(self)
    }

    /// How windows are fitted to the model's input length.
    pub fn frames_policy(&self) -> EatFrames {
        self.frames
    }

    /// The policy's identity for embedding cache keys (`eat-frames=1024`, `eat-frames=round16`).
    pub fn cache_key(&self) -> String {
        self.frames.cache_key()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn model(&self) -> &EatModel {
        &self.model
    }

    /// Whether the AudioSet classifier (`fc_norm` + `head`) was loaded.
    pub fn has_head(&self) -> bool {
        self.model.has_head()
    }

    fn check_target(&self, target: usize) -> Result<(), EncoderError> {
        let (min, max) = (self.config.patch_size, self.config.max_frames());
        if target < min || target > max {
            return Err(EncoderError::Shape {
                expected: format!(
                    "a target length of {min}..={max} fbank frames (16 · max_length {})",
                    self.config.max_length
                ),
                got: format!("{target} frames: use shorter windows or a smaller --eat-frames"),
            });
        }
        Ok(())
    }

    /// The model input of one waveform under the frame policy.
    pub fn features(&self, wave: &[f32]) -> Result<EatInput, EncoderError> {
        let bins = self.config.mel_bins;
        let (raw, n) = log_mel(wave, bins)?;
        let target = self.frames.target(n);
        self.check_target(target)?;
        Ok(EatInput {
            values: fit_and_normalise(&raw, n, bins, target),
            target_frames: target,
            audio_frames: n,
        })
    }

    /// Time columns that hold at least one real fbank frame: `⌈frames / stride⌉`, capped at the
    /// columns of the input.
    pub fn valid_columns(&self, audio_frames: usize, target_frames: usize) -> usize {
        let real = audio_frames.min(target_frames);
        real.div_ceil(self.config.stride)
            .min(self.config.time_columns(target_frames))
    }

    /// Run normalised log-mel input `[B, target_frames, mel_bins]` (flat, row-major).
    pub fn run_features(
        &self,
        values: &[f32],
        batch: usize,
        target_frames: usize,
        want: &[usize],
        want_last: bool,
    ) -> Result<EatOutput, EncoderError> {
        let bins = self.config.mel_bins;
        if batch == 0 || values.len() != batch * target_frames * bins {
            return Err(EncoderError::Shape {
                expected: format!("{batch} × [{target_frames}, {bins}]"),
                got: format!("{} values", values.len()),
            });
        }
        self.check_target(target_frames)?;
        let x = Tensor::from_slice(values, (batch, target_frames, bins), &self.device)?;
        Ok(self.model.forward(&x, want, want_last)?)
    }

    fn frames(
        &self,
        out: &EatOutput,
        t: &Tensor,
        b: usize,
        cols: usize,
    ) -> Result<Frames, EncoderError> {
        let d = self.config.embed_dim;
        let data = column_means(t, b, out.columns, out.freq_patches, cols)?;
        Frames::new(data, d, self.grid()).map_err(|e| EncoderError::Shape {
            expected: format!("rows of {d}"),
            got: e.to_string(),
        })
    }

    /// Outputs for the items of one batch that share a target length.
    fn encode_group(
        &self,
        inputs: &[&EatInput],
        idx: &[usize],
    ) -> Result<Vec<EncoderOutput>, EncoderError> {
        let l = self.num_layers();
        let target = inputs[0].target_frames;
        let values: Vec<f32> = inputs
            .iter()
            .flat_map(|i| i.values.iter().copied())
            .collect();
        let want_last = idx.contains(&l) || self.has_head();
        let out = self.run_features(&values, inputs.len(), target, idx, want_last)?;
        let mut res = Vec::with_capacity(inputs.len());
        for (b, input) in inputs.iter().enumerate() {
            let cols = self.valid_columns(input.audio_frames, target);
            let mut o = EncoderOutput::default();
            let mut toks = Vec::with_capacity(out.hidden_states.len());
            let mut cls = Vec::with_capacity(out.hidden_states.len());
            for (i, h) in &out.hidden_states {
                o.layers.push((*i, self.frames(&out, h, b, cols)?));
                let x = h.get(b)?;
                let (n, d) = x.dims2()?;
                toks.push((
                    *i,
                    Tokens {
                        data: crate::nn::to_vec_f32(&x)?,
                        shape: [n, d],
                    },
                ));
                cls.push((*i, cls_token(h, b)?));
            }
            o.tokens = Some(toks);
            if let Some(last) = &out.last {
                o.last_hidden_state = Some(self.frames(&out, last, b, cols)?);
                if !cls.iter().any(|(i, _)| *i == l) {
                    cls.push((l, cls_token(last, b)?));
                }
            }
            o.cls = Some(cls);
            if let Some(lg) = &out.logits {
                o.logits = Some(crate::nn::to_vec_f32(&lg.get(b)?)?);
                o.classes = self.config.labels();
            }
            res.push(o);
        }
        Ok(res)
    }
}

impl Encoder for EatEncoder {
    fn name(&self) -> &str {
        "eat"
    }

    fn sample_rate(&self) -> u32 {
        SAMPLE_RATE
    }

    fn dim(&self) -> usize {
        self.config.embed_dim
    }

    fn num_layers(&self) -> usize {
        self.model.num_layers()
    }

    /// Fbank grid (hop 10 ms, window 25 ms, snip edges) composed with the patching: hop
    /// 16·160 = 2560, window 15·160 + 400 = 2800, offset 0.
    fn grid(&self) -> FrameGrid {
        let hop = (SAMPLE_RATE / 100) as u64;
        let win = (SAMPLE_RATE as u64 * 25) / 1000;
        FrameGrid::new(SAMPLE_RATE, hop, win, 0).then(
            self.config.stride as u64,
            self.config.patch_size as u64,
            0,
        )
    }

    /// Each window is fitted by the [`EatFrames`] policy; windows that end up with the same
    /// input length run as one batch, the others one at a time (no padding mask, so mixing
    /// lengths in a batch would change the numbers).
    fn encode_batch(
        &self,
        waves: &[&[f32]],
        layers: &LayerSelection,
    ) -> Result<Vec<EncoderOutput>, EncoderError> {
        let idx = layers.indices(self.num_layers())?;
        let inputs = waves
            .iter()
            .map(|w| self.features(w))
            .collect::<Result<Vec<_>, _>>()?;
        let same = inputs
            .windows(2)
            .all(|p| p[0].target_frames == p[1].target_frames);
        if same && !inputs.is_empty() {
            let refs: Vec<&EatInput> = inputs.iter().collect();
            return self.encode_group(&refs, &idx);
        }
        let mut res = Vec::with_capacity(inputs.len());
        for input in &inputs {
            res.extend(self.encode_group(&[input], &idx)?);
        }
        Ok(res)
    }
}
