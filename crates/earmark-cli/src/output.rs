//! Output files: always written to a temporary file beside the target and renamed into place, so a
//! crash never leaves a half-written file under the final name.

use anyhow::Context;
use ndarray::ArrayView2;
use ndarray_npy::WriteNpyExt;
use std::io::Write;
use std::path::{Path, PathBuf};

fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp{}", std::process::id()))
}

/// Write `bytes` to `path` atomically (temporary file + rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes).map_err(Into::into))
}

/// Write through `fill` to a temporary file, then rename it to `path`.
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("{}: creating folder", dir.display()))?;
    }
    let tmp = temp_path(path);
    let result = (|| {
        let file = std::fs::File::create(&tmp).with_context(|| format!("{}: creating", tmp.display()))?;
        let mut w = std::io::BufWriter::new(file);
        fill(&mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path).with_context(|| format!("{}: renaming into place", path.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("{}: writing", path.display()))
}

/// A float32 `[rows, cols]` .npy readable by numpy.
pub fn write_npy_2d(path: &Path, data: &[f32], rows: usize, cols: usize) -> anyhow::Result<()> {
    let view = ArrayView2::from_shape((rows, cols), data).context("array shape")?;
    write_atomic_with(path, |w| view.write_npy(w).map_err(Into::into))
}
