//! `.npz` output for Python users: float32 arrays, int64 scalars and unicode string arrays, in an
//! uncompressed zip of numpy format 1.0 `.npy` entries, written atomically.

use crate::atomic::write_atomic_with;
use std::io::Write;
use std::path::Path;

/// An `.npz` file being assembled in memory.
#[derive(Default)]
pub struct Npz {
    entries: Vec<(String, Vec<u8>)>,
}

fn shape_text(shape: &[usize]) -> String {
    match shape {
        [] => "()".into(),
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The npy 1.0 header: magic, version, length, and the dict padded so data starts on 64 bytes.
fn npy_header(descr: &str, shape: &[usize]) -> Vec<u8> {
    let mut dict = format!(
        "{{'descr': '{descr}', 'fortran_order': False, 'shape': {}, }}",
        shape_text(shape)
    );
    let unpadded = 10 + dict.len() + 1;
    dict.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    dict.push('\n');
    let mut h = b"\x93NUMPY\x01\x00".to_vec();
    h.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    h.extend_from_slice(dict.as_bytes());
    h
}

impl Npz {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(n, _)| n.as_str())
    }

    /// A float32 array of `shape` (row-major).
    pub fn add_f32(&mut self, name: &str, shape: &[usize], data: &[f32]) {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        let mut b = npy_header("<f4", shape);
        b.reserve(data.len() * 4);
        data.iter()
            .for_each(|v| b.extend_from_slice(&v.to_le_bytes()));
        self.entries.push((name.into(), b));
    }

    /// A 0-d int64 scalar.
    pub fn add_i64(&mut self, name: &str, value: i64) {
        let mut b = npy_header("<i8", &[]);
        b.extend_from_slice(&value.to_le_bytes());
        self.entries.push((name.into(), b));
    }

    /// A 1-d numpy unicode array (`<U n`, UTF-32LE, zero-padded).
    pub fn add_strings(&mut self, name: &str, values: &[String]) {
        let width = values
            .iter()
            .map(|s| s.chars().count())
            .max()
            .unwrap_or(0)
            .max(1);
        let mut b = npy_header(&format!("<U{width}"), &[values.len()]);
        for s in values {
            let mut n = 0;
            for c in s.chars() {
                b.extend_from_slice(&(c as u32).to_le_bytes());
                n += 1;
            }
            b.extend(std::iter::repeat_n(0u8, 4 * (width - n)));
        }
        self.entries.push((name.into(), b));
    }

    /// Write the archive to `path` atomically.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        write_atomic_with(path, |w| {
            let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
            let opts = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored)
                .large_file(
                    self.entries
                        .iter()
                        .any(|(_, b)| b.len() > u32::MAX as usize / 2),
                );
            for (name, bytes) in &self.entries {
                zip.start_file(format!("{name}.npy"), opts)
                    .map_err(std::io::Error::other)?;
                zip.write_all(bytes)?;
            }
            let cursor = zip.finish().map_err(std::io::Error::other)?;
            w.write_all(&cursor.into_inner())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array0, Array2, ArrayD};
    use ndarray_npy::NpzReader;

    #[test]
    fn numpy_readers_read_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.npz");
        let mut npz = Npz::new();
        npz.add_f32("layer_03", &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.5]);
        npz.add_i64("hop_samples", 320);
        npz.add_strings("classes", &["Speech".into(), "Cough".into()]);
        npz.write(&p).unwrap();
        let mut r = NpzReader::new(std::fs::File::open(&p).unwrap()).unwrap();
        let a: Array2<f32> = r.by_name("layer_03.npy").unwrap();
        assert_eq!(a[[1, 2]], 6.5);
        let h: Array0<i64> = r.by_name("hop_samples.npy").unwrap();
        assert_eq!(h.into_scalar(), 320);
        // The string array's header and payload size.
        let bytes = std::fs::read(&p).unwrap();
        let s = String::from_utf8_lossy(&bytes);
        assert!(s.contains("'descr': '<U6', 'fortran_order': False, 'shape': (2,)"));
        let _: Option<ArrayD<f32>> = None;
        for (_, b) in &npz.entries {
            let hl = u16::from_le_bytes([b[8], b[9]]) as usize;
            assert_eq!((10 + hl) % 64, 0);
        }
    }
}
