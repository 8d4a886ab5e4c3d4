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
//! # Frame grids (integer samples, in the input's own sample positions)
//!
//! - Kaldi, `snip_edges=true`: frame `i` is samples `[i·shift, i·shift + win)`: `hop = shift`,
//!   `win` = the frame length in samples (not the FFT size), `offset = 0`.
//! - Kaldi, `snip_edges=false`: the signal is padded on the left by `win/2 − shift/2` mirrored
//!   samples, so `offset = −(win/2 − shift/2)` (−120 for 400/160); frames = `(n + shift/2) / shift`.
//! - Log-mel, `center=true`: torch pads `n_fft/2` on both sides, so frame `i`'s FFT input starts at
//!   `i·hop − n_fft/2`; the window's *nonzero* part (`win_length`, zero-padded centrally to
//!   `n_fft`) starts `(n_fft − win_length)/2` later. The grid records that support:
//!   `win = win_length`, `offset = (n_fft − win_length)/2 − n_fft/2 − pad`. Its centre is then
//!   sample `i·hop` (for even sizes), exactly as torch/librosa define centred frames; for
//!   `win_length = n_fft` this is the plain `offset = −n_fft/2`. `center=false`: `offset =
//!   (n_fft − win_length)/2 − pad`.
//!
//! # Short inputs and degenerate options
//!
//! An input shorter than one frame is [`FeatureError::TooShort`], as torchaudio asserts
//! (`window_size <= len(waveform)`; reflect padding needs more than `n_fft/2` samples). A Kaldi
//! `min_duration` longer than the input gives an empty `[0, bins]` matrix, like torchaudio's empty
//! tensor. Options torchaudio rejects are [`FeatureError::Invalid`]; VTLN (`vtln_warp ≠ 1`) is
//! [`FeatureError::Unsupported`]. Nothing panics on user data or options.
//!
//! # Determinism and precision
//!
//! `dither` (0 by default, unlike Kaldi) adds Gaussian noise from a SplitMix64 stream seeded by
//! `seed` and the frame index, so it is reproducible and independent of thread count, but not
//! torch's `randn` stream. Frames are computed in float32 like the references (windows with
//! torch's own float32 arithmetic, Kaldi's mel bank in float32), FFTs by `realfft`, frames in
//! parallel with rayon; measured parity is in `tests/parity.rs` (≤ 2e-4 log units, ≤ 3e-4 dB).
//!
//! No file or network I/O happens here; the crate is pure computation.

mod config;
mod fastlog;
mod kaldi;
mod logmel;
mod mel;
mod stft;
mod window;

pub use config::{FeatureConfig, FeatureKind, Preset};
pub use earmark_core::Frames;
pub use kaldi::{fbank, mfcc, FbankOptions, MfccOptions, WindowType, EPSILON};
pub use logmel::{log_mel, mel_power, Flavor, MelOptions, PadMode};
pub use mel::MelScale;

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
