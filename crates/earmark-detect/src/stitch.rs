//! Merging overlapping windows' scores on the file's frame grid, streaming.
//!
//! A window that starts `s` samples into the file has frames on the file grid shifted by `s`
//! (that is what `Window::grid().then(..)` composes to). When `s` is a multiple of the frame hop,
//! the window's frame `i` *is* file frame `s/hop + i`, so scores are merged frame by frame —
//! never by averaging whole windows, and never by guessing where a window's frames fall.
//!
//! **Misaligned windows are refused** ([`DetectError::Misaligned`]) rather than resampled to the
//! nearest frame: nearest-frame resampling moves scores by up to half a hop, differently in each
//! window, which is exactly the overlap-dependent timestamp drift earmark exists to avoid. The
//! caller controls window starts and can always round the window hop to a multiple of the frame
//! hop (as `earmark embed` does).

use crate::error::DetectError;
use crate::scores::check_finite;
use earmark_core::{FrameGrid, Frames};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// How scores of one frame seen by several windows are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Merge {
    /// The average over the windows that saw the frame (smooths window-edge artefacts).
    #[default]
    Mean,
    /// The largest score any window gave the frame (keeps a short event seen well by one window).
    Max,
}

/// Accumulates window scores on the file grid and hands back merged frames in order.
///
/// Memory holds only frames some future window may still touch: call
/// [`drain_ready`](Stitcher::drain_ready) with the next window's start after each
/// [`add`](Stitcher::add), and a 10-hour file keeps about one window of frames.
///
/// ```
/// use earmark_core::{FrameGrid, Frames};
/// use earmark_detect::{Merge, Stitcher};
/// let file = FrameGrid::new(16_000, 160, 400, 0);
/// let mut st = Stitcher::new(file, 1, Merge::Max).unwrap();
/// // Two windows of 4 frames, the second starting 2 frames (320 samples) later.
/// st.add(&Frames::new(vec![0.1, 0.2, 0.3, 0.4], 1, file).unwrap()).unwrap();
/// st.add(&Frames::new(vec![0.9, 0.0, 0.5, 0.6], 1, file.shifted(320)).unwrap()).unwrap();
/// let out = st.finish(5 * 160 + 400); // audio long enough for 6 frames
/// assert_eq!(out.data, vec![0.1, 0.2, 0.9, 0.4, 0.5, 0.6]);
/// ```
#[derive(Debug, Clone)]
pub struct Stitcher {
    grid: FrameGrid,
    dim: usize,
    merge: Merge,
    /// File frame index of the first retained frame (everything before was drained).
    base: u64,
    /// Per retained frame: the running sum (mean) or max, `dim` values, in f64 so that the mean
    /// of equal f32 scores is exactly that score.
    acc: VecDeque<f64>,
    /// Per retained frame: how many windows saw it (0: a gap between windows).
    count: VecDeque<u32>,
}

impl Stitcher {
    /// `grid` is the file's frame grid (the encoder's grid composed on the unshifted samples).
    pub fn new(grid: FrameGrid, n_classes: usize, merge: Merge) -> Result<Self, DetectError> {
        if grid.hop == 0 || grid.rate == 0 {
            return Err(DetectError::Invalid {
                what: format!("frame grid needs a positive rate and hop, got {grid:?}"),
            });
        }
        if n_classes == 0 {
            return Err(DetectError::Invalid {
                what: "scores need at least one class".into(),
            });
        }
        Ok(Stitcher {
            grid,
            dim: n_classes,
            merge,
            base: 0,
            acc: VecDeque::new(),
            count: VecDeque::new(),
        })
    }

    /// The file grid the output frames are on.
    pub fn grid(&self) -> FrameGrid {
        self.grid
    }

    /// Frames held in memory now (for bounding memory; see [`drain_ready`](Self::drain_ready)).
    pub fn retained_frames(&self) -> usize {
        self.count.len()
    }

    /// File frame index of the next frame to be drained or finished.
    pub fn next_frame(&self) -> u64 {
        self.base
    }

    /// Merge one window's scores; its grid must be the file grid shifted by the window's start.
    pub fn add(&mut self, window: &Frames) -> Result<(), DetectError> {
        let g = window.grid;
        if g.rate != self.grid.rate || g.hop != self.grid.hop || g.win != self.grid.win {
            return Err(DetectError::GridMismatch {
                expected: self.grid,
                got: g,
            });
        }
        if window.dim != self.dim {
            return Err(DetectError::Shape {
                what: "window score columns vs classes".into(),
                expected: self.dim,
                got: window.dim,
            });
        }
        let shift = g.offset - self.grid.offset;
        let hop = self.grid.hop as i64;
        if shift < 0 || shift % hop != 0 {
            return Err(DetectError::Misaligned {
                shift_samples: shift,
                hop: self.grid.hop,
            });
        }
        let first = (shift / hop) as u64;
        check_finite(window, first)?;
        let n = window.n_frames();
        if n == 0 {
            return Ok(());
        }
        if first < self.base {
            return Err(DetectError::AlreadyDrained {
                first_frame: first,
                drained_up_to: self.base,
            });
        }
        let lo = (first - self.base) as usize;
        let need = lo + n;
        if self.count.len() < need {
            self.count.resize(need, 0);
            self.acc.resize(need * self.dim, 0.0);
        }
        for (i, row) in window.rows().enumerate() {
            let j = lo + i;
            let seen = self.count[j] > 0;
            for (c, &v) in row.iter().enumerate() {
                let a = &mut self.acc[j * self.dim + c];
                *a = match self.merge {
                    Merge::Mean => *a + v as f64,
                    Merge::Max if seen => a.max(v as f64),
                    Merge::Max => v as f64,
                };
            }
            self.count[j] += 1;
        }
        Ok(())
    }

    /// Hand back, and forget, every frame no window starting at `next_window_start` (samples
    /// from the file's start) or later can touch: the frames before that window's first frame.
    /// Only frames some window has reached are returned; the returned grid is the file grid
    /// shifted so that its frame 0 is the first returned frame.
    pub fn drain_ready(&mut self, next_window_start: u64) -> Frames {
        // The next window's first file frame; floor keeps a misaligned start conservative.
        let ready = next_window_start / self.grid.hop;
        let k = ready.saturating_sub(self.base).min(self.count.len() as u64) as usize;
        self.take(k)
    }

    /// Everything left whose frame centre lies inside the audio (`centre < total_samples`):
    /// exactly the frames whose hop cells start inside the recording. Frames whose centre is in
    /// a final window's zero padding describe padding, and are dropped.
    pub fn finish(mut self, total_samples: u64) -> Frames {
        let g = self.grid;
        // centre·2 < total·2, in integer half-samples.
        let inside = |i: u64| {
            2 * g.offset as i128 + 2 * (i as i128) * g.hop as i128 + (g.win as i128)
                < 2 * total_samples as i128
        };
        let k = (0..self.count.len())
            .take_while(|&j| inside(self.base + j as u64))
            .count();
        self.take(k)
    }

    fn take(&mut self, k: usize) -> Frames {
        let mut data = Vec::with_capacity(k * self.dim);
        for (j, n) in self.count.drain(..k).enumerate() {
            for c in 0..self.dim {
                let a = self.acc[j * self.dim + c];
                // A frame no window saw (windows with gaps between them) has no evidence: 0.
                let v = match (self.merge, n) {
                    (_, 0) => 0.0,
                    (Merge::Mean, n) => a / n as f64,
                    (Merge::Max, _) => a,
                };
                data.push(v as f32);
            }
        }
        self.acc.drain(..k * self.dim);
        let grid = self.grid.shifted(self.base as i64 * self.grid.hop as i64);
        self.base += k as u64;
        Frames {
            data,
            dim: self.dim,
            grid,
        }
    }
}
