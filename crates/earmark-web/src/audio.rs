//! Audio for the page: decoded recordings kept in a small cache, stretches as WAV (click to
//! play), and log-mel spectrograms with evenly spaced columns (an hour costs what 10 s costs).

use crate::error::AppError;
use base64::Engine;
use earmark_core::Waveform;
use earmark_features::{log_mel, MelOptions};
use serde::Serialize;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// At most this many samples stay decoded (about 1 GB of f32; two one-hour 48 kHz recordings).
const CACHE_SAMPLES: usize = 256 << 20;
/// The longest stretch `/api/audio` returns.
pub const MAX_AUDIO_SECS: f64 = 600.0;

/// Decoded mono recordings at their own rate, most recent last.
#[derive(Default)]
pub struct AudioCache {
    entries: Mutex<VecDeque<(PathBuf, Arc<Waveform>)>>,
}

impl AudioCache {
    pub fn get(&self, path: &Path) -> Result<Arc<Waveform>, AppError> {
        {
            let mut e = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(i) = e.iter().position(|(p, _)| p == path) {
                let hit = e.remove(i).expect("index from position");
                let w = hit.1.clone();
                e.push_back(hit);
                return Ok(w);
            }
        }
        let w = Arc::new(
            earmark_audio::load_mono(path, None)
                .map_err(|err| AppError::internal(format!("{}: {err}", path.display())))?,
        );
        let mut e = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        e.push_back((path.to_path_buf(), w.clone()));
        while e.len() > 1 && e.iter().map(|(_, w)| w.samples.len()).sum::<usize>() > CACHE_SAMPLES {
            e.pop_front();
        }
        Ok(w)
    }
}

/// `[start, end)` in seconds, checked and clamped to `duration`.
pub fn stretch(
    start: Option<f64>,
    end: Option<f64>,
    duration: f64,
) -> Result<(f64, f64), AppError> {
    let s = start.unwrap_or(0.0);
    let e = end.unwrap_or(duration);
    if !s.is_finite() || !e.is_finite() {
        return Err(AppError::bad(
            "start and end must be finite numbers of seconds",
        ));
    }
    if s >= e {
        return Err(AppError::bad(format!("start {s} must be before end {e}")));
    }
    let (s, e) = (s.max(0.0), e.min(duration));
    if s >= e {
        return Err(AppError::bad(format!(
            "the stretch {s}–{e} s lies outside the recording (0–{duration:.3} s)"
        )));
    }
    Ok((s, e))
}

fn sample_range(w: &Waveform, s: f64, e: f64) -> (usize, usize) {
    let r = w.rate.0 as f64;
    let n = w.samples.len();
    let a = ((s * r).floor() as usize).min(n);
    let b = ((e * r).ceil() as usize).clamp(a, n);
    (a, b)
}

/// A 16-bit PCM mono WAV of `[s, e)`.
pub fn wav_bytes(w: &Waveform, s: f64, e: f64) -> Vec<u8> {
    let (a, b) = sample_range(w, s, e);
    let pcm = &w.samples[a..b];
    let data_len = (pcm.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + pcm.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&w.rate.0.to_le_bytes());
    out.extend_from_slice(&(w.rate.0 * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for &x in pcm {
        let v = (x.clamp(-1.0, 1.0) * 32767.0).round() as i16;
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

#[derive(Debug, Serialize)]
pub struct Spectrogram {
    pub start: f64,
    pub end: f64,
    pub cols: usize,
    pub bins: usize,
    pub col_secs: f64,
    pub min_db: f32,
    pub max_db: f32,
    /// base64 of `cols × bins` bytes, column by column, low frequency first.
    pub data: String,
}

/// The dynamic range drawn: quieter than `max − RANGE_DB` is black.
const RANGE_DB: f32 = 80.0;

/// Log-mel columns evenly spaced over `[s, e)`: one FFT frame centred on each column, so the
/// cost depends on `cols`, not on the stretch's length.
pub fn spectrogram(
    w: &Waveform,
    s: f64,
    e: f64,
    cols: usize,
    bins: usize,
) -> Result<Spectrogram, AppError> {
    let rate = w.rate.0;
    let n_fft = if rate > 24_000 { 1024 } else { 512 };
    let (a, b) = sample_range(w, s, e);
    let len = b - a;
    let col_samples = (len as f64 / cols as f64).max(1.0);
    let mut frame = vec![0f32; n_fft];
    let mut data = vec![0f32; cols * bins];
    let opts = MelOptions {
        sample_rate: rate,
        n_fft,
        hop_length: Some(n_fft),
        n_mels: bins,
        center: false,
        ..MelOptions::default()
    };
    // All columns in one call: the frames laid end to end, each its own FFT window.
    let mut joined = Vec::with_capacity(cols * n_fft);
    for c in 0..cols {
        let centre = a as f64 + (c as f64 + 0.5) * col_samples;
        let first = centre as i64 - (n_fft / 2) as i64;
        for (k, f) in frame.iter_mut().enumerate() {
            let i = first + k as i64;
            *f = if i >= 0 && (i as usize) < w.samples.len() {
                w.samples[i as usize]
            } else {
                0.0
            };
        }
        joined.extend_from_slice(&frame);
    }
    let m = log_mel(&joined, &opts).map_err(|e| AppError::internal(e.to_string()))?;
    for c in 0..cols.min(m.n_frames()) {
        data[c * bins..(c + 1) * bins].copy_from_slice(m.row(c));
    }
    let max_db = data.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let max_db = if max_db.is_finite() { max_db } else { 0.0 };
    let min_db = max_db - RANGE_DB;
    let bytes: Vec<u8> = data
        .iter()
        .map(|&v| (((v - min_db) / RANGE_DB).clamp(0.0, 1.0) * 255.0).round() as u8)
        .collect();
    Ok(Spectrogram {
        start: s,
        end: e,
        cols,
        bins,
        col_secs: col_samples / rate as f64,
        min_db,
        max_db,
        data: base64::engine::general_purpose::STANDARD.encode(bytes),
    })
}
