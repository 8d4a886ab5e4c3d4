//! earmark's shared vocabulary: time, frame grids, waveforms and frame-indexed arrays.
//!
//! The one rule of earmark is that the time axis stays visible: every frame-indexed array carries
//! the [`FrameGrid`] that maps its frames back to samples, and frames become seconds in one place
//! ([`FrameGrid::frame_span`]).
//!
//! ```
//! use earmark_core::FrameGrid;
//! // Kaldi fbank at 16 kHz: 25 ms windows every 10 ms, snip edges.
//! let fbank = FrameGrid::new(16_000, 160, 400, 0);
//! // A transformer that patchifies 16 fbank frames with stride 16.
//! let patches = fbank.then(16, 16, 0);
//! assert_eq!(patches.hop, 2560);
//! assert_eq!(patches.win, 15 * 160 + 400);
//! let span = patches.frame_span(2);
//! assert!((span.start.0 - 0.32).abs() < 1e-12);
//! ```

mod annotation;
mod events;
mod frames;
mod grid;
pub mod rng;
mod time;
mod waveform;

pub use annotation::{
    format_audacity, format_raven, format_strong_tsv, format_weak_tsv, parse_audacity, parse_raven,
    parse_strong_tsv, parse_weak_tsv, AnnotationError,
};
pub use events::{Event, EventList, LabelSet, WeakLabel};
pub use frames::{Frames, FramesError};
pub use grid::FrameGrid;
pub use rng::SplitMix64;
pub use time::{SampleRate, Seconds, Span};
pub use waveform::Waveform;
