//! The project's labels: strong events and clip (weak) labels, kept in memory and written back
//! to `.earmark/labels/{strong,weak}.tsv` atomically on every change.

use crate::error::AppError;
use crate::project::Project;
use earmark::atomic::write_atomic;
use earmark_core::{
    format_strong_tsv, format_weak_tsv, parse_strong_tsv, parse_weak_tsv, Event, EventList,
    WeakLabel,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Span {
    pub onset: f64,
    pub offset: f64,
    pub label: String,
}

/// What `GET /api/labels` answers and `PUT /api/labels` takes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RecordingLabels {
    #[serde(default)]
    pub strong: Vec<Span>,
    /// `None`: no clip label given (unlabelled); `Some([])`: the clip has no event.
    #[serde(default)]
    pub weak: Option<Vec<String>>,
}

#[derive(Default)]
struct Table {
    strong: BTreeMap<String, Vec<Span>>,
    weak: BTreeMap<String, Vec<String>>,
}

pub struct Labels {
    table: Mutex<Table>,
}

fn strong_path(p: &Project) -> std::path::PathBuf {
    p.labels_dir().join("strong.tsv")
}

fn weak_path(p: &Project) -> std::path::PathBuf {
    p.labels_dir().join("weak.tsv")
}

fn read(path: &Path) -> Result<Option<String>, AppError> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(AppError::internal(format!("{}: {e}", path.display()))),
    }
}

impl Labels {
    /// Reads the project's labels; the first time, imports `strong.tsv`/`weak.tsv` from the
    /// project's top (the layout `earmark synth` writes).
    pub fn open(project: &Project, recordings: &[String]) -> Result<Labels, AppError> {
        let dir = project.labels_dir();
        let mut t = Table::default();
        if !dir.exists() {
            import(project, recordings, &mut t)?;
            std::fs::create_dir_all(&dir)
                .map_err(|e| AppError::internal(format!("{}: {e}", dir.display())))?;
            let l = Labels {
                table: Mutex::new(t),
            };
            l.save(project)?;
            return Ok(l);
        }
        let sp = strong_path(project);
        if let Some(text) = read(&sp)? {
            let events = parse_strong_tsv(&text, &sp.display().to_string())
                .map_err(|e| AppError::internal(e.to_string()))?;
            for e in events {
                t.strong.entry(e.file.clone()).or_default().push(Span {
                    onset: e.onset,
                    offset: e.offset,
                    label: e.label.clone(),
                });
            }
        }
        let wp = weak_path(project);
        if let Some(text) = read(&wp)? {
            for w in parse_weak_tsv(&text, &wp.display().to_string())
                .map_err(|e| AppError::internal(e.to_string()))?
            {
                t.weak.entry(w.file).or_default().extend(w.labels);
            }
        }
        Ok(Labels {
            table: Mutex::new(t),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        // A panic elsewhere while holding the lock leaves the table usable: it is only data.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, path: &str) -> RecordingLabels {
        let t = self.lock();
        RecordingLabels {
            strong: t.strong.get(path).cloned().unwrap_or_default(),
            weak: t.weak.get(path).cloned(),
        }
    }

    pub fn strong_count(&self, path: &str) -> usize {
        self.lock().strong.get(path).map_or(0, Vec::len)
    }

    /// (strong events, recordings with a clip label).
    pub fn counts(&self) -> (usize, usize) {
        let t = self.lock();
        (t.strong.values().map(Vec::len).sum(), t.weak.len())
    }

    pub fn classes(&self) -> Vec<String> {
        let t = self.lock();
        let mut c: Vec<String> = t
            .strong
            .values()
            .flatten()
            .map(|s| s.label.clone())
            .chain(t.weak.values().flatten().cloned())
            .collect();
        c.sort();
        c.dedup();
        c
    }

    /// Strong events of every recording, as events (file = the recording's path).
    pub fn strong_events(&self) -> EventList {
        let t = self.lock();
        let mut v = Vec::new();
        for (f, spans) in &t.strong {
            for s in spans {
                v.push(Event::new(f.as_str(), s.onset, s.offset, s.label.as_str()));
            }
        }
        EventList::new(v)
    }

    /// Clip labels for training: each recording's own clip label, else the classes of its strong
    /// labels. Recordings with neither are unlabelled and left out.
    pub fn weak_for_training(&self) -> Vec<WeakLabel> {
        let t = self.lock();
        let mut out: BTreeMap<String, Vec<String>> = t.weak.clone();
        for (f, spans) in &t.strong {
            out.entry(f.clone()).or_insert_with(|| {
                let mut c: Vec<String> = spans.iter().map(|s| s.label.clone()).collect();
                c.sort();
                c.dedup();
                c
            });
        }
        out.into_iter().map(|(f, l)| WeakLabel::new(f, l)).collect()
    }

    /// Replaces one recording's labels after checking them, then writes both files.
    pub fn put(
        &self,
        project: &Project,
        path: &str,
        duration: f64,
        new: RecordingLabels,
    ) -> Result<(), AppError> {
        for (k, s) in new.strong.iter().enumerate() {
            check_label(&s.label)
                .map_err(|m| AppError::Unprocessable(format!("strong[{k}]: {m}")))?;
            if !(s.onset.is_finite() && s.offset.is_finite()) || s.onset < 0.0 {
                return Err(AppError::Unprocessable(format!(
                    "strong[{k}]: onset {} and offset {} must be finite and ≥ 0",
                    s.onset, s.offset
                )));
            }
            if s.onset >= s.offset {
                return Err(AppError::Unprocessable(format!(
                    "strong[{k}]: onset {} must be before offset {}",
                    s.onset, s.offset
                )));
            }
            // A little slack: the page rounds pixel positions to milliseconds.
            if duration > 0.0 && s.offset > duration + 1e-3 {
                return Err(AppError::Unprocessable(format!(
                    "strong[{k}]: offset {} is past the recording's end ({duration:.3} s)",
                    s.offset
                )));
            }
        }
        if let Some(w) = &new.weak {
            for (k, l) in w.iter().enumerate() {
                check_label(l).map_err(|m| AppError::Unprocessable(format!("weak[{k}]: {m}")))?;
                if l.contains(',') {
                    return Err(AppError::Unprocessable(format!(
                        "weak[{k}] {l:?}: a class name cannot hold ',' (the TSV's separator)"
                    )));
                }
            }
        }
        let mut t = self.lock();
        let before = (t.strong.get(path).cloned(), t.weak.get(path).cloned());
        let mut strong = new.strong;
        strong.sort_by(|a, b| a.onset.total_cmp(&b.onset));
        if strong.is_empty() {
            t.strong.remove(path);
        } else {
            t.strong.insert(path.to_string(), strong);
        }
        match new.weak {
            Some(mut w) => {
                w.sort();
                w.dedup();
                t.weak.insert(path.to_string(), w);
            }
            None => {
                t.weak.remove(path);
            }
        }
        if let Err(e) = write_table(project, &t) {
            // Keep memory and disk in agreement: the change did not happen.
            match before.0 {
                Some(s) => t.strong.insert(path.to_string(), s),
                None => t.strong.remove(path),
            };
            match before.1 {
                Some(w) => t.weak.insert(path.to_string(), w),
                None => t.weak.remove(path),
            };
            return Err(e);
        }
        Ok(())
    }

    fn save(&self, project: &Project) -> Result<(), AppError> {
        write_table(project, &self.lock())
    }
}

fn check_label(l: &str) -> Result<(), String> {
    if l.trim().is_empty() {
        return Err("the class is empty".into());
    }
    if l.contains(['\t', '\n', '\r']) {
        return Err(format!("class {l:?} holds a tab or newline"));
    }
    Ok(())
}

fn write_table(project: &Project, t: &Table) -> Result<(), AppError> {
    let mut events = Vec::new();
    for (f, spans) in &t.strong {
        for s in spans {
            events.push(Event::new(f.as_str(), s.onset, s.offset, s.label.as_str()));
        }
    }
    let weak: Vec<WeakLabel> = t
        .weak
        .iter()
        .map(|(f, l)| WeakLabel::new(f.as_str(), l.iter().cloned()))
        .collect();
    let sp = strong_path(project);
    write_atomic(&sp, format_strong_tsv(&EventList::new(events)).as_bytes())
        .map_err(|e| AppError::internal(format!("{}: {e}", sp.display())))?;
    let wp = weak_path(project);
    write_atomic(&wp, format_weak_tsv(&weak).as_bytes())
        .map_err(|e| AppError::internal(format!("{}: {e}", wp.display())))
}

/// Maps a label file's name to a recording: the same relative path, else the one recording whose
/// path ends in `/name`.
fn match_recording<'a>(name: &str, recordings: &'a [String]) -> Option<&'a String> {
    if let Some(r) = recordings.iter().find(|r| *r == name) {
        return Some(r);
    }
    let suffix = format!("/{name}");
    let mut it = recordings.iter().filter(|r| r.ends_with(&suffix));
    match (it.next(), it.next()) {
        (Some(r), None) => Some(r),
        _ => None,
    }
}

fn import(project: &Project, recordings: &[String], t: &mut Table) -> Result<(), AppError> {
    let sp = project.root.join("strong.tsv");
    if let Some(text) = read(&sp)? {
        // A top-level strong.tsv that is not a label file is simply not imported.
        if let Ok(events) = parse_strong_tsv(&text, &sp.display().to_string()) {
            for e in events {
                if let Some(r) = match_recording(&e.file, recordings) {
                    t.strong.entry(r.clone()).or_default().push(Span {
                        onset: e.onset,
                        offset: e.offset,
                        label: e.label.clone(),
                    });
                }
            }
        }
    }
    let wp = project.root.join("weak.tsv");
    if let Some(text) = read(&wp)? {
        if let Ok(rows) = parse_weak_tsv(&text, &wp.display().to_string()) {
            for w in rows {
                if let Some(r) = match_recording(&w.file, recordings) {
                    t.weak.entry(r.clone()).or_default().extend(w.labels);
                }
            }
        }
    }
    Ok(())
}
