//! The content-addressed embedding cache: frame embeddings of a recording, keyed by the SHA-256
//! of the file's bytes and by the encoder's identity and layer selection — so a renamed or copied
//! file hits, an edited file or another checkpoint misses, and training, comparing and scanning
//! the same corpus embed each file once.
//!
//! Layout: `<root>/frames/<key>/<file sha256>.npz` holding `frames` `[T, D]` float32 and the
//! frame grid (`rate`, `hop`, `win`, `offset`), for training; `<root>/scan/<key>/<file
//! sha256>.npz` holding a scan's pooled window rows (see `scan::scanner`). Keys hash the format
//! version, the encoder's weight identity, the layer selection (so `_ML` variants are distinct)
//! and, for scans, window, hop and pooling. Entries are written atomically (temporary file and
//! rename), so concurrent scans of the same files are safe; an unreadable or truncated entry is
//! recomputed and replaced, never trusted.

use crate::embed::{embed_file, EmbedError, EmbedOptions};
use crate::models::LoadedModel;
use crate::npy::{read_npz, NpyData};
use crate::npz::Npz;
use earmark_core::{FrameGrid, Frames};
use earmark_encoders::LayerSelection;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Bumped whenever what an entry holds changes meaning: older entries then simply miss.
pub const FORMAT_VERSION: &str = "earmark-cache-v1";

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
                            x == "safetensors"
                                || x == "bin"
                                || x == "json"
                                || x == "pth"
                                || x == "pt"
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
    // Preprocessing that changes the outputs of the same weights (EAT's frame policy).
    if !model.options_key.is_empty() {
        h.update(model.options_key.as_bytes());
    }
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
                // Whole-file frames: up to 30 s in one pass, 10 s windows stitched beyond
                // (`embed_file`'s automatic plan), so the plan is part of the format version.
                let key = sha256_hex(
                    format!("{FORMAT_VERSION}|frames|auto-30s-10s|{encoder_key}|{layers}")
                        .as_bytes(),
                );
                Some(
                    root.join("frames")
                        .join(&key[..16])
                        .join(format!("{sha}.npz")),
                )
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

/// What `earmark cache stats` reports, per kind of entry.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CacheStats {
    pub root: String,
    /// kind (`frames`, `scan`) → (entries, bytes)
    pub kinds: std::collections::BTreeMap<String, (usize, u64)>,
    /// Leftover temporary files of interrupted writes.
    pub temporaries: usize,
}

fn walk_files(dir: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk_files(&p, out);
            } else {
                out.push(p);
            }
        }
    }
}

fn is_temp(p: &Path) -> bool {
    p.file_name()
        .map(|n| n.to_string_lossy())
        .is_some_and(|n| n.starts_with('.') && n.ends_with(".tmp"))
}

/// Counts entries and bytes under `root`.
pub fn stats(root: &Path) -> CacheStats {
    let mut s = CacheStats {
        root: root.display().to_string(),
        ..Default::default()
    };
    for kind in ["frames", "scan"] {
        let mut files = Vec::new();
        walk_files(&root.join(kind), &mut files);
        let mut e = (0usize, 0u64);
        for f in files {
            if is_temp(&f) {
                s.temporaries += 1;
            } else {
                e.0 += 1;
                e.1 += f.metadata().map(|m| m.len()).unwrap_or(0);
            }
        }
        s.kinds.insert(kind.to_string(), e);
    }
    s
}

/// What `earmark cache gc` removed.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct GcReport {
    pub removed: usize,
    pub freed_bytes: u64,
    pub kept: usize,
    pub kept_bytes: u64,
}

/// Removes leftover temporaries older than an hour, unreadable entries, entries not used
/// (modified) for `older_than_days`, and then the least recently written entries until the
/// cache is at most `max_bytes`.
pub fn gc(root: &Path, older_than_days: Option<f64>, max_bytes: Option<u64>) -> GcReport {
    let now = std::time::SystemTime::now();
    let age = |p: &Path| {
        p.metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .map_or(0.0, |d| d.as_secs_f64())
    };
    let mut files = Vec::new();
    for kind in ["frames", "scan"] {
        walk_files(&root.join(kind), &mut files);
    }
    let mut r = GcReport::default();
    let mut live: Vec<(f64, u64, PathBuf)> = Vec::new();
    for f in files {
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let a = age(&f);
        let stale_temp = is_temp(&f) && a > 3600.0;
        let corrupt = !is_temp(&f) && crate::npy::read_npz(&f).is_err();
        let old = older_than_days.is_some_and(|d| a > d * 86_400.0);
        if stale_temp || corrupt || old {
            if std::fs::remove_file(&f).is_ok() {
                r.removed += 1;
                r.freed_bytes += len;
            }
        } else if !is_temp(&f) {
            live.push((a, len, f));
        }
    }
    if let Some(max) = max_bytes {
        // Oldest first.
        live.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut total: u64 = live.iter().map(|x| x.1).sum();
        let mut i = 0;
        while total > max && i < live.len() {
            if std::fs::remove_file(&live[i].2).is_ok() {
                r.removed += 1;
                r.freed_bytes += live[i].1;
                total -= live[i].1;
            }
            i += 1;
        }
        live.drain(..i);
    }
    r.kept = live.len();
    r.kept_bytes = live.iter().map(|x| x.1).sum();
    r
}
