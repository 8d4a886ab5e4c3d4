//! Annotation files: the I/O around `earmark_core`'s pure parsers and formatters. Reads name the
//! file in every error; writes are atomic.

use crate::atomic::write_atomic;
use earmark_core::{
    format_audacity, format_raven, format_strong_tsv, format_weak_tsv, parse_audacity, parse_raven,
    parse_strong_tsv, parse_weak_tsv, AnnotationError, EventList, WeakLabel,
};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum AnnotationFileError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Parse(#[from] AnnotationError),
}

/// The formats earmark reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// DCASE/DESED strong labels: `filename onset offset event_label` (all recordings in one file).
    DcaseTsv,
    /// Audacity label track (one recording per file).
    Audacity,
    /// Raven selection table (one recording per file).
    Raven,
}

fn read(path: &Path) -> Result<String, AnnotationFileError> {
    std::fs::read_to_string(path).map_err(|source| AnnotationFileError::Io {
        path: path.into(),
        source,
    })
}

fn write(path: &Path, text: &str) -> Result<(), AnnotationFileError> {
    write_atomic(path, text.as_bytes()).map_err(|source| AnnotationFileError::Io {
        path: path.into(),
        source,
    })
}

/// Read strong labels. `recording` names the audio file for the one-recording formats.
pub fn read_events(
    path: &Path,
    format: Format,
    recording: &str,
) -> Result<EventList, AnnotationFileError> {
    let text = read(path)?;
    let name = path.display().to_string();
    Ok(match format {
        Format::DcaseTsv => parse_strong_tsv(&text, &name)?,
        Format::Audacity => parse_audacity(&text, recording, &name)?,
        Format::Raven => parse_raven(&text, recording, &name)?,
    })
}

/// Write strong labels atomically (Raven tables get a 0–`high_freq_hz` band).
pub fn write_events(
    path: &Path,
    format: Format,
    events: &EventList,
    high_freq_hz: f64,
) -> Result<(), AnnotationFileError> {
    let text = match format {
        Format::DcaseTsv => format_strong_tsv(events),
        Format::Audacity => format_audacity(events),
        Format::Raven => format_raven(events, high_freq_hz),
    };
    write(path, &text)
}

/// Read DCASE/DESED weak labels (`filename<TAB>event_labels`).
pub fn read_weak(path: &Path) -> Result<Vec<WeakLabel>, AnnotationFileError> {
    let text = read(path)?;
    Ok(parse_weak_tsv(&text, &path.display().to_string())?)
}

/// Write weak labels atomically.
pub fn write_weak(path: &Path, labels: &[WeakLabel]) -> Result<(), AnnotationFileError> {
    write(path, &format_weak_tsv(labels))
}

#[cfg(test)]
mod tests {
    use super::*;
    use earmark_core::Event;

    #[test]
    fn round_trips_and_names_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let events = EventList {
            events: vec![
                Event::new("a.wav", 1.25, 2.5, "cough"),
                Event::new("a.wav", 3.0, 3.2, "impact"),
            ],
        };
        for (fmt, name) in [
            (Format::DcaseTsv, "s.tsv"),
            (Format::Audacity, "a.txt"),
            (Format::Raven, "r.txt"),
        ] {
            let p = dir.path().join(name);
            write_events(&p, fmt, &events, 8000.0).unwrap();
            let back = read_events(&p, fmt, "a.wav").unwrap();
            assert_eq!(back, events, "{fmt:?}");
        }
        let bad = dir.path().join("bad.tsv");
        std::fs::write(
            &bad,
            "filename\tonset\toffset\tevent_label\na.wav\t1.0\t2.0\tcough\na.wav\t1.2x\t2\tcough\n",
        )
        .unwrap();
        let err = read_events(&bad, Format::DcaseTsv, "")
            .unwrap_err()
            .to_string();
        assert!(err.contains("bad.tsv:3") && err.contains("1.2x"), "{err}");
        let missing = read_weak(&dir.path().join("nope.tsv"))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("nope.tsv"), "{missing}");
    }
}
