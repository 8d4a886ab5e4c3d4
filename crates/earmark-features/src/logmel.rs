//! Log-mel spectrograms: `torchaudio.transforms.MelSpectrogram` → `AmplitudeToDB`, and librosa's
//! `feature.melspectrogram` → `power_to_db` (the `librosa` flavour).

use crate::mel::{librosa_bank, torchaudio_bank, MelBank, MelScale};
use crate::stft::Spectrum;
use crate::{fastlog, invalid, window, FeatureError};
use earmark_core::{FrameGrid, Frames};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// How the centred signal is padded (`pad_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PadMode {
    Reflect,
    Constant,
    Replicate,
    Circular,
}

/// Whose filter bank and dB conventions to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    Torchaudio,
    Librosa,
}

/// `torchaudio.transforms.MelSpectrogram` keywords by their names, `AmplitudeToDB`'s `stype` and
/// `top_db`, and earmark's `input_scale`. Defaults are torchaudio's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MelOptions {
    pub sample_rate: u32,
    pub n_fft: usize,
    pub win_length: Option<usize>,
    pub hop_length: Option<usize>,
    pub f_min: f64,
    pub f_max: Option<f64>,
    pub pad: usize,
    pub n_mels: usize,
    pub power: f64,
    /// `True` divides the spectrum by the window's L2 norm (torchaudio's `normalized=True`,
    /// i.e. `"window"`); `"frame_length"` normalisation is not offered.
    pub normalized: bool,
    pub center: bool,
    pub pad_mode: PadMode,
    /// Accepted and ignored, as torchaudio does: `MelSpectrogram` deprecated it and always
    /// computes the one-sided spectrum (only that has the `n_fft/2 + 1` bins the bank reads).
    pub onesided: Option<bool>,
    /// `None` or `"slaney"` (area normalisation).
    pub norm: Option<String>,
    pub mel_scale: MelScale,
    /// `"power"` (10·log10) or `"magnitude"` (20·log10); by default from `power` (2 → power).
    pub stype: Option<String>,
    pub top_db: Option<f64>,
    pub input_scale: f64,
    pub flavor: Flavor,
}

impl Default for MelOptions {
    fn default() -> Self {
        MelOptions {
            sample_rate: 16000,
            n_fft: 400,
            win_length: None,
            hop_length: None,
            f_min: 0.0,
            f_max: None,
            pad: 0,
            n_mels: 128,
            power: 2.0,
            normalized: false,
            center: true,
            pad_mode: PadMode::Reflect,
            onesided: None,
            norm: None,
            mel_scale: MelScale::Htk,
            stype: None,
            top_db: None,
            input_scale: 1.0,
            flavor: Flavor::Torchaudio,
        }
    }
}

impl MelOptions {
    /// `librosa.feature.melspectrogram(y, sr)` + `power_to_db(S)` defaults.
    pub fn librosa(sample_rate: u32) -> Self {
        MelOptions {
            sample_rate,
            n_fft: 2048,
            win_length: None,
            hop_length: Some(512),
            n_mels: 128,
            pad_mode: PadMode::Constant,
            norm: Some("slaney".into()),
            mel_scale: MelScale::Slaney,
            top_db: Some(80.0),
            flavor: Flavor::Librosa,
            ..MelOptions::default()
        }
    }

    pub fn win(&self) -> usize {
        self.win_length.unwrap_or(self.n_fft)
    }

    pub fn hop(&self) -> usize {
        self.hop_length.unwrap_or(self.win() / 2)
    }

    /// dB multiplier: 10 for power, 20 for magnitude.
    fn db_multiplier(&self) -> Result<f32, FeatureError> {
        match self.stype.as_deref() {
            None if self.power == 2.0 => Ok(10.0),
            None if self.power == 1.0 => Ok(20.0),
            // torchaudio's MelSpectrogram → AmplitudeToDB() pairs any other power with "power".
            None => Ok(10.0),
            Some("power") => Ok(10.0),
            Some("magnitude") => Ok(20.0),
            Some(other) => Err(FeatureError::BadValue {
                name: "stype".into(),
                value: other.into(),
                expected: "power or magnitude".into(),
            }),
        }
    }
}

fn pad_signal(x: &[f32], p: usize, mode: PadMode) -> Result<Vec<f32>, FeatureError> {
    let n = x.len();
    if mode == PadMode::Reflect && p >= n {
        return Err(FeatureError::TooShort {
            samples: n,
            needed: p + 1,
        });
    }
    if (mode == PadMode::Circular || mode == PadMode::Replicate) && n == 0 {
        return Err(FeatureError::TooShort {
            samples: 0,
            needed: 1,
        });
    }
    let mut v = Vec::with_capacity(n + 2 * p);
    let at = |i: i64| -> f32 {
        match mode {
            PadMode::Constant => {
                if i < 0 || i >= n as i64 {
                    0.0
                } else {
                    x[i as usize]
                }
            }
            PadMode::Reflect => {
                let j = if i < 0 {
                    -i
                } else if i >= n as i64 {
                    2 * (n as i64 - 1) - i
                } else {
                    i
                };
                x[j as usize]
            }
            PadMode::Replicate => x[i.clamp(0, n as i64 - 1) as usize],
            PadMode::Circular => x[i.rem_euclid(n as i64) as usize],
        }
    };
    // Only the 2·p edge samples need the mode's index rule; the body is a plain copy.
    v.extend((-(p as i64)..0).map(at));
    v.extend_from_slice(x);
    v.extend((n as i64..(n + p) as i64).map(at));
    Ok(v)
}

/// Log-mel spectrogram `[frames, n_mels]` in dB.
pub fn log_mel(samples: &[f32], o: &MelOptions) -> Result<Frames, FeatureError> {
    compute(samples, o, true)
}

/// Mel energies `[frames, n_mels]` before the dB step (librosa's `S`, torchaudio's
/// `MelSpectrogram` output).
pub fn mel_power(samples: &[f32], o: &MelOptions) -> Result<Frames, FeatureError> {
    compute(samples, o, false)
}

fn compute(samples: &[f32], o: &MelOptions, to_db: bool) -> Result<Frames, FeatureError> {
    let win_len = o.win();
    let hop = o.hop();
    if o.n_fft == 0 || hop == 0 || win_len == 0 || win_len > o.n_fft {
        return Err(invalid(format!(
            "n_fft {}, win_length {win_len}, hop_length {hop}: need 0 < win_length ≤ n_fft and hop_length > 0",
            o.n_fft
        )));
    }
    if o.n_mels == 0 || o.sample_rate == 0 {
        return Err(invalid("n_mels and sample_rate must be positive"));
    }
    let nyq = (o.sample_rate / 2) as f64;
    let f_max = o.f_max.unwrap_or(nyq);
    if !(o.f_min >= 0.0 && o.f_min < f_max && f_max <= nyq + 1e-9) {
        return Err(invalid(format!(
            "f_min {} and f_max {f_max} must satisfy 0 ≤ f_min < f_max ≤ {nyq}",
            o.f_min
        )));
    }
    let slaney_norm = match o.norm.as_deref() {
        None => false,
        Some("slaney") => true,
        Some(other) => {
            return Err(FeatureError::BadValue {
                name: "norm".into(),
                value: other.into(),
                expected: "none or slaney".into(),
            })
        }
    };
    let mult = o.db_multiplier()?;

    // Scale, constant `pad`, then centre padding by n_fft/2.
    let mut x: Vec<f32> = if o.input_scale == 1.0 {
        samples.to_vec()
    } else {
        samples.iter().map(|v| v * o.input_scale as f32).collect()
    };
    if o.pad > 0 {
        x = pad_signal(&x, o.pad, PadMode::Constant)?;
    }
    if o.center {
        x = pad_signal(&x, o.n_fft / 2, o.pad_mode)?;
    }
    if x.len() < o.n_fft {
        return Err(FeatureError::TooShort {
            samples: samples.len(),
            needed: o.n_fft,
        });
    }
    let n_frames = 1 + (x.len() - o.n_fft) / hop;

    // Periodic Hann of win_length, zero-padded centrally to n_fft (torch.stft).
    let mut win = vec![0.0f32; o.n_fft];
    let left = (o.n_fft - win_len) / 2;
    // torchaudio multiplies by torch.hann_window's float32 values; librosa by scipy's float64
    // window (its frames are then float64, stored as complex64).
    let hann: Vec<f32> = match o.flavor {
        Flavor::Torchaudio => window::torch_hann32(win_len, true),
        Flavor::Librosa => window::hann(win_len, true)
            .into_iter()
            .map(|v| v as f32)
            .collect(),
    };
    win[left..left + win_len].copy_from_slice(&hann);
    let spec = Spectrum::new(o.n_fft);
    let n_bins = spec.n_bins();
    let bank: MelBank = match o.flavor {
        Flavor::Torchaudio => torchaudio_bank(
            n_bins,
            o.f_min,
            f_max,
            o.n_mels,
            o.sample_rate,
            slaney_norm,
            o.mel_scale,
        ),
        Flavor::Librosa => librosa_bank(
            o.sample_rate,
            o.n_fft,
            o.n_mels,
            o.f_min,
            f_max,
            o.mel_scale == MelScale::Htk,
            slaney_norm,
        ),
    };
    let norm_scale = if o.normalized {
        let e: f32 = win.iter().map(|w| w * w).sum();
        Some(e.sqrt())
    } else {
        None
    };
    let power = o.power as f32;

    let n_mels = o.n_mels;
    let mut out = vec![0.0f32; n_frames * n_mels];
    const CHUNK: usize = 128;
    out.par_chunks_mut(CHUNK * n_mels)
        .enumerate()
        .for_each(|(c, rows)| {
            let mut s = spec.scratch();
            let mut mag = vec![0.0f32; n_bins];
            for (j, row) in rows.chunks_mut(n_mels).enumerate() {
                let start = (c * CHUNK + j) * hop;
                for ((d, v), w) in s.input.iter_mut().zip(&x[start..start + o.n_fft]).zip(&win) {
                    *d = v * w;
                }
                if power == 2.0 && norm_scale.is_none() {
                    spec.compute(&mut s, &mut mag, true);
                } else {
                    spec.compute(&mut s, &mut mag, false);
                    for m in mag.iter_mut() {
                        let a = norm_scale.map_or(*m, |n| *m / n);
                        *m = if power == 1.0 { a } else { a.powf(power) };
                    }
                }
                bank.apply(&mag, row);
                if to_db {
                    row.iter_mut()
                        .for_each(|v| *v = mult * fastlog::log10(v.max(1e-10)));
                }
            }
        });
    if let (true, Some(top)) = (to_db, o.top_db) {
        let max = out.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let floor = max - top as f32;
        out.iter_mut().for_each(|v| *v = v.max(floor));
    }
    // Frame i's window (win_length, centred in n_fft) starts at i·hop − n_fft/2 + (n_fft − win)/2
    // in the original signal (before centre and constant padding).
    let mut offset = -(o.pad as i64);
    if o.center {
        offset -= (o.n_fft / 2) as i64;
    }
    offset += left as i64;
    let grid = FrameGrid::new(o.sample_rate, hop as u64, win_len as u64, offset);
    Frames::new(out, n_mels, grid).map_err(|e| invalid(e.to_string()))
}
