//! Window functions as torch builds them (`torch.hann_window` & co.), computed in f64 and rounded.

use std::f64::consts::PI;

/// Symmetric (`periodic=false`, Kaldi) or periodic (`periodic=true`, torch.stft's default) Hann.
pub fn hann(n: usize, periodic: bool) -> Vec<f64> {
    if n == 1 {
        return vec![1.0];
    }
    let denom = if periodic { n } else { n - 1 } as f64;
    (0..n)
        .map(|i| 0.5 - 0.5 * (2.0 * PI * i as f64 / denom).cos())
        .collect()
}

/// Symmetric Hamming (alpha 0.54, beta 0.46), as Kaldi uses it.
#[cfg(test)] // the exact (f64) form; the float32 one below is used
pub fn hamming(n: usize) -> Vec<f64> {
    if n == 1 {
        return vec![1.0];
    }
    let denom = (n - 1) as f64;
    (0..n)
        .map(|i| 0.54 - 0.46 * (2.0 * PI * i as f64 / denom).cos())
        .collect()
}

/// Kaldi's Povey window: the symmetric Hann raised to 0.85.
#[cfg(test)] // the exact (f64) form; the float32 one below is used
pub fn povey(n: usize) -> Vec<f64> {
    hann(n, false).into_iter().map(|w| w.powf(0.85)).collect()
}

/// Kaldi's Blackman window with coefficient `c` (0.42 by default).
#[cfg(test)] // the exact (f64) form; the float32 one below is used
pub fn blackman(n: usize, c: f64) -> Vec<f64> {
    let a = 2.0 * PI / (n.max(2) - 1) as f64;
    (0..n)
        .map(|i| {
            let x = i as f64;
            c - 0.5 * (a * x).cos() + (0.5 - c) * (2.0 * a * x).cos()
        })
        .collect()
}

/// `torch.hamming_window(n, periodic, alpha, beta)` exactly as torch evaluates it in float32:
/// `arange(L) · f32(2π/(L−1))`, `cos`, `· f32(−beta)`, `+ f32(alpha)` with `L = n + periodic`.
///
/// Why not f64 rounded: the references multiply by *their* float32 window, whose values differ
/// from the exact ones by up to ~1e-7, a noise-like change of the window. Using the same float32
/// arithmetic takes that term out of the parity error (measured: a small gain; the remaining
/// ~1e-4 dB in bands 35 dB below a frame's peak is float32 FFT rounding on both sides).
pub fn torch_hamming32(n: usize, periodic: bool, alpha: f64, beta: f64) -> Vec<f32> {
    if n == 0 {
        return Vec::new();
    }
    if n == 1 {
        return vec![1.0];
    }
    let l = if periodic { n + 1 } else { n };
    let c = (PI * 2.0 / (l - 1) as f64) as f32;
    let (a, b) = (alpha as f32, -beta as f32);
    (0..n).map(|i| (i as f32 * c).cos() * b + a).collect()
}

/// `torch.hann_window(n, periodic)` in float32 (torch builds it as a Hamming with 0.5/0.5).
pub fn torch_hann32(n: usize, periodic: bool) -> Vec<f32> {
    torch_hamming32(n, periodic, 0.5, 0.5)
}

/// Kaldi's Povey window as torchaudio computes it: `hann_window(n, periodic=False).pow(0.85)`.
pub fn torch_povey32(n: usize) -> Vec<f32> {
    torch_hann32(n, false)
        .into_iter()
        .map(|w| w.powf(0.85))
        .collect()
}

/// torchaudio's Kaldi Blackman window in float32:
/// `c − 0.5·cos(a·i) + (0.5 − c)·cos(2a·i)` with `a = 2π/(n−1)`.
pub fn torch_blackman32(n: usize, c: f64) -> Vec<f32> {
    let a = 2.0 * PI / (n.max(2) - 1) as f64;
    let (a1, a2) = (a as f32, (2.0 * a) as f32);
    let (c0, c2) = (c as f32, (0.5 - c) as f32);
    (0..n)
        .map(|i| {
            let x = i as f32;
            c0 - 0.5 * (a1 * x).cos() + c2 * (a2 * x).cos()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_symmetry() {
        let h = hann(400, false);
        assert!(h[0].abs() < 1e-15 && h[399].abs() < 1e-15);
        assert!((h[10] - h[389]).abs() < 1e-12);
        let p = hann(400, true);
        assert!(p[0].abs() < 1e-15 && (p[200] - 1.0).abs() < 1e-12);
        assert!((hamming(400)[0] - 0.08).abs() < 1e-12);
        assert!((povey(400)[100] - hann(400, false)[100].powf(0.85)).abs() < 1e-15);
        let b = blackman(400, 0.42);
        assert!(b[0].abs() < 1e-12 && (b[10] - b[389]).abs() < 1e-12);
    }

    #[test]
    fn float32_windows_are_within_rounding_of_exact() {
        let close =
            |a: &[f32], b: &[f64]| a.iter().zip(b).all(|(x, y)| (*x as f64 - y).abs() < 1e-6);
        for n in [2usize, 3, 400, 401, 1024] {
            assert!(close(&torch_hann32(n, true), &hann(n, true)), "{n}");
            assert!(close(&torch_hann32(n, false), &hann(n, false)), "{n}");
            assert!(
                close(&torch_hamming32(n, false, 0.54, 0.46), &hamming(n)),
                "{n}"
            );
            assert!(close(&torch_povey32(n), &povey(n)), "{n}");
            assert!(close(&torch_blackman32(n, 0.42), &blackman(n, 0.42)), "{n}");
        }
    }
}
