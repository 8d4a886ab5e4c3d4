//! The resolved sound source: procedural classes, or the user's folders decoded once.

use crate::rng::Rng;
use crate::sounds::{background, event};
use crate::Source;
use crate::{SynthError, SynthOptions};
use std::path::{Path, PathBuf};

const AUDIO_EXT: &[&str] = &["wav", "flac", "mp3", "ogg", "oga", "m4a", "aif", "aiff"];

pub(crate) enum Library {
    Procedural,
    Folders {
        /// (class name, decoded sounds)
        classes: Vec<(String, Vec<Vec<f32>>)>,
        backgrounds: Vec<Vec<f32>>,
    },
}

fn audio_files(dir: &Path) -> Result<Vec<PathBuf>, SynthError> {
    let rd = std::fs::read_dir(dir).map_err(|e| SynthError::Folder {
        path: dir.to_path_buf(),
        reason: e.to_string(),
    })?;
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .and_then(|x| x.to_str())
                    .is_some_and(|x| AUDIO_EXT.contains(&x.to_ascii_lowercase().as_str()))
        })
        .collect();
    v.sort();
    if v.is_empty() {
        return Err(SynthError::Folder {
            path: dir.to_path_buf(),
            reason: format!("no audio files ({})", AUDIO_EXT.join(", ")),
        });
    }
    Ok(v)
}

fn decode(path: &Path, rate: u32) -> Result<Vec<f32>, SynthError> {
    let w = earmark_audio::load_mono(path, Some(rate)).map_err(|e| SynthError::Decode {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    if w.samples.is_empty() {
        return Err(SynthError::Decode {
            path: path.to_path_buf(),
            reason: "no samples".into(),
        });
    }
    Ok(w.samples)
}

impl Library {
    pub(crate) fn open(opts: &SynthOptions, source: &Source) -> Result<Library, SynthError> {
        match source {
            Source::Procedural => {
                if opts.classes.is_empty() && opts.positive_fraction > 0.0 {
                    return Err(SynthError::Options {
                        what: "no classes to synthesise".into(),
                    });
                }
                Ok(Library::Procedural)
            }
            Source::Folders {
                events,
                backgrounds,
            } => {
                let rd = std::fs::read_dir(events).map_err(|e| SynthError::Folder {
                    path: events.clone(),
                    reason: e.to_string(),
                })?;
                let mut dirs: Vec<PathBuf> = rd
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.is_dir())
                    .collect();
                dirs.sort();
                if dirs.is_empty() {
                    return Err(SynthError::Folder {
                        path: events.clone(),
                        reason: "no class subfolders (expected events/<class>/*.wav)".into(),
                    });
                }
                let mut classes = Vec::new();
                for d in dirs {
                    let name = d
                        .file_name()
                        .and_then(|n| n.to_str())
                        .unwrap_or_default()
                        .to_string();
                    let sounds = audio_files(&d)?
                        .iter()
                        .map(|p| decode(p, opts.sample_rate))
                        .collect::<Result<Vec<_>, _>>()?;
                    classes.push((name, sounds));
                }
                let backgrounds = match backgrounds {
                    Some(b) => audio_files(b)?
                        .iter()
                        .map(|p| decode(p, opts.sample_rate))
                        .collect::<Result<Vec<_>, _>>()?,
                    None => Vec::new(),
                };
                Ok(Library::Folders {
                    classes,
                    backgrounds,
                })
            }
        }
    }

    pub(crate) fn class_names(&self, opts: &SynthOptions) -> Vec<String> {
        match self {
            Library::Procedural => opts.classes.iter().map(|c| c.name.clone()).collect(),
            Library::Folders { classes, .. } => classes.iter().map(|c| c.0.clone()).collect(),
        }
    }

    pub(crate) fn event(&self, opts: &SynthOptions, c: usize, rng: &mut Rng) -> Vec<f32> {
        match self {
            Library::Procedural => {
                let spec = &opts.classes[c];
                let secs = rng.range(spec.min_secs, spec.max_secs);
                event(spec.kind, secs, opts.sample_rate, rng)
            }
            Library::Folders { classes, .. } => {
                let sounds = &classes[c].1;
                sounds[rng.below(sounds.len())].clone()
            }
        }
    }

    pub(crate) fn background(&self, opts: &SynthOptions, n: usize, rng: &mut Rng) -> Vec<f32> {
        match self {
            Library::Folders { backgrounds, .. } if !backgrounds.is_empty() => {
                let b = &backgrounds[rng.below(backgrounds.len())];
                let start = rng.below(b.len());
                let mut out: Vec<f32> = (0..n).map(|i| b[(start + i) % b.len()]).collect();
                // Backgrounds are levelled like the procedural ones: events' SNR is against it.
                let r =
                    (out.iter().map(|&x| (x as f64).powi(2)).sum::<f64>() / n.max(1) as f64).sqrt();
                let g = if r > 0.0 { (0.05 / r) as f32 } else { 0.0 };
                out.iter_mut().for_each(|x| *x *= g);
                out
            }
            _ => {
                let mut v = background(opts.background, n, opts.sample_rate, rng);
                // −26 dBFS RMS leaves room for events at +12 dB SNR without clipping.
                v.iter_mut().for_each(|x| *x *= 0.05);
                v
            }
        }
    }
}
