//! The crate's one error type, split by what the caller should do about it.

use std::path::PathBuf;

/// Errors from loading or running an encoder.
#[derive(Debug, thiserror::Error)]
pub enum EncoderError {
    /// A file could not be read: check the path and permissions.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A checkpoint or config file is unreadable or malformed: re-download or convert it.
    #[error("{path}: {reason}")]
    Format { path: PathBuf, reason: String },
    /// The checkpoint's tensors do not match the architecture its config describes: the config
    /// and weights belong to different models, or the family is not the one expected.
    #[error(
        "{path}: checkpoint does not match the model: missing {missing:?}, unexpected {unexpected:?}"
    )]
    Checkpoint {
        path: PathBuf,
        missing: Vec<String>,
        unexpected: Vec<String>,
    },
    /// The config asks for something this crate does not implement.
    #[error("unsupported: {what}")]
    Unsupported { what: String },
    /// An input or tensor had the wrong shape (e.g. a waveform shorter than the receptive field).
    #[error("shape mismatch: expected {expected}, got {got}")]
    Shape { expected: String, got: String },
    /// A requested layer does not exist: hidden states are numbered `0..=max`.
    #[error("layer {requested} out of range: this encoder has hidden states 0..={max}")]
    Layer { requested: usize, max: usize },
    /// A layer selection string could not be parsed.
    #[error("bad layer selection {given:?}: expected all, last, quartiles or a list like 1,6,12")]
    LayerSelection { given: String },
    /// An error inside the tensor library.
    #[error("tensor computation failed: {0}")]
    Candle(#[from] candle_core::Error),
}

impl EncoderError {
    pub(crate) fn format(path: impl Into<PathBuf>, reason: impl ToString) -> Self {
        EncoderError::Format {
            path: path.into(),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        EncoderError::Io {
            path: path.into(),
            source,
        }
    }
}
