//! Model files on disk: Hugging Face model folders found in the standard cache (downloaded with
//! `hf-hub` when online), and torchaudio's pipeline checkpoints in its hub cache.
//!
//! Everything here returns local paths; loading them is the encoders' job. Environment variables
//! honoured, as the Python libraries do: `HF_HUB_CACHE`, `HF_HOME` (cache at `$HF_HOME/hub`),
//! `HF_HUB_OFFLINE=1`, `HF_ENDPOINT`, `HF_TOKEN` (through hf-hub), `TORCH_HOME`, `XDG_CACHE_HOME`.

use hf_hub::{Cache, Repo, RepoType};
use std::path::{Path, PathBuf};

/// Where model files are looked for, and whether the network may be used.
#[derive(Debug, Clone)]
pub struct HubOptions {
    /// The Hugging Face hub cache (the folder holding `models--org--name`).
    pub hf_cache: PathBuf,
    /// torchaudio's checkpoint folder (`$TORCH_HOME/hub/checkpoints`).
    pub torch_checkpoints: PathBuf,
    /// Never touch the network (HF_HUB_OFFLINE).
    pub offline: bool,
    /// Branch, tag or commit.
    pub revision: String,
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn home_cache() -> PathBuf {
    env_path("XDG_CACHE_HOME")
        .or_else(|| env_path("HOME").map(|h| h.join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"))
}

/// True for the values huggingface_hub treats as "on": 1, true, yes, on (any case).
fn truthy(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

impl HubOptions {
    pub fn from_env() -> Self {
        let hf_cache = env_path("HF_HUB_CACHE")
            .or_else(|| env_path("HF_HOME").map(|h| h.join("hub")))
            .unwrap_or_else(|| home_cache().join("huggingface").join("hub"));
        let torch_home = env_path("TORCH_HOME").unwrap_or_else(|| home_cache().join("torch"));
        let offline = std::env::var("HF_HUB_OFFLINE")
            .map(|v| truthy(&v))
            .unwrap_or(false);
        HubOptions {
            hf_cache,
            torch_checkpoints: torch_home.join("hub").join("checkpoints"),
            offline,
            revision: "main".into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error(
        "model {id:?} is not in the Hugging Face cache ({looked_in}) and {why}; \
         get it with `huggingface-cli download {id}` on a machine online (then copy the cache), \
         set HF_HOME/HF_HUB_CACHE to where it is, or pass the model folder itself"
    )]
    NotCached {
        id: String,
        looked_in: String,
        why: String,
    },
    #[error("downloading {file} of model {id:?}: {reason}")]
    Download {
        id: String,
        file: String,
        reason: String,
    },
    #[error(
        "torchaudio checkpoint {file} is not in {looked_in}; download {url} there \
         (or run torchaudio's pipeline once), or set TORCH_HOME"
    )]
    NoTorchaudio {
        file: String,
        looked_in: String,
        url: String,
    },
}

/// Weight files a model folder may hold, in order of preference.
pub const WEIGHT_FILES: [&str; 2] = ["model.safetensors", "pytorch_model.bin"];

/// The cached snapshot folder of `id` if it holds config.json and weights.
pub fn cached_hf_model(id: &str, opts: &HubOptions) -> Option<PathBuf> {
    let cache = Cache::new(opts.hf_cache.clone());
    let repo = cache.repo(Repo::with_revision(
        id.to_string(),
        RepoType::Model,
        opts.revision.clone(),
    ));
    let config = repo.get("config.json")?;
    WEIGHT_FILES.iter().find(|w| repo.get(w).is_some())?;
    config.parent().map(Path::to_path_buf)
}

/// A local folder for Hugging Face model `id`: the cache when it has the files, else a download
/// (unless offline) of config.json, the weights and preprocessor_config.json.
pub fn resolve_hf_model(id: &str, opts: &HubOptions) -> Result<PathBuf, HubError> {
    if let Some(dir) = cached_hf_model(id, opts) {
        return Ok(dir);
    }
    let looked_in = opts.hf_cache.display().to_string();
    if opts.offline {
        return Err(HubError::NotCached {
            id: id.into(),
            looked_in,
            why: "HF_HUB_OFFLINE is set".into(),
        });
    }
    let api = hf_hub::api::sync::ApiBuilder::from_cache(Cache::new(opts.hf_cache.clone()))
        .with_progress(true)
        .build()
        .map_err(|e| HubError::Download {
            id: id.into(),
            file: "-".into(),
            reason: e.to_string(),
        })?;
    let repo = api.repo(Repo::with_revision(
        id.to_string(),
        RepoType::Model,
        opts.revision.clone(),
    ));
    let get = |file: &str| {
        repo.get(file).map_err(|e| HubError::Download {
            id: id.into(),
            file: file.into(),
            reason: e.to_string(),
        })
    };
    let config = get("config.json")?;
    let mut last_err = None;
    for w in WEIGHT_FILES {
        match get(w) {
            Ok(_) => {
                last_err = None;
                break;
            }
            Err(e) => last_err = Some(e),
        }
    }
    if let Some(e) = last_err {
        return Err(e);
    }
    // Optional: not every model has a feature extractor config.
    let _ = get("preprocessor_config.json");
    Ok(config.parent().map(Path::to_path_buf).unwrap_or_default())
}

/// torchaudio's download location for a pipeline checkpoint file name.
pub fn torchaudio_url(file: &str) -> String {
    format!("https://download.pytorch.org/torchaudio/models/{file}")
}

/// The cached torchaudio checkpoint `file` (e.g. `hubert_fairseq_base_ls960.pth`), if present.
pub fn cached_torchaudio(file: &str, opts: &HubOptions) -> Option<PathBuf> {
    let p = opts.torch_checkpoints.join(file);
    p.is_file().then_some(p)
}

/// Like [`cached_torchaudio`], with an error that says where to put the file.
pub fn resolve_torchaudio(file: &str, opts: &HubOptions) -> Result<PathBuf, HubError> {
    cached_torchaudio(file, opts).ok_or_else(|| HubError::NoTorchaudio {
        file: file.into(),
        looked_in: opts.torch_checkpoints.display().to_string(),
        url: torchaudio_url(file),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(dir: &Path) -> HubOptions {
        HubOptions {
            hf_cache: dir.join("hub"),
            torch_checkpoints: dir.join("torch/hub/checkpoints"),
            offline: true,
            revision: "main".into(),
        }
    }

    /// Lay out a model the way huggingface_hub does: refs/main → snapshots/<commit>/files.
    fn put_cached(dir: &Path, id: &str, files: &[&str]) -> PathBuf {
        let repo = dir
            .join("hub")
            .join(format!("models--{}", id.replace('/', "--")));
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("refs/main"), "abc123").unwrap();
        let snap = repo.join("snapshots/abc123");
        std::fs::create_dir_all(&snap).unwrap();
        for f in files {
            std::fs::write(snap.join(f), b"{}").unwrap();
        }
        snap
    }

    #[test]
    fn finds_a_cached_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let snap = put_cached(
            dir.path(),
            "facebook/hubert-base-ls960",
            &["config.json", "pytorch_model.bin"],
        );
        let got = resolve_hf_model("facebook/hubert-base-ls960", &opts(dir.path())).unwrap();
        assert_eq!(got, snap);
    }

    #[test]
    fn offline_and_missing_says_where_it_looked_and_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        // config without weights is not a usable model.
        put_cached(dir.path(), "MIT/ast", &["config.json"]);
        let err = resolve_hf_model("MIT/ast", &opts(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("MIT/ast"), "{err}");
        assert!(
            err.contains(&dir.path().join("hub").display().to_string()),
            "{err}"
        );
        assert!(
            err.contains("HF_HUB_OFFLINE") && err.contains("huggingface-cli download"),
            "{err}"
        );
    }

    #[test]
    fn torchaudio_checkpoint_lookup() {
        let dir = tempfile::tempdir().unwrap();
        let o = opts(dir.path());
        let err = resolve_torchaudio("hubert_fairseq_base_ls960.pth", &o)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("download.pytorch.org/torchaudio/models/hubert_fairseq_base_ls960.pth"),
            "{err}"
        );
        std::fs::create_dir_all(&o.torch_checkpoints).unwrap();
        std::fs::write(
            o.torch_checkpoints.join("hubert_fairseq_base_ls960.pth"),
            b"x",
        )
        .unwrap();
        assert!(resolve_torchaudio("hubert_fairseq_base_ls960.pth", &o).is_ok());
    }

    #[test]
    fn truthy_values() {
        assert!(truthy("1") && truthy("TRUE") && truthy(" yes ") && truthy("On"));
        assert!(!truthy("0") && !truthy("") && !truthy("false"));
    }
}
