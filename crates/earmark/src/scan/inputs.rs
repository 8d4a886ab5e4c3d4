//! Which recordings a scan reads, under which names, and which of them this shard owns.

use std::path::{Path, PathBuf};

/// Extensions a folder walk picks up.
pub const AUDIO_EXT: &[&str] = &["wav", "wave", "flac", "mp3", "ogg", "oga"];

/// A recording to scan: where it is and the name every output uses for it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Input {
    /// The recording's path relative to the folder given (with `/`), or its file name when
    /// the file was given directly.
    pub id: String,
    pub path: PathBuf,
}

fn is_audio(p: &Path) -> bool {
    p.extension()
        .and_then(|x| x.to_str())
        .is_some_and(|x| AUDIO_EXT.contains(&x.to_ascii_lowercase().as_str()))
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<Input>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(root, &p, out)?;
        } else if is_audio(&p) {
            let rel = p.strip_prefix(root).unwrap_or(&p);
            let id = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            out.push(Input { id, path: p });
        }
    }
    Ok(())
}

/// Files as given, folders walked recursively (audio extensions only), in a stable order:
/// every shard of an array job computes the same list.
pub fn collect(args: &[PathBuf]) -> Result<Vec<Input>, String> {
    let mut out = Vec::new();
    for a in args {
        if a.is_dir() {
            walk(a, a, &mut out).map_err(|e| format!("{}: {e}", a.display()))?;
        } else {
            // A missing file is kept: the scan reports it as failed with its cause.
            let id = a
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| a.display().to_string());
            out.push(Input {
                id,
                path: a.clone(),
            });
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for i in &out {
        if !seen.insert(i.id.clone()) {
            return Err(format!(
                "two recordings would both be named {:?} in the outputs; scan their common parent folder instead",
                i.id
            ));
        }
    }
    Ok(out)
}

/// `I/N`: shard `I` (0-based) of `N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("--shard {s:?}: use I/N, e.g. 0/8"))?;
        let index: usize = i
            .trim()
            .parse()
            .map_err(|_| format!("--shard {s:?}: I is not a number"))?;
        let count: usize = n
            .trim()
            .parse()
            .map_err(|_| format!("--shard {s:?}: N is not a number"))?;
        Shard::new(index, count)
    }
}

impl Shard {
    pub fn new(index: usize, count: usize) -> Result<Self, String> {
        if count == 0 || index >= count {
            return Err(format!("shard {index}/{count}: need 0 ≤ I < N"));
        }
        Ok(Shard { index, count })
    }

    /// From the environment of an array job: Slurm (`SLURM_ARRAY_TASK_ID`, with
    /// `SLURM_ARRAY_TASK_COUNT`, minus `SLURM_ARRAY_TASK_MIN` when arrays start at 1) or a
    /// Kubernetes Indexed Job (`JOB_COMPLETION_INDEX`, with the count in `EARMARK_SHARDS`, since
    /// Kubernetes does not export the completion count to the pod).
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, String> {
        let num = |k: &str| -> Result<Option<usize>, String> {
            match get(k).filter(|v| !v.trim().is_empty()) {
                None => Ok(None),
                Some(v) => v
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| format!("{k}={v:?} is not a number")),
            }
        };
        if let (Some(id), Some(count)) =
            (num("SLURM_ARRAY_TASK_ID")?, num("SLURM_ARRAY_TASK_COUNT")?)
        {
            let min = num("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            return Shard::new(id.saturating_sub(min), count)
                .map(Some)
                .map_err(|e| format!("from SLURM_ARRAY_TASK_*: {e}"));
        }
        if let Some(idx) = num("JOB_COMPLETION_INDEX")? {
            let count = num("EARMARK_SHARDS")?.ok_or(
                "JOB_COMPLETION_INDEX is set but EARMARK_SHARDS (the Job's completions) is not",
            )?;
            return Shard::new(idx, count)
                .map(Some)
                .map_err(|e| format!("from JOB_COMPLETION_INDEX: {e}"));
        }
        Ok(None)
    }

    /// This shard's recordings: every `count`-th of the sorted list, from `index`.
    pub fn select(&self, inputs: Vec<Input>) -> Vec<Input> {
        inputs
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % self.count == self.index)
            .map(|(_, x)| x)
            .collect()
    }

    /// The sub-folder of the output folder this shard writes.
    pub fn dir_name(&self) -> String {
        format!("shard-{:04}-of-{:04}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_and_env_is_read() {
        let inputs: Vec<Input> = (0..10)
            .map(|i| Input {
                id: format!("{i}.wav"),
                path: PathBuf::from(format!("{i}.wav")),
            })
            .collect();
        let mut all: Vec<Input> = (0..3)
            .flat_map(|k| Shard::new(k, 3).unwrap().select(inputs.clone()))
            .collect();
        all.sort();
        let mut want = inputs.clone();
        want.sort();
        assert_eq!(all, want);
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(a, _)| *a == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            Shard::from_env(env(&[
                ("SLURM_ARRAY_TASK_ID", "3"),
                ("SLURM_ARRAY_TASK_COUNT", "4"),
                ("SLURM_ARRAY_TASK_MIN", "1")
            ]))
            .unwrap(),
            Some(Shard { index: 2, count: 4 })
        );
        assert_eq!(
            Shard::from_env(env(&[
                ("JOB_COMPLETION_INDEX", "5"),
                ("EARMARK_SHARDS", "8")
            ]))
            .unwrap(),
            Some(Shard { index: 5, count: 8 })
        );
        assert!(Shard::from_env(env(&[("JOB_COMPLETION_INDEX", "5")])).is_err());
        assert_eq!(Shard::from_env(env(&[])).unwrap(), None);
        assert!("3/3".parse::<Shard>().is_err());
    }
}
