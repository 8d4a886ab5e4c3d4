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
pub fn povey(n: usize) -> Vec<f64> {
    hann(n, false).into_iter().map(|w| w.powf(0.85)).collect()
}

/// Kaldi's Blackman window with coefficient `c` (0.42 by default).
pub fn blackman(n: usize, c: f64) -> Vec<f64> {
    let a = 2.0 * PI / (n.max(2) - 1) as f64;
    (0..n)
        .map(|i| {
            let x = i as f64;
            c - 0.5 * (a * x).cos() + (0.5 - c) * (2.0 * a * x).cos()
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
}
