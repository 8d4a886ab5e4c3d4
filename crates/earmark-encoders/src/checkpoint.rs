//! Reading checkpoints from a path: safetensors (single or sharded), PyTorch zip pickles
//! (`pytorch_model.bin`, torchaudio `.pth`) and the loader check that a model consumed exactly
//! the checkpoint's key set.
//!
//! PyTorch files are read with candle's pickle reader, which interprets only the opcodes of a
//! state dict and never executes code. It finds the record folder from the `<stem>/data.pkl`
//! entry, so `archive/`, `pytorch_model/` and `model/` prefixes all work.

use crate::error::EncoderError;
use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::VarBuilder;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A checkpoint's tensors by name, all converted to f32, plus the file they came from.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub path: PathBuf,
    pub tensors: HashMap<String, Tensor>,
}

impl Checkpoint {
    /// Read a `.safetensors`, `.safetensors.index.json`, `.bin`, `.pt` or `.pth` file.
    pub fn read(path: &Path, device: &Device) -> Result<Self, EncoderError> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !path.is_file() {
            return Err(EncoderError::io(
                path,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such checkpoint file"),
            ));
        }
        let raw: Vec<(String, Tensor)> = if name.ends_with(".safetensors") {
            candle_core::safetensors::load(path, device)
                .map_err(|e| EncoderError::format(path, e))?
                .into_iter()
                .collect()
        } else if name.ends_with(".safetensors.index.json") {
            read_sharded(path, device)?
        } else {
            // PyTorch zip pickle (.bin, .pt, .pth).
            candle_core::pickle::read_all(path)
                .map_err(|e| EncoderError::format(path, format!("PyTorch checkpoint: {e}")))?
        };
        let mut tensors = HashMap::with_capacity(raw.len());
        for (k, t) in raw {
            let t = t
                .to_dtype(DType::F32)
                .and_then(|t| t.to_device(device))
                .map_err(|e| EncoderError::format(path, e))?;
            tensors.insert(k, t);
        }
        Ok(Checkpoint {
            path: path.to_path_buf(),
            tensors,
        })
    }

    /// Rename keys: `f` returns the new name, or `None` to keep the old one.
    pub fn rename(mut self, f: impl Fn(&str) -> Option<String>) -> Self {
        self.tensors = self
            .tensors
            .into_iter()
            .map(|(k, t)| (f(&k).unwrap_or(k), t))
            .collect();
        self
    }

    /// The common prefix (`"wav2vec2."`, `"audio_spectrogram_transformer."`, …) under which the
    /// backbone lives, if the checkpoint's keys use one of `candidates`.
    pub fn backbone_prefix(&self, candidates: &[&str]) -> Option<String> {
        candidates
            .iter()
            .find(|p| self.tensors.keys().any(|k| k.starts_with(*p)))
            .map(|p| p.to_string())
    }
}

fn read_sharded(index: &Path, device: &Device) -> Result<Vec<(String, Tensor)>, EncoderError> {
    let text = std::fs::read_to_string(index).map_err(|e| EncoderError::io(index, e))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| EncoderError::format(index, e))?;
    let map = v
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| EncoderError::format(index, "no weight_map"))?;
    let files: BTreeSet<&str> = map.values().filter_map(|f| f.as_str()).collect();
    let dir = index.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    for f in files {
        let p = dir.join(f);
        let ts =
            candle_core::safetensors::load(&p, device).map_err(|e| EncoderError::format(&p, e))?;
        out.extend(ts);
    }
    Ok(out)
}

/// What the model asked of the checkpoint while it was built.
#[derive(Default)]
struct Usage {
    used: HashSet<String>,
    missing: BTreeSet<String>,
}

/// A `VarBuilder` backend that records which tensors the model asked for. A tensor that is
/// absent is recorded as missing and stood in for by zeros, so that one build reports every
/// missing key at once.
struct Tracked {
    tensors: HashMap<String, Tensor>,
    usage: Arc<Mutex<Usage>>,
}

impl SimpleBackend for Tracked {
    fn get(
        &self,
        s: Shape,
        name: &str,
        _h: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        if !self.tensors.contains_key(name) {
            if let Ok(mut u) = self.usage.lock() {
                u.missing.insert(name.to_string());
            }
            return Tensor::zeros(s, dtype, dev);
        }
        let t = self.get_unchecked(name, dtype, dev)?;
        if t.shape() != &s {
            candle_core::bail!(
                "shape mismatch for {name}: checkpoint has {:?}, the model expects {:?}",
                t.dims(),
                s.dims()
            );
        }
        Ok(t)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        let t = self.tensors.get(name).ok_or_else(|| {
            candle_core::Error::CannotFindTensor {
                path: name.to_string(),
            }
            .bt()
        })?;
        if let Ok(mut u) = self.usage.lock() {
            u.used.insert(name.to_string());
        }
        t.to_dtype(dtype)?.to_device(dev)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }
}

/// Build a model from a checkpoint and check that it consumed exactly the checkpoint's keys.
///
/// `ignored` lists key prefixes the encoder deliberately leaves unused (pre-training heads such
/// as `quantizer.`, `masked_spec_embed`). Tensors the model asks for but the checkpoint lacks
/// are reported in `missing`; tensors left over are reported in `unexpected`.
pub fn build_checked<M>(
    ckpt: Checkpoint,
    device: &Device,
    ignored: &[&str],
    build: impl FnOnce(VarBuilder) -> candle_core::Result<M>,
) -> Result<M, EncoderError> {
    let keys: BTreeSet<String> = ckpt.tensors.keys().cloned().collect();
    let usage = Arc::new(Mutex::new(Usage::default()));
    let backend = Tracked {
        tensors: ckpt.tensors,
        usage: usage.clone(),
    };
    let vb = VarBuilder::from_backend(Box::new(backend), DType::F32, device.clone());
    let built = build(vb);
    let usage =
        std::mem::take(&mut *usage.lock().map_err(|_| {
            EncoderError::format(&ckpt.path, "internal: key tracking lock poisoned")
        })?);
    let unexpected: Vec<String> = keys
        .iter()
        .filter(|k| !usage.used.contains(*k) && !ignored.iter().any(|p| k.starts_with(p)))
        .cloned()
        .collect();
    if !usage.missing.is_empty() || (built.is_ok() && !unexpected.is_empty()) {
        return Err(EncoderError::Checkpoint {
            path: ckpt.path,
            missing: usage.missing.into_iter().collect(),
            unexpected,
        });
    }
    built.map_err(|e| EncoderError::format(&ckpt.path, e))
}

/// Read and parse a JSON file.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, EncoderError> {
    let text = std::fs::read_to_string(path).map_err(|e| EncoderError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| EncoderError::format(path, e))
}

/// The weights file of a Hugging Face model folder, in order of preference.
pub fn find_weights(dir: &Path) -> Result<PathBuf, EncoderError> {
    for name in [
        "model.safetensors",
        "model.safetensors.index.json",
        "pytorch_model.bin",
    ] {
        let p = dir.join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(EncoderError::io(
        dir,
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no model.safetensors, model.safetensors.index.json or pytorch_model.bin in this folder",
        ),
    ))
}
