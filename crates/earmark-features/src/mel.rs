//! Mel filter banks, stored sparsely (each filter's first bin and its nonzero weights), built the
//! way each reference builds them so that edge bins land on the same side of each triangle.

/// A bank of triangular filters over `n_bins` spectrum bins.
#[derive(Debug, Clone)]
pub struct MelBank {
    pub n_bins: usize,
    /// Per filter: (first bin, weights for bins first..first+len).
    pub filters: Vec<(usize, Vec<f32>)>,
}

impl MelBank {
    fn from_dense(rows: Vec<Vec<f32>>, n_bins: usize) -> Self {
        let filters = rows
            .into_iter()
            .map(|row| {
                let first = row.iter().position(|w| *w != 0.0);
                match first {
                    None => (0, Vec::new()),
                    Some(a) => {
                        let b = row.iter().rposition(|w| *w != 0.0).unwrap_or(a);
                        (a, row[a..=b].to_vec())
                    }
                }
            })
            .collect();
        MelBank { n_bins, filters }
    }

    #[cfg(test)]
    pub fn n_filters(&self) -> usize {
        self.filters.len()
    }

    /// `out[m] = Σ_k w[m,k]·spec[k]`.
    #[inline]
    pub fn apply(&self, spec: &[f32], out: &mut [f32]) {
        debug_assert_eq!(spec.len(), self.n_bins);
        for (o, (first, w)) in out.iter_mut().zip(&self.filters) {
            let s = &spec[*first..*first + w.len()];
            *o = w.iter().zip(s).map(|(a, b)| a * b).sum();
        }
    }

    /// Dense weights `[filters][bins]`, for tests.
    #[cfg(test)]
    pub fn dense(&self) -> Vec<Vec<f32>> {
        self.filters
            .iter()
            .map(|(first, w)| {
                let mut row = vec![0.0; self.n_bins];
                row[*first..*first + w.len()].copy_from_slice(w);
                row
            })
            .collect()
    }
}

/// Kaldi's mel scale, `1127·ln(1 + f/700)`.
pub fn kaldi_mel(f: f64) -> f64 {
    1127.0 * (1.0 + f / 700.0).ln()
}

/// `torchaudio.compliance.kaldi.get_mel_banks` (no VTLN warp) plus the zero Nyquist column, for a
/// `padded` point FFT. Like torchaudio, the per-bin mel values and edges are float32 tensors.
pub fn kaldi_bank(
    num_bins: usize,
    padded: usize,
    sample_freq: f64,
    low_freq: f64,
    high_freq: f64,
) -> Result<MelBank, String> {
    if num_bins <= 3 {
        return Err("num_mel_bins must be at least 4".into());
    }
    let nyquist = 0.5 * sample_freq;
    let high = if high_freq <= 0.0 {
        high_freq + nyquist
    } else {
        high_freq
    };
    if !(0.0 <= low_freq && low_freq < nyquist && 0.0 < high && high <= nyquist && low_freq < high)
    {
        return Err(format!(
            "bad values in options: low_freq {low_freq} and high_freq {high_freq} vs. nyquist {nyquist}"
        ));
    }
    let n_fft_bins = padded / 2;
    let bin_width = sample_freq / padded as f64;
    let mel_low = kaldi_mel(low_freq);
    let mel_high = kaldi_mel(high);
    let delta = (mel_high - mel_low) / (num_bins as f64 + 1.0);
    // mel of each FFT bin, in float32 as torch computes it.
    let mel_of_bin: Vec<f32> = (0..n_fft_bins)
        .map(|k| {
            let f = (bin_width as f32) * k as f32;
            1127.0f32 * (1.0f32 + f / 700.0f32).ln()
        })
        .collect();
    let rows = (0..num_bins)
        .map(|b| {
            let left = (mel_low + b as f64 * delta) as f32;
            let center = (mel_low + (b as f64 + 1.0) * delta) as f32;
            let right = (mel_low + (b as f64 + 2.0) * delta) as f32;
            let mut row = vec![0.0f32; n_fft_bins + 1];
            for (k, &m) in mel_of_bin.iter().enumerate() {
                let up = (m - left) / (center - left);
                let down = (right - m) / (right - center);
                row[k] = up.min(down).max(0.0);
            }
            row
        })
        .collect();
    Ok(MelBank::from_dense(rows, n_fft_bins + 1))
}

/// Which mel formula (`mel_scale` in torchaudio, `htk` in librosa).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MelScale {
    Htk,
    Slaney,
}

pub fn hz_to_mel(f: f64, scale: MelScale) -> f64 {
    match scale {
        MelScale::Htk => 2595.0 * (1.0 + f / 700.0).log10(),
        MelScale::Slaney => {
            let f_sp = 200.0 / 3.0;
            let min_log_hz = 1000.0;
            let min_log_mel = min_log_hz / f_sp;
            let logstep = 6.4f64.ln() / 27.0;
            if f >= min_log_hz {
                min_log_mel + (f / min_log_hz).ln() / logstep
            } else {
                f / f_sp
            }
        }
    }
}

pub fn mel_to_hz(m: f64, scale: MelScale) -> f64 {
    match scale {
        MelScale::Htk => 700.0 * (10f64.powf(m / 2595.0) - 1.0),
        MelScale::Slaney => {
            let f_sp = 200.0 / 3.0;
            let min_log_hz = 1000.0;
            let min_log_mel = min_log_hz / f_sp;
            let logstep = 6.4f64.ln() / 27.0;
            if m >= min_log_mel {
                min_log_hz * (logstep * (m - min_log_mel)).exp()
            } else {
                f_sp * m
            }
        }
    }
}

/// Triangles between consecutive points `f_pts` (Hz) over bin frequencies `freqs`, optionally
/// Slaney-normalised (area 1 per filter): the construction torchaudio and librosa share.
fn triangles(freqs: &[f64], f_pts: &[f64], slaney_norm: bool) -> Vec<Vec<f32>> {
    let n_mels = f_pts.len() - 2;
    (0..n_mels)
        .map(|m| {
            let (lo, c, hi) = (f_pts[m], f_pts[m + 1], f_pts[m + 2]);
            let enorm = if slaney_norm { 2.0 / (hi - lo) } else { 1.0 };
            freqs
                .iter()
                .map(|&f| {
                    let down = (f - lo) / (c - lo);
                    let up = (hi - f) / (hi - c);
                    (down.min(up).max(0.0) * enorm) as f32
                })
                .collect()
        })
        .collect()
}

/// `torchaudio.functional.melscale_fbanks` (transposed to `[n_mels][n_freqs]`).
pub fn torchaudio_bank(
    n_freqs: usize,
    f_min: f64,
    f_max: f64,
    n_mels: usize,
    sample_rate: u32,
    slaney_norm: bool,
    scale: MelScale,
) -> MelBank {
    // torch.linspace in float32; the mel points too.
    let nyq = (sample_rate / 2) as f64;
    let freqs: Vec<f64> = linspace32(0.0, nyq, n_freqs);
    let m_min = hz_to_mel(f_min, scale);
    let m_max = hz_to_mel(f_max, scale);
    let f_pts: Vec<f64> = linspace32(m_min, m_max, n_mels + 2)
        .into_iter()
        .map(|m| mel_to_hz(m, scale) as f32 as f64)
        .collect();
    MelBank::from_dense(triangles(&freqs, &f_pts, slaney_norm), n_freqs)
}

/// `librosa.filters.mel` (float64, cast to float32 at the end).
pub fn librosa_bank(
    sr: u32,
    n_fft: usize,
    n_mels: usize,
    fmin: f64,
    fmax: f64,
    htk: bool,
    slaney_norm: bool,
) -> MelBank {
    let n_freqs = 1 + n_fft / 2;
    let freqs: Vec<f64> = (0..n_freqs)
        .map(|k| k as f64 * sr as f64 / n_fft as f64)
        .collect();
    let scale = if htk { MelScale::Htk } else { MelScale::Slaney };
    let (lo, hi) = (hz_to_mel(fmin, scale), hz_to_mel(fmax, scale));
    let f_pts: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (n_mels + 1) as f64, scale))
        .collect();
    MelBank::from_dense(triangles(&freqs, &f_pts, slaney_norm), n_freqs)
}

/// `torch.linspace(a, b, n)` in float32 (torch computes `a + i·step` for the first half and
/// `b − (n−1−i)·step` for the second).
fn linspace32(a: f64, b: f64, n: usize) -> Vec<f64> {
    if n == 1 {
        return vec![a as f32 as f64];
    }
    let (a32, b32) = (a as f32, b as f32);
    let step = (b32 - a32) / (n - 1) as f32;
    let half = n / 2;
    (0..n)
        .map(|i| {
            let v = if i < half {
                a32 + step * i as f32
            } else {
                b32 - step * (n - 1 - i) as f32
            };
            v as f64
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mel_formulas_by_hand() {
        assert!((hz_to_mel(1000.0, MelScale::Htk) - 999.9855).abs() < 1e-3);
        assert!((hz_to_mel(1000.0, MelScale::Slaney) - 15.0).abs() < 1e-12);
        assert!((hz_to_mel(500.0, MelScale::Slaney) - 7.5).abs() < 1e-12);
        for f in [0.0, 300.0, 1000.0, 4321.0, 8000.0] {
            for s in [MelScale::Htk, MelScale::Slaney] {
                assert!((mel_to_hz(hz_to_mel(f, s), s) - f).abs() < 1e-9);
            }
        }
        assert!((kaldi_mel(700.0) - 1127.0 * 2f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn kaldi_128_bank_has_the_empty_filter() {
        // The fixtures README: filter 3 of the 128-bin bank at 16 kHz / 512 covers no FFT bin.
        let bank = kaldi_bank(128, 512, 16000.0, 20.0, 0.0).unwrap();
        assert_eq!(bank.n_filters(), 128);
        assert!(bank.filters[3].1.is_empty());
        assert!(!bank.filters[4].1.is_empty());
        // Nyquist column is zero.
        assert!(bank.dense().iter().all(|r| r[256] == 0.0));
    }

    #[test]
    fn slaney_norm_gives_unit_area_in_hz() {
        let bank = librosa_bank(16000, 2048, 40, 0.0, 8000.0, false, true);
        let bin_hz = 16000.0 / 2048.0;
        for (_, w) in &bank.filters[5..35] {
            let area: f64 = w.iter().map(|x| *x as f64 * bin_hz).sum::<f64>();
            assert!((area - 1.0).abs() < 0.05, "area {area}");
        }
    }
}
