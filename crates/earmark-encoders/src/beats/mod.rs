//! BEATs (microsoft/unilm `beats/`) as an [`Encoder`], native in candle: the released `.pt`
//! checkpoints read without running code, the Kaldi fbank front end, and frames made from
//! time columns of patch tokens.
//!
//! **Front end** (`BEATs.preprocess`): waveform × 2¹⁵, Kaldi fbank (128 mel, 25 ms / 10 ms,
//! Povey window, snip edges, no dither), then `(x − 15.41663) / (2·6.55582)`. No padding: the
//! `T mod 16` trailing fbank frames are ignored by the patch conv.
//!
//! **Frames.** Hidden state `i` is `N = 8·T′` time-major tokens (token `t·8 + f`); its frames
//! are the **mean of each time column's 8 tokens**, `[T′, D]`, on the fbank grid (hop 160,
//! window 400, offset 0) composed with the patching: hop 2560, window 2800, offset 0 at
//! 16 kHz. Hidden state 0 is the input of the first layer (`encoder.layer_norm(features +
//! pos_conv)`), `i` the output of layer `i`; the raw tokens are kept in
//! [`EncoderOutput::tokens`]. **Heads.** Fine-tuned checkpoints apply `predictor` to every token:
//! [`EncoderOutput::logits`] are their mean (clip logits before the reference's sigmoid) and
//! [`EncoderOutput::frame_logits`] the mean per time column (`[T′, classes]`), which average
//! exactly to the clip logits. [`EncoderOutput::cls`] carries the model's own clip summary,
//! the mean token of each selected hidden state (the head's pooled input at hidden state L).
//!
//! Windows are run one at a time or as equal-length batches with no padding mask: the
//! reference's mask arithmetic (`forward_padding_mask`) is only approximately right and is not
//! reproduced.

mod config;
mod kernel;
mod model;
mod pt;

pub use config::{relative_bucket, Config, FBANK_MEAN, FBANK_STD, NUM_MEL_BINS};
pub use model::{
    BeatsModel, BeatsOutput, Layer, MultiheadAttention, PatchEmbed, PosConv, PositionBias,
    TransformerEncoder,
};
pub use pt::{read as read_pt, PtFile};

use crate::checkpoint::{build_checked, Checkpoint};
use crate::encoder::{Encoder, EncoderOutput, LayerSelection, Tokens};
use crate::error::EncoderError;
use candle_core::{Device, Tensor};
use earmark_core::{FrameGrid, Frames};
use earmark_features::{fbank, FbankOptions, WindowType};
use std::path::{Path, PathBuf};

/// The sample rate BEATs' front end is fixed to.
pub const SAMPLE_RATE: u32 = 16_000;

/// A loaded BEATs, with its AudioSet (or other) `predictor` when fine-tuned.
#[derive(Debug, Clone)]
pub struct BeatsEncoder {
    model: BeatsModel,
    config: Config,
    labels: Option<Vec<String>>,
    device: Device,
    source: PathBuf,
}

impl BeatsEncoder {
    /// A released checkpoint (`BEATs_iter3_plus_AS2M.pt`,
    /// `BEATs_iter3_plus_AS2M_finetuned_on_AS2M_cpt2.pt`, …): `cfg` gives the architecture,
    /// `model` the weights (checked to be exactly the keys that architecture reads) and
    /// `label_dict`, when present, the class names.
    pub fn from_pt(path: &Path, device: &Device) -> Result<Self, EncoderError> {
        let f = pt::read(path, device)?;
        Self::from_checkpoint(f.config, f.labels, f.checkpoint, device)
    }

    /// Build from a config, optional class names and a state dict with the reference's key
    /// names. The key set is checked; class names must match `predictor_class`.
    pub fn from_checkpoint(
        config: Config,
        labels: Option<Vec<String>>,
        ckpt: Checkpoint,
        device: &Device,
    ) -> Result<Self, EncoderError> {
        let source = ckpt.path.clone();
        config.validate().map_err(|e| EncoderError::Unsupported {
            what: format!("{}: {e}", source.display()),
        })?;
        if let Some(l) = &labels {
            if !config.finetuned_model || l.len() != config.predictor_class {
                return Err(EncoderError::format(
                    &source,
                    format!(
                        "label_dict has {} classes but the cfg says finetuned_model {} with \
                         predictor_class {}",
                        l.len(),
                        config.finetuned_model,
                        config.predictor_class
                    ),
                ));
            }
        }
        let model = build_checked(ckpt, device, &[], |vb| BeatsModel::new(&config, vb))?;
        Ok(BeatsEncoder {
            model,
            config,
            labels,
            device: device.clone(),
            source,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn model(&self) -> &BeatsModel {
        &self.model
    }

    /// The checkpoint file this encoder was read from.
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// Whether the checkpoint has the `predictor` head.
    pub fn has_head(&self) -> bool {
        self.model.has_head()
    }

    /// Class names from `label_dict`, ordered by class index.
    pub fn classes(&self) -> Option<&[String]> {
        self.labels.as_deref()
    }

    /// `torchaudio.compliance.kaldi.fbank(wave · 2¹⁵, num_mel_bins=128,
    /// sample_frequency=16000, frame_length=25, frame_shift=10)`, every other option at
    /// torchaudio's default (Povey window, snip edges, pre-emphasis 0.97, DC removal, dither 0).
    pub fn fbank_options() -> FbankOptions {
        FbankOptions {
            num_mel_bins: NUM_MEL_BINS,
            sample_frequency: SAMPLE_RATE as f64,
            frame_length: 25.0,
            frame_shift: 10.0,
            window_type: WindowType::Povey,
            dither: 0.0,
            input_scale: 32768.0,
            ..FbankOptions::default()
        }
    }

    /// The normalised fbank the patch conv consumes, `[T, 128]` row-major, and `T`.
    pub fn features(wave: &[f32]) -> Result<(Vec<f32>, usize), EncoderError> {
        let fb = fbank(wave, &Self::fbank_options()).map_err(|e| EncoderError::Shape {
            expected: "at least one 25 ms fbank frame".into(),
            got: e.to_string(),
        })?;
        // In f32 like the reference's tensor arithmetic.
        let (mean, denom) = (FBANK_MEAN as f32, (2.0 * FBANK_STD) as f32);
        let n = fb.n_frames();
        let mut x = fb.data;
        for v in &mut x {
            *v = (*v - mean) / denom;
        }
        Ok((x, n))
    }

    /// Run normalised fbank `[B, T, 128]` (flat, row-major) through the model.
    pub fn run_features(
        &self,
        fbank: &[f32],
        batch: usize,
        want: &[usize],
        want_last: bool,
    ) -> Result<BeatsOutput, EncoderError> {
        let per = fbank.len() / batch.max(1);
        if batch == 0 || per == 0 || !per.is_multiple_of(NUM_MEL_BINS) || per * batch != fbank.len()
        {
            return Err(EncoderError::Shape {
                expected: format!("{batch} × [T, {NUM_MEL_BINS}] fbank"),
                got: format!("{} values", fbank.len()),
            });
        }
        let t = per / NUM_MEL_BINS;
        let p = self.config.patch_size()?;
        if t < p {
            return Err(EncoderError::Shape {
                expected: format!("at least {p} fbank frames (one time column)"),
                got: format!("{t}"),
            });
        }
        let x = Tensor::from_slice(fbank, (batch, t, NUM_MEL_BINS), &self.device)?;
        Ok(self.model.forward(&x, want, want_last)?)
    }

    /// Item `b` of `[B, N, C]` tokens as frames `[T′, C]` (the mean of each column's tokens).
    fn frames(&self, x: &Tensor, b: usize) -> Result<Frames, EncoderError> {
        let m = self.model.column_mean(&x.narrow(0, b, 1)?)?.squeeze(0)?;
        let (_, c) = m.dims2()?;
        Frames::new(crate::nn::to_vec_f32(&m)?, c, self.grid()).map_err(|e| EncoderError::Shape {
            expected: format!("rows of {c}"),
            got: e.to_string(),
        })
    }
}

impl Encoder for BeatsEncoder {
    fn name(&self) -> &str {
        "beats"
    }

    fn sample_rate(&self) -> u32 {
        SAMPLE_RATE
    }

    fn dim(&self) -> usize {
        self.config.encoder_embed_dim
    }

    fn num_layers(&self) -> usize {
        self.model.num_layers()
    }

    /// Fbank grid (hop 10 ms, window 25 ms, snip edges) composed with the patching (hop and
    /// window of `patch` fbank frames): 2560 / 2800 samples for 16×16 patches.
    fn grid(&self) -> FrameGrid {
        let p = self.config.patch_size().unwrap_or(16) as u64;
        FrameGrid::new(SAMPLE_RATE, 160, 400, 0).then(p, p, 0)
    }

    /// Windows of any length from one time column (2800 samples) up; a batch must hold
    /// windows of equal length (there is no padding mask).
    fn encode_batch(
        &self,
        waves: &[&[f32]],
        layers: &LayerSelection,
    ) -> Result<Vec<EncoderOutput>, EncoderError> {
        let l = self.num_layers();
        let idx = layers.indices(l)?;
        let grid = self.grid();
        let min = grid.win as usize;
        let mut input = Vec::new();
        for w in waves {
            if w.len() < min || w.len() != waves[0].len() {
                return Err(EncoderError::Shape {
                    expected: format!(
                        "windows of at least {min} samples (one {} ms time column), all of \
                         one length in a batch",
                        min * 1000 / SAMPLE_RATE as usize
                    ),
                    got: format!("{} samples", w.len()),
                });
            }
            input.extend(Self::features(w)?.0);
        }
        let want_last = idx.contains(&l) || self.has_head();
        let out = self.run_features(&input, waves.len(), &idx, want_last)?;
        let clip_logits = match &out.token_logits {
            Some(tl) => Some(tl.mean(1)?),
            None => None,
        };
        let mut res = Vec::with_capacity(waves.len());
        for b in 0..waves.len() {
            let mut o = EncoderOutput::default();
            let mut toks = Vec::with_capacity(out.hidden_states.len());
            let mut cls = Vec::with_capacity(out.hidden_states.len());
            for (i, h) in &out.hidden_states {
                let x = h.get(b)?;
                let (n, d) = x.dims2()?;
                cls.push((*i, crate::nn::to_vec_f32(&x.mean(0)?)?));
                toks.push((
                    *i,
                    Tokens {
                        data: crate::nn::to_vec_f32(&x)?,
                        shape: [n, d],
                    },
                ));
                o.layers.push((*i, self.frames(h, b)?));
            }
            if let Some(last) = &out.last_hidden_state {
                o.last_hidden_state = Some(self.frames(last, b)?);
                if !idx.contains(&l) {
                    cls.push((l, crate::nn::to_vec_f32(&last.get(b)?.mean(0)?)?));
                }
            }
            o.tokens = Some(toks);
            o.cls = Some(cls);
            if let (Some(tl), Some(cl)) = (&out.token_logits, &clip_logits) {
                o.logits = Some(crate::nn::to_vec_f32(&cl.get(b)?)?);
                o.frame_logits = Some(self.frames(tl, b)?);
                o.classes = self.labels.clone();
            }
            res.push(o);
        }
        Ok(res)
    }
}
