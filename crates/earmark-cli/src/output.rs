//! Output files, always written atomically (see `earmark::atomic`).

use anyhow::Context;
use ndarray::ArrayView2;
use ndarray_npy::WriteNpyExt;
use std::path::Path;

/// Write `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    earmark::atomic::write_atomic(path, bytes)
        .with_context(|| format!("{}: writing", path.display()))
}

/// A float32 `[rows, cols]` .npy readable by numpy.
pub fn write_npy_2d(path: &Path, data: &[f32], rows: usize, cols: usize) -> anyhow::Result<()> {
    let view = ArrayView2::from_shape((rows, cols), data).context("array shape")?;
    earmark::atomic::write_atomic_with(path, |w| view.write_npy(w).map_err(std::io::Error::other))
        .with_context(|| format!("{}: writing", path.display()))
}
