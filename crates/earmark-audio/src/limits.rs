//! Safety limits for untrusted input.
//!
//! A crafted header can claim 65 535 channels or a 4 GHz sample rate; rather than allocating for
//! whatever a file says, earmark refuses such files with [`AudioError::Limit`]. The limits are far
//! above anything a real recorder produces.

use crate::error::AudioError;
use std::path::Path;

/// Most channels a file may have (3rd-order ambisonics is 16; large arrays rarely exceed 64).
pub const MAX_CHANNELS: usize = 64;
/// Highest sample rate accepted, in Hz (768 kHz is the highest rate common hardware offers).
pub const MAX_SAMPLE_RATE: u32 = 768_000;
/// Most mono samples [`crate::load_mono`] will hold in memory (2³¹ f32 = 8 GiB; about 37 hours
/// at 16 kHz). Longer recordings must be streamed with [`crate::Windows`].
pub const MAX_LOAD_SAMPLES: u64 = 1 << 31;

pub(crate) fn check_channels(path: &Path, channels: usize) -> Result<(), AudioError> {
    if channels == 0 {
        return Err(AudioError::NoChannels {
            path: path.to_path_buf(),
        });
    }
    if channels > MAX_CHANNELS {
        return Err(AudioError::Limit {
            path: path.to_path_buf(),
            what: format!("channel count {channels}"),
            max: MAX_CHANNELS as u64,
        });
    }
    Ok(())
}

pub(crate) fn check_rate(path: &Path, rate: u32) -> Result<(), AudioError> {
    if rate == 0 {
        return Err(AudioError::Decode {
            path: path.to_path_buf(),
            reason: "header declares a sample rate of 0 Hz".into(),
        });
    }
    if rate > MAX_SAMPLE_RATE {
        return Err(AudioError::Limit {
            path: path.to_path_buf(),
            what: format!("sample rate {rate} Hz"),
            max: MAX_SAMPLE_RATE as u64,
        });
    }
    Ok(())
}

/// Validate a caller-supplied rate (no file involved).
pub(crate) fn check_option_rate(what: &str, rate: u32) -> Result<(), AudioError> {
    if rate == 0 || rate > MAX_SAMPLE_RATE {
        return Err(AudioError::BadOptions {
            reason: format!("{what} {rate} Hz is outside 1..={MAX_SAMPLE_RATE} Hz"),
        });
    }
    Ok(())
}
