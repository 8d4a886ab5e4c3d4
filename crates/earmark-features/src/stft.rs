//! Real FFT power spectra, planned once and run with per-thread scratch buffers.

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};
use std::sync::Arc;

/// A planned real FFT of size `n` producing `n/2 + 1` bins.
#[derive(Clone)]
pub struct Spectrum {
    fft: Arc<dyn RealToComplex<f32>>,
    pub n: usize,
}

/// Per-thread buffers for [`Spectrum`].
pub struct Scratch {
    pub input: Vec<f32>,
    out: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
}

impl Spectrum {
    pub fn new(n: usize) -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(n);
        Spectrum { fft, n }
    }

    pub fn n_bins(&self) -> usize {
        self.n / 2 + 1
    }

    pub fn scratch(&self) -> Scratch {
        Scratch {
            input: self.fft.make_input_vec(),
            out: self.fft.make_output_vec(),
            scratch: self.fft.make_scratch_vec(),
        }
    }

    /// FFT of `s.input` (which it clobbers) into `|X|²` (`power`) or `|X|` in `dest`.
    #[inline]
    pub fn compute(&self, s: &mut Scratch, dest: &mut [f32], power: bool) {
        // Sizes come from make_*_vec, so process cannot fail.
        let _ = self
            .fft
            .process_with_scratch(&mut s.input, &mut s.out, &mut s.scratch);
        for (d, c) in dest.iter_mut().zip(&s.out) {
            let p = c.re * c.re + c.im * c.im;
            *d = if power { p } else { p.sqrt() };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The oracle: a naive DFT in f64.
    fn naive_power(x: &[f32]) -> Vec<f64> {
        let n = x.len();
        (0..=n / 2)
            .map(|k| {
                let (mut re, mut im) = (0.0f64, 0.0f64);
                for (t, v) in x.iter().enumerate() {
                    let a = -2.0 * std::f64::consts::PI * (k * t) as f64 / n as f64;
                    re += *v as f64 * a.cos();
                    im += *v as f64 * a.sin();
                }
                re * re + im * im
            })
            .collect()
    }

    #[test]
    fn matches_a_naive_dft() {
        for n in [512usize, 400, 1024, 2048] {
            let mut rng = earmark_testkit::Rng::new(n as u64);
            let x: Vec<f32> = (0..n).map(|_| rng.normal() as f32).collect();
            let spec = Spectrum::new(n);
            let mut s = spec.scratch();
            s.input.copy_from_slice(&x);
            let mut got = vec![0.0f32; spec.n_bins()];
            spec.compute(&mut s, &mut got, true);
            let want = naive_power(&x);
            let scale = want.iter().cloned().fold(0.0, f64::max);
            for (k, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (*g as f64 - w).abs() <= 1e-5 * scale + 1e-4 * w.abs(),
                    "n={n} bin {k}: {g} vs {w}"
                );
            }
        }
    }
}
