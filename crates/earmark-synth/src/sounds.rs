//! Procedural sounds and backgrounds: cheap biquads and oscillators, every parameter drawn from
//! the caller's seeded RNG so a sound is a pure function of (seed, index).

use crate::rng::Rng;
use serde::{Deserialize, Serialize};
use std::f64::consts::PI;

/// The procedural event families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Procedural {
    /// Damped transient: a click exciting two or three decaying resonances.
    Impact,
    /// Band-pass filtered noise with a smooth envelope.
    Burst,
    /// Voiced/formant burst: a glottal pulse train with an f0 contour through formant resonators.
    Voice,
    /// Tonal sweep with harmonics (bird-call like).
    Chirp,
}

/// Background families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackgroundKind {
    White,
    Pink,
    Brown,
    /// Several overlapping voice-like streams, low-passed: speech-shaped and modulated.
    Babble,
    /// Per clip, one of pink, brown or babble (with a little pink under babble).
    Mixed,
}

/// RBJ cookbook band-pass (constant 0 dB peak gain), direct form I.
pub(crate) struct Biquad {
    b0: f64,
    b2: f64,
    a1: f64,
    a2: f64,
    x1: f64,
    x2: f64,
    y1: f64,
    y2: f64,
}

impl Biquad {
    pub(crate) fn bandpass(rate: u32, centre: f64, q: f64) -> Self {
        let w = 2.0 * PI * centre.min(0.45 * rate as f64) / rate as f64;
        let alpha = w.sin() / (2.0 * q);
        let a0 = 1.0 + alpha;
        Biquad {
            b0: alpha / a0,
            b2: -alpha / a0,
            a1: -2.0 * w.cos() / a0,
            a2: (1.0 - alpha) / a0,
            x1: 0.0,
            x2: 0.0,
            y1: 0.0,
            y2: 0.0,
        }
    }

    pub(crate) fn lowpass(rate: u32, cutoff: f64) -> Self {
        let w = 2.0 * PI * cutoff.min(0.45 * rate as f64) / rate as f64;
        let alpha = w.sin() / (2.0 * std::f64::consts::FRAC_1_SQRT_2);
        let a0 = 1.0 + alpha;
        let c = w.cos();
        // b0 = b2 = (1−c)/2, b1 = 1−c; b1 is carried as 2·b0.
        Biquad {
            b0: (1.0 - c) / 2.0 / a0,
            b2: (1.0 - c) / 2.0 / a0,
            a1: -2.0 * c / a0,
            a2: (1.0 - alpha) / a0,
            x1: 0.0,
            x2: 0.0,
            y1: 0.0,
            y2: 0.0,
        }
    }

    fn b1(&self) -> f64 {
        // Band-pass has b1 = 0; low-pass has b1 = 2·b0 (= b0 + b2).
        if self.b0 == -self.b2 {
            0.0
        } else {
            self.b0 + self.b2
        }
    }

    pub(crate) fn run(&mut self, x: f64) -> f64 {
        let y = self.b0 * x + self.b1() * self.x1 + self.b2 * self.x2
            - self.a1 * self.y1
            - self.a2 * self.y2;
        self.x2 = self.x1;
        self.x1 = x;
        self.y2 = self.y1;
        self.y1 = y;
        y
    }
}

/// Attack/release raised-cosine envelope over `n` samples.
fn envelope(n: usize, attack: usize, release: usize) -> impl Fn(usize) -> f64 {
    let attack = attack.clamp(1, n.max(2) / 2);
    let release = release.clamp(1, n.max(2) / 2);
    move |i| {
        if i < attack {
            0.5 - 0.5 * (PI * i as f64 / attack as f64).cos()
        } else if i + release >= n {
            let k = n - i;
            0.5 - 0.5 * (PI * k as f64 / release as f64).cos()
        } else {
            1.0
        }
    }
}

/// One event of `kind`, `secs` long (before trimming to its audible extent).
pub(crate) fn event(kind: Procedural, secs: f64, rate: u32, rng: &mut Rng) -> Vec<f32> {
    let n = ((secs * rate as f64) as usize).max(16);
    let r = rate as f64;
    let mut out = vec![0.0f64; n];
    match kind {
        Procedural::Impact => {
            // The envelope reaches −40 dB at the end: tau = secs / ln(100).
            let tau = secs / 100f64.ln();
            let modes = 2 + rng.below(2);
            for _ in 0..modes {
                let f = rng.range(250.0, 3500.0);
                let a = rng.range(0.4, 1.0);
                let ph = rng.range(0.0, 2.0 * PI);
                let t_scale = rng.range(0.7, 1.0);
                for (i, o) in out.iter_mut().enumerate() {
                    let t = i as f64 / r;
                    *o += a * (-t / (tau * t_scale)).exp() * (2.0 * PI * f * t + ph).sin();
                }
            }
            // The click: 2 ms of decaying noise.
            let click = (0.002 * r) as usize;
            for (i, o) in out.iter_mut().take(click).enumerate() {
                *o += rng.normal() * (1.0 - i as f64 / click as f64);
            }
        }
        Procedural::Burst => {
            let mut bp = Biquad::bandpass(rate, rng.range(800.0, 5000.0), rng.range(1.0, 4.0));
            let env = envelope(n, n / 5, n / 5);
            for (i, o) in out.iter_mut().enumerate() {
                *o = bp.run(rng.normal()) * env(i);
            }
        }
        Procedural::Voice => {
            let f0 = rng.range(100.0, 260.0);
            let glide = rng.range(-0.3, 0.3);
            let vib = rng.range(3.0, 7.0);
            let formants = [
                rng.range(450.0, 900.0),
                rng.range(1000.0, 2100.0),
                rng.range(2300.0, 3200.0),
            ];
            let mut filters: Vec<Biquad> = formants
                .iter()
                .map(|&f| Biquad::bandpass(rate, f, 6.0))
                .collect();
            let env = envelope(n, (0.03 * r) as usize, (0.05 * r) as usize);
            let mut phase = 0.0f64;
            for (i, o) in out.iter_mut().enumerate() {
                let t = i as f64 / r;
                let f = f0 * (1.0 + glide * t / secs) * (1.0 + 0.02 * (2.0 * PI * vib * t).sin());
                phase += f / r;
                // A glottal pulse per period: a short decaying spike.
                let frac = phase.fract();
                let src = if frac < 0.1 { 1.0 - frac * 10.0 } else { 0.0 } - 0.05;
                let y: f64 = filters
                    .iter_mut()
                    .enumerate()
                    .map(|(k, b)| b.run(src) / (k + 1) as f64)
                    .sum();
                *o = y * env(i);
            }
        }
        Procedural::Chirp => {
            let (f_a, f_b) = (rng.range(1500.0, 3000.0), rng.range(2500.0, 5000.0));
            let (f_start, f_end) = if rng.uniform() < 0.5 {
                (f_a, f_b)
            } else {
                (f_b, f_a)
            };
            let mut phase = 0.0f64;
            for (i, o) in out.iter_mut().enumerate() {
                let x = i as f64 / n as f64;
                let f = f_start + (f_end - f_start) * x;
                phase += 2.0 * PI * f / r;
                let hann = 0.5 - 0.5 * (2.0 * PI * x).cos();
                *o = hann * (phase.sin() + 0.3 * (2.0 * phase).sin());
            }
        }
    }
    out.into_iter().map(|x| x as f32).collect()
}

/// A background of `n` samples with unit RMS.
pub(crate) fn background(kind: BackgroundKind, n: usize, rate: u32, rng: &mut Rng) -> Vec<f32> {
    let kind = match kind {
        BackgroundKind::Mixed => match rng.below(3) {
            0 => BackgroundKind::Pink,
            1 => BackgroundKind::Brown,
            _ => BackgroundKind::Babble,
        },
        k => k,
    };
    let mut out = vec![0.0f64; n];
    match kind {
        BackgroundKind::White => out.iter_mut().for_each(|x| *x = rng.normal()),
        BackgroundKind::Pink | BackgroundKind::Mixed => pink(&mut out, rng),
        BackgroundKind::Brown => {
            let mut y = 0.0;
            for x in out.iter_mut() {
                y = 0.995 * y + 0.1 * rng.normal();
                *x = y;
            }
        }
        BackgroundKind::Babble => {
            let talkers = 4 + rng.below(4);
            for _ in 0..talkers {
                babble_stream(&mut out, rate, rng);
            }
            let mut lp = Biquad::lowpass(rate, 4000.0);
            out.iter_mut().for_each(|x| *x = lp.run(*x));
            let mut floor = vec![0.0; n];
            pink(&mut floor, rng);
            let (rb, rf) = (rms(&out).max(1e-12), rms(&floor).max(1e-12));
            for (x, f) in out.iter_mut().zip(&floor) {
                *x = *x / rb + 0.2 * f / rf;
            }
        }
    }
    let g = 1.0 / rms(&out).max(1e-12);
    out.into_iter().map(|x| (x * g) as f32).collect()
}

fn rms(x: &[f64]) -> f64 {
    (x.iter().map(|v| v * v).sum::<f64>() / x.len().max(1) as f64).sqrt()
}

/// Paul Kellet's economy pink filter over white noise.
fn pink(out: &mut [f64], rng: &mut Rng) {
    let (mut b0, mut b1, mut b2) = (0.0, 0.0, 0.0);
    for x in out.iter_mut() {
        let w = rng.normal();
        b0 = 0.99765 * b0 + w * 0.0990460;
        b1 = 0.96300 * b1 + w * 0.2965164;
        b2 = 0.57000 * b2 + w * 1.0526913;
        *x = b0 + b1 + b2 + w * 0.1848;
    }
}

/// One talker: syllables of voiced sound with changing formants and pauses.
fn babble_stream(out: &mut [f64], rate: u32, rng: &mut Rng) {
    let r = rate as f64;
    let mut i = (rng.uniform() * 0.3 * r) as usize;
    let gain = rng.range(0.5, 1.0);
    while i < out.len() {
        let len = (rng.range(0.12, 0.3) * r) as usize;
        let syl = event(Procedural::Voice, len as f64 / r, rate, rng);
        for (k, s) in syl.iter().enumerate() {
            if let Some(o) = out.get_mut(i + k) {
                *o += gain * *s as f64;
            }
        }
        i += len + (rng.range(0.02, 0.25) * r) as usize;
    }
}
