//! Named encoders: which checkpoint, which layers, which normalisation.
//!
//! `_ML` variants concatenate the quartile layers ([`LayerSelection::Quartiles`]) along the
//! feature axis, so their width is 4 × the model width. Resolution of [`ModelSpec::hf_id`] or
//! [`ModelSpec::torchaudio_file`] to a local path (HF cache, downloads) lives in the `earmark`
//! facade; this crate loads from the resolved path with [`ModelSpec::load_hf_dir`] or
//! [`ModelSpec::load_torchaudio`].

use crate::ast::AstEncoder;
use crate::beats::BeatsEncoder;
use crate::builtin::{ScratchConfig, ScratchEncoder};
use crate::eat::EatEncoder;
use crate::encoder::{Encoder, LayerSelection};
use crate::error::EncoderError;
use crate::wav2vec2::{TorchaudioBuilder, Wav2Vec2Encoder, WaveformNorm};
use candle_core::Device;
use std::path::Path;

/// The architecture family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Wav2Vec2,
    Hubert,
    Ast,
    /// BEATs (microsoft/unilm `beats/`): the `.pt` checkpoints Microsoft publishes.
    Beats,
    /// EAT (cwx-worst-one/EAT): a Hugging Face folder (config.json + model.safetensors).
    Eat,
    /// Defined in this crate ([`crate::builtin`]): no checkpoint to download; seeded random
    /// weights unless a safetensors file is given ([`ModelSpec::load_builtin`]).
    Builtin,
}

/// One registry entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSpec {
    /// `HUBERT_LARGE_ML`, …
    pub name: &'static str,
    pub family: Family,
    /// Width of the (concatenated) frames.
    pub dim: usize,
    /// Width of one layer.
    pub layer_dim: usize,
    /// Transformer layers `L`.
    pub num_layers: usize,
    /// Whether the frames concatenate the quartile layers (`_ML`) or are the last layer.
    pub multi_layer: bool,
    /// Hugging Face model id (empty for [`Family::Builtin`]).
    pub hf_id: &'static str,
    /// torchaudio bundle file (`https://download.pytorch.org/torchaudio/models/<file>`); for
    /// BEATs, the `.pt` file name Microsoft publishes (looked for in the same folder).
    pub torchaudio_file: Option<&'static str>,
    /// Waveform normalisation of the torchaudio bundle (`_normalize_waveform`). HF folders use
    /// their `preprocessor_config.json` instead.
    pub torchaudio_norm: WaveformNorm,
}

impl ModelSpec {
    /// The hidden states this entry uses.
    pub fn layers(&self) -> LayerSelection {
        if self.multi_layer {
            LayerSelection::Quartiles
        } else {
            LayerSelection::Last
        }
    }

    /// The torchaudio builder kwargs of the bundle, if there is one.
    pub fn torchaudio_builder(&self) -> Option<TorchaudioBuilder> {
        if !matches!(self.family, Family::Wav2Vec2 | Family::Hubert) {
            return None;
        }
        self.torchaudio_file?;
        Some(match self.layer_dim {
            768 => TorchaudioBuilder::base_bundle(),
            1024 => TorchaudioBuilder::hubert_large(),
            1280 => TorchaudioBuilder::hubert_xlarge(),
            _ => return None,
        })
    }

    fn model_type(&self) -> &'static str {
        match self.family {
            Family::Wav2Vec2 => "wav2vec2",
            Family::Hubert => "hubert",
            Family::Ast => "audio-spectrogram-transformer",
            Family::Beats => "beats",
            Family::Eat => "eat",
            Family::Builtin => "builtin",
        }
    }

    /// Whether the model is defined in this crate (no download; see [`ModelSpec::load_builtin`]).
    pub fn is_builtin(&self) -> bool {
        self.family == Family::Builtin
    }

    /// Load a built-in model: seeded random weights ([`ScratchEncoder::DEFAULT_SEED`]) without
    /// `weights`, else that safetensors file (key set and shapes checked).
    pub fn load_builtin(
        &self,
        weights: Option<&Path>,
        device: &Device,
    ) -> Result<Box<dyn Encoder>, EncoderError> {
        if !self.is_builtin() {
            return Err(EncoderError::Unsupported {
                what: format!("{} is not a built-in model", self.name),
            });
        }
        let cfg = ScratchConfig::default();
        let enc = match weights {
            None => ScratchEncoder::new_seeded(cfg, ScratchEncoder::DEFAULT_SEED, device)?,
            Some(p) => ScratchEncoder::from_safetensors(cfg, p, device)?,
        };
        self.check(&enc)?;
        Ok(Box::new(enc))
    }

    /// Load from a transformers folder (the snapshot of [`ModelSpec::hf_id`]).
    pub fn load_hf_dir(
        &self,
        dir: &Path,
        device: &Device,
    ) -> Result<Box<dyn Encoder>, EncoderError> {
        let enc: Box<dyn Encoder> = match self.family {
            Family::Ast => Box::new(AstEncoder::from_hf_dir(dir, device)?),
            Family::Eat => Box::new(EatEncoder::from_hf_dir(dir, device)?),
            Family::Beats => {
                return Err(EncoderError::Unsupported {
                    what: format!("{} is a .pt checkpoint: use load_pt", self.name),
                })
            }
            Family::Builtin => {
                return Err(EncoderError::Unsupported {
                    what: format!("{} is built in: use load_builtin", self.name),
                })
            }
            Family::Wav2Vec2 | Family::Hubert => {
                Box::new(Wav2Vec2Encoder::from_hf_dir(dir, device)?)
            }
        };
        self.check(enc.as_ref())?;
        Ok(enc)
    }

    /// Load a BEATs `.pt` checkpoint (read safely: tensors and the config only, no code runs).
    pub fn load_pt(&self, pt: &Path, device: &Device) -> Result<Box<dyn Encoder>, EncoderError> {
        if self.family != Family::Beats {
            return Err(EncoderError::Unsupported {
                what: format!("{} is not a BEATs model", self.name),
            });
        }
        let enc = BeatsEncoder::from_pt(pt, device)?;
        self.check(&enc)?;
        Ok(Box::new(enc))
    }

    /// Load the torchaudio bundle `.pth` with the bundle's builder and normalisation.
    pub fn load_torchaudio(
        &self,
        pth: &Path,
        device: &Device,
    ) -> Result<Box<dyn Encoder>, EncoderError> {
        let builder = self
            .torchaudio_builder()
            .ok_or_else(|| EncoderError::Unsupported {
                what: format!("{} has no torchaudio bundle", self.name),
            })?;
        let enc = Wav2Vec2Encoder::from_torchaudio(
            pth,
            &builder,
            self.model_type(),
            self.torchaudio_norm,
            device,
        )?;
        self.check(&enc)?;
        Ok(Box::new(enc))
    }

    /// Whether a loaded encoder has this entry's depth and width.
    pub fn check(&self, enc: &dyn Encoder) -> Result<(), EncoderError> {
        if enc.dim() != self.layer_dim || enc.num_layers() != self.num_layers {
            return Err(EncoderError::Shape {
                expected: format!(
                    "{}: {} layers of width {}",
                    self.name, self.num_layers, self.layer_dim
                ),
                got: format!("{} layers of width {}", enc.num_layers(), enc.dim()),
            });
        }
        Ok(())
    }
}

#[allow(clippy::too_many_arguments)] // a table row
const fn spec(
    name: &'static str,
    family: Family,
    layer_dim: usize,
    num_layers: usize,
    multi_layer: bool,
    hf_id: &'static str,
    torchaudio_file: Option<&'static str>,
    torchaudio_norm: WaveformNorm,
) -> ModelSpec {
    ModelSpec {
        name,
        family,
        dim: if multi_layer {
            4 * layer_dim
        } else {
            layer_dim
        },
        layer_dim,
        num_layers,
        multi_layer,
        hf_id,
        torchaudio_file,
        torchaudio_norm,
    }
}

use Family::*;
use WaveformNorm::{LayerNorm as Ln, None as NoNorm};

const W2V_BASE: &str = "facebook/wav2vec2-base";
const HU_BASE: &str = "facebook/hubert-base-ls960";
const HU_LARGE: &str = "facebook/hubert-large-ll60k";
const HU_XLARGE: &str = "facebook/hubert-xlarge-ll60k";
const AST_ID: &str = "MIT/ast-finetuned-audioset-10-10-0.4593";
/// EAT-base fine-tuned on AudioSet-2M: the checkpoint the pipeline earmark replaces loaded with
/// `trust_remote_code=True`; earmark reads its config.json and model.safetensors only.
const EAT_ID: &str = "worstchan/EAT-base_epoch30_finetune_AS2M";
/// BEATs iter3+ (self-supervised, then AudioSet-2M), from the download table of unilm's
/// `beats/README.md`; not on the Hugging Face Hub.
const BEATS_PT: &str = "BEATs_iter3_plus_AS2M.pt";

/// Every named encoder.
pub const MODELS: &[ModelSpec] = &[
    spec(
        "WAV2VEC2_BASE",
        Wav2Vec2,
        768,
        12,
        false,
        W2V_BASE,
        Some("wav2vec2_fairseq_base_ls960.pth"),
        NoNorm,
    ),
    spec(
        "WAV2VEC2_BASE_ML",
        Wav2Vec2,
        768,
        12,
        true,
        W2V_BASE,
        Some("wav2vec2_fairseq_base_ls960.pth"),
        NoNorm,
    ),
    spec(
        "HUBERT_BASE",
        Hubert,
        768,
        12,
        false,
        HU_BASE,
        Some("hubert_fairseq_base_ls960.pth"),
        NoNorm,
    ),
    spec(
        "HUBERT_BASE_ML",
        Hubert,
        768,
        12,
        true,
        HU_BASE,
        Some("hubert_fairseq_base_ls960.pth"),
        NoNorm,
    ),
    spec(
        "HUBERT_LARGE",
        Hubert,
        1024,
        24,
        false,
        HU_LARGE,
        Some("hubert_fairseq_large_ll60k.pth"),
        Ln,
    ),
    spec(
        "HUBERT_LARGE_ML",
        Hubert,
        1024,
        24,
        true,
        HU_LARGE,
        Some("hubert_fairseq_large_ll60k.pth"),
        Ln,
    ),
    spec(
        "HUBERT_XLARGE",
        Hubert,
        1280,
        48,
        false,
        HU_XLARGE,
        Some("hubert_fairseq_xlarge_ll60k.pth"),
        Ln,
    ),
    spec(
        "HUBERT_XLARGE_ML",
        Hubert,
        1280,
        48,
        true,
        HU_XLARGE,
        Some("hubert_fairseq_xlarge_ll60k.pth"),
        Ln,
    ),
    spec("AST", Ast, 768, 12, false, AST_ID, None, NoNorm),
    spec("AST_ML", Ast, 768, 12, true, AST_ID, None, NoNorm),
    spec("BEATS", Beats, 768, 12, false, "", Some(BEATS_PT), NoNorm),
    spec("BEATS_ML", Beats, 768, 12, true, "", Some(BEATS_PT), NoNorm),
    spec("EAT", Eat, 768, 12, false, EAT_ID, None, NoNorm),
    spec("EAT_ML", Eat, 768, 12, true, EAT_ID, None, NoNorm),
    // The built-in scratch CNN (`ScratchConfig::default()`): 64 log-mel bands, 3 blocks of 64.
    spec("scratch", Builtin, 64, 3, false, "", None, NoNorm),
];

/// Look an entry up by name (case-insensitive).
pub fn find(name: &str) -> Option<&'static ModelSpec> {
    MODELS.iter().find(|m| m.name.eq_ignore_ascii_case(name))
}
