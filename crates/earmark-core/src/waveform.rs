//! Mono waveforms.

use crate::grid::FrameGrid;
use crate::time::{SampleRate, Seconds};

/// A mono waveform: samples in [-1, 1] (nominally) at a sample rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Waveform {
    pub rate: SampleRate,
    pub samples: Vec<f32>,
}

impl Waveform {
    pub fn new(rate: u32, samples: Vec<f32>) -> Self {
        Waveform {
            rate: SampleRate(rate),
            samples,
        }
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    pub fn duration(&self) -> Seconds {
        self.rate.seconds_of(self.samples.len() as u64)
    }

    /// The grid of the samples themselves.
    pub fn grid(&self) -> FrameGrid {
        FrameGrid::samples(self.rate.0)
    }
}
