//! The workflow's data: recordings with clip-level (weak) labels, and strong labels when the user
//! has them. Recordings are decoded once, to the representation's rate; a file that fails to load is
//! counted and named, and the run goes on without it.

use super::WorkflowError;
use crate::annotations::{read_events, read_weak, Format};
use earmark_core::{Event, LabelSet};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One recording of the dataset.
#[derive(Debug, Clone)]
pub struct Clip {
    /// The file name as the weak-label table writes it (the recording id in every output).
    pub id: String,
    pub samples: Vec<f32>,
    /// Multi-hot clip labels over the dataset's classes.
    pub targets: Vec<f32>,
    /// Strong events of this recording; `None` when the dataset has no strong labels.
    pub events: Option<Vec<Event>>,
}

impl Clip {
    pub fn is_positive(&self) -> bool {
        self.targets.iter().any(|&t| t > 0.5)
    }

    pub fn secs(&self, rate: u32) -> f64 {
        self.samples.len() as f64 / rate as f64
    }
}

/// A file the run left out, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub file: String,
    pub reason: String,
}

/// Recordings, classes and what is known about them.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub clips: Vec<Clip>,
    pub labels: LabelSet,
    pub sample_rate: u32,
    /// Whether strong labels were given (boundary steps need them).
    pub strong: bool,
    /// Where the data came from, in words (for the report).
    pub description: String,
    pub skipped: Vec<Skipped>,
}

impl Dataset {
    /// Strong events of the given clips (empty when there are none).
    pub fn events_of(&self, idx: &[usize]) -> Vec<Event> {
        idx.iter()
            .flat_map(|&i| self.clips[i].events.clone().unwrap_or_default())
            .collect()
    }
}

/// Loads `audio_dir/<file>` for every row of the weak table, resampled to `rate`, and the strong
/// labels of those files when `strong` is given. Classes are the sorted union of the weak labels.
pub fn load_dataset(
    audio_dir: &Path,
    weak: &Path,
    strong: Option<&Path>,
    rate: u32,
    description: String,
) -> Result<Dataset, WorkflowError> {
    let weak_rows = read_weak(weak)?;
    if weak_rows.is_empty() {
        return Err(WorkflowError::Data {
            what: format!("{}: no recordings listed", weak.display()),
        });
    }
    let mut names: Vec<String> = weak_rows
        .iter()
        .flat_map(|w| w.labels.iter().cloned())
        .collect();
    names.sort();
    names.dedup();
    if names.is_empty() {
        return Err(WorkflowError::Data {
            what: format!(
                "{}: no recording has a label; weak-label training needs positives",
                weak.display()
            ),
        });
    }
    let labels = LabelSet::new(names);
    let mut strong_by_file: Option<BTreeMap<String, Vec<Event>>> = None;
    if let Some(path) = strong {
        let events = read_events(path, Format::DcaseTsv, "")?;
        let mut map: BTreeMap<String, Vec<Event>> = BTreeMap::new();
        for e in events.into_vec() {
            if !labels.contains(&e.label) {
                return Err(WorkflowError::Data {
                    what: format!(
                        "{}: label {:?} of {} is not among the weak labels {:?}",
                        path.display(),
                        e.label,
                        e.file,
                        labels.names()
                    ),
                });
            }
            map.entry(e.file.clone()).or_default().push(e);
        }
        strong_by_file = Some(map);
    }
    let mut clips = Vec::with_capacity(weak_rows.len());
    let mut skipped = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for row in weak_rows {
        if !seen.insert(row.file.clone()) {
            return Err(WorkflowError::Data {
                what: format!("{}: {} is listed twice", weak.display(), row.file),
            });
        }
        let path: PathBuf = audio_dir.join(&row.file);
        let wave = match earmark_audio::load_mono(&path, Some(rate)) {
            Ok(w) => w,
            Err(e) => {
                skipped.push(Skipped {
                    file: row.file.clone(),
                    reason: e.to_string(),
                });
                continue;
            }
        };
        if wave.samples.is_empty() {
            skipped.push(Skipped {
                file: row.file.clone(),
                reason: "no samples".into(),
            });
            continue;
        }
        let mut targets = vec![0.0f32; labels.len()];
        for l in &row.labels {
            if let Some(c) = labels.index_of(l) {
                targets[c] = 1.0;
            }
        }
        let events = strong_by_file
            .as_ref()
            .map(|m| m.get(&row.file).cloned().unwrap_or_default());
        clips.push(Clip {
            id: row.file,
            samples: wave.samples,
            targets,
            events,
        });
    }
    if clips.len() < 6 {
        return Err(WorkflowError::Data {
            what: format!(
                "{} recordings loaded ({} failed); train/validation/test splits need at least 6{}",
                clips.len(),
                skipped.len(),
                skipped
                    .iter()
                    .take(5)
                    .map(|s| format!("\n  {}: {}", s.file, s.reason))
                    .collect::<String>()
            ),
        });
    }
    Ok(Dataset {
        clips,
        labels,
        sample_rate: rate,
        strong: strong.is_some(),
        description,
        skipped,
    })
}
