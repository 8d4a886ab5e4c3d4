//! earmark's last pure step: window scores → file frame scores → events with seconds.
//!
//! * [`Stitcher`] merges overlapping windows' scores **on the file's frame grid** (mean or max per
//!   frame, [`Merge`]), streaming: frames no later window can touch are drained, so a 10-hour file
//!   holds about one window of frames.
//! * [`PostProcess`] + [`events`] turn `[frames, classes]` scores into an [`EventList`]: median
//!   filter, per-class thresholds or hysteresis, gap merging, minimum event length.
//! * Frames become seconds in one place, [`frames_to_span`], from the scores' [`FrameGrid`]: an
//!   event of frames `a..=b` runs from the start of frame `a`'s hop cell (centre − hop/2) to the
//!   end of `b`'s (centre + hop/2), in integer half-samples so long files never drift.
//!
//! No candle and no file I/O here: scores come in as [`Frames`], events go out as an
//! [`EventList`] for `earmark-core`'s writers.
//!
//! ```
//! use earmark_core::{FrameGrid, Frames, LabelSet};
//! use earmark_detect::{events, Hysteresis, PerClass, PostProcess};
//!
//! // 10 ms frames (25 ms windows, centred: offset −win/2), one class.
//! let grid = FrameGrid::new(16_000, 160, 400, -200);
//! let mut curve = vec![0.1_f32; 100];
//! // Frames 20..40 are the event, with a dip at frame 30 and a one-frame spike at frame 70.
//! for s in &mut curve[20..40] { *s = 0.9; }
//! curve[30] = 0.4;
//! curve[70] = 0.95;
//! let scores = Frames::new(curve, 1, grid).unwrap();
//! let labels = LabelSet::new(["cough"]);
//! let pp = PostProcess {
//!     hysteresis: Some(PerClass::All(Hysteresis::new(0.6, 0.3))), // bridges the dip
//!     min_event_secs: PerClass::All(0.05),                      // drops the 10 ms spike
//!     ..PostProcess::default()
//! };
//! let ev = events(&scores, &labels, "a.wav", &pp, Some(16_000)).unwrap();
//! assert_eq!(ev.len(), 1);
//! // Frame 20's centre is at 20·160 samples = 0.2 s; its hop cell starts 5 ms earlier.
//! assert!((ev.events[0].onset - 0.195).abs() < 1e-12);
//! assert!((ev.events[0].offset - 0.395).abs() < 1e-12);
//! ```
//!
//! [`FrameGrid`]: earmark_core::FrameGrid
//! [`Frames`]: earmark_core::Frames
//! [`EventList`]: earmark_core::EventList

mod error;
mod perclass;
mod post;
mod scores;
mod stitch;

pub use error::DetectError;
pub use perclass::PerClass;
pub use post::{events, median_filter, Hysteresis, PostProcess};
pub use scores::{frames_to_span, Scores};
pub use stitch::{Merge, Stitcher};
