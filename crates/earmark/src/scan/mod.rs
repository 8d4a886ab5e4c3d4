//! `earmark scan`: many recordings through one detector, with work that survives.
//!
//! * Each recording is scanned by [`Scanner`] (streamed windows, bounded memory).
//! * Its result is written as `OUT/parts/<id>.json` (atomically) the moment it is done; a scan
//!   started again skips recordings whose part exists for the same detector, so a killed batch
//!   redoes only unfinished recordings.
//! * A bad recording is recorded with its cause and the batch goes on.
//! * At the end `events.tsv` (all recordings, DCASE TSV), optional `scores/<id>.tsv`
//!   (sed_scores_eval's format) and other formats, and `summary.json` are (re)written from the parts.
//! * `--shard I/N` scans every N-th recording into `OUT/shard-I-of-N/`; [`merge`] combines shards.

pub mod inputs;
pub mod outputs;
pub mod scanner;

pub use inputs::{collect, Input, Shard};
pub use outputs::{merge, EventFormat, MergeSummary};
pub use scanner::{FileResult, ScanSettings, Scanner};

use crate::atomic::write_atomic;
use earmark_core::{Event, EventList};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Where and what a batch writes.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The output folder (a shard writes into its own sub-folder of it).
    pub out: PathBuf,
    /// Write `scores/<id>.tsv` per recording.
    pub scores: bool,
    /// Also write `scores/<id>.npz` (frame scores and grid, for numpy).
    pub scores_npz: bool,
    /// Extra event formats besides `events.tsv`.
    pub formats: Vec<EventFormat>,
    pub shard: Option<Shard>,
    /// Redo recordings that already have a part (default: skip them).
    pub restart: bool,
}

/// One recording's saved result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Part {
    /// SHA-256 of the detector's manifest: parts of another detector are not reused.
    pub detector: String,
    pub file: String,
    pub audio_secs: f64,
    pub windows: usize,
    pub wall_secs: f64,
    /// `[onset, offset, label]`
    pub events: Vec<(f64, f64, String)>,
    /// Classes whose event covered the whole recording (left out of `events`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub whole_recording: Vec<String>,
}

/// A recording that failed, and why.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Failure {
    pub file: String,
    pub reason: String,
}

/// A class that covered a whole recording (see [`Summary::whole_recording_events`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WholeRecording {
    pub file: String,
    pub label: String,
}

/// `summary.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub detector: String,
    pub classes: Vec<String>,
    pub window_secs: f64,
    pub hop_secs: f64,
    pub thresholds: std::collections::BTreeMap<String, f32>,
    pub shard: Option<Shard>,
    pub files_total: usize,
    pub files_done: usize,
    /// Of the done files, how many were taken from an earlier run's parts.
    pub files_resumed: usize,
    pub files_failed: usize,
    pub failures: Vec<Failure>,
    pub events: usize,
    /// Recordings where a class's only event covered the whole recording: the detector failed
    /// to localise there, and those events are not in the outputs.
    #[serde(default)]
    pub whole_recording_events: Vec<WholeRecording>,
    pub audio_hours: f64,
    /// Wall time of this run (resumed files cost nothing).
    pub wall_seconds: f64,
    /// Audio seconds scanned per wall second in this run (resumed files excluded).
    pub real_time_factor: f64,
}

/// Progress after each recording: (done, total, audio seconds so far, wall seconds, file).
pub type Progress<'a> = &'a mut dyn FnMut(usize, usize, f64, f64, &str);

fn part_path(dir: &Path, id: &str) -> PathBuf {
    dir.join("parts").join(format!("{id}.json"))
}

fn read_part(path: &Path, detector: &str) -> Option<Part> {
    let text = std::fs::read_to_string(path).ok()?;
    let p: Part = serde_json::from_str(&text).ok()?;
    (p.detector == detector).then_some(p)
}

/// The identity of a detector for resuming: the SHA-256 of its manifest.
pub fn detector_id(dir: &Path) -> String {
    std::fs::read(dir.join("detector.json"))
        .map(|b| crate::cache::sha256_hex(&b))
        .unwrap_or_default()
}

/// Scans `inputs` (already restricted to the shard, if any) and writes the outputs.
pub fn run(
    inputs: &[Input],
    scanner: &Scanner,
    opts: &RunOptions,
    progress: Progress,
) -> Result<Summary, String> {
    let start = Instant::now();
    let dir = match opts.shard {
        Some(s) => opts.out.join(s.dir_name()),
        None => opts.out.clone(),
    };
    std::fs::create_dir_all(dir.join("parts")).map_err(|e| format!("{}: {e}", dir.display()))?;
    let det = detector_id(&scanner.detector.dir);
    let mut failures = Vec::new();
    let (mut resumed, mut fresh_secs) = (0usize, 0.0f64);
    let mut parts: Vec<Part> = Vec::new();
    let total = inputs.len();
    let mut audio_total = 0.0;
    for (k, input) in inputs.iter().enumerate() {
        let pp = part_path(&dir, &input.id);
        let scores_path = dir.join("scores").join(outputs::scores_name(&input.id));
        let reusable = !opts.restart && (!opts.scores || scores_path.exists()) && pp.exists();
        if let Some(p) = reusable.then(|| read_part(&pp, &det)).flatten() {
            resumed += 1;
            audio_total += p.audio_secs;
            parts.push(p);
        } else {
            let t = Instant::now();
            match scanner.scan(&input.path, &input.id, opts.scores) {
                Ok(r) => {
                    if let Some(s) = &r.scores {
                        outputs::write_scores(&scores_path, s, &scanner.labels, r.audio_secs)
                            .map_err(|e| format!("{}: {e}", scores_path.display()))?;
                        if opts.scores_npz {
                            let np = scores_path.with_extension("npz");
                            outputs::write_scores_npz(&np, s, &scanner.labels)
                                .map_err(|e| format!("{}: {e}", np.display()))?;
                        }
                    }
                    let part = Part {
                        detector: det.clone(),
                        file: input.id.clone(),
                        audio_secs: r.audio_secs,
                        windows: r.windows,
                        wall_secs: t.elapsed().as_secs_f64(),
                        events: r
                            .events
                            .events
                            .iter()
                            .map(|e| (e.onset, e.offset, e.label.clone()))
                            .collect(),
                        whole_recording: r.whole_recording.clone(),
                    };
                    let text = serde_json::to_string(&part).map_err(|e| e.to_string())?;
                    write_atomic(&pp, text.as_bytes())
                        .map_err(|e| format!("{}: {e}", pp.display()))?;
                    fresh_secs += r.audio_secs;
                    audio_total += r.audio_secs;
                    parts.push(part);
                }
                Err(reason) => failures.push(Failure {
                    file: input.id.clone(),
                    reason,
                }),
            }
        }
        let wall = start.elapsed().as_secs_f64();
        progress(k + 1, total, audio_total, wall, &input.id);
    }
    let events: Vec<Event> = parts
        .iter()
        .flat_map(|p| {
            p.events
                .iter()
                .map(|(on, off, l)| Event::new(p.file.clone(), *on, *off, l.clone()))
        })
        .collect();
    let list = EventList { events };
    let ids: Vec<String> = parts.iter().map(|p| p.file.clone()).collect();
    outputs::write_events(&dir, &list, &opts.formats, &ids).map_err(|e| e.to_string())?;
    let wall = start.elapsed().as_secs_f64();
    let m = &scanner.detector.manifest;
    let thresholds = match &scanner.post.thresholds {
        earmark_detect::PerClass::ByLabel(b) => b.clone(),
        _ => Default::default(),
    };
    let summary = Summary {
        detector: scanner.detector.dir.display().to_string(),
        classes: scanner.labels.names().to_vec(),
        window_secs: scanner.window_secs(),
        hop_secs: scanner.hop_secs(),
        thresholds,
        shard: opts.shard,
        files_total: total,
        files_done: parts.len(),
        files_resumed: resumed,
        files_failed: failures.len(),
        failures,
        events: list.events.len(),
        whole_recording_events: parts
            .iter()
            .flat_map(|p| {
                p.whole_recording.iter().map(|l| WholeRecording {
                    file: p.file.clone(),
                    label: l.clone(),
                })
            })
            .collect(),
        audio_hours: parts.iter().map(|p| p.audio_secs).sum::<f64>() / 3600.0,
        wall_seconds: wall,
        real_time_factor: if wall > 0.0 { fresh_secs / wall } else { 0.0 },
    };
    let _ = m;
    let text = serde_json::to_string_pretty(&summary).map_err(|e| e.to_string())?;
    let sp = dir.join("summary.json");
    write_atomic(&sp, text.as_bytes()).map_err(|e| format!("{}: {e}", sp.display()))?;
    Ok(summary)
}
