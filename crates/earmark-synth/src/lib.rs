//! Soundscapes with weak and strong labels — the DESED recipe, deterministic by seed.
//!
//! Each clip is a background (coloured noise, babble, or the user's recordings) with zero or more
//! isolated events (procedural sounds, or the user's per-class folders) mixed in at random onsets
//! and SNRs. Strong labels are true to the audio: an event's onset and offset are where its
//! envelope is above −40 dB of its peak, and the sound is trimmed to that extent before mixing.
//! Clip `i` depends only on (options, seed, i), so clips can be made one at a time or in parallel.
//!
//! ```
//! use earmark_synth::{soundscape, Source, SynthOptions};
//! let opts = SynthOptions { n_clips: 4, clip_secs: 2.0, positive_fraction: 1.0, ..Default::default() };
//! let clip = soundscape(&opts, &Source::Procedural, 0)?;
//! assert_eq!(clip.samples.len(), 32_000);
//! assert!(!clip.events.is_empty());
//! assert!(clip.events.iter().all(|e| e.onset >= 0.0 && e.offset <= 2.0));
//! # Ok::<(), earmark_synth::SynthError>(())
//! ```

mod folders;
mod rng;
mod sounds;

use earmark_core::{format_strong_tsv, format_weak_tsv, Event, EventList, WeakLabel};
use folders::Library;
use rng::Rng;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub use sounds::{BackgroundKind, Procedural};

/// What went wrong, by remedy.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// An option is out of its domain.
    #[error("synth options: {what}")]
    Options { what: String },
    /// A folder is missing, empty or unreadable.
    #[error("{path}: {reason}")]
    Folder { path: PathBuf, reason: String },
    /// A sound file could not be decoded.
    #[error("{path}: cannot decode: {reason}")]
    Decode { path: PathBuf, reason: String },
    /// Writing the dataset failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One event class of the procedural source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassSpec {
    pub name: String,
    pub kind: Procedural,
    pub min_secs: f64,
    pub max_secs: f64,
}

fn class(name: &str, kind: Procedural, min_secs: f64, max_secs: f64) -> ClassSpec {
    ClassSpec {
        name: name.into(),
        kind,
        min_secs,
        max_secs,
    }
}

/// `impact` (80–250 ms), `burst` (200–600 ms), `voice` (300–800 ms).
pub fn default_classes() -> Vec<ClassSpec> {
    vec![
        class("impact", Procedural::Impact, 0.08, 0.25),
        class("burst", Procedural::Burst, 0.2, 0.6),
        class("voice", Procedural::Voice, 0.3, 0.8),
    ]
}

/// A procedural class by name: `impact`, `burst`, `voice` or `chirp` (0.15–0.5 s).
pub fn procedural_class(name: &str) -> Option<ClassSpec> {
    let mut all = default_classes();
    all.push(class("chirp", Procedural::Chirp, 0.15, 0.5));
    all.into_iter().find(|c| c.name.eq_ignore_ascii_case(name))
}

/// Options of the synthesiser; `Default` is the workflow's default dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SynthOptions {
    pub n_clips: usize,
    pub clip_secs: f64,
    pub sample_rate: u32,
    /// Procedural classes (ignored with folders: classes are the subfolder names).
    pub classes: Vec<ClassSpec>,
    /// Probability that a clip has at least one event; the others are background only.
    pub positive_fraction: f64,
    pub max_events_per_clip: usize,
    /// Event RMS over its extent against background RMS, dB, drawn uniformly.
    pub snr_db: (f64, f64),
    pub allow_overlap: bool,
    pub background: BackgroundKind,
    pub seed: u64,
    /// File names are `{prefix}_{index:04}.wav`.
    pub prefix: String,
}

impl Default for SynthOptions {
    fn default() -> Self {
        SynthOptions {
            n_clips: 100,
            clip_secs: 10.0,
            sample_rate: 16000,
            classes: default_classes(),
            positive_fraction: 0.5,
            max_events_per_clip: 2,
            snr_db: (0.0, 12.0),
            allow_overlap: true,
            background: BackgroundKind::Mixed,
            seed: 0,
            prefix: "synth".into(),
        }
    }
}

impl SynthOptions {
    fn validate(&self) -> Result<(), SynthError> {
        let bad = |what: String| Err(SynthError::Options { what });
        if self.n_clips == 0 {
            return bad("n_clips must be at least 1".into());
        }
        if !(self.clip_secs.is_finite() && self.clip_secs > 0.0) {
            return bad(format!("clip_secs must be > 0, got {}", self.clip_secs));
        }
        if !(1000..=384_000).contains(&self.sample_rate) {
            return bad(format!(
                "sample_rate {} is out of 1000..=384000",
                self.sample_rate
            ));
        }
        if !(0.0..=1.0).contains(&self.positive_fraction) {
            return bad(format!(
                "positive_fraction must be in 0..=1, got {}",
                self.positive_fraction
            ));
        }
        if self.max_events_per_clip == 0 && self.positive_fraction > 0.0 {
            return bad("max_events_per_clip must be at least 1 when clips have events".into());
        }
        let (lo, hi) = self.snr_db;
        if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
            return bad(format!(
                "snr_db must be finite with lo <= hi, got ({lo}, {hi})"
            ));
        }
        if self.prefix.is_empty() || self.prefix.contains(['/', '\\', '\t', '\n']) {
            return bad(format!(
                "prefix {:?} must be a plain file-name part",
                self.prefix
            ));
        }
        for c in &self.classes {
            if c.name.is_empty() || c.name.contains([',', '\t', '\n']) {
                return bad(format!(
                    "class name {:?} must be non-empty without commas or tabs",
                    c.name
                ));
            }
            if !(c.min_secs > 0.0 && c.min_secs <= c.max_secs) {
                return bad(format!(
                    "class {}: need 0 < min_secs <= max_secs, got {}..{}",
                    c.name, c.min_secs, c.max_secs
                ));
            }
            if c.max_secs > self.clip_secs {
                return bad(format!(
                    "class {}: events up to {} s do not fit in {} s clips",
                    c.name, c.max_secs, self.clip_secs
                ));
            }
        }
        Ok(())
    }
}

/// Where event sounds and backgrounds come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Procedural,
    /// `events/<class>/*.{wav,flac,mp3,ogg}`; backgrounds any audio files in one folder.
    Folders {
        events: PathBuf,
        backgrounds: Option<PathBuf>,
    },
}

/// One synthesised clip.
#[derive(Debug, Clone)]
pub struct Soundscape {
    pub file: String,
    pub samples: Vec<f32>,
    pub sample_rate: u32,
    pub events: Vec<Event>,
    pub weak: WeakLabel,
}

/// Trims a sound to where its 10 ms RMS envelope is above −40 dB of its peak frame.
fn trim(sound: &[f32], rate: u32) -> &[f32] {
    let hop = (rate as usize / 100).max(1);
    let env: Vec<f64> = sound
        .chunks(hop)
        .map(|c| (c.iter().map(|&x| (x as f64).powi(2)).sum::<f64>() / c.len() as f64).sqrt())
        .collect();
    let peak = env.iter().cloned().fold(0.0, f64::max);
    if peak <= 0.0 {
        return &sound[..0];
    }
    let floor = peak * 0.01;
    let first = env.iter().position(|&e| e >= floor).unwrap_or(0);
    let last = env.iter().rposition(|&e| e >= floor).unwrap_or(0);
    &sound[first * hop..((last + 1) * hop).min(sound.len())]
}

fn rms(x: &[f32]) -> f64 {
    (x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / x.len().max(1) as f64).sqrt()
}

fn ms(samples: usize, rate: u32) -> f64 {
    (samples as f64 * 1000.0 / rate as f64).round() / 1000.0
}

/// Builds clip `index` from `lib` (the resolved sound source).
fn make(opts: &SynthOptions, lib: &Library, index: usize) -> Soundscape {
    let rate = opts.sample_rate;
    let n = (opts.clip_secs * rate as f64).round() as usize;
    let mut rng = Rng::new(opts.seed, index as u64, 0);
    let mut bg_rng = Rng::new(opts.seed, index as u64, 1);
    let mut mix = lib.background(opts, n, &mut bg_rng);
    let bg_rms = rms(&mix).max(1e-6);
    let file = format!("{}_{index:04}.wav", opts.prefix);
    let positive = rng.uniform() < opts.positive_fraction;
    let wanted = if positive && !lib.class_names(opts).is_empty() {
        1 + rng.below(opts.max_events_per_clip)
    } else {
        0
    };
    let names = lib.class_names(opts);
    let mut placed: Vec<(usize, usize)> = Vec::new();
    let mut events = Vec::new();
    for _ in 0..wanted {
        let c = rng.below(names.len());
        let mut ev_rng = Rng::new(opts.seed, index as u64, 2 + events.len() as u64);
        let raw = lib.event(opts, c, &mut ev_rng);
        let sound = trim(&raw, rate);
        let len = sound.len().min(n);
        if len == 0 {
            continue;
        }
        let sound = &sound[..len];
        // An onset where the event fits (and, without overlap, meets no other event).
        let mut start = None;
        for _ in 0..20 {
            let s = rng.below(n - len + 1);
            if opts.allow_overlap || placed.iter().all(|&(a, b)| s + len <= a || s >= b) {
                start = Some(s);
                break;
            }
        }
        let Some(s) = start else { continue };
        let snr = rng.range(opts.snr_db.0, opts.snr_db.1);
        let gain = bg_rms * 10f64.powf(snr / 20.0) / rms(sound).max(1e-9);
        for (m, &x) in mix[s..s + len].iter_mut().zip(sound) {
            *m += (gain * x as f64) as f32;
        }
        placed.push((s, s + len));
        events.push(Event::new(
            file.clone(),
            ms(s, rate),
            ms(s + len, rate),
            names[c].clone(),
        ));
    }
    // Scale the whole clip only if it would clip.
    let peak = mix.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    if peak > 0.99 {
        let g = 0.99 / peak;
        mix.iter_mut().for_each(|x| *x *= g);
    }
    events.sort_by(|a, b| a.onset.total_cmp(&b.onset));
    let mut labels: Vec<String> = events.iter().map(|e| e.label.clone()).collect();
    labels.sort();
    labels.dedup();
    Soundscape {
        weak: WeakLabel::new(file.clone(), labels),
        file,
        samples: mix,
        sample_rate: rate,
        events,
    }
}

/// Clip `index` of the dataset described by `opts` (the same every time).
pub fn soundscape(
    opts: &SynthOptions,
    source: &Source,
    index: usize,
) -> Result<Soundscape, SynthError> {
    opts.validate()?;
    let lib = Library::open(opts, source)?;
    Ok(make(opts, &lib, index))
}

/// All `opts.n_clips` clips in memory (for small sets; [`write_dataset`] streams).
pub fn synthesize(opts: &SynthOptions, source: &Source) -> Result<Vec<Soundscape>, SynthError> {
    opts.validate()?;
    let lib = Library::open(opts, source)?;
    Ok((0..opts.n_clips).map(|i| make(opts, &lib, i)).collect())
}

/// What [`write_dataset`] wrote.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatasetSummary {
    pub dir: PathBuf,
    pub clips: usize,
    pub positives: usize,
    pub events: usize,
    pub classes: Vec<String>,
}

fn write_text(path: &Path, text: &str) -> Result<(), SynthError> {
    let io = |source| SynthError::Io {
        path: path.to_path_buf(),
        source,
    };
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    let tmp = path.with_file_name(format!(".{name}.tmp{}", std::process::id()));
    std::fs::write(&tmp, text).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Writes `dir/audio/*.wav` (16-bit PCM), `dir/weak.tsv`, `dir/strong.tsv` and `dir/synth.json`,
/// one clip at a time; every file is written atomically.
pub fn write_dataset(
    dir: &Path,
    opts: &SynthOptions,
    source: &Source,
) -> Result<DatasetSummary, SynthError> {
    opts.validate()?;
    let lib = Library::open(opts, source)?;
    let audio = dir.join("audio");
    std::fs::create_dir_all(&audio).map_err(|source| SynthError::Io {
        path: audio.clone(),
        source,
    })?;
    let (mut weak, mut strong) = (Vec::with_capacity(opts.n_clips), Vec::new());
    let mut positives = 0;
    for i in 0..opts.n_clips {
        let s = make(opts, &lib, i);
        let path = audio.join(&s.file);
        earmark_audio::write_wav_pcm16(&path, &s.samples, s.sample_rate, 1).map_err(|e| {
            SynthError::Io {
                path: path.clone(),
                source: std::io::Error::other(e.to_string()),
            }
        })?;
        positives += usize::from(!s.events.is_empty());
        strong.extend(s.events);
        weak.push(s.weak);
    }
    let summary = DatasetSummary {
        dir: dir.to_path_buf(),
        clips: opts.n_clips,
        positives,
        events: strong.len(),
        classes: lib.class_names(opts),
    };
    write_text(&dir.join("weak.tsv"), &format_weak_tsv(&weak))?;
    write_text(
        &dir.join("strong.tsv"),
        &format_strong_tsv(&EventList::new(strong)),
    )?;
    let meta = serde_json::json!({
        "options": opts,
        "source": match source {
            Source::Procedural => serde_json::json!("procedural"),
            Source::Folders { events, backgrounds } => serde_json::json!({
                "events": events, "backgrounds": backgrounds
            }),
        },
        "summary": summary,
    });
    write_text(
        &dir.join("synth.json"),
        &serde_json::to_string_pretty(&meta).expect("options serialise"),
    )?;
    Ok(summary)
}
