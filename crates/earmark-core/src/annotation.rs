//! Annotation text formats as pure functions, text in and text out (the facade does the file I/O).
//!
//! * DCASE/DESED strong labels: `filename<TAB>onset<TAB>offset<TAB>event_label`, with or without the
//!   header line; a row whose onset, offset and label are all empty (DESED's "no event" rows) is skipped.
//! * DCASE/DESED weak labels: `filename<TAB>event_labels` (comma-separated), with a header line.
//! * Audacity label tracks: `start<TAB>end<TAB>label`, one file per track; the `\t`-prefixed
//!   frequency lines Audacity writes for spectral selections are ignored.
//! * Raven selection tables: tab-separated with a header naming `Begin Time (s)`, `End Time (s)` and a
//!   label column (`Annotation`, `Label`, `Class` or `Species`, case-insensitive, first found in that
//!   order). A selection listed once per view (waveform and spectrogram) is read once.
//!
//! Every parser takes a `source` name (usually the file path) for its errors, which name the source,
//! the 1-based line and the field: `ref.tsv:7: onset "1.2x" is not a number`.

use crate::events::{Event, EventList, WeakLabel};

/// A malformed annotation line; each variant names the source, the 1-based line and what to fix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AnnotationError {
    #[error("{name}:{line}: {field} {value:?} is not a number")]
    NotANumber {
        name: String,
        line: usize,
        field: &'static str,
        value: String,
    },
    #[error("{name}:{line}: {field} {value} is negative")]
    Negative {
        name: String,
        line: usize,
        field: &'static str,
        value: f64,
    },
    #[error("{name}:{line}: onset {onset} is after offset {offset}")]
    OnsetAfterOffset {
        name: String,
        line: usize,
        onset: f64,
        offset: f64,
    },
    #[error("{name}:{line}: expected {expected} tab-separated columns, found {found}")]
    Columns {
        name: String,
        line: usize,
        expected: usize,
        found: usize,
    },
    #[error("{name}:{line}: {field} is empty")]
    Empty {
        name: String,
        line: usize,
        field: &'static str,
    },
    #[error("{name}:{line}: header has no {what} column")]
    MissingColumn {
        name: String,
        line: usize,
        what: &'static str,
    },
}

/// Lines with their 1-based numbers, `\r` stripped, blank lines dropped.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)))
        .filter(|(_, l)| !l.trim().is_empty())
}

fn parse_time(
    name: &str,
    line: usize,
    field: &'static str,
    s: &str,
) -> Result<f64, AnnotationError> {
    let v: f64 = s.trim().parse().map_err(|_| AnnotationError::NotANumber {
        name: name.to_string(),
        line,
        field,
        value: s.to_string(),
    })?;
    if !v.is_finite() {
        return Err(AnnotationError::NotANumber {
            name: name.to_string(),
            line,
            field,
            value: s.to_string(),
        });
    }
    if v < 0.0 {
        return Err(AnnotationError::Negative {
            name: name.to_string(),
            line,
            field,
            value: v,
        });
    }
    Ok(v)
}

fn check_columns(
    name: &str,
    line: usize,
    cols: &[&str],
    expected: usize,
) -> Result<(), AnnotationError> {
    if cols.len() != expected {
        return Err(AnnotationError::Columns {
            name: name.to_string(),
            line,
            expected,
            found: cols.len(),
        });
    }
    Ok(())
}

fn nonempty<'a>(
    name: &str,
    line: usize,
    field: &'static str,
    s: &'a str,
) -> Result<&'a str, AnnotationError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(AnnotationError::Empty {
            name: name.to_string(),
            line,
            field,
        });
    }
    Ok(t)
}

fn make_event(
    name: &str,
    line: usize,
    file: &str,
    onset: &str,
    offset: &str,
    label: &str,
) -> Result<Event, AnnotationError> {
    let onset = parse_time(name, line, "onset", onset)?;
    let offset = parse_time(name, line, "offset", offset)?;
    if onset > offset {
        return Err(AnnotationError::OnsetAfterOffset {
            name: name.to_string(),
            line,
            onset,
            offset,
        });
    }
    let label = nonempty(name, line, "event_label", label)?;
    Ok(Event::new(file, onset, offset, label))
}

/// Shortest text that reads back to the same f64 (`0.5`, `10.0`, `19.0001`).
fn num(v: f64) -> String {
    format!("{v:?}")
}

/// Parses a DCASE/DESED strong-label TSV (`filename onset offset event_label`), header optional.
pub fn parse_strong_tsv(text: &str, source: &str) -> Result<EventList, AnnotationError> {
    let mut out = EventList::default();
    for (k, (line, l)) in lines(text).enumerate() {
        let cols: Vec<&str> = l.split('\t').collect();
        if k == 0 && is_strong_header(&cols) {
            continue;
        }
        check_columns(source, line, &cols, 4)?;
        let file = nonempty(source, line, "filename", cols[0])?;
        if cols[1..].iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        out.push(make_event(source, line, file, cols[1], cols[2], cols[3])?);
    }
    Ok(out)
}

fn is_strong_header(cols: &[&str]) -> bool {
    let eq = |i: usize, w: &str| {
        cols.get(i)
            .is_some_and(|c| c.trim().eq_ignore_ascii_case(w))
    };
    eq(0, "filename") || eq(1, "onset")
}

/// Writes a DCASE/DESED strong-label TSV with its header line.
pub fn format_strong_tsv(events: &EventList) -> String {
    let mut s = String::from("filename\tonset\toffset\tevent_label\n");
    for e in events {
        s.push_str(&format!(
            "{}\t{}\t{}\t{}\n",
            e.file,
            num(e.onset),
            num(e.offset),
            e.label
        ));
    }
    s
}

/// Parses a DCASE/DESED weak-label TSV (`filename event_labels`, labels comma-separated). The header
/// line (`filename<TAB>event_labels`) is skipped when present; an empty label field is a negative clip.
pub fn parse_weak_tsv(text: &str, source: &str) -> Result<Vec<WeakLabel>, AnnotationError> {
    let mut out = Vec::new();
    for (k, (line, l)) in lines(text).enumerate() {
        let cols: Vec<&str> = l.split('\t').collect();
        if k == 0 && cols[0].trim().eq_ignore_ascii_case("filename") {
            continue;
        }
        if cols.len() == 1 {
            // a file with no labels: `filename` alone (or `filename<TAB>`)
            let file = nonempty(source, line, "filename", cols[0])?;
            out.push(WeakLabel::new(file, Vec::<String>::new()));
            continue;
        }
        check_columns(source, line, &cols, 2)?;
        let file = nonempty(source, line, "filename", cols[0])?;
        let labels = if cols[1].trim().is_empty() {
            Vec::new()
        } else {
            cols[1]
                .split(',')
                .map(|x| nonempty(source, line, "event_labels", x).map(str::to_string))
                .collect::<Result<Vec<_>, _>>()?
        };
        out.push(WeakLabel {
            file: file.to_string(),
            labels,
        });
    }
    Ok(out)
}

/// Writes a DCASE/DESED weak-label TSV with its header line.
pub fn format_weak_tsv(labels: &[WeakLabel]) -> String {
    let mut s = String::from("filename\tevent_labels\n");
    for w in labels {
        s.push_str(&format!("{}\t{}\n", w.file, w.labels.join(",")));
    }
    s
}

/// Parses an Audacity label track (`start end label`) for the recording `file`.
pub fn parse_audacity(text: &str, file: &str, source: &str) -> Result<EventList, AnnotationError> {
    let mut out = EventList::default();
    for (line, l) in lines(text) {
        if l.starts_with('\t') || l.starts_with('\\') {
            continue; // spectral selection: `\tlow_hz\thigh_hz`
        }
        let cols: Vec<&str> = l.split('\t').collect();
        check_columns(source, line, &cols, 3)?;
        out.push(make_event(source, line, file, cols[0], cols[1], cols[2])?);
    }
    Ok(out)
}

/// Writes an Audacity label track from events (all of them; filter by file first).
pub fn format_audacity(events: &EventList) -> String {
    let mut s = String::new();
    for e in events {
        s.push_str(&format!(
            "{}\t{}\t{}\n",
            num(e.onset),
            num(e.offset),
            e.label
        ));
    }
    s
}

const RAVEN_LABEL_COLUMNS: [&str; 4] = ["annotation", "label", "class", "species"];

/// Parses a Raven selection table for the recording `file`.
pub fn parse_raven(text: &str, file: &str, source: &str) -> Result<EventList, AnnotationError> {
    let mut it = lines(text);
    let Some((hline, header)) = it.next() else {
        return Ok(EventList::default());
    };
    let head: Vec<String> = header
        .split('\t')
        .map(|c| c.trim().to_ascii_lowercase())
        .collect();
    let find = |what: &'static str| {
        head.iter()
            .position(|c| c == what)
            .ok_or(AnnotationError::MissingColumn {
                name: source.to_string(),
                line: hline,
                what,
            })
    };
    let begin = find("begin time (s)")?;
    let end = find("end time (s)")?;
    let label = RAVEN_LABEL_COLUMNS
        .iter()
        .find_map(|w| head.iter().position(|c| c == w))
        .ok_or(AnnotationError::MissingColumn {
            name: source.to_string(),
            line: hline,
            what: "Annotation/Label/Class/Species",
        })?;
    let selection = head.iter().position(|c| c == "selection");
    let mut seen: Vec<String> = Vec::new();
    let mut out = EventList::default();
    for (line, l) in it {
        let cols: Vec<&str> = l.split('\t').collect();
        check_columns(source, line, &cols, head.len())?;
        if let Some(si) = selection {
            let id = cols[si].trim().to_string();
            if seen.contains(&id) {
                continue; // the same selection in another view
            }
            seen.push(id);
        }
        out.push(make_event(
            source,
            line,
            file,
            cols[begin],
            cols[end],
            cols[label],
        )?);
    }
    Ok(out)
}

/// Writes a Raven selection table (one spectrogram-view row per event; frequency box
/// `[0, high_freq_hz]`, usually the Nyquist frequency).
pub fn format_raven(events: &EventList, high_freq_hz: f64) -> String {
    let mut s = String::from(
        "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\tAnnotation\n",
    );
    for (i, e) in events.iter().enumerate() {
        s.push_str(&format!(
            "{}\tSpectrogram 1\t1\t{}\t{}\t0.0\t{}\t{}\n",
            i + 1,
            num(e.onset),
            num(e.offset),
            num(high_freq_hz),
            e.label
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> EventList {
        EventList::new(vec![
            Event::new("a.wav", 0.5, 1.0, "impact"),
            Event::new("a.wav", 1.2, 19.0001, "vocal"),
            Event::new("b.wav", 0.0, 0.0, "clap"),
        ])
    }

    #[test]
    fn strong_round_trip_and_headerless() {
        let text = format_strong_tsv(&sample());
        assert!(text.starts_with("filename\tonset\toffset\tevent_label\n"));
        assert_eq!(parse_strong_tsv(&text, "x").unwrap(), sample());
        let headerless = text.lines().skip(1).collect::<Vec<_>>().join("\r\n");
        assert_eq!(parse_strong_tsv(&headerless, "x").unwrap(), sample());
        // DESED "no event" rows are skipped
        let t = "filename\tonset\toffset\tevent_label\nc.wav\t\t\t\n";
        assert!(parse_strong_tsv(t, "x").unwrap().is_empty());
    }

    #[test]
    fn strong_errors_name_source_line_field() {
        let h = "filename\tonset\toffset\tevent_label\n";
        let err = |body: &str| {
            parse_strong_tsv(&format!("{h}a\t0\t1\tx\n{body}"), "ref.tsv")
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err("a\t1.2x\t2\tx"),
            "ref.tsv:3: onset \"1.2x\" is not a number"
        );
        assert_eq!(
            err("a\t1\tNaN\tx"),
            "ref.tsv:3: offset \"NaN\" is not a number"
        );
        assert_eq!(err("a\t2\t1\tx"), "ref.tsv:3: onset 2 is after offset 1");
        assert_eq!(err("a\t-1\t1\tx"), "ref.tsv:3: onset -1 is negative");
        assert_eq!(
            err("a\t0\t1"),
            "ref.tsv:3: expected 4 tab-separated columns, found 3"
        );
        assert_eq!(err("a\t0\t1\t "), "ref.tsv:3: event_label is empty");
    }

    #[test]
    fn weak_round_trip_and_errors() {
        let w = vec![
            WeakLabel::new("a.wav", ["dog", "cat"]),
            WeakLabel::new("b.wav", Vec::<String>::new()),
        ];
        let text = format_weak_tsv(&w);
        assert_eq!(text, "filename\tevent_labels\na.wav\tdog,cat\nb.wav\t\n");
        assert_eq!(parse_weak_tsv(&text, "w").unwrap(), w);
        let e = parse_weak_tsv("filename\tevent_labels\na\tdog,,cat\n", "weak.tsv").unwrap_err();
        assert_eq!(e.to_string(), "weak.tsv:2: event_labels is empty");
    }

    #[test]
    fn audacity_round_trip_skips_frequency_lines() {
        let events = sample().for_file("a.wav");
        let text = format_audacity(&events);
        assert_eq!(parse_audacity(&text, "a.wav", "a.txt").unwrap(), events);
        let spectral = "0.5\t1.0\timpact\n\\\t100.0\t4000.0\n1.2\t19.0001\tvocal\n\t100\t200\n";
        assert_eq!(parse_audacity(spectral, "a.wav", "a.txt").unwrap(), events);
        let e = parse_audacity("0.5\t1.0\n", "a.wav", "a.txt").unwrap_err();
        assert_eq!(
            e.to_string(),
            "a.txt:1: expected 3 tab-separated columns, found 2"
        );
    }

    #[test]
    fn raven_round_trip_label_columns_and_views() {
        let events = sample().for_file("a.wav");
        let text = format_raven(&events, 8000.0);
        assert_eq!(parse_raven(&text, "a.wav", "r.txt").unwrap(), events);
        let t = "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\tSPECIES\n\
                 1\tWaveform 1\t1\t0.5\t1.0\t0\t0\timpact\n\
                 1\tSpectrogram 1\t1\t0.5\t1.0\t100\t900\timpact\n\
                 2\tSpectrogram 1\t1\t1.2\t19.0001\t100\t900\tvocal\n";
        assert_eq!(parse_raven(t, "a.wav", "r.txt").unwrap(), events);
        let bad = "Selection\tBegin Time (s)\tEnd Time (s)\n1\t0\t1\n";
        assert_eq!(
            parse_raven(bad, "a.wav", "r.txt").unwrap_err().to_string(),
            "r.txt:1: header has no Annotation/Label/Class/Species column"
        );
        let bad = "Begin Time (s)\tEnd Time (s)\tLabel\n0\tx\ty\n";
        assert_eq!(
            parse_raven(bad, "a.wav", "r.txt").unwrap_err().to_string(),
            "r.txt:2: offset \"x\" is not a number"
        );
    }
}
