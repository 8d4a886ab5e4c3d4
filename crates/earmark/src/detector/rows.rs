//! From recordings and labels to training rows: each recording's frames (through the embedding
//! cache), pooled over a clip (weak labels) or over windows whose labels come from the strong
//! events they overlap.

use super::{DetectorError, FailedFile};
use crate::annotations::{read_events, read_weak, Format};
use crate::cache::{EmbeddingCache, Lookup};
use crate::models::LoadedModel;
use earmark_core::{Event, Frames};
use earmark_encoders::LayerSelection;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// How a run of frame embeddings becomes one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum EmbeddingPooling {
    /// The mean over frames: the pipelines earmark replaces pooled this way.
    #[default]
    Mean,
    /// The maximum over frames per dimension: keeps a short event's trace in a long window.
    Max,
    /// Mean and max concatenated (twice the dimension).
    MeanMax,
}

impl FromStr for EmbeddingPooling {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "mean" => Ok(EmbeddingPooling::Mean),
            "max" => Ok(EmbeddingPooling::Max),
            "mean_max" | "meanmax" => Ok(EmbeddingPooling::MeanMax),
            o => Err(format!(
                "unknown embedding pooling {o:?}: use mean, max or mean_max"
            )),
        }
    }
}

impl std::fmt::Display for EmbeddingPooling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            EmbeddingPooling::Mean => "mean",
            EmbeddingPooling::Max => "max",
            EmbeddingPooling::MeanMax => "mean_max",
        })
    }
}

impl EmbeddingPooling {
    pub fn out_dim(&self, dim: usize) -> usize {
        match self {
            EmbeddingPooling::MeanMax => 2 * dim,
            _ => dim,
        }
    }

    /// Pools frames `[n, dim]` (row-major) into one row.
    pub fn pool(&self, frames: &[f32], dim: usize) -> Vec<f32> {
        let n = (frames.len() / dim).max(1);
        let mut mean = vec![0f64; dim];
        let mut max = vec![f32::NEG_INFINITY; dim];
        for row in frames.chunks_exact(dim) {
            for j in 0..dim {
                mean[j] += row[j] as f64;
                max[j] = max[j].max(row[j]);
            }
        }
        let mean = mean.iter().map(|m| (m / n as f64) as f32);
        match self {
            EmbeddingPooling::Mean => mean.collect(),
            EmbeddingPooling::Max => max,
            EmbeddingPooling::MeanMax => mean.chain(max).collect(),
        }
    }
}

/// Which labels the rows come from.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelKind {
    /// DESED weak TSV (`filename<TAB>event_labels`, comma-separated): one row per recording.
    Weak(PathBuf),
    /// DESED strong TSV (`filename onset offset event_label`): windows of every recording in
    /// the audio folder; a window is positive for a class when it covers at least
    /// `overlap_fraction` of one of the class's events (of the window, for events longer than it).
    Strong {
        path: PathBuf,
        window_secs: f64,
        hop_secs: f64,
        overlap_fraction: f64,
    },
}

/// The training rows built from audio.
#[derive(Debug, Clone)]
pub struct AudioRows {
    pub x: Vec<f32>,
    pub dim: usize,
    /// Multi-label 0/1 targets `[rows, classes]`.
    pub y: Vec<u32>,
    pub classes: Vec<String>,
    /// Per row: the recording and the pooled span in seconds.
    pub spans: Vec<(String, f64, f64)>,
    pub files: usize,
    pub failed: Vec<FailedFile>,
    pub cache_hits: usize,
    /// Median recording length (seconds), for a weak detector's scan window.
    pub median_file_secs: f64,
    /// The frames of each recording, kept for MIL heads (`[T, frame dim]`) with clip targets.
    pub clips: Vec<(String, Frames, Vec<f32>)>,
}

impl AudioRows {
    pub fn rows(&self) -> usize {
        self.spans.len()
    }
}

const AUDIO_EXT: &[&str] = &["wav", "wave", "flac", "mp3", "ogg", "oga"];

fn audio_files(dir: &Path) -> Result<Vec<String>, DetectorError> {
    let mut out = Vec::new();
    let rd = std::fs::read_dir(dir).map_err(|e| DetectorError::io(dir, e))?;
    for e in rd.flatten() {
        let p = e.path();
        if p.is_file()
            && p.extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| AUDIO_EXT.contains(&x.to_ascii_lowercase().as_str()))
        {
            out.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    out.sort();
    Ok(out)
}

/// Per recording: its classes and (strong labels) its events; and the sorted class names. Weak
/// labels name the recordings; strong labels cover every audio file of `audio_dir` (files
/// without events are negatives).
pub type LabelTable = BTreeMap<String, (Vec<String>, Vec<Event>)>;

/// Reads `labels` into a [`LabelTable`] and the class list.
pub fn read_labels(
    audio_dir: &Path,
    labels: &LabelKind,
) -> Result<(LabelTable, Vec<String>), DetectorError> {
    let mut table: LabelTable = BTreeMap::new();
    match labels {
        LabelKind::Weak(path) => {
            for w in read_weak(path).map_err(|e| DetectorError::data(e.to_string()))? {
                table.entry(w.file).or_default().0.extend(w.labels);
            }
        }
        LabelKind::Strong { path, .. } => {
            for f in audio_files(audio_dir)? {
                table.entry(f).or_default();
            }
            let events = read_events(path, Format::DcaseTsv, "")
                .map_err(|e| DetectorError::data(e.to_string()))?;
            for e in events.into_vec() {
                let entry = table.entry(e.file.clone()).or_default();
                if !entry.0.contains(&e.label) {
                    entry.0.push(e.label.clone());
                }
                entry.1.push(e);
            }
        }
    }
    if table.is_empty() {
        return Err(DetectorError::data(format!(
            "no recordings: the labels list none and {} holds no audio files",
            audio_dir.display()
        )));
    }
    let mut classes: Vec<String> = table
        .values()
        .flat_map(|(l, _)| l.iter().cloned())
        .collect();
    classes.sort();
    classes.dedup();
    if classes.is_empty() {
        return Err(DetectorError::data(
            "no recording has a label: nothing to learn",
        ));
    }
    Ok((table, classes))
}

/// Frames and labels for every recording the labels name (weak) or the folder holds (strong).
/// A file that is missing or fails to decode is recorded in `failed` and left out.
#[allow(clippy::too_many_arguments)]
pub fn audio_rows(
    model: &LoadedModel,
    encoder_key: &str,
    layers: &LayerSelection,
    cache: &EmbeddingCache,
    audio_dir: &Path,
    labels: &LabelKind,
    pooling: EmbeddingPooling,
    progress: &dyn Fn(usize, usize, &str),
) -> Result<AudioRows, DetectorError> {
    let (table, classes) = read_labels(audio_dir, labels)?;
    let c = classes.len();
    let mut out = AudioRows {
        x: Vec::new(),
        dim: 0,
        y: Vec::new(),
        classes: classes.clone(),
        spans: Vec::new(),
        files: 0,
        failed: Vec::new(),
        cache_hits: 0,
        median_file_secs: 0.0,
        clips: Vec::new(),
    };
    let mut durations = Vec::new();
    let total = table.len();
    for (k, (file, (names, events))) in table.iter().enumerate() {
        progress(k, total, file);
        let path = audio_dir.join(file);
        if !path.is_file() {
            out.failed.push(FailedFile {
                file: file.clone(),
                reason: format!("not found in {}", audio_dir.display()),
            });
            continue;
        }
        let (frames, lookup) = match cache.frames(model, encoder_key, layers, &path) {
            Ok(v) => v,
            Err(e) => {
                out.failed.push(FailedFile {
                    file: file.clone(),
                    reason: e.to_string(),
                });
                continue;
            }
        };
        if frames.n_frames() == 0 {
            out.failed.push(FailedFile {
                file: file.clone(),
                reason: "too short for the encoder: no frames".into(),
            });
            continue;
        }
        out.cache_hits += (lookup == Lookup::Hit) as usize;
        out.files += 1;
        let d = frames.dim;
        if out.dim == 0 {
            out.dim = pooling.out_dim(d);
        } else if out.dim != pooling.out_dim(d) {
            return Err(DetectorError::data(format!(
                "{file}: frame dimension {d} differs from earlier files"
            )));
        }
        let g = frames.grid;
        let secs = match earmark_audio::info(&path) {
            Ok(i) => i.duration.0,
            Err(_) => {
                (g.offset.max(0) as f64 + (frames.n_frames() as u64 * g.hop + g.win) as f64)
                    / g.rate as f64
            }
        };
        durations.push(secs);
        let clip_targets: Vec<f32> = classes
            .iter()
            .map(|n| names.contains(n) as u8 as f32)
            .collect();
        match labels {
            LabelKind::Weak(_) => {
                out.x.extend(pooling.pool(&frames.data, d));
                out.y.extend(clip_targets.iter().map(|&t| t as u32));
                out.spans.push((file.clone(), 0.0, secs));
            }
            LabelKind::Strong {
                window_secs,
                hop_secs,
                overlap_fraction,
                ..
            } => {
                let centers: Vec<f64> = (0..frames.n_frames() as u64)
                    .map(|i| g.frame_center(i).0)
                    .collect();
                for (s, e) in window_starts(secs, *window_secs, *hop_secs) {
                    let idx: Vec<usize> = (0..centers.len())
                        .filter(|&i| centers[i] >= s && centers[i] < e)
                        .collect();
                    let (Some(&a), Some(&b)) = (idx.first(), idx.last()) else {
                        continue;
                    };
                    out.x
                        .extend(pooling.pool(&frames.data[a * d..(b + 1) * d], d));
                    for name in &classes {
                        let pos = events.iter().any(|ev| {
                            ev.label == *name && {
                                let ov = (ev.offset.min(e) - ev.onset.max(s)).max(0.0);
                                let need = overlap_fraction * (ev.offset - ev.onset).min(e - s);
                                ov > 0.0 && ov >= need
                            }
                        });
                        out.y.push(pos as u32);
                    }
                    out.spans.push((file.clone(), s, e));
                }
            }
        }
        out.clips.push((file.clone(), frames, clip_targets));
    }
    progress(total, total, "");
    if out.files == 0 {
        return Err(DetectorError::data(format!(
            "none of the {total} recordings could be used; first failure: {}: {}",
            out.failed[0].file, out.failed[0].reason
        )));
    }
    durations.sort_by(f64::total_cmp);
    out.median_file_secs = durations[durations.len() / 2];
    debug_assert_eq!(out.y.len(), out.spans.len() * c);
    Ok(out)
}

/// Window spans `[s, s + w)` with hop `h` covering `[0, secs]`; the last window is aligned to
/// the end so the tail is scored, and a recording shorter than `w` is one window.
pub fn window_starts(secs: f64, w: f64, h: f64) -> Vec<(f64, f64)> {
    if secs <= w {
        return vec![(0.0, secs.max(w))];
    }
    let mut out = Vec::new();
    // Starts as multiples of the hop (no drift from repeated addition).
    let mut i = 0usize;
    while i as f64 * h + w <= secs + 1e-9 {
        let s = i as f64 * h;
        out.push((s, s + w));
        i += 1;
    }
    if let Some(&(_, e)) = out.last() {
        if e < secs - 1e-9 {
            out.push((secs - w, secs));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_the_recording() {
        assert_eq!(window_starts(0.5, 1.0, 0.5), vec![(0.0, 1.0)]);
        let w = window_starts(2.2, 1.0, 0.5);
        let want = [(0.0, 1.0), (0.5, 1.5), (1.0, 2.0), (1.2, 2.2)];
        assert_eq!(w.len(), want.len());
        for ((a, b), (c, d)) in w.iter().zip(want) {
            assert!((a - c).abs() < 1e-12 && (b - d).abs() < 1e-12, "{w:?}");
        }
        let p = EmbeddingPooling::MeanMax.pool(&[1.0, 4.0, 3.0, 0.0], 2);
        assert_eq!(p, vec![2.0, 2.0, 3.0, 4.0]);
    }
}
