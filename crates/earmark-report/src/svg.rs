//! Hand-written SVG plots: line plots with event bands, overlaid histograms, bar charts.
//!
//! Conventions shared by every plot:
//! * the root element carries a `viewBox` (it scales with CSS) plus `width`/`height` defaults;
//! * every number written into an attribute goes through one formatter that never emits
//!   `NaN`/`inf` (non-finite data points are skipped before that, this is the last guard);
//! * every piece of caller text goes through [`escape`], so the output is well-formed XML;
//! * no `id` attributes are used, so many plots can share one HTML page;
//! * no data (after skipping non-finite values) draws a titled "no data" panel.

use crate::html::escape;
use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// The Okabe–Ito colour-blind-safe palette, ordered for line plots (yellow, the weakest on white,
/// last). Series and histogram groups take colours from it in order unless they name their own.
pub const PALETTE: [&str; 8] = [
    "#0072B2", // blue
    "#E69F00", // orange
    "#009E73", // bluish green
    "#D55E00", // vermillion
    "#CC79A7", // reddish purple
    "#56B4E9", // sky blue
    "#000000", // black
    "#F0E442", // yellow
];
/// Fill of true-event bands (shaded behind the curves).
pub const TRUTH_COLOR: &str = "#009E73";
/// Fill of detected-event bars (along the bottom of the plot).
pub const DETECTED_COLOR: &str = "#D55E00";

const FONT: &str = "system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif";
const FONT_SIZE: f64 = 11.0;
/// Rough advance width of one character at `FONT_SIZE`, for layout (legends, truncation).
const CHAR_W: f64 = 6.2;
const AXIS_COLOR: &str = "#444";
const GRID_COLOR: &str = "#e5e5e5";
const REF_COLOR: &str = "#555";

/// One curve of a [`LinePlot`]: `(x, y)` points drawn in the given order; a non-finite point breaks
/// the line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    /// CSS colour; `None` takes the next [`PALETTE`] colour.
    pub color: Option<String>,
    pub dashed: bool,
}

impl Series {
    /// A solid series in the palette's colour.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Series {
            name: name.into(),
            points,
            color: None,
            dashed: false,
        }
    }
}

/// What a [`Band`] shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SpanKind {
    /// A reference (ground-truth) event: a shaded green band behind the curves.
    Truth,
    /// A detected event: a bar along the bottom of the plot.
    Detected,
}

/// An interval on the x axis (seconds), e.g. one event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Band {
    pub start: f64,
    pub end: f64,
    /// Shown as a tooltip, and written on truth bands wide enough to hold it.
    pub label: String,
    pub kind: SpanKind,
}

/// A line plot, typically frame scores over seconds with true event bands and a threshold line.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LinePlot {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    pub bands: Vec<Band>,
    /// Horizontal reference lines `(y, label)`, e.g. a threshold.
    pub hlines: Vec<(f64, String)>,
    /// Fixed y range; `None` fits the data (and `hlines`) with nice ticks. Values outside a fixed
    /// range are clamped to its edge.
    pub y_range: Option<(f64, f64)>,
    /// 0 → 640.
    pub width: u32,
    /// 0 → 220.
    pub height: u32,
}

/// Overlaid histograms of several groups on shared bins.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Histogram {
    pub title: String,
    pub x_label: String,
    /// `(name, values)`; non-finite values are skipped and counted in a footnote.
    pub groups: Vec<(String, Vec<f64>)>,
    /// 0 → 20.
    pub bins: usize,
    /// Bin range; `None` spans all finite values of all groups. Values outside are counted in the
    /// footnote.
    pub range: Option<(f64, f64)>,
    /// Vertical reference lines `(x, label)`.
    pub vlines: Vec<(f64, String)>,
    /// 0 → 640.
    pub width: u32,
    /// 0 → 220.
    pub height: u32,
}

/// One bar of a bar chart, optionally with an interval (e.g. a bootstrap CI) drawn as a whisker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub interval: Option<(f64, f64)>,
}

/// A bar chart with explicit size; [`bar_chart`] is the short form.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BarChart {
    pub title: String,
    pub y_label: String,
    pub bars: Vec<Bar>,
    /// Fixed y range; `None` fits 0, the values and the intervals with nice ticks.
    pub y_range: Option<(f64, f64)>,
    /// 0 → 640.
    pub width: u32,
    /// 0 → 240.
    pub height: u32,
}

// ---------------------------------------------------------------------------------------------
// Ticks

/// "Nice" axis ticks: multiples of a step of 1, 2 or 5 × 10^k.
#[derive(Debug, Clone, PartialEq)]
pub struct Ticks {
    /// First tick (≤ the requested low end).
    pub lo: f64,
    /// Last tick (≥ the requested high end).
    pub hi: f64,
    pub step: f64,
    /// Tick values from `lo` to `hi`, each the double nearest to its exact decimal value.
    pub values: Vec<f64>,
    /// Decimals needed to print every tick exactly.
    pub decimals: usize,
}

impl Ticks {
    /// A tick value as text, with [`Ticks::decimals`] decimals (no "-0").
    pub fn label(&self, v: f64) -> String {
        if self.decimals == 0 && v.abs() >= 1e7 {
            return trim_sci(v);
        }
        crate::fmt_num(v, self.decimals)
    }
}

fn trim_sci(v: f64) -> String {
    let s = format!("{v:.2e}");
    // "1.00e7" → "1e7", "2.50e8" → "2.5e8"
    match s.split_once('e') {
        Some((m, e)) if m.contains('.') => {
            format!("{}e{}", m.trim_end_matches('0').trim_end_matches('.'), e)
        }
        _ => s,
    }
}

/// Nice ticks covering `[lo, hi]` with about `target` intervals (at least 2).
///
/// Non-finite ends fall back to `(0, 1)`; reversed ends are swapped; an empty range (`lo == hi`)
/// is widened to `lo ± 10 %` (`±0.5` around zero), so `(0, 0)` gives ticks −0.5 … 0.5.
pub fn nice_ticks(lo: f64, hi: f64, target: usize) -> Ticks {
    let (mut lo, mut hi) = if lo.is_finite() && hi.is_finite() {
        (lo, hi)
    } else {
        (0.0, 1.0)
    };
    if lo > hi {
        std::mem::swap(&mut lo, &mut hi);
    }
    // Keep far from overflow: spans and steps below are then finite.
    lo = lo.clamp(-1e300, 1e300);
    hi = hi.clamp(-1e300, 1e300);
    let scale = lo.abs().max(hi.abs());
    if hi - lo <= scale * 1e-12 || hi - lo < 1e-300 {
        let d = if scale < 1e-300 { 0.5 } else { scale * 0.1 };
        lo -= d;
        hi += d;
    }
    let target = target.max(2) as f64;
    let raw = (hi - lo) / target;
    let exp = raw.log10().floor() as i32;
    let mag = 10f64.powi(exp);
    let norm = raw / mag;
    let m: i64 = if norm < 1.5 {
        1
    } else if norm < 3.0 {
        2
    } else if norm < 7.0 {
        5
    } else {
        10
    };
    let step = m as f64 * mag;
    // value(k) = k·m·10^exp, computed so decimal ticks are the nearest doubles (0.3, not 0.30…04).
    let value = |k: i64| -> f64 {
        if exp < 0 {
            (k * m) as f64 / 10f64.powi(-exp)
        } else {
            (k * m) as f64 * mag
        }
    };
    let k0 = (lo / step).floor() as i64;
    let mut k1 = (hi / step).ceil() as i64;
    if k1 <= k0 {
        k1 = k0 + 1;
    }
    let k1 = k1.min(k0 + 1000);
    let values: Vec<f64> = (k0..=k1).map(value).collect();
    let step_exp = if m == 10 { exp + 1 } else { exp };
    let decimals = (-step_exp).max(0) as usize;
    Ticks {
        lo: values[0],
        hi: values[values.len() - 1],
        step,
        values,
        decimals,
    }
}

/// Integer ticks from 0 for counts (step ≥ 1).
fn count_ticks(max: usize, target: usize) -> Ticks {
    if max <= target.max(1) {
        let hi = max.max(1);
        let values: Vec<f64> = (0..=hi).map(|v| v as f64).collect();
        return Ticks {
            lo: 0.0,
            hi: hi as f64,
            step: 1.0,
            values,
            decimals: 0,
        };
    }
    let mut t = nice_ticks(0.0, max as f64, target);
    t.decimals = 0;
    t
}

/// Axis range and ticks. With `snap` the range extends to the outer ticks (value axes); without
/// it the range is the data extent and only ticks inside are kept (time axes, bin ranges).
fn axis(lo: f64, hi: f64, target: usize, snap: bool) -> ((f64, f64), Ticks) {
    let mut t = nice_ticks(lo, hi, target);
    if snap || !lo.is_finite() || !hi.is_finite() || hi <= lo {
        return ((t.lo, t.hi), t);
    }
    let eps = (hi - lo) * 1e-9;
    t.values.retain(|&v| v >= lo - eps && v <= hi + eps);
    ((lo, hi), t)
}

// ---------------------------------------------------------------------------------------------
// Histogram counting

/// Counts of `values` in `bins` equal-width bins over `range = (lo, hi)`.
///
/// Bins are half-open `[a, b)` except the last, which includes `hi` (NumPy's convention).
/// Non-finite values and values outside the range are not counted. `bins == 0` gives an empty
/// vector. An empty or reversed range is treated like NumPy treats `lo == hi`: `(lo − 0.5, lo + 0.5)`
/// (reversed ends are swapped first).
pub fn bin_counts(values: &[f64], bins: usize, range: (f64, f64)) -> Vec<usize> {
    bin_stats(values, bins, range).counts
}

struct BinStats {
    counts: Vec<usize>,
    non_finite: usize,
    outside: usize,
}

fn effective_range((lo, hi): (f64, f64)) -> (f64, f64) {
    let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
    if hi > lo {
        (lo, hi)
    } else {
        (lo - 0.5, hi + 0.5)
    }
}

fn bin_stats(values: &[f64], bins: usize, range: (f64, f64)) -> BinStats {
    let mut counts = vec![0usize; bins];
    let mut non_finite = 0;
    let mut outside = 0;
    if bins == 0 {
        return BinStats {
            counts,
            non_finite,
            outside,
        };
    }
    let (lo, hi) = effective_range(range);
    if !lo.is_finite() || !hi.is_finite() {
        return BinStats {
            counts,
            non_finite,
            outside,
        };
    }
    // Edges as lo + (hi − lo)·i/bins, so nice ranges get exact decimal edges (0.3, not 0.30…04).
    let edge = |i: usize| lo + (hi - lo) * i as f64 / bins as f64;
    let width = (hi - lo) / bins as f64;
    for &v in values {
        if !v.is_finite() {
            non_finite += 1;
        } else if v < lo || v > hi {
            outside += 1;
        } else {
            let mut i = ((v - lo) / width).floor() as usize;
            // Rounding can put a value a hair below an edge into the next bin; fix with edges.
            if i >= bins {
                i = bins - 1;
            }
            while i > 0 && v < edge(i) {
                i -= 1;
            }
            while i + 1 < bins && v >= edge(i + 1) {
                i += 1;
            }
            counts[i] += 1;
        }
    }
    BinStats {
        counts,
        non_finite,
        outside,
    }
}

// ---------------------------------------------------------------------------------------------
// Low-level writing

/// A coordinate or length: at most 2 decimals, trailing zeros trimmed; non-finite → 0.
fn n(x: f64) -> String {
    if !x.is_finite() {
        return "0".to_string();
    }
    let x = x.clamp(-1e9, 1e9);
    let s = format!("{x:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    match s {
        "-0" | "" => "0".to_string(),
        s => s.to_string(),
    }
}

fn open_svg(out: &mut String, w: f64, h: f64, title: &str) {
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{t}" font-family="{FONT}" font-size="{FONT_SIZE}" style="max-width:100%;height:auto">"#,
        w = n(w),
        h = n(h),
        t = escape(title),
    );
    let _ = write!(out, "<title>{}</title>", escape(title));
    let _ = write!(
        out,
        r##"<rect x="0" y="0" width="{}" height="{}" fill="#ffffff"/>"##,
        n(w),
        n(h)
    );
    if !title.is_empty() {
        let _ = write!(
            out,
            r#"<text x="8" y="17" font-size="13" font-weight="600" fill="{AXIS_COLOR}">{}</text>"#,
            escape(title)
        );
    }
}

#[derive(Clone, Copy)]
enum Anchor {
    Start,
    Middle,
    End,
}

impl Anchor {
    fn as_str(self) -> &'static str {
        match self {
            Anchor::Start => "start",
            Anchor::Middle => "middle",
            Anchor::End => "end",
        }
    }
}

fn text(out: &mut String, x: f64, y: f64, anchor: Anchor, fill: &str, s: &str) {
    let _ = write!(
        out,
        r#"<text x="{}" y="{}" text-anchor="{}" fill="{}">{}</text>"#,
        n(x),
        n(y),
        anchor.as_str(),
        escape(fill),
        escape(s)
    );
}

fn line(out: &mut String, (x1, y1): (f64, f64), (x2, y2): (f64, f64), stroke: &str, extra: &str) {
    let _ = write!(
        out,
        r#"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}"{extra}/>"#,
        n(x1),
        n(y1),
        n(x2),
        n(y2),
        escape(stroke)
    );
}

fn no_data(out: &mut String, w: f64, h: f64, title: &str, why: &str) {
    open_svg(out, w, h, title);
    let top = if title.is_empty() { 8.0 } else { 26.0 };
    let _ = write!(
        out,
        r##"<rect x="8" y="{}" width="{}" height="{}" fill="#fafafa" stroke="#ccc" stroke-dasharray="4 3"/>"##,
        n(top),
        n((w - 16.0).max(1.0)),
        n((h - top - 8.0).max(1.0))
    );
    text(
        out,
        w / 2.0,
        top + (h - top - 8.0) / 2.0 + 4.0,
        Anchor::Middle,
        "#777",
        why,
    );
    out.push_str("</svg>");
}

/// Truncates `s` to about `max_w` pixels with an ellipsis.
fn fit(s: &str, max_w: f64) -> String {
    let max_chars = (max_w / CHAR_W).floor().max(1.0) as usize;
    if s.chars().count() <= max_chars {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max_chars.saturating_sub(1)).collect();
    t.push('…');
    t
}

fn text_w(s: &str) -> f64 {
    s.chars().count() as f64 * CHAR_W
}

/// Printed value on bars: precision by magnitude.
fn fmt_value(v: f64) -> String {
    let a = v.abs();
    let d = if a >= 1000.0 {
        0
    } else if a >= 100.0 {
        1
    } else if a >= 1.0 {
        2
    } else {
        3
    };
    crate::fmt_num(v, d)
}

// ---------------------------------------------------------------------------------------------
// Legend

enum Swatch<'a> {
    Line { color: &'a str, dashed: bool },
    Fill { color: &'a str, opacity: f64 },
}

struct LegendItem<'a> {
    label: String,
    swatch: Swatch<'a>,
}

const LEGEND_ROW: f64 = 15.0;

/// Lays legend items out in rows from `x0` within `max_x`; returns positions and the row count.
fn legend_layout(items: &[LegendItem], x0: f64, max_x: f64) -> (Vec<(f64, usize)>, usize) {
    let mut pos = Vec::with_capacity(items.len());
    let (mut x, mut row) = (x0, 0usize);
    for it in items {
        let w = 24.0 + text_w(&it.label) + 14.0;
        if x > x0 && x + w > max_x {
            x = x0;
            row += 1;
        }
        pos.push((x, row));
        x += w;
    }
    (pos, if items.is_empty() { 0 } else { row + 1 })
}

fn draw_legend(out: &mut String, items: &[LegendItem], pos: &[(f64, usize)], y0: f64) {
    for (it, &(x, row)) in items.iter().zip(pos) {
        let y = y0 + row as f64 * LEGEND_ROW;
        match it.swatch {
            Swatch::Line { color, dashed } => {
                let dash = if dashed {
                    r#" stroke-dasharray="5 3""#
                } else {
                    ""
                };
                let extra = format!(r#" stroke-width="2"{dash}"#);
                line(out, (x, y - 4.0), (x + 18.0, y - 4.0), color, &extra);
            }
            Swatch::Fill { color, opacity } => {
                let _ = write!(
                    out,
                    r#"<rect x="{}" y="{}" width="18" height="9" fill="{}" fill-opacity="{}" stroke="{}"/>"#,
                    n(x),
                    n(y - 8.5),
                    escape(color),
                    n(opacity),
                    escape(color)
                );
            }
        }
        text(out, x + 23.0, y, Anchor::Start, "#333", &it.label);
    }
}

// ---------------------------------------------------------------------------------------------
// Plot frame

struct Frame {
    left: f64,
    top: f64,
    pw: f64,
    ph: f64,
    x: (f64, f64),
    y: (f64, f64),
}

impl Frame {
    fn px(&self, v: f64) -> f64 {
        let t = (v - self.x.0) / (self.x.1 - self.x.0);
        self.left + t.clamp(0.0, 1.0) * self.pw
    }
    fn py(&self, v: f64) -> f64 {
        let t = (v - self.y.0) / (self.y.1 - self.y.0);
        self.top + self.ph - t.clamp(0.0, 1.0) * self.ph
    }
    fn bottom(&self) -> f64 {
        self.top + self.ph
    }
    fn right(&self) -> f64 {
        self.left + self.pw
    }
    fn contains_x(&self, v: f64) -> bool {
        let eps = (self.x.1 - self.x.0).abs() * 1e-9;
        v >= self.x.0 - eps && v <= self.x.1 + eps
    }
    fn contains_y(&self, v: f64) -> bool {
        let eps = (self.y.1 - self.y.0).abs() * 1e-9;
        v >= self.y.0 - eps && v <= self.y.1 + eps
    }

    /// Horizontal grid lines with y tick labels.
    fn y_axis(&self, out: &mut String, t: &Ticks, label: &str) {
        for &v in t.values.iter().filter(|&&v| self.contains_y(v)) {
            let y = self.py(v);
            line(out, (self.left, y), (self.right(), y), GRID_COLOR, "");
            text(
                out,
                self.left - 5.0,
                y + 3.5,
                Anchor::End,
                AXIS_COLOR,
                &t.label(v),
            );
        }
        line(
            out,
            (self.left, self.top),
            (self.left, self.bottom()),
            AXIS_COLOR,
            "",
        );
        if !label.is_empty() {
            let cx = 12.0;
            let cy = self.top + self.ph / 2.0;
            let _ = write!(
                out,
                r#"<text x="{}" y="{}" transform="rotate(-90 {} {})" text-anchor="middle" fill="{AXIS_COLOR}">{}</text>"#,
                n(cx),
                n(cy),
                n(cx),
                n(cy),
                escape(&fit(label, self.ph))
            );
        }
    }

    /// Bottom axis line, tick marks, tick labels and the axis label.
    fn x_axis(&self, out: &mut String, t: &Ticks, label: &str) {
        let b = self.bottom();
        line(out, (self.left, b), (self.right(), b), AXIS_COLOR, "");
        for &v in t.values.iter().filter(|&&v| self.contains_x(v)) {
            let x = self.px(v);
            line(out, (x, b), (x, b + 4.0), AXIS_COLOR, "");
            text(out, x, b + 15.0, Anchor::Middle, AXIS_COLOR, &t.label(v));
        }
        if !label.is_empty() {
            text(
                out,
                self.left + self.pw / 2.0,
                b + 30.0,
                Anchor::Middle,
                AXIS_COLOR,
                label,
            );
        }
    }
}

fn dims(w: u32, h: u32, dw: u32, dh: u32) -> (f64, f64) {
    let w = if w == 0 { dw } else { w.clamp(160, 8000) };
    let h = if h == 0 { dh } else { h.clamp(100, 8000) };
    (w as f64, h as f64)
}

fn finite_range(it: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    it.filter(|v| v.is_finite()).fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

fn valid_range(r: Option<(f64, f64)>) -> Option<(f64, f64)> {
    r.filter(|(a, b)| a.is_finite() && b.is_finite() && a != b)
        .map(|(a, b)| if a < b { (a, b) } else { (b, a) })
}

// ---------------------------------------------------------------------------------------------
// Line plot

/// Splits points into runs of finite points (a non-finite point ends a run).
fn finite_runs(points: &[(f64, f64)]) -> Vec<&[(f64, f64)]> {
    let mut runs = Vec::new();
    let mut start = None;
    for (i, &(x, y)) in points.iter().enumerate() {
        let ok = x.is_finite() && y.is_finite();
        match (ok, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                runs.push(&points[s..i]);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        runs.push(&points[s..]);
    }
    runs
}

/// Min/max decimation of a run sorted by x to at most 4 points per pixel column, keeping order.
fn decimate(run: &[(f64, f64)], f: &Frame) -> Vec<(f64, f64)> {
    let sorted = run.windows(2).all(|w| w[0].0 <= w[1].0);
    if run.len() <= (4.0 * f.pw) as usize || !sorted {
        return run.to_vec();
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < run.len() {
        let col = f.px(run[i].0).floor();
        let mut j = i;
        let (mut imin, mut imax) = (i, i);
        while j < run.len() && f.px(run[j].0).floor() == col {
            if run[j].1 < run[imin].1 {
                imin = j;
            }
            if run[j].1 > run[imax].1 {
                imax = j;
            }
            j += 1;
        }
        let mut keep = vec![i, imin, imax, j - 1];
        keep.sort_unstable();
        keep.dedup();
        out.extend(keep.into_iter().map(|k| run[k]));
        i = j;
    }
    out
}

/// Frame scores (or any curves) over seconds, with true event bands behind the curves, detected
/// events as bars along the bottom, and horizontal reference lines such as a threshold.
pub fn line_plot(p: &LinePlot) -> String {
    let (w, h) = dims(p.width, p.height, 640, 220);
    let mut out = String::new();

    let pts = || {
        p.series
            .iter()
            .flat_map(|s| s.points.iter())
            .filter(|(x, y)| x.is_finite() && y.is_finite())
    };
    let band_x = p
        .bands
        .iter()
        .filter(|b| b.start.is_finite() && b.end.is_finite())
        .flat_map(|b| [b.start, b.end]);
    let Some(xr) = finite_range(pts().map(|&(x, _)| x).chain(band_x)) else {
        no_data(&mut out, w, h, &p.title, "no data");
        return out;
    };
    let has_points = pts().next().is_some();
    let y_fixed = valid_range(p.y_range);
    let yr = y_fixed
        .or_else(|| {
            finite_range(
                pts()
                    .map(|&(_, y)| y)
                    .chain(p.hlines.iter().map(|(y, _)| *y)),
            )
        })
        .unwrap_or((0.0, 1.0));

    // Legend: series, then band kinds present.
    let mut items: Vec<LegendItem> = p
        .series
        .iter()
        .enumerate()
        .map(|(i, s)| LegendItem {
            label: s.name.clone(),
            swatch: Swatch::Line {
                color: s.color.as_deref().unwrap_or(PALETTE[i % PALETTE.len()]),
                dashed: s.dashed,
            },
        })
        .filter(|it| !it.label.is_empty())
        .collect();
    let has_truth = p.bands.iter().any(|b| b.kind == SpanKind::Truth);
    let has_det = p.bands.iter().any(|b| b.kind == SpanKind::Detected);
    if has_truth {
        items.push(LegendItem {
            label: "true event".into(),
            swatch: Swatch::Fill {
                color: TRUTH_COLOR,
                opacity: 0.2,
            },
        });
    }
    if has_det {
        items.push(LegendItem {
            label: "detected".into(),
            swatch: Swatch::Fill {
                color: DETECTED_COLOR,
                opacity: 0.85,
            },
        });
    }

    let left = 56.0;
    let right = 14.0;
    let title_h = if p.title.is_empty() { 6.0 } else { 24.0 };
    let (pos, rows) = legend_layout(&items, left, w - right);
    let top = title_h + rows as f64 * LEGEND_ROW + 8.0;
    let bottom = if p.x_label.is_empty() { 24.0 } else { 38.0 };
    let pw = (w - left - right).max(10.0);
    let ph = (h - top - bottom).max(10.0);

    let (xrange, xt) = axis(xr.0, xr.1, ((pw / 80.0) as usize).max(2), false);
    let (yrange, yt) = match y_fixed {
        Some((a, b)) => axis(a, b, ((ph / 28.0) as usize).max(2), false),
        None => axis(yr.0, yr.1, ((ph / 28.0) as usize).max(2), true),
    };
    let f = Frame {
        left,
        top,
        pw,
        ph,
        x: xrange,
        y: yrange,
    };

    open_svg(&mut out, w, h, &p.title);
    draw_legend(&mut out, &items, &pos, title_h + 11.0);

    // Truth bands behind everything but the background.
    for b in p.bands.iter().filter(|b| b.kind == SpanKind::Truth) {
        if let Some((x0, x1)) = band_px(&f, b) {
            let _ = write!(
                out,
                r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{TRUTH_COLOR}" fill-opacity="0.18"><title>{}</title></rect>"#,
                n(x0),
                n(f.top),
                n((x1 - x0).max(1.0)),
                n(f.ph),
                escape(&band_tooltip(b))
            );
            if !b.label.is_empty() && text_w(&b.label) + 6.0 <= x1 - x0 {
                text(
                    &mut out,
                    x0 + 3.0,
                    f.top + 11.0,
                    Anchor::Start,
                    "#00684a",
                    &b.label,
                );
            }
        }
    }
    f.y_axis(&mut out, &yt, &p.y_label);
    f.x_axis(&mut out, &xt, &p.x_label);

    for (y, label) in &p.hlines {
        if !y.is_finite() || !f.contains_y(*y) {
            continue;
        }
        let py = f.py(*y);
        line(
            &mut out,
            (f.left, py),
            (f.right(), py),
            REF_COLOR,
            r#" stroke-dasharray="6 4""#,
        );
        if !label.is_empty() {
            text(
                &mut out,
                f.right() - 2.0,
                py - 3.0,
                Anchor::End,
                REF_COLOR,
                label,
            );
        }
    }

    for (i, s) in p.series.iter().enumerate() {
        let color = escape(s.color.as_deref().unwrap_or(PALETTE[i % PALETTE.len()]));
        let mut d = String::new();
        let mut dots = String::new();
        for run in finite_runs(&s.points) {
            let run = decimate(run, &f);
            if run.len() == 1 {
                let _ = write!(
                    dots,
                    r#"<circle cx="{}" cy="{}" r="2.5" fill="{color}"/>"#,
                    n(f.px(run[0].0)),
                    n(f.py(run[0].1))
                );
                continue;
            }
            for (k, &(x, y)) in run.iter().enumerate() {
                let cmd = if k == 0 && d.is_empty() {
                    "M"
                } else if k == 0 {
                    " M"
                } else {
                    " L"
                };
                let _ = write!(d, "{cmd}{} {}", n(f.px(x)), n(f.py(y)));
            }
        }
        if !d.is_empty() {
            let dash = if s.dashed {
                r#" stroke-dasharray="5 3""#
            } else {
                ""
            };
            let _ = write!(
                out,
                r#"<path d="{d}" fill="none" stroke="{color}" stroke-width="1.6" stroke-linejoin="round"{dash}><title>{}</title></path>"#,
                escape(&s.name)
            );
        }
        out.push_str(&dots);
    }

    // Detected events: a lane along the bottom of the plot area.
    let lane_h = 7.0;
    for b in p.bands.iter().filter(|b| b.kind == SpanKind::Detected) {
        if let Some((x0, x1)) = band_px(&f, b) {
            let _ = write!(
                out,
                r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{DETECTED_COLOR}" fill-opacity="0.85"><title>{}</title></rect>"#,
                n(x0),
                n(f.bottom() - lane_h - 1.0),
                n((x1 - x0).max(1.5)),
                n(lane_h),
                escape(&band_tooltip(b))
            );
        }
    }
    if !has_points {
        text(
            &mut out,
            f.left + f.pw / 2.0,
            f.top + f.ph / 2.0,
            Anchor::Middle,
            "#777",
            "no curve data",
        );
    }
    out.push_str("</svg>");
    out
}

fn band_px(f: &Frame, b: &Band) -> Option<(f64, f64)> {
    if !b.start.is_finite() || !b.end.is_finite() {
        return None;
    }
    let (s, e) = if b.start <= b.end {
        (b.start, b.end)
    } else {
        (b.end, b.start)
    };
    if e < f.x.0 || s > f.x.1 {
        return None;
    }
    Some((f.px(s), f.px(e)))
}

fn band_tooltip(b: &Band) -> String {
    let kind = match b.kind {
        SpanKind::Truth => "true",
        SpanKind::Detected => "detected",
    };
    let what = if b.label.is_empty() {
        kind.to_string()
    } else {
        format!("{} ({kind})", b.label)
    };
    format!(
        "{what}: {}–{} s",
        crate::fmt_num(b.start, 3),
        crate::fmt_num(b.end, 3)
    )
}

// ---------------------------------------------------------------------------------------------
// Histogram

/// Overlaid semi-transparent histograms (one per group, shared bins, a step outline each) with a
/// legend giving each group's count; counts on y. Non-finite and out-of-range values are skipped
/// and reported in a footnote.
pub fn histogram(hg: &Histogram) -> String {
    let (w, h) = dims(hg.width, hg.height, 640, 220);
    let mut out = String::new();
    let bins = if hg.bins == 0 {
        20
    } else {
        hg.bins.min(10_000)
    };
    let data_range = finite_range(hg.groups.iter().flat_map(|(_, v)| v.iter().copied()));
    let range = match hg.range.filter(|(a, b)| a.is_finite() && b.is_finite()) {
        Some(r) => effective_range(r),
        None => match data_range {
            Some(r) => effective_range(r),
            None => {
                no_data(&mut out, w, h, &hg.title, "no data");
                return out;
            }
        },
    };
    let stats: Vec<BinStats> = hg
        .groups
        .iter()
        .map(|(_, v)| bin_stats(v, bins, range))
        .collect();
    let max_count = stats
        .iter()
        .flat_map(|s| s.counts.iter().copied())
        .max()
        .unwrap_or(0);

    let items: Vec<LegendItem> = hg
        .groups
        .iter()
        .zip(&stats)
        .enumerate()
        .map(|(i, ((name, _), st))| LegendItem {
            label: format!("{name} (n={})", st.counts.iter().sum::<usize>()),
            swatch: Swatch::Fill {
                color: PALETTE[i % PALETTE.len()],
                opacity: 0.35,
            },
        })
        .collect();

    let mut notes = Vec::new();
    for ((name, _), st) in hg.groups.iter().zip(&stats) {
        let mut parts = Vec::new();
        if st.non_finite > 0 {
            parts.push(format!("{} non-finite", st.non_finite));
        }
        if st.outside > 0 {
            parts.push(format!("{} outside range", st.outside));
        }
        if !parts.is_empty() {
            notes.push(format!("{name}: {}", parts.join(", ")));
        }
    }

    let left = 56.0;
    let right = 14.0;
    let title_h = if hg.title.is_empty() { 6.0 } else { 24.0 };
    let (pos, rows) = legend_layout(&items, left, w - right);
    let top = title_h + rows as f64 * LEGEND_ROW + 8.0;
    let foot_h = if notes.is_empty() { 0.0 } else { 14.0 };
    let bottom = if hg.x_label.is_empty() { 24.0 } else { 38.0 } + foot_h;
    let pw = (w - left - right).max(10.0);
    let ph = (h - top - bottom).max(10.0);

    let (xrange, xt) = axis(range.0, range.1, ((pw / 80.0) as usize).max(2), false);
    let yt = count_ticks(max_count, ((ph / 28.0) as usize).max(2));
    let f = Frame {
        left,
        top,
        pw,
        ph,
        x: xrange,
        y: (0.0, yt.hi),
    };

    open_svg(&mut out, w, h, &hg.title);
    draw_legend(&mut out, &items, &pos, title_h + 11.0);
    f.y_axis(&mut out, &yt, "count");

    for (gi, st) in stats.iter().enumerate() {
        let color = PALETTE[gi % PALETTE.len()];
        let mut step = format!("M{} {}", n(f.px(range.0)), n(f.py(0.0)));
        for (i, &c) in st.counts.iter().enumerate() {
            let a = range.0 + (range.1 - range.0) * i as f64 / bins as f64;
            let b = range.0 + (range.1 - range.0) * (i + 1) as f64 / bins as f64;
            let (x0, x1, y) = (f.px(a), f.px(b), f.py(c as f64));
            let _ = write!(step, " L{} {} L{} {}", n(x0), n(y), n(x1), n(y));
            if c > 0 {
                let _ = write!(
                    out,
                    r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{color}" fill-opacity="0.35"><title>{}: {c} in [{}, {})</title></rect>"#,
                    n(x0),
                    n(y),
                    n((x1 - x0).max(0.5)),
                    n(f.bottom() - y),
                    escape(&hg.groups[gi].0),
                    crate::fmt_num(a, xt.decimals + 2),
                    crate::fmt_num(b, xt.decimals + 2),
                );
            }
        }
        let _ = write!(step, " L{} {}", n(f.px(range.1)), n(f.py(0.0)));
        if st.counts.iter().any(|&c| c > 0) {
            let _ = write!(
                out,
                r#"<path d="{step}" fill="none" stroke="{color}" stroke-width="1.5"/>"#
            );
        }
    }
    f.x_axis(&mut out, &xt, &hg.x_label);

    for (x, label) in &hg.vlines {
        if !x.is_finite() || !f.contains_x(*x) {
            continue;
        }
        let px = f.px(*x);
        line(
            &mut out,
            (px, f.top),
            (px, f.bottom()),
            REF_COLOR,
            r#" stroke-dasharray="6 4""#,
        );
        if !label.is_empty() {
            let anchor = if px > f.left + f.pw * 0.7 {
                Anchor::End
            } else {
                Anchor::Start
            };
            let dx = if matches!(anchor, Anchor::End) {
                -3.0
            } else {
                3.0
            };
            text(&mut out, px + dx, f.top + 11.0, anchor, REF_COLOR, label);
        }
    }
    if max_count == 0 {
        text(
            &mut out,
            f.left + f.pw / 2.0,
            f.top + f.ph / 2.0,
            Anchor::Middle,
            "#777",
            "no values in range",
        );
    }
    if !notes.is_empty() {
        let msg = format!("not shown: {}", notes.join("; "));
        text(
            &mut out,
            8.0,
            h - 5.0,
            Anchor::Start,
            "#777",
            &fit(&msg, w - 16.0),
        );
    }
    out.push_str("</svg>");
    out
}

// ---------------------------------------------------------------------------------------------
// Bar chart

/// A bar chart (640×240) with error whiskers for intervals and each value printed above its bar.
/// NaN values draw no bar and print "—".
pub fn bar_chart(title: &str, y_label: &str, bars: &[Bar], y_range: Option<(f64, f64)>) -> String {
    bar_chart_svg(&BarChart {
        title: title.to_string(),
        y_label: y_label.to_string(),
        bars: bars.to_vec(),
        y_range,
        width: 0,
        height: 0,
    })
}

/// [`bar_chart`] with an explicit size.
pub fn bar_chart_svg(c: &BarChart) -> String {
    let (w, h) = dims(c.width, c.height, 640, 240);
    let mut out = String::new();
    if c.bars.is_empty() {
        no_data(&mut out, w, h, &c.title, "no data");
        return out;
    }
    let vals = c.bars.iter().flat_map(|b| {
        let (lo, hi) = b.interval.unwrap_or((f64::NAN, f64::NAN));
        [b.value, lo, hi]
    });
    let y_fixed = valid_range(c.y_range);
    let left = 56.0;
    let right = 14.0;
    let title_h = if c.title.is_empty() { 6.0 } else { 24.0 };
    let top = title_h + 18.0;
    let bottom = 26.0;
    let pw = (w - left - right).max(10.0);
    let ph = (h - top - bottom).max(10.0);
    let target = ((ph / 28.0) as usize).max(2);
    let (yrange, yt) = match y_fixed {
        Some((a, b)) => axis(a, b, target, false),
        None => {
            let (lo, hi) = finite_range(vals.chain([0.0])).unwrap_or((0.0, 1.0));
            axis(lo, hi, target, true)
        }
    };
    let f = Frame {
        left,
        top,
        pw,
        ph,
        x: (0.0, 1.0),
        y: yrange,
    };

    open_svg(&mut out, w, h, &c.title);
    f.y_axis(&mut out, &yt, &c.y_label);
    let base = f.py(0.0);
    line(&mut out, (f.left, base), (f.right(), base), AXIS_COLOR, "");

    let slot = f.pw / c.bars.len() as f64;
    let bw = (slot * 0.6).min(80.0);
    for (i, b) in c.bars.iter().enumerate() {
        let cx = f.left + slot * (i as f64 + 0.5);
        let mut label_y = base - 4.0; // above the baseline when there is no bar
        let mut below = false;
        if b.value.is_finite() {
            let y = f.py(b.value);
            let (y0, y1) = if y <= base { (y, base) } else { (base, y) };
            let _ = write!(
                out,
                r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {}</title></rect>"#,
                n(cx - bw / 2.0),
                n(y0),
                n(bw),
                n(y1 - y0),
                PALETTE[0],
                escape(&b.label),
                escape(&bar_tooltip(b))
            );
            below = b.value < 0.0;
            label_y = if below { y1 + 12.0 } else { y0 - 4.0 };
        }
        if let Some((lo, hi)) = b
            .interval
            .filter(|(lo, hi)| lo.is_finite() && hi.is_finite())
        {
            let (ylo, yhi) = (f.py(lo.min(hi)), f.py(lo.max(hi)));
            let cap = (bw * 0.3).min(8.0);
            let stroke = r#" stroke-width="1.5""#;
            line(&mut out, (cx, ylo), (cx, yhi), "#222", stroke);
            line(&mut out, (cx - cap, ylo), (cx + cap, ylo), "#222", stroke);
            line(&mut out, (cx - cap, yhi), (cx + cap, yhi), "#222", stroke);
            label_y = if below {
                label_y.max(ylo + 12.0)
            } else {
                label_y.min(yhi - 4.0)
            };
        }
        let label_y = label_y.clamp(top - 4.0, h - 2.0);
        text(
            &mut out,
            cx,
            label_y,
            Anchor::Middle,
            "#222",
            &fmt_value(b.value),
        );
        let shown = fit(&b.label, slot - 4.0);
        let _ = write!(
            out,
            r#"<text x="{}" y="{}" text-anchor="middle" fill="{AXIS_COLOR}">{}<title>{}</title></text>"#,
            n(cx),
            n(f.bottom() + 15.0),
            escape(&shown),
            escape(&b.label)
        );
    }
    out.push_str("</svg>");
    out
}

fn bar_tooltip(b: &Bar) -> String {
    match b.interval {
        Some((lo, hi)) => format!(
            "{} [{}, {}]",
            fmt_value(b.value),
            fmt_value(lo),
            fmt_value(hi)
        ),
        None => fmt_value(b.value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_formatting_is_finite() {
        assert_eq!(n(f64::NAN), "0");
        assert_eq!(n(f64::INFINITY), "0");
        assert_eq!(n(1.0), "1");
        assert_eq!(n(1.25), "1.25");
        assert_eq!(n(-0.001), "0");
        assert_eq!(n(12.5), "12.5");
    }

    #[test]
    fn decimation_keeps_extremes() {
        let f = Frame {
            left: 0.0,
            top: 0.0,
            pw: 10.0,
            ph: 10.0,
            x: (0.0, 1.0),
            y: (0.0, 1.0),
        };
        let run: Vec<(f64, f64)> = (0..1000)
            .map(|i| (i as f64 / 999.0, if i == 500 { 1.0 } else { 0.5 }))
            .collect();
        let d = decimate(&run, &f);
        assert!(d.len() <= 44);
        assert!(d.iter().any(|p| p.1 == 1.0));
        assert!(d.windows(2).all(|w| w[0].0 <= w[1].0));
    }
}
