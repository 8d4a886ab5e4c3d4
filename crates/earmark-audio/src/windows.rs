//! Fixed-length windows over a recording of any length, decoded and resampled as they go.

use crate::decode::{AudioInfo, Source};
use crate::error::AudioError;
use crate::limits::check_option_rate;
use crate::resample::StreamResampler;
use earmark_core::{FrameGrid, Seconds, Span};
use std::collections::VecDeque;
use std::path::Path;

/// What to do with the last window when the recording ends inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LastWindow {
    /// Zero-pad the final partial window (its [`Window::valid`] says how much is real).
    #[default]
    Pad,
    /// Discard it: every window is all real audio.
    Drop,
}

/// How to cut a recording into windows.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct WindowOptions {
    /// Window length in seconds (rounded to whole samples at the output rate).
    pub window_secs: f64,
    /// Distance between window starts in seconds (rounded likewise). Smaller than the window
    /// means overlap; larger skips audio between windows.
    pub hop_secs: f64,
    /// Output rate; `None` keeps the file's rate.
    pub target_rate: Option<u32>,
    pub last: LastWindow,
}

impl Default for WindowOptions {
    /// 10 s windows every 5 s at 16 kHz, last window padded.
    fn default() -> Self {
        WindowOptions {
            window_secs: 10.0,
            hop_secs: 5.0,
            target_rate: Some(16_000),
            last: LastWindow::Pad,
        }
    }
}

/// One window of mono samples at the output rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// 0, 1, 2, ... in order.
    pub index: u64,
    /// First sample, at the output rate (`index · hop`).
    pub start_sample: u64,
    /// Exactly the window length; samples past `valid` are zero padding.
    pub samples: Vec<f32>,
    /// How many leading samples are real audio.
    pub valid: usize,
    /// The output rate.
    pub rate: u32,
}

impl Window {
    /// The samples' own grid, shifted to where the window starts in the recording: frame grids
    /// computed on `samples` compose onto this and keep file time.
    pub fn grid(&self) -> FrameGrid {
        FrameGrid::samples(self.rate).shifted(self.start_sample as i64)
    }

    /// The stretch of the recording covered by the real (non-padding) samples.
    pub fn span(&self) -> Span {
        let r = self.rate as f64;
        Span {
            start: Seconds(self.start_sample as f64 / r),
            end: Seconds((self.start_sample + self.valid as u64) as f64 / r),
        }
    }
}

/// An iterator of [`Window`]s that decodes, mixes down and resamples only as far as the current
/// window needs, holding about one window (plus one decoded block) of samples in memory.
///
/// Windows start at `k · hop` for `k = 0, 1, ...` and stop at the first window that reaches the
/// end of the recording: with [`LastWindow::Pad`] that window may be partial (zero-padded); with
/// [`LastWindow::Drop`] partial windows are not produced. A recording shorter than one window
/// gives one padded window, or none with `Drop`.
///
/// After an error the iterator ends. Errors found only at the end of the file (truncation) come
/// after the windows decoded before it.
pub struct Windows {
    src: Source,
    resampler: Option<StreamResampler>,
    rate: u32,
    win: usize,
    hop: u64,
    last: LastWindow,
    /// Samples at the output rate; `buf[0]` is sample `buf_start`.
    buf: VecDeque<f32>,
    buf_start: u64,
    /// Output samples produced so far (= `buf_start + buf.len()` plus any skipped).
    produced: u64,
    scratch: Vec<f32>,
    next_index: u64,
    eof: bool,
    finished: bool,
}

impl Windows {
    /// Open `path` and plan windows; decoding starts with the first `next()`.
    pub fn open(path: &Path, opts: &WindowOptions) -> Result<Windows, AudioError> {
        let bad = |reason: String| Err(AudioError::BadOptions { reason });
        for (name, v) in [
            ("window_secs", opts.window_secs),
            ("hop_secs", opts.hop_secs),
        ] {
            if !v.is_finite() || v <= 0.0 {
                return bad(format!(
                    "{name} must be a positive number of seconds, got {v}"
                ));
            }
        }
        if let Some(r) = opts.target_rate {
            check_option_rate("target_rate", r)?;
        }
        let src = Source::open(path)?;
        let rate = opts.target_rate.unwrap_or(src.rate());
        let to_samples = |secs: f64| (secs * rate as f64).round();
        let (win, hop) = (to_samples(opts.window_secs), to_samples(opts.hop_secs));
        if win < 1.0 || hop < 1.0 {
            return bad(format!(
                "window {} s / hop {} s round to fewer than one sample at {rate} Hz",
                opts.window_secs, opts.hop_secs
            ));
        }
        // A window is held in memory whole; cap it like load_mono.
        if win > crate::limits::MAX_LOAD_SAMPLES as f64 || hop > u64::MAX as f64 / 4.0 {
            return bad(format!("window {} s is too long", opts.window_secs));
        }
        let resampler = if rate != src.rate() {
            Some(StreamResampler::new(src.rate(), rate)?)
        } else {
            None
        };
        Ok(Windows {
            src,
            resampler,
            rate,
            win: win as usize,
            hop: hop as u64,
            last: opts.last,
            buf: VecDeque::new(),
            buf_start: 0,
            produced: 0,
            scratch: Vec::new(),
            next_index: 0,
            eof: false,
            finished: false,
        })
    }

    /// The output rate of the windows.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Window length in samples at the output rate.
    pub fn window_samples(&self) -> usize {
        self.win
    }

    /// Hop in samples at the output rate.
    pub fn hop_samples(&self) -> u64 {
        self.hop
    }

    /// The file's header information (`frames` as declared by the header, 0 if unknown; the
    /// stream is checked against it when it ends).
    pub fn info(&self) -> &AudioInfo {
        &self.src.info
    }

    /// Decode (and resample) one more block into the buffer, dropping samples before `keep_from`.
    fn fill(&mut self, keep_from: u64) -> Result<(), AudioError> {
        self.scratch.clear();
        match self.src.next_block()? {
            Some(block) => match &mut self.resampler {
                Some(r) => r.push(block, &mut self.scratch)?,
                None => self.scratch.extend_from_slice(block),
            },
            None => {
                if let Some(r) = &mut self.resampler {
                    r.finish(&mut self.scratch)?;
                }
                self.eof = true;
            }
        }
        let mut new = &self.scratch[..];
        self.produced += new.len() as u64;
        // With hop > window, whole stretches between windows are never buffered.
        let end = self.buf_start + self.buf.len() as u64;
        if end < keep_from {
            let skip = ((keep_from - end) as usize).min(new.len());
            new = &new[skip..];
            self.buf_start += skip as u64;
        }
        self.buf.extend(new);
        Ok(())
    }

    fn next_window(&mut self) -> Result<Option<Window>, AudioError> {
        let start = self.next_index * self.hop;
        let end = start + self.win as u64;
        // Drop what no later window needs (starts only grow).
        if self.buf_start < start {
            let n = ((start - self.buf_start) as usize).min(self.buf.len());
            self.buf.drain(..n);
            self.buf_start += n as u64;
        }
        while !self.eof && self.buf_start + (self.buf.len() as u64) < end {
            self.fill(start)?;
        }
        let have_end = self.buf_start + self.buf.len() as u64;
        // The previous window already reached the end of the recording.
        let prev_end = (self.next_index > 0).then(|| start - self.hop + self.win as u64);
        if self.eof && prev_end.is_some_and(|e| e >= have_end) {
            return Ok(None);
        }
        if have_end <= start || self.buf_start > start {
            return Ok(None); // the recording ended before this window starts
        }
        let valid = (have_end.min(end) - start) as usize;
        if valid < self.win && self.last == LastWindow::Drop {
            return Ok(None);
        }
        let mut samples = Vec::with_capacity(self.win);
        samples.extend(self.buf.range(..valid));
        samples.resize(self.win, 0.0);
        let w = Window {
            index: self.next_index,
            start_sample: start,
            samples,
            valid,
            rate: self.rate,
        };
        self.next_index += 1;
        Ok(Some(w))
    }
}

impl Iterator for Windows {
    type Item = Result<Window, AudioError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        match self.next_window() {
            Ok(Some(w)) => Some(Ok(w)),
            Ok(None) => {
                self.finished = true;
                None
            }
            Err(e) => {
                self.finished = true;
                Some(Err(e))
            }
        }
    }
}
