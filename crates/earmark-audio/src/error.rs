//! The crate's one error type, split by what the caller can do about it.

use std::path::PathBuf;

/// Everything that can go wrong reading, resampling or windowing audio.
///
/// Variants are split by remedy (fix the path, re-export the file, convert the codec, raise a
/// limit, fix the options), and every variant that concerns a file names it, so the one-line
/// `Display` (`"<path>: <cause>"`) is enough for a user to act on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AudioError {
    /// The file could not be opened or read (missing, permissions, I/O failure).
    #[error("{}: cannot read file: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Writing a file failed (disk full, permissions).
    #[error("{}: cannot write file: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a recognised audio container (text, random data, another file type).
    #[error("{}: not an audio file (expected WAV, FLAC, MP3 or Ogg Vorbis): {reason}", path.display())]
    NotAudio { path: PathBuf, reason: String },
    /// The header promises more audio than the file holds (an interrupted copy or recording).
    #[error(
        "{}: file is truncated: header declares {expected_frames} frames but only {got_frames} could be decoded",
        path.display()
    )]
    Truncated {
        path: PathBuf,
        expected_frames: u64,
        got_frames: u64,
    },
    /// A 0-byte file, or a valid header with no audio frames.
    #[error("{}: file holds no audio (0 frames)", path.display())]
    Empty { path: PathBuf },
    /// A recognised container whose codec or layout earmark cannot decode (e.g. ADPCM in WAV).
    #[error("{}: unsupported audio: {what}; convert it to PCM WAV or FLAC first", path.display())]
    Unsupported { path: PathBuf, what: String },
    /// The header declares zero channels.
    #[error("{}: header declares 0 channels", path.display())]
    NoChannels { path: PathBuf },
    /// A NaN or infinite sample (float files only): earmark refuses rather than guessing a value.
    #[error(
        "{}: non-finite sample (NaN or infinity) at frame {sample_index} ({seconds:.6} s)",
        path.display()
    )]
    NonFinite {
        path: PathBuf,
        /// Frame index at the file's own rate (the first bad frame).
        sample_index: u64,
        seconds: f64,
    },
    /// The decoder rejected the stream part-way (corrupt data).
    #[error("{}: cannot decode: {reason}", path.display())]
    Decode { path: PathBuf, reason: String },
    /// The file exceeds a safety limit for untrusted input (see [`crate::limits`]).
    #[error("{}: {what} exceeds the limit of {max}", path.display())]
    Limit {
        path: PathBuf,
        what: String,
        max: u64,
    },
    /// Invalid arguments (window length, rates, ...); no file involved.
    #[error("invalid options: {reason}")]
    BadOptions { reason: String },
}
