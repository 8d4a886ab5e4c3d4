//! Audio features equal to the references users already trust:
//!
//! - [`fbank`] / [`mfcc`]: `torchaudio.compliance.kaldi.fbank` / `mfcc`, every option that AST,
//!   EAT and BEATs use and the defaults (checked against torchaudio's output in the tests);
//! - [`log_mel`]: `torchaudio.transforms.MelSpectrogram` followed by `AmplitudeToDB`, and a
//!   librosa preset (`librosa.feature.melspectrogram` + `power_to_db`).
//!
//! Every output is a [`Frames`] `[frames, bins]` carrying its [`earmark_core::FrameGrid`], so the
//! time axis survives. [`FeatureConfig`] is the user-facing entry: options by the reference's own
//! keyword names (`set("num_mel_bins", "128")`) and presets for the encoders' recipes.
//!
//! ```
//! use earmark_features::{FeatureConfig, FeatureKind, Preset};
//! let mut cfg = FeatureConfig::with_preset(FeatureKind::Fbank, Preset::Ast)?;
//! cfg.set("num_mel_bins", "64")?;
//! let wave: Vec<f32> = (0..16_000).map(|i| (i as f32 * 0.05).sin() * 0.1).collect();
//! let frames = cfg.compute(&wave)?;
//! assert_eq!(frames.shape(), [98, 64]);
//! assert_eq!((frames.grid.hop, frames.grid.win, frames.grid.offset), (160, 400, 0));
//! # Ok::<(), earmark_features::FeatureError>(())
//! ```
//!
//! No file or network I/O happens here; the crate is pure computation.

mod config;
mod kaldi;
mod logmel;
mod mel;
mod stft;
mod window;

pub use config::{FeatureConfig, FeatureKind, Preset};
pub use earmark_core::Frames;
pub use kaldi::{fbank, mfcc, FbankOptions, MfccOptions};
pub use logmel::{log_mel, mel_power, MelOptions};

/// What went wrong, split by what the caller should do about it.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum FeatureError {
    #[error("unknown option {name:?}; valid names: {valid}")]
    UnknownOption { name: String, valid: String },
    #[error("option {name}={value:?}: expected {expected}")]
    BadValue {
        name: String,
        value: String,
        expected: String,
    },
    #[error("unsupported: {what}")]
    Unsupported { what: String },
    #[error("input too short: {samples} samples, a frame needs {needed}")]
    TooShort { samples: usize, needed: usize },
    #[error("invalid options: {reason}")]
    Invalid { reason: String },
}

pub(crate) fn invalid(reason: impl Into<String>) -> FeatureError {
    FeatureError::Invalid {
        reason: reason.into(),
    }
}
