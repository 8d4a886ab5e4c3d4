//! The content-addressed embedding cache: frame embeddings of a recording, keyed by the SHA-256
//! of the file's bytes and by the encoder's identity and layer selection — so a renamed or copied
//! file hits, an edited file or another checkpoint misses, and training, comparing and scanning
//! the same corpus embed each file once.
//!
//! Layout: `<root>/<encoder key>/<file sha256>.npz` holding `frames` `[T, D]` float32 and the
//! frame grid (`rate`, `hop`, `win`, `offset`). Entries are written atomically; an unreadable
//! entry is recomputed, never trusted.

use crate::embed::{embed_file, EmbedError, EmbedOptions};
use crate::models::LoadedModel;
use crate::npy::{read_npz, NpyData};
use crate::npz::Npz;
use earmark_core::{FrameGrid, Frames};
use earmark_encoders::LayerSelection;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Where cached embeddings go: `$EARMARK_CACHE`, else `$XDG_CACHE_HOME/earmark/embeddings`,
/// else `~/.cache/earmark/embeddings`.
pub fn default_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("EARMARK_CACHE").filter(|v| !v.is_empty()) {
        return PathBuf::from(d);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("earmark").join("embeddings")
}

/// SHA-256 of a file's bytes, hex.
pub fn file_sha256(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

/// SHA-256 of bytes, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The identity of a loaded encoder's weights: the SHA-256 of its checkpoint file(s) when it
/// came from disk, or of the built-in encoder's name and config.
pub fn encoder_id(model: &LoadedModel, name: &str) -> String {
    let src = &model.source;
    let files: Vec<PathBuf> = if src.is_file() {
        vec![src.clone()]
    } else if src.is_dir() {
        let mut v: Vec<PathBuf> = std::fs::read_dir(src)
            .map(|d| {
                d.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| {
                        p.extension().is_some_and(|x| {
                            x == "safetensors" || x == "bin" || x == "json" || x == "pth"
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    } else {
        Vec::new()
    };
    let mut h = Sha256::new();
    h.update(model.encoder.name().as_bytes());
    if files.is_empty() {
        // Built-in: seeded weights; the name (with any scratch:FILE already resolved above)
        // and the grid pin it.
        h.update(name.as_bytes());
        h.update(format!("{:?}", model.encoder.grid()).as_bytes());
    }
    for f in files {
        match file_sha256(&f) {
            Ok(s) => h.update(s.as_bytes()),
            Err(_) => h.update(f.display().to_string().as_bytes()),
        }
    }
    hex(&h.finalize())
}

/// A cache at a root folder, or none (every call computes).
#[derive(Debug, Clone)]
pub struct EmbeddingCache {
    pub root: Option<PathBuf>,
}

/// What a lookup did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    Hit,
    Miss,
    Disabled,
}

impl EmbeddingCache {
    pub fn new(root: Option<PathBuf>) -> Self {
        EmbeddingCache { root }
    }

    /// The frames of `path` (the selected layers concatenated along features), from the cache
    /// when present, else computed with [`embed_file`] (whole file up to 30 s, 10 s windows
    /// stitched on the encoder's grid beyond) and stored.
    pub fn frames(
        &self,
        model: &LoadedModel,
        encoder_key: &str,
        layers: &LayerSelection,
        path: &Path,
    ) -> Result<(Frames, Lookup), EmbedError> {
        let entry = match &self.root {
            Some(root) => {
                let sha = file_sha256(path).map_err(|e| EmbedError::Empty {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?;
                let key = sha256_hex(format!("{encoder_key}|{layers}").as_bytes());
                Some(root.join(&key[..16]).join(format!("{sha}.npz")))
            }
            None => None,
        };
        if let Some(p) = entry.as_ref().filter(|p| p.exists()) {
            if let Some(f) = read_entry(p) {
                return Ok((f, Lookup::Hit));
            }
        }
        let opts = EmbedOptions {
            layers: layers.clone(),
            ..EmbedOptions::default()
        };
        let emb = embed_file(model, path, &opts)?;
        let refs: Vec<&Frames> = emb.layers.iter().map(|(_, f)| f).collect();
        let frames =
            earmark_encoders::concat_layers(&refs).map_err(|source| EmbedError::Encoder {
                path: path.display().to_string(),
                source,
            })?;
        let Some(p) = entry else {
            return Ok((frames, Lookup::Disabled));
        };
        let mut npz = Npz::new();
        npz.add_f32("frames", &[frames.n_frames(), frames.dim], &frames.data);
        let g = frames.grid;
        npz.add_i64("rate", g.rate as i64);
        npz.add_i64("hop", g.hop as i64);
        npz.add_i64("win", g.win as i64);
        npz.add_i64("offset", g.offset);
        // A cache that cannot be written (read-only disk) costs speed, not the run.
        if let Err(e) = npz.write(&p) {
            eprintln!("warning: embedding cache {}: {e}", p.display());
        }
        Ok((frames, Lookup::Miss))
    }
}

fn read_entry(p: &Path) -> Option<Frames> {
    let m = read_npz(p).ok()?;
    let int = |k: &str| match m.get(k).map(|a| &a.data) {
        Some(NpyData::Int(v)) if v.len() == 1 => Some(v[0]),
        _ => None,
    };
    let a = m.get("frames")?;
    let NpyData::Float(v) = &a.data else {
        return None;
    };
    let dim = *a.shape.get(1)?;
    let grid = FrameGrid::new(
        u32::try_from(int("rate")?).ok()?,
        u64::try_from(int("hop")?).ok()?,
        u64::try_from(int("win")?).ok()?,
        int("offset")?,
    );
    Frames::new(v.iter().map(|&x| x as f32).collect(), dim, grid).ok()
}
