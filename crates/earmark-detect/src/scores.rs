//! Frame scores with their classes, and the one place where frames become seconds.

use crate::error::DetectError;
use earmark_core::{FrameGrid, Frames, LabelSet, Span};

/// Frame scores `[frames, classes]`: a [`Frames`] whose column `c` is class `labels[c]`, and,
/// when known, the length of the audio so events can be clamped to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Scores {
    pub frames: Frames,
    pub labels: LabelSet,
    /// Length of the recording in samples at `frames.grid.rate`; `None` when unknown.
    pub total_samples: Option<u64>,
}

impl Scores {
    /// Checks that there is one column per class and that every score is finite.
    pub fn new(frames: Frames, labels: LabelSet) -> Result<Self, DetectError> {
        check_scores(&frames, &labels)?;
        Ok(Scores {
            frames,
            labels,
            total_samples: None,
        })
    }

    /// The recording's length in samples (events are clamped to it).
    pub fn with_total_samples(mut self, total_samples: u64) -> Self {
        self.total_samples = Some(total_samples);
        self
    }

    pub fn n_frames(&self) -> usize {
        self.frames.n_frames()
    }

    /// The score curve of class `c` over frames (a copy; columns are strided).
    pub fn curve(&self, c: usize) -> Vec<f32> {
        class_curve(&self.frames, c)
    }

    /// The score curve of the named class.
    pub fn curve_of(&self, label: &str) -> Option<Vec<f32>> {
        self.labels.index_of(label).map(|c| self.curve(c))
    }
}

pub(crate) fn class_curve(frames: &Frames, c: usize) -> Vec<f32> {
    frames.rows().map(|r| r[c]).collect()
}

/// One column per class, and no NaN or infinity (a NaN compares false with every threshold and
/// would silently end events, so it is refused).
pub(crate) fn check_scores(frames: &Frames, labels: &LabelSet) -> Result<(), DetectError> {
    if frames.dim != labels.len() {
        return Err(DetectError::Shape {
            what: "score columns vs classes".into(),
            expected: labels.len(),
            got: frames.dim,
        });
    }
    check_finite(frames, 0)
}

pub(crate) fn check_finite(frames: &Frames, first_frame: u64) -> Result<(), DetectError> {
    if let Some(k) = frames.data.iter().position(|v| !v.is_finite()) {
        return Err(DetectError::NonFinite {
            frame: first_frame + (k / frames.dim) as u64,
            class: k % frames.dim,
        });
    }
    Ok(())
}

/// The stretch of time that frames `first..=last` stand for: from the start of `first`'s hop
/// cell to the end of `last`'s, where frame `i`'s hop cell is its centre ± hop/2.
///
/// **Why hop cells, not frame spans.** With overlapping frames (`win > hop`) consecutive frame
/// spans overlap, so an event of `n` active frames would be reported `win − hop` too long (25 ms
/// fbank frames every 10 ms: +15 ms per event, and a one-frame blip would last 25 ms). Hop cells
/// tile the time axis without overlap or gaps for any `win`, an event of `n` frames lasts exactly
/// `n · hop`, and each frame is charged for the time nearest its centre — where its receptive
/// field is.
///
/// Computed in integer half-samples (the centre is `offset + i·hop + win/2`, a half-integer when
/// `win` is odd), so a frame ten hours into a file gives the exact second; the clamp to
/// `[0, total_samples]` happens in the same integer domain. Returns `None` when the clamped
/// stretch is empty (a cell entirely outside the audio).
pub fn frames_to_span(
    grid: &FrameGrid,
    first: u64,
    last: u64,
    total_samples: Option<u64>,
) -> Option<Span> {
    let (a, b) = half_sample_bounds(grid, first, last, total_samples)?;
    let r2 = 2.0 * grid.rate as f64;
    Some(Span::new(a as f64 / r2, b as f64 / r2))
}

/// Bounds of [`frames_to_span`] in half-samples, clamped, `None` when empty.
pub(crate) fn half_sample_bounds(
    grid: &FrameGrid,
    first: u64,
    last: u64,
    total_samples: Option<u64>,
) -> Option<(i128, i128)> {
    let centre2 =
        |i: u64| 2 * grid.offset as i128 + 2 * (i as i128) * grid.hop as i128 + grid.win as i128;
    let a = (centre2(first) - grid.hop as i128).max(0);
    let mut b = centre2(last) + grid.hop as i128;
    if let Some(n) = total_samples {
        b = b.min(2 * n as i128);
    }
    (b > a).then_some((a, b))
}
