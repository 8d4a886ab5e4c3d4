//! A project folder: its recordings (every audio file under it), where earmark keeps its own files
//! (`.earmark/`), and the one place request paths are turned into files.

use crate::error::AppError;
use earmark_audio::{WindowOptions, Windows};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

/// Audio extensions a project picks up (those earmark decodes).
pub const AUDIO_EXT: &[&str] = &["wav", "wave", "flac", "mp3", "ogg", "oga", "m4a"];

/// earmark's own folder inside a project.
pub const OWN_DIR: &str = ".earmark";

/// One recording as the page lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Recording {
    /// Relative to the project, `/`-separated.
    pub path: String,
    #[serde(skip)]
    pub abs: PathBuf,
    pub duration: f64,
    pub sample_rate: u32,
    pub channels: usize,
    /// Why the file could not be read, if it could not (it is listed all the same).
    pub error: Option<String>,
}

/// Header facts of a file, remembered by (size, mtime) so listing a big project is cheap.
type InfoKey = (u64, Option<SystemTime>);

pub struct Project {
    /// Canonical: every resolved path must stay under it.
    pub root: PathBuf,
    info: Mutex<HashMap<PathBuf, (InfoKey, Recording)>>,
}

fn is_audio(p: &Path) -> bool {
    p.extension()
        .and_then(|x| x.to_str())
        .is_some_and(|x| AUDIO_EXT.contains(&x.to_ascii_lowercase().as_str()))
}

impl Project {
    pub fn open(dir: &Path) -> Result<Project, AppError> {
        let root = std::fs::canonicalize(dir)
            .map_err(|e| AppError::internal(format!("project {}: {e}", dir.display())))?;
        if !root.is_dir() {
            return Err(AppError::internal(format!(
                "project {}: not a folder",
                dir.display()
            )));
        }
        let p = Project {
            root,
            info: Mutex::new(HashMap::new()),
        };
        std::fs::create_dir_all(p.own())
            .map_err(|e| AppError::internal(format!("{}: {e}", p.own().display())))?;
        Ok(p)
    }

    /// `DIR/.earmark`.
    pub fn own(&self) -> PathBuf {
        self.root.join(OWN_DIR)
    }

    pub fn detectors_dir(&self) -> PathBuf {
        self.own().join("detectors")
    }

    pub fn scans_dir(&self) -> PathBuf {
        self.own().join("scans")
    }

    pub fn labels_dir(&self) -> PathBuf {
        self.own().join("labels")
    }

    /// The embedding cache of pages' jobs: inside the project, so the page writes nowhere else.
    pub fn cache_dir(&self) -> PathBuf {
        self.own().join("cache")
    }

    /// Every recording, sorted by path. Hidden folders (`.earmark` among them) are skipped, and
    /// so are symlinks that lead out of the project.
    pub fn recordings(&self) -> Vec<Recording> {
        let mut files = Vec::new();
        self.walk(&self.root.clone(), &mut files);
        files.sort();
        files
            .into_iter()
            .map(|(rel, abs)| self.info(rel, abs))
            .collect()
    }

    fn walk(&self, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            // Follow a symlink only when it stays inside the project.
            let Ok(real) = std::fs::canonicalize(&p) else {
                continue;
            };
            if !real.starts_with(&self.root) {
                continue;
            }
            if real.is_dir() {
                if !e.file_type().is_ok_and(|t| t.is_symlink()) {
                    self.walk(&p, out);
                }
            } else if is_audio(&p) {
                let rel = p
                    .strip_prefix(&self.root)
                    .unwrap_or(&p)
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                out.push((rel, p));
            }
        }
    }

    fn info(&self, rel: String, abs: PathBuf) -> Recording {
        let key: InfoKey = match std::fs::metadata(&abs) {
            Ok(m) => (m.len(), m.modified().ok()),
            Err(_) => (0, None),
        };
        if let Ok(cache) = self.info.lock() {
            if let Some((k, r)) = cache.get(&abs) {
                if *k == key {
                    return r.clone();
                }
            }
        }
        let r = probe(rel, abs.clone());
        if let Ok(mut cache) = self.info.lock() {
            cache.insert(abs, (key, r.clone()));
        }
        r
    }

    /// The recording a request names. Malformed paths are a 400, paths leaving the project a
    /// 403, and paths that are not a recording of the project a 404.
    pub fn recording(&self, rel: &str) -> Result<Recording, AppError> {
        let abs = self.resolve(rel)?;
        if !abs.is_file() || !is_audio(&abs) {
            return Err(AppError::NotFound(format!(
                "path {rel:?}: not a recording of the project"
            )));
        }
        let norm = clean(rel)?;
        Ok(self.info(norm, abs))
    }

    /// `rel` joined to the root, checked: relative, no `..`, not into `.earmark/`, and still
    /// inside the project once symlinks are resolved.
    pub fn resolve(&self, rel: &str) -> Result<PathBuf, AppError> {
        let norm = clean(rel)?;
        let joined = self.root.join(&norm);
        let real = std::fs::canonicalize(&joined).map_err(|_| {
            AppError::NotFound(format!("path {rel:?}: no such file in the project"))
        })?;
        if !real.starts_with(&self.root) {
            return Err(AppError::Forbidden(format!(
                "path {rel:?} resolves outside the project"
            )));
        }
        if real.starts_with(self.own()) {
            return Err(AppError::Forbidden(format!(
                "path {rel:?} is inside {OWN_DIR}/, which the page does not serve"
            )));
        }
        Ok(joined)
    }
}

/// The `/`-joined normal components of a relative path, or why it is refused.
pub fn clean(rel: &str) -> Result<String, AppError> {
    if rel.is_empty() || rel.contains('\0') {
        return Err(AppError::bad("path is empty or holds a NUL byte"));
    }
    let p = Path::new(rel);
    if p.is_absolute() || rel.starts_with('/') || rel.starts_with('\\') {
        return Err(AppError::Forbidden(format!(
            "path {rel:?}: absolute paths are refused; give it relative to the project"
        )));
    }
    let mut parts = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(AppError::Forbidden(format!(
                    "path {rel:?}: '..' is refused; paths stay inside the project"
                )))
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(AppError::Forbidden(format!(
                    "path {rel:?}: absolute paths are refused"
                )))
            }
        }
    }
    if parts.is_empty() {
        return Err(AppError::bad(format!("path {rel:?} names no file")));
    }
    if parts[0] == OWN_DIR {
        return Err(AppError::Forbidden(format!(
            "path {rel:?} is inside {OWN_DIR}/, which the page does not serve"
        )));
    }
    Ok(parts.join("/"))
}

/// Header facts, from the container's header when it states the length, else by decoding.
fn probe(path: String, abs: PathBuf) -> Recording {
    let opts = WindowOptions {
        target_rate: None,
        ..WindowOptions::default()
    };
    let header = Windows::open(&abs, &opts).map(|w| w.info().clone());
    let info = match header {
        Ok(i) if i.frames > 0 => Ok(i),
        _ => earmark_audio::info(&abs),
    };
    match info {
        Ok(i) => Recording {
            path,
            abs,
            duration: i.frames as f64 / i.sample_rate.max(1) as f64,
            sample_rate: i.sample_rate,
            channels: i.channels,
            error: None,
        },
        Err(e) => Recording {
            path,
            abs,
            duration: 0.0,
            sample_rate: 0,
            channels: 0,
            error: Some(e.to_string()),
        },
    }
}

/// Detector names: a folder name that cannot escape (`A-Z a-z 0-9 _ - .`, not starting with `.`).
pub fn check_name(name: &str) -> Result<(), AppError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(AppError::bad(format!(
            "detector name {name:?}: use 1–64 of A-Z a-z 0-9 _ - . , not starting with '.'"
        )))
    }
}
