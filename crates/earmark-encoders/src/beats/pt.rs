//! Reading a released BEATs `.pt` file without running any of it.
//!
//! The file is a `torch.save` zip: `<stem>/data.pkl` holds `{'cfg': dict, 'model': state_dict}`
//! (plus `'label_dict': {int: str}` for fine-tuned checkpoints) and `<stem>/data/<key>` the
//! tensor storages. The pickle is parsed once with candle's [`Stack`], an interpreter of the
//! opcodes that build plain values and tensor records (it has no opcode that imports or calls
//! code); `cfg` and `label_dict` become plain values and each `model` entry a tensor record
//! ([`Object::into_tensor_info`]) whose storage is read from the zip. The zip directory is read
//! here rather than by candle's `read_all_with_key`, whose zip crate rejects some torch 2.11
//! archives (the pre-trained fixture: "Invalid Central Directory header") that Python's
//! `zipfile` and torch read; torch writes entries uncompressed, so no inflater is needed.
//! A storage shared by several keys (the relative-position table) is read once.

use super::config::Config;
use crate::checkpoint::Checkpoint;
use crate::error::EncoderError;
use candle_core::pickle::{Object, Stack, TensorInfo};
use candle_core::{DType, Device, Tensor};
use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// `data.pkl` of a state dict is small (a few hundred kB for the base model); anything far
/// larger is not a checkpoint this reader should trust.
const MAX_PICKLE_BYTES: u64 = 256 << 20;

/// The parts of a BEATs checkpoint.
#[derive(Debug, Clone)]
pub struct PtFile {
    pub config: Config,
    /// `label_dict` as names ordered by class index, when present.
    pub labels: Option<Vec<String>>,
    /// The `model` state dict, converted to f32.
    pub checkpoint: Checkpoint,
}

/// Read `cfg`, `label_dict` and the `model` state dict of a BEATs `.pt` file.
pub fn read(path: &Path, device: &Device) -> Result<PtFile, EncoderError> {
    if !path.is_file() {
        return Err(EncoderError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such checkpoint file"),
        ));
    }
    let mut zip = ZipDir::open(path)?;
    let pkl = zip.find_data_pkl()?;
    let dir = pkl.trim_end_matches(".pkl").to_string();
    if let Ok(order) = zip.read(&format!("{}/byteorder", pkl.trim_end_matches("/data.pkl"))) {
        if order != b"little" {
            return Err(EncoderError::format(
                path,
                format!(
                    "byteorder {:?}: only little-endian checkpoints are read",
                    String::from_utf8_lossy(&order)
                ),
            ));
        }
    }
    let bytes = zip.read(&pkl)?;
    let mut stack = Stack::empty();
    let top = stack
        .read_loop(&mut std::io::Cursor::new(bytes))
        .and_then(|_| stack.finalize())
        .map_err(|e| EncoderError::format(path, format!("BEATs checkpoint pickle: {e}")))?;
    let (config, labels, model) = parse_top(path, top)?;
    let bad = |why: String| EncoderError::format(path, why);
    let entries = model
        .dict()
        .map_err(|o| bad(format!("'model' is {}, not a state dict", describe(&o))))?;
    let mut storages: HashMap<String, Vec<f32>> = HashMap::new();
    let mut tensors = HashMap::with_capacity(entries.len());
    for (k, v) in entries {
        let key = match &k {
            Object::Unicode(s) => s.clone(),
            o => {
                return Err(bad(format!(
                    "state dict key {} is not a string",
                    describe(o)
                )))
            }
        };
        if key == "_metadata" {
            // The state dict's per-module version attribute, which candle's reader surfaces as
            // an entry; not a parameter.
            continue;
        }
        let info = v
            .into_tensor_info(k, Path::new(&dir))
            .map_err(|e| bad(format!("model[{key:?}]: {e}")))?
            .ok_or_else(|| bad(format!("model[{key:?}] is not a tensor")))?;
        if !storages.contains_key(&info.path) {
            let raw = zip.read(&info.path)?;
            let n = info.storage_size * info.dtype.size_in_bytes();
            let data = raw
                .get(..n)
                .ok_or_else(|| {
                    bad(format!(
                        "{} holds {} bytes, expected {n}",
                        info.path,
                        raw.len()
                    ))
                })
                .and_then(|b| {
                    Tensor::from_raw_buffer(b, info.dtype, &[info.storage_size], &Device::Cpu)
                        .and_then(|t| t.to_dtype(DType::F32))
                        .and_then(|t| t.to_vec1::<f32>())
                        .map_err(|e| bad(format!("{}: {e}", info.path)))
                })?;
            storages.insert(info.path.clone(), data);
        }
        let storage = &storages[&info.path];
        let data = strided(storage, &info)
            .ok_or_else(|| bad(format!("model[{key:?}]: its view runs past its storage")))?;
        let t = Tensor::from_vec(data, info.layout.dims(), device)
            .map_err(|e| bad(format!("model[{key:?}]: {e}")))?;
        tensors.insert(key, t);
    }
    Ok(PtFile {
        config,
        labels,
        checkpoint: Checkpoint {
            path: path.to_path_buf(),
            tensors,
        },
    })
}

/// The elements of a (possibly strided) view into its storage, in row-major order; `None` if
/// the view reaches outside the storage.
fn strided(storage: &[f32], info: &TensorInfo) -> Option<Vec<f32>> {
    let dims = info.layout.dims();
    let strides = info.layout.stride();
    let start = info.layout.start_offset() / info.dtype.size_in_bytes();
    let numel: usize = dims.iter().product();
    if numel == 0 {
        return Some(Vec::new());
    }
    let last = dims
        .iter()
        .zip(strides)
        .try_fold(start, |a, (&d, &s)| a.checked_add((d - 1).checked_mul(s)?))?;
    if last >= storage.len() {
        return None;
    }
    if info.layout.is_contiguous() {
        return Some(storage[start..start + numel].to_vec());
    }
    let mut out = Vec::with_capacity(numel);
    let mut idx = vec![0usize; dims.len()];
    for _ in 0..numel {
        let off: usize = start + idx.iter().zip(strides).map(|(i, s)| i * s).sum::<usize>();
        out.push(storage[off]);
        for ax in (0..dims.len()).rev() {
            idx[ax] += 1;
            if idx[ax] < dims[ax] {
                break;
            }
            idx[ax] = 0;
        }
    }
    Some(out)
}

type Top = (Config, Option<Vec<String>>, Object);

/// `cfg`, `label_dict` and the `model` object from the top-level dict.
fn parse_top(path: &Path, top: Object) -> Result<Top, EncoderError> {
    let bad = |why: String| EncoderError::format(path, why);
    let entries = top.dict().map_err(|o| {
        bad(format!(
            "expected a dict {{'cfg', 'model'}} at the top of the pickle (a BEATs release \
             checkpoint), found {}",
            describe(&o)
        ))
    })?;
    let (mut cfg, mut labels, mut model) = (None, None, None);
    for (k, v) in entries {
        match k {
            Object::Unicode(k) if k == "cfg" => cfg = Some(v),
            Object::Unicode(k) if k == "label_dict" => labels = Some(v),
            Object::Unicode(k) if k == "model" => model = Some(v),
            _ => {}
        }
    }
    let model = model.ok_or_else(|| {
        bad("no 'model' entry: not a BEATs release checkpoint (expected {'cfg', 'model'})".into())
    })?;
    let cfg = cfg.ok_or_else(|| {
        bad("no 'cfg' entry: not a BEATs release checkpoint (expected {'cfg', 'model'})".into())
    })?;
    let json = to_json(cfg).map_err(|w| bad(format!("cfg: {w}")))?;
    if !json.is_object() {
        return Err(bad("cfg is not a dict".into()));
    }
    let config: Config =
        serde_json::from_value(json).map_err(|e| bad(format!("cfg does not parse: {e}")))?;
    let labels = match labels {
        None | Some(Object::None) => None,
        Some(v) => Some(parse_labels(v).map_err(|w| bad(format!("label_dict: {w}")))?),
    };
    Ok((config, labels, model))
}

/// `{0: name, 1: name, …}` → names by index; the indices must be exactly `0..n`.
fn parse_labels(v: Object) -> Result<Vec<String>, String> {
    let entries = v
        .dict()
        .map_err(|o| format!("expected a dict, found {}", describe(&o)))?;
    let mut by_index: Vec<Option<String>> = vec![None; entries.len()];
    for (k, v) in entries {
        let i = k
            .int_or_long()
            .map_err(|o| format!("key {} is not an integer", describe(&o)))?;
        let name = match v {
            Object::Unicode(s) => s,
            Object::Int(n) => n.to_string(),
            Object::Long(n) => n.to_string(),
            o => return Err(format!("label {i} is {}, not a string", describe(&o))),
        };
        match usize::try_from(i).ok().and_then(|i| by_index.get_mut(i)) {
            Some(slot) if slot.is_none() => *slot = Some(name),
            _ => {
                return Err(format!(
                    "index {i} is out of 0..{} or repeated",
                    by_index.len()
                ))
            }
        }
    }
    // n distinct indices inside 0..n cover every slot.
    Ok(by_index.into_iter().flatten().collect())
}

/// A plain pickled value (numbers, strings, bools, None, lists, tuples, string-keyed dicts).
fn to_json(o: Object) -> Result<serde_json::Value, String> {
    use serde_json::Value;
    Ok(match o {
        Object::Int(i) => Value::from(i),
        Object::Long(i) => Value::from(i),
        Object::Float(f) => serde_json::Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        Object::Unicode(s) => Value::String(s),
        Object::Bool(b) => Value::Bool(b),
        Object::None => Value::Null,
        Object::Tuple(v) | Object::List(v) => {
            Value::Array(v.into_iter().map(to_json).collect::<Result<_, _>>()?)
        }
        Object::Dict(kv) => {
            let mut m = serde_json::Map::new();
            for (k, v) in kv {
                let key = match k {
                    Object::Unicode(s) => s,
                    o => return Err(format!("non-string key {}", describe(&o))),
                };
                // A value we cannot read only matters if `Config` has that field: keep it as a
                // marker string so serde names the field if it does.
                let val = to_json(v).unwrap_or_else(|w| Value::String(format!("<{w}>")));
                m.insert(key, val);
            }
            Value::Object(m)
        }
        o => return Err(format!("unreadable value {}", describe(&o))),
    })
}

fn describe(o: &Object) -> String {
    let s = format!("{o:?}");
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s
    }
}

// ------------------------------------------------------------------ zip directory

fn u16_at(b: &[u8], i: usize) -> Option<u64> {
    Some(u16::from_le_bytes(b.get(i..i + 2)?.try_into().ok()?) as u64)
}
fn u32_at(b: &[u8], i: usize) -> Option<u64> {
    Some(u32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?) as u64)
}
fn u64_at(b: &[u8], i: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(i..i + 8)?.try_into().ok()?))
}

/// One stored zip entry: where its local header starts and its size.
struct Entry {
    local: u64,
    size: u64,
    method: u64,
}

/// The central directory of a zip file, and the file to read entries from.
struct ZipDir<'a> {
    path: &'a Path,
    file: std::fs::File,
    len: u64,
    entries: HashMap<String, Entry>,
}

impl<'a> ZipDir<'a> {
    fn bad(&self, why: &str) -> EncoderError {
        EncoderError::format(
            self.path,
            format!(
                "not a torch.save zip checkpoint ({why}); legacy non-zip .pt files are not read"
            ),
        )
    }

    fn read_at(&mut self, off: u64, n: u64) -> Result<Vec<u8>, EncoderError> {
        if off.checked_add(n).is_none_or(|end| end > self.len) {
            return Err(self.bad("an offset points past the end of the file"));
        }
        let mut buf = vec![0u8; n as usize];
        self.file
            .seek(SeekFrom::Start(off))
            .and_then(|_| self.file.read_exact(&mut buf))
            .map_err(|e| EncoderError::io(self.path, e))?;
        Ok(buf)
    }

    fn open(path: &'a Path) -> Result<Self, EncoderError> {
        let file = std::fs::File::open(path).map_err(|e| EncoderError::io(path, e))?;
        let len = file
            .metadata()
            .map_err(|e| EncoderError::io(path, e))?
            .len();
        let mut z = ZipDir {
            path,
            file,
            len,
            entries: HashMap::new(),
        };
        // End of central directory: in the last 22 + 65535 (comment) bytes.
        let tail_len = len.min(22 + 65_535);
        let tail = z.read_at(len - tail_len, tail_len)?;
        let eocd = (0..tail.len().saturating_sub(21))
            .rev()
            .find(|&i| tail[i..i + 4] == [0x50, 0x4b, 0x05, 0x06])
            .ok_or_else(|| z.bad("no end-of-central-directory record"))?;
        let eocd_pos = len - tail_len + eocd as u64;
        let e = &tail[eocd..];
        let trunc = |z: &Self| z.bad("truncated zip directory");
        let (mut n, mut cd_size, mut cd_off) = match (u16_at(e, 10), u32_at(e, 12), u32_at(e, 16)) {
            (Some(a), Some(b), Some(c)) => (a, b, c),
            _ => return Err(trunc(&z)),
        };
        if n == 0xffff || cd_size == 0xffff_ffff || cd_off == 0xffff_ffff {
            // Zip64: the locator sits just before the classic record.
            let at = eocd_pos
                .checked_sub(20)
                .ok_or_else(|| z.bad("no zip64 locator"))?;
            let loc = z.read_at(at, 20)?;
            if loc[..4] != [0x50, 0x4b, 0x06, 0x07] {
                return Err(z.bad("no zip64 locator"));
            }
            let rec = z.read_at(u64_at(&loc, 8).ok_or_else(|| trunc(&z))?, 56)?;
            if rec[..4] != [0x50, 0x4b, 0x06, 0x06] {
                return Err(z.bad("bad zip64 end-of-central-directory"));
            }
            match (u64_at(&rec, 32), u64_at(&rec, 40), u64_at(&rec, 48)) {
                (Some(a), Some(b), Some(c)) => (n, cd_size, cd_off) = (a, b, c),
                _ => return Err(trunc(&z)),
            }
        }
        if cd_size > MAX_PICKLE_BYTES {
            return Err(z.bad("central directory too large"));
        }
        let cd = z.read_at(cd_off, cd_size)?;
        let mut p = 0usize;
        for _ in 0..n {
            if cd.get(p..p + 4) != Some(&[0x50, 0x4b, 0x01, 0x02][..]) {
                return Err(trunc(&z));
            }
            let field = |f: fn(&[u8], usize) -> Option<u64>, at: usize| f(&cd, p + at);
            let (
                Some(method),
                Some(mut csize),
                Some(mut size),
                Some(nlen),
                Some(xlen),
                Some(clen),
                Some(mut local),
            ) = (
                field(u16_at, 10),
                field(u32_at, 20),
                field(u32_at, 24),
                field(u16_at, 28),
                field(u16_at, 30),
                field(u16_at, 32),
                field(u32_at, 42),
            )
            else {
                return Err(trunc(&z));
            };
            let (nlen, xlen, clen) = (nlen as usize, xlen as usize, clen as usize);
            let name = cd.get(p + 46..p + 46 + nlen).ok_or_else(|| trunc(&z))?;
            let name = String::from_utf8_lossy(name).into_owned();
            let extra = cd
                .get(p + 46 + nlen..p + 46 + nlen + xlen)
                .ok_or_else(|| trunc(&z))?;
            // Zip64 extra field: the 0xffffffff fields, in this order, as u64.
            let mut q = 0usize;
            while q + 4 <= extra.len() {
                let (id, len) = (u16_at(extra, q), u16_at(extra, q + 2).unwrap_or(0) as usize);
                if id == Some(1) {
                    let mut r = q + 4;
                    for v in [&mut size, &mut csize, &mut local] {
                        if *v == 0xffff_ffff {
                            *v = u64_at(extra, r).ok_or_else(|| trunc(&z))?;
                            r += 8;
                        }
                    }
                }
                q += 4 + len;
            }
            let method = if csize == size { method } else { method.max(1) };
            z.entries.insert(
                name,
                Entry {
                    local,
                    size,
                    method,
                },
            );
            p += 46 + nlen + xlen + clen;
        }
        Ok(z)
    }

    /// The name of the archive's `<stem>/data.pkl` entry.
    fn find_data_pkl(&self) -> Result<String, EncoderError> {
        let mut names: Vec<&String> = self
            .entries
            .keys()
            .filter(|n| n.ends_with("/data.pkl") && n.matches('/').count() == 1)
            .collect();
        names.sort();
        match names.as_slice() {
            [one] => Ok(one.to_string()),
            [] => Err(self.bad("no <name>/data.pkl entry")),
            _ => Err(self.bad("several data.pkl entries")),
        }
    }

    /// The bytes of a stored entry.
    fn read(&mut self, name: &str) -> Result<Vec<u8>, EncoderError> {
        let (local, size, method) = match self.entries.get(name) {
            Some(e) => (e.local, e.size, e.method),
            None => return Err(self.bad(&format!("no entry {name}"))),
        };
        if method != 0 {
            return Err(EncoderError::format(
                self.path,
                format!("{name} is compressed (zip method {method}); torch.save stores entries"),
            ));
        }
        if name.ends_with(".pkl") && size > MAX_PICKLE_BYTES {
            return Err(EncoderError::format(
                self.path,
                format!("{name} is {size} bytes, over the {MAX_PICKLE_BYTES}-byte limit"),
            ));
        }
        let lh = self.read_at(local, 30)?;
        if lh[..4] != [0x50, 0x4b, 0x03, 0x04] {
            return Err(self.bad("bad local file header"));
        }
        let skip = 30 + u16_at(&lh, 26).unwrap_or(0) + u16_at(&lh, 28).unwrap_or(0);
        self.read_at(local + skip, size)
    }
}
