//! The frame grid: where each frame of a frame-indexed array sits in the original samples.

use crate::time::{SampleRate, Seconds, Span};
use serde::{Deserialize, Serialize};

/// Frame `i` covers samples `[offset + i·hop, offset + i·hop + win)` of the signal at `rate`.
///
/// Kept in integer samples so hours-long recordings never drift; `offset` may be negative (a
/// centred STFT frame starts `win/2` before its centre sample).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FrameGrid {
    pub rate: u32,
    pub hop: u64,
    pub win: u64,
    pub offset: i64,
}

impl FrameGrid {
    pub fn new(rate: u32, hop: u64, win: u64, offset: i64) -> Self {
        FrameGrid {
            rate,
            hop,
            win,
            offset,
        }
    }

    /// One frame per sample: the grid of a waveform itself.
    pub fn samples(rate: u32) -> Self {
        FrameGrid::new(rate, 1, 1, 0)
    }

    pub fn sample_rate(&self) -> SampleRate {
        SampleRate(self.rate)
    }

    /// Compose with a stage that reads this grid's frames: its frame `j` covers this grid's
    /// frames `[offset + j·hop, offset + j·hop + win)`.
    pub fn then(&self, hop: u64, win: u64, offset: i64) -> FrameGrid {
        FrameGrid {
            rate: self.rate,
            hop: self.hop * hop,
            win: (win.max(1) - 1) * self.hop + self.win,
            offset: self.offset + offset * self.hop as i64,
        }
    }

    /// Shift the whole grid by `samples` (e.g. a window that starts later in the file).
    pub fn shifted(&self, samples: i64) -> FrameGrid {
        FrameGrid {
            offset: self.offset + samples,
            ..*self
        }
    }

    /// First sample covered by frame `i` (may be negative for padded frames).
    pub fn start_sample(&self, i: u64) -> i64 {
        self.offset + (i * self.hop) as i64
    }

    /// The frame's span in seconds (start of its window to its end).
    pub fn frame_span(&self, i: u64) -> Span {
        let start = self.start_sample(i);
        let r = self.rate as f64;
        Span {
            start: Seconds(start as f64 / r),
            end: Seconds((start + self.win as i64) as f64 / r),
        }
    }

    /// The frame's centre in seconds.
    pub fn frame_center(&self, i: u64) -> Seconds {
        let s = self.start_sample(i) as f64 + self.win as f64 / 2.0;
        Seconds(s / self.rate as f64)
    }

    /// The hop in seconds.
    pub fn hop_secs(&self) -> Seconds {
        Seconds(self.hop as f64 / self.rate as f64)
    }

    /// Index of the frame whose centre is nearest `t` (clamped at 0).
    pub fn frame_at(&self, t: Seconds) -> u64 {
        let centre0 = self.offset as f64 + self.win as f64 / 2.0;
        let idx = (t.0 * self.rate as f64 - centre0) / self.hop as f64;
        idx.round().max(0.0) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compose_wav2vec2_conv_stack() {
        // kernels (10,3,3,3,3,2,2), strides (5,2,2,2,2,2,2): hop 320, receptive field 400.
        let mut g = FrameGrid::samples(16_000);
        for (k, s) in [(10, 5), (3, 2), (3, 2), (3, 2), (3, 2), (2, 2), (2, 2)] {
            g = g.then(s, k, 0);
        }
        assert_eq!(g.hop, 320);
        assert_eq!(g.win, 400);
        assert_eq!(g.offset, 0);
    }

    #[test]
    fn centred_stft_and_shift() {
        let g = FrameGrid::new(16_000, 160, 400, -200).shifted(16_000);
        assert_eq!(g.start_sample(0), 15_800);
        let c = g.frame_center(10);
        assert!((c.0 - (16_000.0 + 1600.0) / 16_000.0).abs() < 1e-12);
        assert_eq!(g.frame_at(c), 10);
    }

    #[test]
    fn long_files_do_not_drift() {
        // 10 hours of 10 ms frames: integer arithmetic gives the exact second.
        let g = FrameGrid::new(16_000, 160, 400, 0);
        let i = 10 * 3600 * 100;
        assert_eq!(g.frame_span(i).start.0, 36_000.0);
    }
}
