//! Kaldi fbank and MFCC with torchaudio's semantics (`torchaudio/compliance/kaldi.py`, 2.11):
//! frames of `frame_length` ms every `frame_shift` ms, per-frame DC removal, raw log energy,
//! pre-emphasis with a replicated first sample, window, zero-padding to a power of two, power
//! spectrum, Kaldi's mel bank, log with a float32-epsilon floor.

use crate::mel::{kaldi_bank, MelBank};
use crate::stft::Spectrum;
use crate::{fastlog, invalid, window, FeatureError};
use earmark_core::{FrameGrid, Frames};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// torch's float32 machine epsilon, Kaldi's log floor: `log(eps) = -15.942385`.
pub const EPSILON: f32 = f32::EPSILON;

/// Kaldi window types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WindowType {
    Povey,
    Hanning,
    Hamming,
    Rectangular,
    Blackman,
}

impl WindowType {
    pub const NAMES: &'static str = "povey, hanning, hamming, rectangular, blackman";

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "povey" => WindowType::Povey,
            "hanning" => WindowType::Hanning,
            "hamming" => WindowType::Hamming,
            "rectangular" => WindowType::Rectangular,
            "blackman" => WindowType::Blackman,
            _ => return None,
        })
    }

    fn build(self, n: usize, blackman_coeff: f64) -> Vec<f32> {
        // torchaudio's `_feature_window_function`, in its float32 arithmetic.
        match self {
            WindowType::Povey => window::torch_povey32(n),
            WindowType::Hanning => window::torch_hann32(n, false),
            WindowType::Hamming => window::torch_hamming32(n, false, 0.54, 0.46),
            WindowType::Rectangular => vec![1.0; n],
            WindowType::Blackman => window::torch_blackman32(n, blackman_coeff),
        }
    }
}

/// The keyword arguments of `torchaudio.compliance.kaldi.fbank`, by their names, with torchaudio's
/// defaults except `dither = 0` (earmark is deterministic), plus `input_scale` (BEATs' ×2¹⁵) and
/// the dither `seed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FbankOptions {
    pub blackman_coeff: f64,
    pub channel: i64,
    pub dither: f64,
    pub energy_floor: f64,
    pub frame_length: f64,
    pub frame_shift: f64,
    pub high_freq: f64,
    pub htk_compat: bool,
    pub low_freq: f64,
    pub min_duration: f64,
    pub num_mel_bins: usize,
    pub preemphasis_coefficient: f64,
    pub raw_energy: bool,
    pub remove_dc_offset: bool,
    pub round_to_power_of_two: bool,
    pub sample_frequency: f64,
    pub snip_edges: bool,
    pub subtract_mean: bool,
    pub use_energy: bool,
    pub use_log_fbank: bool,
    pub use_power: bool,
    pub vtln_high: f64,
    pub vtln_low: f64,
    pub vtln_warp: f64,
    pub window_type: WindowType,
    /// earmark: multiply the waveform by this first (BEATs: 32768).
    pub input_scale: f64,
    /// earmark: seed of the Gaussian dither.
    pub seed: u64,
}

impl Default for FbankOptions {
    fn default() -> Self {
        FbankOptions {
            blackman_coeff: 0.42,
            channel: -1,
            dither: 0.0,
            energy_floor: 1.0,
            frame_length: 25.0,
            frame_shift: 10.0,
            high_freq: 0.0,
            htk_compat: false,
            low_freq: 20.0,
            min_duration: 0.0,
            num_mel_bins: 23,
            preemphasis_coefficient: 0.97,
            raw_energy: true,
            remove_dc_offset: true,
            round_to_power_of_two: true,
            sample_frequency: 16000.0,
            snip_edges: true,
            subtract_mean: false,
            use_energy: false,
            use_log_fbank: true,
            use_power: true,
            vtln_high: -500.0,
            vtln_low: 100.0,
            vtln_warp: 1.0,
            window_type: WindowType::Povey,
            input_scale: 1.0,
            seed: 0,
        }
    }
}

/// The keyword arguments of `torchaudio.compliance.kaldi.mfcc`: the fbank ones (less
/// `use_log_fbank`/`use_power`, which MFCC fixes to true) plus `num_ceps` and `cepstral_lifter`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MfccOptions {
    #[serde(flatten)]
    pub fbank: FbankOptions,
    pub num_ceps: usize,
    pub cepstral_lifter: f64,
}

impl Default for MfccOptions {
    fn default() -> Self {
        MfccOptions {
            fbank: FbankOptions::default(),
            num_ceps: 13,
            cepstral_lifter: 22.0,
        }
    }
}

/// Frame geometry resolved from the options, as `_get_waveform_and_window_properties` does.
struct Geometry {
    shift: usize,
    size: usize,
    padded: usize,
}

fn geometry(o: &FbankOptions) -> Result<Geometry, FeatureError> {
    // Python's int(): truncation of the float product (16000·25·0.001 = 400.00000000000006 → 400).
    let shift = (o.sample_frequency * o.frame_shift * 0.001) as i64;
    let size = (o.sample_frequency * o.frame_length * 0.001) as i64;
    if shift <= 0 {
        return Err(invalid(format!(
            "frame_shift {} ms gives a shift of {shift} samples",
            o.frame_shift
        )));
    }
    if size < 2 {
        return Err(invalid(format!(
            "frame_length {} ms gives a window of {size} samples (need ≥ 2)",
            o.frame_length
        )));
    }
    let (shift, size) = (shift as usize, size as usize);
    let padded = if o.round_to_power_of_two {
        size.checked_next_power_of_two()
            .ok_or_else(|| invalid(format!("frame_length {} ms is too long", o.frame_length)))?
    } else {
        size
    };
    if padded % 2 != 0 {
        return Err(invalid(format!(
            "the padded window size {padded} must be even (set round_to_power_of_two=true or an even frame_length)"
        )));
    }
    Ok(Geometry {
        shift,
        size,
        padded,
    })
}

fn check(o: &FbankOptions) -> Result<(), FeatureError> {
    if o.vtln_warp != 1.0 {
        return Err(FeatureError::Unsupported {
            what: format!(
                "vtln_warp={} (VTLN warping; only 1.0 is implemented)",
                o.vtln_warp
            ),
        });
    }
    if o.sample_frequency.is_nan() || o.sample_frequency <= 0.0 || !o.sample_frequency.is_finite() {
        return Err(invalid(format!(
            "sample_frequency {} must be positive",
            o.sample_frequency
        )));
    }
    if o.channel < -1 {
        return Err(invalid(format!(
            "channel {} (earmark mixes down to mono; use -1 or 0)",
            o.channel
        )));
    }
    Ok(())
}

/// The shared front half of fbank and MFCC: mel energies (log or linear) and log energies.
struct Fbank {
    rows: Vec<f32>,
    energy: Vec<f32>,
    n_frames: usize,
    grid: FrameGrid,
}

/// Deterministic Gaussian noise for dither, seeded per frame so threads don't change it.
fn dither_noise(seed: u64, frame: usize, out: &mut [f32], scale: f32) {
    let mut state = seed ^ (frame as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    };
    for v in out.iter_mut() {
        let (u1, u2) = (next().max(1e-300), next());
        let g = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        *v += scale * g as f32;
    }
}

fn mel_energies(
    samples: &[f32],
    o: &FbankOptions,
    use_log: bool,
    use_power: bool,
) -> Result<Fbank, FeatureError> {
    check(o)?;
    let g = geometry(o)?;
    // torchaudio asserts `window_size <= len(waveform)` before anything else (min_duration
    // included); checking it before building the bank also bounds its size by the input's.
    if samples.len() < g.size {
        return Err(FeatureError::TooShort {
            samples: samples.len(),
            needed: g.size,
        });
    }
    let bank: MelBank = kaldi_bank(
        o.num_mel_bins,
        g.padded,
        o.sample_frequency,
        o.low_freq,
        o.high_freq,
    )
    .map_err(invalid)?;
    let rate = o.sample_frequency.round() as u32;
    let empty_grid = FrameGrid::new(rate, g.shift as u64, g.size as u64, 0);
    if (samples.len() as f64) < o.min_duration * o.sample_frequency {
        return Ok(Fbank {
            rows: Vec::new(),
            energy: Vec::new(),
            n_frames: 0,
            grid: empty_grid,
        });
    }

    // Scaled (and, without snip_edges, padded) signal. Padding: the first `pad` samples reversed
    // on the left ([2,1,0 | 0,1,2...]), the whole signal reversed on the right.
    let scale = o.input_scale as f32;
    let scaled: Vec<f32>;
    let (signal, n_frames, offset): (&[f32], usize, i64) = if o.snip_edges {
        let n = 1 + (samples.len() - g.size) / g.shift;
        if scale != 1.0 {
            scaled = samples.iter().map(|x| x * scale).collect();
            (&scaled, n, 0)
        } else {
            (samples, n, 0)
        }
    } else {
        let n = (samples.len() + g.shift / 2) / g.shift;
        let pad = (g.size / 2) as i64 - (g.shift / 2) as i64;
        let mut v = Vec::with_capacity(samples.len() * 2 + pad.max(0) as usize);
        if pad >= 0 {
            v.extend(samples[..pad as usize].iter().rev());
            v.extend_from_slice(samples);
        } else {
            v.extend_from_slice(&samples[(-pad) as usize..]);
        }
        v.extend(samples.iter().rev());
        if scale != 1.0 {
            v.iter_mut().for_each(|x| *x *= scale);
        }
        scaled = v;
        (&scaled, n, -pad)
    };

    let win = o.window_type.build(g.size, o.blackman_coeff);
    let spec = Spectrum::new(g.padded);
    let n_bins = spec.n_bins();
    let n_mel = o.num_mel_bins;
    let preemph = o.preemphasis_coefficient as f32;
    let log_floor = if o.energy_floor > 0.0 {
        Some((o.energy_floor as f32).ln())
    } else {
        None
    };
    let log_energy = |frame: &[f32]| {
        let e = sum8(frame, |x| x * x);
        let le = e.max(EPSILON).ln();
        match log_floor {
            Some(f) if o.energy_floor != 0.0 => le.max(f),
            _ => le,
        }
    };

    // Only fbank/mfcc with use_energy read the energy column; skip its sum otherwise.
    let want_energy = o.use_energy;
    let mut rows = vec![0.0f32; n_frames * n_mel];
    let mut energy = vec![0.0f32; n_frames];
    const CHUNK: usize = 256;
    rows.par_chunks_mut(CHUNK * n_mel)
        .zip(energy.par_chunks_mut(CHUNK))
        .enumerate()
        .for_each(|(c, (rows, energy))| {
            let mut s = spec.scratch();
            let mut power = vec![0.0f32; n_bins];
            for (j, (row, e)) in rows.chunks_mut(n_mel).zip(energy.iter_mut()).enumerate() {
                let i = c * CHUNK + j;
                let start = i * g.shift;
                let frame = &mut s.input[..g.size];
                frame.copy_from_slice(&signal[start..start + g.size]);
                if o.dither != 0.0 {
                    dither_noise(o.seed, i, frame, o.dither as f32);
                }
                if o.remove_dc_offset {
                    let mean = sum8(frame, |x| x) / g.size as f32;
                    frame.iter_mut().for_each(|x| *x -= mean);
                }
                if want_energy && o.raw_energy {
                    *e = log_energy(frame);
                }
                if preemph != 0.0 {
                    for k in (1..g.size).rev() {
                        frame[k] -= preemph * frame[k - 1];
                    }
                    frame[0] -= preemph * frame[0];
                }
                frame.iter_mut().zip(&win).for_each(|(x, w)| *x *= w);
                if want_energy && !o.raw_energy {
                    *e = log_energy(frame);
                }
                s.input[g.size..].iter_mut().for_each(|x| *x = 0.0);
                spec.compute(&mut s, &mut power, use_power);
                bank.apply(&power, row);
                if use_log {
                    row.iter_mut()
                        .for_each(|v| *v = fastlog::ln(v.max(EPSILON)));
                }
            }
        });
    let grid = FrameGrid::new(rate, g.shift as u64, g.size as u64, offset);
    Ok(Fbank {
        rows,
        energy,
        n_frames,
        grid,
    })
}

/// `Σ f(x)` with 8 independent accumulators. A single sequential f32 chain neither vectorises
/// nor matches torch's (vectorised, blocked) reductions as closely.
#[inline]
fn sum8(xs: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = xs.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, x) in acc.iter_mut().zip(c) {
            *a += f(*x);
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for x in rest {
        s += f(*x);
    }
    s
}

/// Subtract each column's mean over frames (`subtract_mean`).
fn subtract_column_mean(data: &mut [f32], dim: usize) {
    let n = data.len() / dim;
    if n == 0 {
        return;
    }
    let mut mean = vec![0.0f64; dim];
    for row in data.chunks(dim) {
        mean.iter_mut().zip(row).for_each(|(m, v)| *m += *v as f64);
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    for row in data.chunks_mut(dim) {
        row.iter_mut().zip(&mean).for_each(|(v, m)| *v -= *m as f32);
    }
}

/// `torchaudio.compliance.kaldi.fbank(samples, **opts)` as `[frames, num_mel_bins (+1)]`.
pub fn fbank(samples: &[f32], o: &FbankOptions) -> Result<Frames, FeatureError> {
    let fb = mel_energies(samples, o, o.use_log_fbank, o.use_power)?;
    let n_mel = o.num_mel_bins;
    let (mut data, dim) = if o.use_energy {
        let dim = n_mel + 1;
        let mut data = Vec::with_capacity(fb.n_frames * dim);
        for (row, e) in fb.rows.chunks(n_mel).zip(&fb.energy) {
            // Energy first, or last with htk_compat.
            if !o.htk_compat {
                data.push(*e);
            }
            data.extend_from_slice(row);
            if o.htk_compat {
                data.push(*e);
            }
        }
        (data, dim)
    } else {
        (fb.rows, n_mel)
    };
    if o.subtract_mean {
        subtract_column_mean(&mut data, dim);
    }
    Frames::new(data, dim, fb.grid).map_err(|e| invalid(e.to_string()))
}

/// `torchaudio.compliance.kaldi.mfcc(samples, **opts)` as `[frames, num_ceps]`.
pub fn mfcc(samples: &[f32], o: &MfccOptions) -> Result<Frames, FeatureError> {
    let f = &o.fbank;
    let n_mel = f.num_mel_bins;
    if o.num_ceps > n_mel {
        return Err(invalid(format!(
            "num_ceps {} must not exceed num_mel_bins {n_mel}",
            o.num_ceps
        )));
    }
    if o.num_ceps == 0 {
        return Err(invalid("num_ceps must be at least 1"));
    }
    // torchaudio calls fbank with the MFCC's own htk_compat and then slices the energy column
    // (last with htk_compat, first without) back out, so the DCT always sees exactly the
    // num_mel_bins log mel energies; `mel_energies` keeps them apart from the start.
    let fb = mel_energies(samples, f, true, true)?;
    let dct = dct_matrix(o.num_ceps, n_mel);
    let lifter: Vec<f32> = (0..o.num_ceps)
        .map(|i| {
            if o.cepstral_lifter != 0.0 {
                (1.0 + 0.5
                    * o.cepstral_lifter
                    * (std::f64::consts::PI * i as f64 / o.cepstral_lifter).sin())
                    as f32
            } else {
                1.0
            }
        })
        .collect();
    let nc = o.num_ceps;
    let mut data = vec![0.0f32; fb.n_frames * nc];
    for (i, out) in data.chunks_mut(nc).enumerate() {
        let mel = &fb.rows[i * n_mel..(i + 1) * n_mel];
        for (c, o_) in out.iter_mut().enumerate() {
            let s: f64 = mel
                .iter()
                .enumerate()
                .map(|(m, v)| *v as f64 * dct[m * nc + c])
                .sum();
            *o_ = s as f32 * lifter[c];
        }
        if f.use_energy {
            out[0] = fb.energy[i];
        }
        if f.htk_compat {
            let mut e = out[0];
            if !f.use_energy {
                e *= std::f32::consts::SQRT_2;
            }
            out.copy_within(1.., 0);
            out[nc - 1] = e;
        }
    }
    if f.subtract_mean {
        subtract_column_mean(&mut data, nc);
    }
    Frames::new(data, nc, fb.grid).map_err(|e| invalid(e.to_string()))
}

/// torchaudio's `_get_dct_matrix`: orthonormal DCT-II `[n_mel][num_ceps]` with column 0 set to
/// `sqrt(1/n_mel)` (Kaldi's weighting of the first cepstrum).
fn dct_matrix(num_ceps: usize, n_mel: usize) -> Vec<f64> {
    let mut m = vec![0.0; n_mel * num_ceps];
    let nm = n_mel as f64;
    for n in 0..n_mel {
        for k in 0..num_ceps {
            m[n * num_ceps + k] = if k == 0 {
                (1.0 / nm).sqrt()
            } else {
                (std::f64::consts::PI / nm * (n as f64 + 0.5) * k as f64).cos() * (2.0 / nm).sqrt()
            };
        }
    }
    m
}
