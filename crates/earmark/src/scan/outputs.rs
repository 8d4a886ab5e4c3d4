//! What a scan writes: events in standard formats, frame scores as sed_scores_eval score TSVs,
//! and the merge of an array job's shards.

use super::{Failure, Summary};
use crate::atomic::write_atomic;
use earmark_core::{format_audacity, format_raven, format_strong_tsv, EventList, Frames, LabelSet};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// Event formats besides the combined `events.tsv` (DCASE), which is always written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventFormat {
    /// One Audacity label track per recording: `audacity/<id>.txt`.
    Audacity,
    /// One Raven selection table per recording: `raven/<id>.selections.txt`.
    Raven,
    /// `events.jsonl`: one JSON object per event.
    Jsonl,
    /// `events.csv`: `filename,onset,offset,event_label`.
    Csv,
    /// One DCASE TSV per recording: `events/<id>.tsv` (besides the combined `events.tsv`).
    PerFile,
}

impl std::str::FromStr for EventFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "audacity" => Ok(EventFormat::Audacity),
            "raven" => Ok(EventFormat::Raven),
            "jsonl" | "json" => Ok(EventFormat::Jsonl),
            "csv" => Ok(EventFormat::Csv),
            "per-file" | "per_file" | "tsv-per-file" => Ok(EventFormat::PerFile),
            o => Err(format!("unknown format {o:?}: use audacity, raven, jsonl, csv or per-file (events.tsv is always written)")),
        }
    }
}

/// `<id without extension>.tsv` (sub-folders of the id kept).
pub fn scores_name(id: &str) -> String {
    let stem = match id.rfind('.') {
        Some(i) if !id[i..].contains('/') => &id[..i],
        _ => id,
    };
    format!("{stem}.tsv")
}

fn stem(id: &str) -> &str {
    match id.rfind('.') {
        Some(i) if !id[i..].contains('/') => &id[..i],
        _ => id,
    }
}

/// sed_scores_eval's score table: `onset offset <class>…`, one row per score frame, onset and
/// offset its hop cell in seconds (clamped to the audio).
pub fn write_scores(
    path: &Path,
    scores: &Frames,
    labels: &LabelSet,
    audio_secs: f64,
) -> std::io::Result<()> {
    let g = scores.grid;
    let r2 = 2.0 * g.rate as f64;
    let mut s = String::from("onset\toffset");
    for n in labels.names() {
        s.push('\t');
        s.push_str(n);
    }
    s.push('\n');
    for (i, row) in scores.rows().enumerate() {
        // Centre ± hop/2 in half samples, as events are cut.
        let centre2 = 2 * (g.offset + i as i64 * g.hop as i64) + g.win as i64;
        let on = ((centre2 - g.hop as i64) as f64 / r2).max(0.0);
        let off = ((centre2 + g.hop as i64) as f64 / r2).min(audio_secs);
        if off <= on {
            continue;
        }
        let _ = write!(s, "{on:.6}\t{off:.6}");
        for v in row {
            let _ = write!(s, "\t{v:.6}");
        }
        s.push('\n');
    }
    write_atomic(path, s.as_bytes())
}

/// Frame scores as `.npz` for numpy: `scores` `[frames, classes]` float32, `classes`, and the
/// frame grid as int64 scalars (`sample_rate`, `hop_samples`, `win_samples`, `offset_samples`) —
/// frame `i`'s centre is at `offset + i·hop + win/2` samples.
pub fn write_scores_npz(path: &Path, scores: &Frames, labels: &LabelSet) -> std::io::Result<()> {
    let g = scores.grid;
    let mut npz = crate::npz::Npz::new();
    npz.add_f32("scores", &[scores.n_frames(), scores.dim], &scores.data);
    npz.add_strings("classes", labels.names());
    npz.add_i64("sample_rate", g.rate as i64);
    npz.add_i64("hop_samples", g.hop as i64);
    npz.add_i64("win_samples", g.win as i64);
    npz.add_i64("offset_samples", g.offset);
    npz.write(path)
}

#[derive(Serialize)]
struct JsonEvent<'a> {
    filename: &'a str,
    onset: f64,
    offset: f64,
    event_label: &'a str,
}

/// `events.tsv` and the chosen extra formats in `dir`; the one-file-per-recording formats get a
/// file for each of `recordings` (empty when it has no events).
pub fn write_events(
    dir: &Path,
    list: &EventList,
    formats: &[EventFormat],
    recordings: &[String],
) -> std::io::Result<()> {
    write_atomic(&dir.join("events.tsv"), format_strong_tsv(list).as_bytes())?;
    let mut by_file: BTreeMap<&str, EventList> = BTreeMap::new();
    for id in recordings {
        by_file.entry(id.as_str()).or_default();
    }
    for e in &list.events {
        by_file
            .entry(e.file.as_str())
            .or_default()
            .events
            .push(e.clone());
    }
    for f in formats {
        match f {
            EventFormat::Audacity => {
                for (id, evs) in &by_file {
                    let p = dir.join("audacity").join(format!("{}.txt", stem(id)));
                    write_atomic(&p, format_audacity(evs).as_bytes())?;
                }
            }
            EventFormat::PerFile => {
                for (id, evs) in &by_file {
                    let p = dir.join("events").join(format!("{}.tsv", stem(id)));
                    write_atomic(&p, format_strong_tsv(evs).as_bytes())?;
                }
            }
            EventFormat::Raven => {
                for (id, evs) in &by_file {
                    let p = dir
                        .join("raven")
                        .join(format!("{}.selections.txt", stem(id)));
                    // No frequency band from an audio-event detector: 0 to 8 kHz.
                    write_atomic(&p, format_raven(evs, 8000.0).as_bytes())?;
                }
            }
            EventFormat::Jsonl => {
                let mut s = String::new();
                for e in &list.events {
                    let j = JsonEvent {
                        filename: &e.file,
                        onset: e.onset,
                        offset: e.offset,
                        event_label: &e.label,
                    };
                    s.push_str(&serde_json::to_string(&j).map_err(std::io::Error::other)?);
                    s.push('\n');
                }
                write_atomic(&dir.join("events.jsonl"), s.as_bytes())?;
            }
            EventFormat::Csv => {
                let mut s = String::from("filename,onset,offset,event_label\n");
                let q = |v: &str| {
                    if v.contains([',', '"', '\n']) {
                        format!("\"{}\"", v.replace('"', "\"\""))
                    } else {
                        v.to_string()
                    }
                };
                for e in &list.events {
                    let _ = writeln!(s, "{},{},{},{}", q(&e.file), e.onset, e.offset, q(&e.label));
                }
                write_atomic(&dir.join("events.csv"), s.as_bytes())?;
            }
        }
    }
    Ok(())
}

/// What [`merge`] combined.
#[derive(Debug, Clone, Serialize)]
pub struct MergeSummary {
    pub shards: Vec<String>,
    pub missing_shards: Vec<String>,
    pub files_done: usize,
    pub files_failed: usize,
    pub events: usize,
    pub audio_hours: f64,
    pub failures: Vec<Failure>,
}

/// Combines `out/shard-*-of-N/` into `out/events.tsv`, `out/scores/` and `out/summary.json`
/// (shard summaries summed; shards that have not written a summary are named as missing).
pub fn merge(out: &Path, formats: &[EventFormat]) -> Result<MergeSummary, String> {
    let mut shard_dirs: Vec<PathBuf> = std::fs::read_dir(out)
        .map_err(|e| format!("{}: {e}", out.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("shard-"))
        })
        .collect();
    shard_dirs.sort();
    if shard_dirs.is_empty() {
        return Err(format!(
            "{}: no shard-*-of-* folders to merge",
            out.display()
        ));
    }
    let mut expected: Option<usize> = None;
    let mut found = std::collections::BTreeSet::new();
    let mut summaries: Vec<Summary> = Vec::new();
    let mut events = Vec::new();
    let mut missing = Vec::new();
    for d in &shard_dirs {
        let name = d.file_name().unwrap().to_string_lossy().into_owned();
        let sp = d.join("summary.json");
        let Some(s) = std::fs::read_to_string(&sp)
            .ok()
            .and_then(|t| serde_json::from_str::<Summary>(&t).ok())
        else {
            missing.push(format!(
                "{name} (no summary.json: still running or killed; rerun it)"
            ));
            continue;
        };
        if let Some(sh) = s.shard {
            match expected {
                None => expected = Some(sh.count),
                Some(n) if n != sh.count => {
                    return Err(format!(
                        "{name} is one of {} shards, others of {n}",
                        sh.count
                    ))
                }
                _ => {}
            }
            found.insert(sh.index);
        }
        let ev = crate::annotations::read_events(
            &d.join("events.tsv"),
            crate::annotations::Format::DcaseTsv,
            "",
        )
        .map_err(|e| e.to_string())?;
        events.extend(ev.into_vec());
        let scores = d.join("scores");
        if scores.is_dir() {
            copy_tree(&scores, &out.join("scores"))
                .map_err(|e| format!("{}: {e}", scores.display()))?;
        }
        summaries.push(s);
    }
    if let Some(n) = expected {
        for i in 0..n {
            if !found.contains(&i)
                && !missing
                    .iter()
                    .any(|m| m.starts_with(&format!("shard-{i:04}")))
            {
                missing.push(format!("shard-{i:04}-of-{n:04} (no folder)"));
            }
        }
    }
    events.sort_by(|a, b| a.file.cmp(&b.file).then(a.onset.total_cmp(&b.onset)));
    let list = EventList { events };
    // Per-recording files were written by the shards; combined formats are written anew.
    for d in &shard_dirs {
        for kind in ["events", "audacity", "raven"] {
            if d.join(kind).is_dir() {
                copy_tree(&d.join(kind), &out.join(kind))
                    .map_err(|e| format!("{}: {e}", d.display()))?;
            }
        }
    }
    let combined: Vec<EventFormat> = formats
        .iter()
        .copied()
        .filter(|f| matches!(f, EventFormat::Jsonl | EventFormat::Csv))
        .collect();
    write_events(out, &list, &combined, &[]).map_err(|e| e.to_string())?;
    let first = summaries
        .first()
        .ok_or("no shard has finished (no summary.json)")?;
    let failures: Vec<Failure> = summaries.iter().flat_map(|s| s.failures.clone()).collect();
    let wall = summaries.iter().map(|s| s.wall_seconds).fold(0.0, f64::max);
    let audio_hours: f64 = summaries.iter().map(|s| s.audio_hours).sum();
    let merged = Summary {
        detector: first.detector.clone(),
        classes: first.classes.clone(),
        window_secs: first.window_secs,
        hop_secs: first.hop_secs,
        thresholds: first.thresholds.clone(),
        shard: None,
        files_total: summaries.iter().map(|s| s.files_total).sum(),
        files_done: summaries.iter().map(|s| s.files_done).sum(),
        files_resumed: summaries.iter().map(|s| s.files_resumed).sum(),
        files_failed: failures.len(),
        failures: failures.clone(),
        events: list.events.len(),
        whole_recording_events: summaries
            .iter()
            .flat_map(|s| s.whole_recording_events.clone())
            .collect(),
        audio_hours,
        // Shards run side by side: the batch took as long as the slowest one.
        wall_seconds: wall,
        real_time_factor: summaries.iter().map(|s| s.real_time_factor).sum(),
    };
    let text = serde_json::to_string_pretty(&merged).map_err(|e| e.to_string())?;
    write_atomic(&out.join("summary.json"), text.as_bytes()).map_err(|e| e.to_string())?;
    Ok(MergeSummary {
        shards: shard_dirs
            .iter()
            .map(|d| d.file_name().unwrap().to_string_lossy().into_owned())
            .collect(),
        missing_shards: missing,
        files_done: merged.files_done,
        files_failed: merged.files_failed,
        events: merged.events,
        audio_hours,
        failures,
    })
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let p = e?.path();
        let dst = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_tree(&p, &dst)?;
        } else {
            let bytes = std::fs::read(&p)?;
            write_atomic(&dst, &bytes)?;
        }
    }
    Ok(())
}
