//! The crate's one error type, split by what the caller should do about it.

use std::path::PathBuf;

/// Errors from pooling, training, predicting with, saving or loading a head.
#[derive(Debug, thiserror::Error)]
pub enum HeadError {
    /// An input had the wrong shape or length: fix the caller's arrays.
    #[error("shape mismatch for {what}: expected {expected}, got {got}")]
    Shape {
        what: String,
        expected: String,
        got: String,
    },
    /// Training or prediction data is unusable (empty, inconsistent dims, non-finite values):
    /// fix the examples.
    #[error("bad data: {what}")]
    Data { what: String },
    /// An option or config value is out of range: fix the settings.
    #[error("bad option: {what}")]
    Config { what: String },
    /// Training produced non-finite losses: lower the learning rate or check the inputs' scale.
    #[error("training diverged: {what}")]
    Diverged { what: String },
    /// A saved head's weights do not match its config: the files belong to different heads.
    #[error(
        "{path}: weights do not match the head config: missing {missing:?}, unexpected {unexpected:?}"
    )]
    Checkpoint {
        path: PathBuf,
        missing: Vec<String>,
        unexpected: Vec<String>,
    },
    /// A file could not be read, written or parsed: check the path, permissions and contents.
    #[error("{path}: {reason}")]
    Io { path: PathBuf, reason: String },
    /// An error inside the tensor library.
    #[error("tensor computation failed: {0}")]
    Candle(#[from] candle_core::Error),
}

impl HeadError {
    pub(crate) fn io(path: impl Into<PathBuf>, reason: impl ToString) -> Self {
        HeadError::Io {
            path: path.into(),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn shape(what: impl ToString, expected: impl ToString, got: impl ToString) -> Self {
        HeadError::Shape {
            what: what.to_string(),
            expected: expected.to_string(),
            got: got.to_string(),
        }
    }

    pub(crate) fn data(what: impl ToString) -> Self {
        HeadError::Data {
            what: what.to_string(),
        }
    }

    pub(crate) fn config(what: impl ToString) -> Self {
        HeadError::Config {
            what: what.to_string(),
        }
    }
}
