//! Sample rates, seconds and spans of time.

use serde::{Deserialize, Serialize};

/// A sample rate in hertz (samples per second per channel).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SampleRate(pub u32);

impl SampleRate {
    pub fn hz(self) -> u32 {
        self.0
    }

    /// Seconds → samples, rounded to the nearest sample.
    pub fn samples_in(self, secs: Seconds) -> u64 {
        (secs.0 * self.0 as f64).round().max(0.0) as u64
    }

    /// Samples → seconds.
    pub fn seconds_of(self, samples: u64) -> Seconds {
        Seconds(samples as f64 / self.0 as f64)
    }
}

impl std::fmt::Display for SampleRate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} Hz", self.0)
    }
}

/// A duration or a time point in seconds.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default, Serialize, Deserialize)]
pub struct Seconds(pub f64);

impl std::fmt::Display for Seconds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.3} s", self.0)
    }
}

/// A half-open stretch of time `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct Span {
    pub start: Seconds,
    pub end: Seconds,
}

impl Span {
    pub fn new(start: f64, end: f64) -> Self {
        Span {
            start: Seconds(start),
            end: Seconds(end),
        }
    }

    pub fn duration(&self) -> Seconds {
        Seconds(self.end.0 - self.start.0)
    }

    /// Length of the overlap with `other` in seconds (0 when disjoint).
    pub fn overlap(&self, other: &Span) -> Seconds {
        Seconds((self.end.0.min(other.end.0) - self.start.0.max(other.start.0)).max(0.0))
    }
}
