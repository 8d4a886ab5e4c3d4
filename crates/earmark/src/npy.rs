//! Reading `.npy`/`.npz` written by numpy (the Python pipeline's embedding caches, or any tool):
//! numeric arrays of any common dtype, booleans and fixed-width unicode strings (`<U n`), C or
//! Fortran order, compressed or stored zips. Pickled object arrays are refused with a remedy,
//! never executed. Writing a single float32 `.npy` (atomic) for `earmark predict`.

use crate::atomic::write_atomic_with;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    #[error("{path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{path}: entry {name:?}: {reason}")]
    Entry {
        path: String,
        name: String,
        reason: String,
    },
}

/// The values of one array, widened to a few working types.
#[derive(Debug, Clone, PartialEq)]
pub enum NpyData {
    /// Any float dtype (f2 is not supported; f4, f8 are).
    Float(Vec<f64>),
    /// Any integer or bool dtype.
    Int(Vec<i64>),
    /// Unicode strings (`<U n`), trailing NULs removed.
    Str(Vec<String>),
}

/// One array: C-order values and its shape.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    pub shape: Vec<usize>,
    pub data: NpyData,
}

impl NpyArray {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// All arrays of an `.npz`, by name (without `.npy`).
pub fn read_npz(path: &Path) -> Result<BTreeMap<String, NpyArray>, NpyError> {
    let err = |reason: String| NpyError::Read {
        path: path.display().to_string(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| err(format!("not an .npz (zip) archive: {e}")))?;
    let mut out = BTreeMap::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| err(e.to_string()))?;
        let name = entry.name().trim_end_matches(".npy").to_string();
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| err(format!("entry {name:?}: {e}")))?;
        let arr = parse_npy(&bytes).map_err(|reason| NpyError::Entry {
            path: path.display().to_string(),
            name: name.clone(),
            reason,
        })?;
        out.insert(name, arr);
    }
    Ok(out)
}

/// One `.npy` file.
pub fn read_npy(path: &Path) -> Result<NpyArray, NpyError> {
    let bytes = std::fs::read(path).map_err(|e| NpyError::Read {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    parse_npy(&bytes).map_err(|reason| NpyError::Read {
        path: path.display().to_string(),
        reason,
    })
}

/// Write a float32 C-order array atomically.
pub fn write_npy_f32(path: &Path, shape: &[usize], data: &[f32]) -> std::io::Result<()> {
    if shape.iter().product::<usize>() != data.len() {
        return Err(std::io::Error::other(
            "shape does not match the data length",
        ));
    }
    let dims: Vec<String> = shape.iter().map(|s| s.to_string()).collect();
    let shape_txt = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_txt}, }}");
    dict.push_str(&" ".repeat((64 - (10 + dict.len() + 1) % 64) % 64));
    dict.push('\n');
    write_atomic_with(path, |w| {
        w.write_all(b"\x93NUMPY\x01\x00")?;
        w.write_all(&(dict.len() as u16).to_le_bytes())?;
        w.write_all(dict.as_bytes())?;
        for v in data {
            w.write_all(&v.to_le_bytes())?;
        }
        Ok(())
    })
}

fn header_field<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header.find(&format!("'{key}'"))? + key.len() + 2;
    let rest = header[at..].trim_start().strip_prefix(':')?.trim_start();
    Some(rest)
}

/// Parses one `.npy` byte buffer.
pub fn parse_npy(b: &[u8]) -> Result<NpyArray, String> {
    if b.len() < 10 || &b[..6] != b"\x93NUMPY" {
        return Err("not a numpy .npy array (bad magic)".into());
    }
    let (hlen, start) = match b[6] {
        1 => (u16::from_le_bytes([b[8], b[9]]) as usize, 10),
        2 | 3 if b.len() >= 12 => (u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize, 12),
        v => return Err(format!("unsupported .npy version {v}")),
    };
    let header = b
        .get(start..start + hlen)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or("truncated or non-text .npy header")?;
    let descr = header_field(header, "descr")
        .and_then(|r| r.strip_prefix('\''))
        .and_then(|r| r.split('\'').next())
        .ok_or_else(|| format!("no descr in header {header:?}"))?;
    let fortran = header_field(header, "fortran_order")
        .map(|r| r.starts_with("True"))
        .unwrap_or(false);
    let shape_txt = header_field(header, "shape")
        .and_then(|r| r.strip_prefix('('))
        .and_then(|r| r.split(')').next())
        .ok_or_else(|| format!("no shape in header {header:?}"))?;
    let shape = shape_txt
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| format!("bad shape {shape_txt:?}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let n: usize = shape.iter().product();
    let data = &b[start + hlen..];
    let (order, kind, width) = {
        let mut c = descr.chars();
        let order = c.next().ok_or("empty descr")?;
        let kind = c.next().ok_or("short descr")?;
        let width: usize = c.as_str().parse().map_err(|_| format!("dtype {descr:?}"))?;
        (order, kind, width)
    };
    if kind == 'O' {
        return Err("object (pickled) arrays are not read; save with a numeric or fixed-width \
                    string dtype (e.g. np.asarray(x, dtype=np.float32), np.array(names, dtype=str))"
            .into());
    }
    if order == '>' && width > 1 {
        return Err(format!(
            "big-endian dtype {descr:?}: convert with .astype('<{kind}{width}')"
        ));
    }
    let item = if kind == 'U' { 4 * width } else { width };
    if data.len() < n * item {
        return Err(format!(
            "truncated: {} bytes of data for shape {shape:?} of {descr}",
            data.len()
        ));
    }
    let cell = |i: usize| &data[i * item..(i + 1) * item];
    let mut values = match (kind, width) {
        ('f', 4) => NpyData::Float(
            (0..n)
                .map(|i| f32::from_le_bytes(cell(i).try_into().unwrap()) as f64)
                .collect(),
        ),
        ('f', 8) => NpyData::Float(
            (0..n)
                .map(|i| f64::from_le_bytes(cell(i).try_into().unwrap()))
                .collect(),
        ),
        ('i' | 'u' | 'b', 1 | 2 | 4 | 8) => {
            let signed = kind == 'i';
            NpyData::Int(
                (0..n)
                    .map(|i| {
                        let c = cell(i);
                        let mut buf = [0u8; 8];
                        buf[..width].copy_from_slice(c);
                        if signed && c[width - 1] & 0x80 != 0 {
                            buf[width..].fill(0xff);
                        }
                        i64::from_le_bytes(buf)
                    })
                    .collect(),
            )
        }
        ('U', _) => NpyData::Str(
            (0..n)
                .map(|i| {
                    cell(i)
                        .chunks_exact(4)
                        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
                        .take_while(|&c| c != 0)
                        .map(|c| char::from_u32(c).unwrap_or('\u{fffd}'))
                        .collect()
                })
                .collect(),
        ),
        _ => return Err(format!("unsupported dtype {descr:?}")),
    };
    if fortran && shape.len() > 1 {
        values = to_c_order(values, &shape);
    }
    Ok(NpyArray {
        shape,
        data: values,
    })
}

/// Fortran (column-major) to C (row-major) order.
fn to_c_order(values: NpyData, shape: &[usize]) -> NpyData {
    let n: usize = shape.iter().product();
    // C index of each Fortran position.
    let perm: Vec<usize> = (0..n)
        .map(|f| {
            let (mut rem, mut c, mut stride) = (f, 0, 1);
            let mut strides = vec![0; shape.len()];
            for (k, s) in shape.iter().enumerate().rev() {
                strides[k] = stride;
                stride *= s;
            }
            for (k, s) in shape.iter().enumerate() {
                c += (rem % s) * strides[k];
                rem /= s;
            }
            c
        })
        .collect();
    fn scatter<T: Clone + Default>(v: Vec<T>, perm: &[usize]) -> Vec<T> {
        let mut out = vec![T::default(); v.len()];
        for (f, x) in v.into_iter().enumerate() {
            out[perm[f]] = x;
        }
        out
    }
    match values {
        NpyData::Float(v) => NpyData::Float(scatter(v, &perm)),
        NpyData::Int(v) => NpyData::Int(scatter(v, &perm)),
        NpyData::Str(v) => NpyData::Str(scatter(v, &perm)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::npz::Npz;

    #[test]
    fn reads_what_the_writer_and_numpy_write() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.npz");
        let mut npz = Npz::new();
        npz.add_f32("X", &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.5]);
        npz.add_i64("n", -320);
        npz.add_strings("classes", &["cough".into(), "gag".into()]);
        npz.write(&p).unwrap();
        let m = read_npz(&p).unwrap();
        assert_eq!(m["X"].shape, vec![2, 3]);
        assert_eq!(
            m["X"].data,
            NpyData::Float(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.5])
        );
        assert_eq!(m["n"].data, NpyData::Int(vec![-320]));
        assert_eq!(
            m["classes"].data,
            NpyData::Str(vec!["cough".into(), "gag".into()])
        );
        // Fortran order, int32 and bool, as numpy writes them.
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        let h = "{'descr': '<i4', 'fortran_order': True, 'shape': (2, 3), }";
        b.extend_from_slice(&(h.len() as u16).to_le_bytes());
        b.extend_from_slice(h.as_bytes());
        for v in [1i32, 4, 2, 5, 3, -6] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        let a = parse_npy(&b).unwrap();
        assert_eq!(a.data, NpyData::Int(vec![1, 2, 3, 4, 5, -6]));
        let o = parse_npy(
            &b.iter()
                .map(|&c| if c == b'i' { b'O' } else { c })
                .collect::<Vec<_>>(),
        );
        assert!(o.unwrap_err().contains("pickled"));
        let q = dir.path().join("p.npy");
        write_npy_f32(&q, &[2, 2], &[0.5, 0.25, 1.0, 0.0]).unwrap();
        let back = read_npy(&q).unwrap();
        assert_eq!(back.shape, vec![2, 2]);
        assert_eq!(back.data, NpyData::Float(vec![0.5, 0.25, 1.0, 0.0]));
    }
}

#[cfg(test)]
mod numpy_files {
    use super::*;

    fn repo(rel: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata")
            .join(rel)
    }

    /// Written by numpy 2.x: `np.savez_compressed(X=float32 [4,3], y=int64 [4], classes=<U5)`,
    /// and `np.savez(X=Fortran-order float64, y=uint8 [4,2])`.
    #[test]
    fn numpy_written_archives() {
        let m = read_npz(&repo("npz/compressed.npz")).unwrap();
        let x: Vec<f64> = (0..12).map(|v| v as f64 / 8.0).collect();
        assert_eq!(m["X"].data, NpyData::Float(x.clone()));
        assert_eq!(m["y"].data, NpyData::Int(vec![0, 1, 1, 0]));
        assert_eq!(
            m["classes"].data,
            NpyData::Str(vec!["quiet".into(), "cough".into()])
        );
        let f = read_npz(&repo("npz/multilabel_fortran.npz")).unwrap();
        assert_eq!(f["X"].shape, vec![4, 3]);
        assert_eq!(f["X"].data, NpyData::Float(x));
        assert_eq!(f["y"].data, NpyData::Int(vec![1, 0, 0, 1, 1, 1, 0, 0]));
    }
}
