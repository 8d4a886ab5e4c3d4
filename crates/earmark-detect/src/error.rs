//! The crate's one error type, split by what the caller can do about it.

use earmark_core::FrameGrid;

/// Everything that can go wrong stitching scores or turning them into events.
///
/// Nothing here concerns a file: this crate does no I/O, so callers add the path when they report.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DetectError {
    /// Two sizes that must agree do not (score columns vs classes, a per-class list vs classes).
    #[error("shape mismatch: {what}: expected {expected}, got {got}")]
    Shape {
        what: String,
        expected: usize,
        got: usize,
    },
    /// A per-class map names a label that is not one of the classes (a typo, or another detector's).
    #[error("{what}: label {label:?} is not one of the classes")]
    UnknownLabel { what: String, label: String },
    /// A per-class map leaves a class out; give every class a value, or use one value for all.
    #[error("{what}: no value for class {label:?}")]
    MissingLabel { what: String, label: String },
    /// An option is out of its domain (even median width, low above high, negative seconds...).
    #[error("invalid option: {what}")]
    Invalid { what: String },
    /// A score is NaN or infinite: earmark refuses rather than guessing a value.
    #[error("non-finite score at frame {frame}, class {class}")]
    NonFinite { frame: u64, class: usize },
    /// A window's frames were computed on another grid (rate, hop or frame length differ).
    #[error("window grid {got:?} does not match the file grid {expected:?} (rate, hop and win must be equal)")]
    GridMismatch { expected: FrameGrid, got: FrameGrid },
    /// A window starts between two frames of the file grid (or before the file's first frame).
    /// Round the window hop to a multiple of the frame hop so every window shares the grid.
    #[error(
        "window starts {shift_samples} samples from the file grid's origin, not a non-negative multiple of the frame hop {hop}; round the window hop to a multiple of the frame hop"
    )]
    Misaligned { shift_samples: i64, hop: u64 },
    /// A window adds to frames that were already drained: windows must arrive in start order and
    /// `drain_ready` must be given the next window's true start.
    #[error("window touches frame {first_frame}, but frames before {drained_up_to} were already drained")]
    AlreadyDrained {
        first_frame: u64,
        drained_up_to: u64,
    },
}
