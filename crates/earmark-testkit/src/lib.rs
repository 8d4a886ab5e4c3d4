//! Dev-only helpers shared by earmark's tests and benches: the golden fixtures copied from
//! `shared/fixtures` into `testdata/fixtures`, tolerance checks that say where they fail, and
//! deterministic synthetic signals.

use ndarray::ArrayD;
use ndarray_npy::{NpzReader, ReadNpyExt};
use std::fs::File;
use std::path::{Path, PathBuf};

/// `testdata/fixtures` at the workspace root.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/fixtures")
        .canonicalize()
        .expect("testdata/fixtures exists at the workspace root")
}

/// A fixture file's path, from its path relative to `testdata/fixtures`.
pub fn fixture(rel: &str) -> PathBuf {
    fixtures_dir().join(rel)
}

/// A float32 `.npy` fixture as (flat data, shape).
pub fn read_npy_f32(rel: &str) -> (Vec<f32>, Vec<usize>) {
    let path = fixture(rel);
    let f = File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let a = ArrayD::<f32>::read_npy(f).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let shape = a.shape().to_vec();
    // Logical (C) order whatever the file's layout: numpy may store an array column-major.
    (a.iter().copied().collect(), shape)
}

/// A float64 or int64 `.npy` fixture (the scikit-learn metric inputs and outputs) as (flat
/// values widened to f64, shape).
pub fn read_npy_f64(rel: &str) -> (Vec<f64>, Vec<usize>) {
    let path = fixture(rel);
    let open = || File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if let Ok(a) = ArrayD::<f64>::read_npy(open()) {
        let shape = a.shape().to_vec();
        return (a.iter().copied().collect(), shape);
    }
    let a = ArrayD::<i64>::read_npy(open())
        .unwrap_or_else(|e| panic!("{}: neither f8 nor i8: {e}", path.display()));
    let shape = a.shape().to_vec();
    (a.iter().map(|&v| v as f64).collect(), shape)
}

/// One float32 array from an `.npz` fixture as (flat data, shape).
pub fn read_npz_f32(rel: &str, key: &str) -> (Vec<f32>, Vec<usize>) {
    let path = fixture(rel);
    let f = File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut npz = NpzReader::new(f).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let a: ArrayD<f32> = npz
        .by_name(&format!("{key}.npy"))
        .or_else(|_| npz.by_name(key))
        .unwrap_or_else(|e| panic!("{}: key {key}: {e}", path.display()));
    let shape = a.shape().to_vec();
    // Logical (C) order whatever the file's layout: numpy may store an array column-major.
    (a.iter().copied().collect(), shape)
}

/// A JSON fixture.
pub fn read_json(rel: &str) -> serde_json::Value {
    let path = fixture(rel);
    let s = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Largest absolute difference, and where it is.
pub fn max_abs_diff(got: &[f32], want: &[f32]) -> (f32, usize) {
    assert_eq!(got.len(), want.len(), "length mismatch");
    let mut worst = (0.0f32, 0usize);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let d = (g - w).abs();
        if d > worst.0 || d.is_nan() {
            worst = (if d.is_nan() { f32::INFINITY } else { d }, i);
        }
    }
    worst
}

/// Assert `|got − want| ≤ atol` elementwise; the message names the worst element (row, column for
/// the given row width) and the values.
pub fn assert_abs_close(what: &str, got: &[f32], want: &[f32], width: usize, atol: f32) -> f32 {
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: length {} vs {}",
        got.len(),
        want.len()
    );
    let (d, i) = max_abs_diff(got, want);
    assert!(
        d <= atol,
        "{what}: max abs error {d:e} > {atol:e} at [{}, {}]: got {} want {}",
        i / width.max(1),
        i % width.max(1),
        got[i],
        want[i]
    );
    d
}

/// Assert `|got − want| ≤ rtol·|want| + stol·max|want|` elementwise (the fixtures README's bound for
/// linear outputs). Returns the largest `|got − want| / max|want|`.
pub fn assert_rel_close(
    what: &str,
    got: &[f32],
    want: &[f32],
    width: usize,
    rtol: f32,
    stol: f32,
) -> f32 {
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: length {} vs {}",
        got.len(),
        want.len()
    );
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let mut worst = 0.0f32;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let d = (g - w).abs();
        let bound = rtol * w.abs() + stol * scale;
        assert!(
            d <= bound,
            "{what}: at [{}, {}] got {g} want {w}: |diff| {d:e} > {bound:e}",
            i / width.max(1),
            i % width.max(1)
        );
        worst = worst.max(d / scale.max(f32::MIN_POSITIVE));
    }
    worst
}

/// Deterministic pseudo-random numbers for synthetic signals: the workspace's SplitMix64.
pub struct Rng(earmark_core::SplitMix64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(earmark_core::SplitMix64::new(seed))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        self.0.next_f64()
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        self.0.normal()
    }
}

/// A sine of `freq` Hz and amplitude `amp`, `n` samples at `rate`.
pub fn sine(rate: u32, freq: f64, amp: f64, n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| (amp * (2.0 * std::f64::consts::PI * freq * i as f64 / rate as f64).sin()) as f32)
        .collect()
}

/// White noise plus a few tones: a signal with energy in every mel band.
pub fn test_signal(rate: u32, n: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|i| {
            let t = i as f64 / rate as f64;
            let tones = 0.2 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()
                + 0.1 * (2.0 * std::f64::consts::PI * 3100.0 * t).sin()
                + 0.05 * (2.0 * std::f64::consts::PI * 60.0 * t).sin();
            (tones + 0.05 * rng.normal()) as f32
        })
        .collect()
}

/// `max|got − want| / max|want|`, the fixtures' parity measure (NaN counts as infinitely wrong).
pub fn rel_err(got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(
        got.len(),
        want.len(),
        "length {} vs {}",
        got.len(),
        want.len()
    );
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    let diff = got.iter().zip(want).fold(0f32, |m, (g, w)| {
        let d = (g - w).abs();
        m.max(if d.is_nan() { f32::INFINITY } else { d })
    });
    diff / scale.max(f32::MIN_POSITIVE)
}

/// Per-array relative errors of one run: printed (`--nocapture`) and asserted together at the
/// end, so a failure lists every array over the tolerance, not just the first.
pub struct ParityReport {
    name: String,
    tol: f32,
    rows: Vec<(String, f32)>,
}

impl ParityReport {
    pub fn new(name: &str, tol: f32) -> Self {
        ParityReport {
            name: name.into(),
            tol,
            rows: Vec::new(),
        }
    }

    pub fn check(&mut self, what: &str, got: &[f32], want: &[f32]) {
        self.rows.push((what.to_string(), rel_err(got, want)));
    }

    pub fn finish(self) {
        for (k, v) in &self.rows {
            println!("PARITY {:<24} {:<36} {:.2e}", self.name, k, v);
        }
        let tol = self.tol;
        let bad: Vec<_> = self
            .rows
            .iter()
            .filter(|(_, e)| e.is_nan() || *e > tol)
            .collect();
        assert!(bad.is_empty(), "{}: over {tol:e}: {bad:?}", self.name);
    }
}
