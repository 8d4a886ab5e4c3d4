//! One recording's score table (sed_scores_eval's TSV) and the time rounding it uses.

use crate::EvalError;
use earmark_core::Event;

/// numpy's `round(x, 6)`: scale, round half to even, unscale.
pub(super) fn round6(x: f64) -> f64 {
    (x * 1e6).round_ties_even() / 1e6
}

/// `filename` without its last extension (`a.b.wav` → `a.b`), as sed_scores_eval keys recordings.
pub fn recording_id(filename: &str) -> &str {
    match filename.rsplit_once('.') {
        Some((stem, _)) => stem,
        None => filename,
    }
}

/// One recording's scores: `frames` contiguous segments, one score per class.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreTable {
    /// Segment boundaries in seconds: `frames + 1` values, strictly increasing.
    pub(super) timestamps: Vec<f64>,
    pub(super) classes: Vec<String>,
    /// `[frames, classes]`, row-major.
    pub(super) scores: Vec<f64>,
}

impl ScoreTable {
    /// `timestamps`: `frames + 1` strictly increasing boundaries; `scores`: `[frames, classes]`
    /// row-major, finite.
    pub fn new(
        timestamps: Vec<f64>,
        classes: Vec<String>,
        scores: Vec<f64>,
    ) -> Result<Self, EvalError> {
        let invalid = |what: String| Err(EvalError::Invalid { what });
        if classes.is_empty() {
            return invalid("a score table needs at least one class column".into());
        }
        if timestamps.len() < 2 {
            return invalid("a score table needs at least one segment".into());
        }
        let frames = timestamps.len() - 1;
        if scores.len() != frames * classes.len() {
            return Err(EvalError::Shape {
                expected: frames * classes.len(),
                got: scores.len(),
            });
        }
        for (k, w) in timestamps.windows(2).enumerate() {
            if !(w[0].is_finite() && w[1].is_finite() && w[1] > w[0]) {
                return invalid(format!(
                    "segment {} ends at {} but starts at {}: segments must have positive length",
                    k + 1,
                    w[1],
                    w[0]
                ));
            }
        }
        if let Some(i) = scores.iter().position(|s| !s.is_finite()) {
            return invalid(format!(
                "segment {}, class {:?}: score {} is not a finite number",
                i / classes.len() + 1,
                classes[i % classes.len()],
                scores[i]
            ));
        }
        Ok(ScoreTable {
            timestamps,
            classes,
            scores,
        })
    }

    /// Parses sed_scores_eval's score TSV (header `onset<TAB>offset<TAB><class>…`, one segment a
    /// line, each segment starting where the previous ended). Errors name the 1-based line.
    pub fn parse_tsv(text: &str) -> Result<Self, EvalError> {
        let err = |line: usize, what: String| EvalError::Invalid {
            what: format!("line {line}: {what}"),
        };
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
            .filter(|(_, l)| !l.trim().is_empty());
        let (hl, header) = lines.next().ok_or_else(|| {
            err(
                1,
                "empty file: expected a header `onset offset <class>…`".into(),
            )
        })?;
        let cols: Vec<&str> = header.split('\t').map(str::trim).collect();
        if cols.len() < 3 || cols[0] != "onset" || cols[1] != "offset" {
            return Err(err(
                hl,
                format!(
                    "header must be `onset<TAB>offset<TAB><class>…` (tab-separated), got {header:?}"
                ),
            ));
        }
        let classes: Vec<String> = cols[2..].iter().map(|c| c.to_string()).collect();
        if let Some(c) = classes.iter().find(|c| c.is_empty()) {
            return Err(err(hl, format!("empty class name in header ({c:?})")));
        }
        let mut timestamps = Vec::new();
        let mut scores = Vec::new();
        for (ln, l) in lines {
            let f: Vec<&str> = l.split('\t').collect();
            if f.len() != cols.len() {
                return Err(err(
                    ln,
                    format!(
                        "expected {} tab-separated columns, got {}",
                        cols.len(),
                        f.len()
                    ),
                ));
            }
            let num = |k: usize| -> Result<f64, EvalError> {
                f[k].trim().parse::<f64>().map_err(|_| {
                    err(
                        ln,
                        format!("{}: {:?} is not a number", cols[k], f[k].trim()),
                    )
                })
            };
            let (on, off) = (num(0)?, num(1)?);
            if !(on.is_finite() && off.is_finite() && off > on) {
                return Err(err(
                    ln,
                    format!("segment [{on}, {off}] must have a positive length"),
                ));
            }
            match timestamps.last() {
                None => timestamps.push(on),
                Some(&prev) if prev != on => {
                    return Err(err(
                        ln,
                        format!("onset {on} must equal the previous segment's offset {prev}"),
                    ))
                }
                Some(_) => {}
            }
            timestamps.push(off);
            for (k, name) in cols.iter().enumerate().skip(2) {
                let v = num(k)?;
                if !v.is_finite() {
                    return Err(err(ln, format!("{name}: score {v} is not finite")));
                }
                scores.push(v);
            }
        }
        if timestamps.is_empty() {
            return Err(err(hl, "no segments after the header".into()));
        }
        ScoreTable::new(timestamps, classes, scores)
    }

    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    pub fn frames(&self) -> usize {
        self.timestamps.len() - 1
    }

    /// The `frames + 1` segment boundaries.
    pub fn timestamps(&self) -> &[f64] {
        &self.timestamps
    }

    /// Where the last segment ends (the recording's duration when the table covers it).
    pub fn end_secs(&self) -> f64 {
        self.timestamps[self.timestamps.len() - 1]
    }

    /// Class `c`'s scores, one per segment.
    pub fn column(&self, c: usize) -> Vec<f64> {
        self.scores
            .iter()
            .skip(c)
            .step_by(self.classes.len())
            .copied()
            .collect()
    }

    /// The highest score per class (a clip-level score).
    pub fn max_scores(&self) -> Vec<f64> {
        (0..self.classes.len())
            .map(|c| self.column(c).into_iter().fold(f64::NEG_INFINITY, f64::max))
            .collect()
    }

    /// Events of class `c` where the score is strictly above `threshold` (sed_scores_eval's
    /// `scores_to_event_list`), labelled `label` in `file`.
    pub fn events(&self, c: usize, threshold: f64, file: &str, label: &str) -> Vec<Event> {
        let col = self.column(c);
        let mut out = Vec::new();
        let mut start = None;
        for (i, &s) in col
            .iter()
            .chain(std::iter::once(&f64::NEG_INFINITY))
            .enumerate()
        {
            match (s > threshold, start) {
                (true, None) => start = Some(i),
                (false, Some(a)) => {
                    out.push(Event::new(
                        file,
                        self.timestamps[a],
                        self.timestamps[i],
                        label,
                    ));
                    start = None;
                }
                _ => {}
            }
        }
        out
    }
}
