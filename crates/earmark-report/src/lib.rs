//! earmark-report: report data → one self-contained HTML page with inline SVG plots.
//!
//! Everything here is a pure function returning a `String`: no file or network I/O, no JavaScript,
//! no external resources, and no plotting dependency (the SVG is written by hand).
//!
//! * [`svg`]: line plots of frame scores over seconds with true/detected event bands
//!   ([`line_plot`]), overlaid histograms ([`histogram`], [`bin_counts`]) and bar charts with
//!   interval whiskers ([`bar_chart`]). Axes use "nice" 1-2-5 ticks ([`nice_ticks`]), colours come
//!   from the colour-blind-safe Okabe–Ito palette ([`PALETTE`]), non-finite inputs are skipped and
//!   every coordinate written is finite. Empty data draws a "no data" panel instead of panicking.
//! * [`html`]: [`Report`] → HTML5 page with inline CSS and a table of contents ([`render`]).
//! * [`markdown`]: GitHub markdown tables ([`md_table`]).
//!
//! Every SVG and page produced is well-formed XML (text and attributes are escaped with
//! [`escape`]); [`Block::Svg`] is the one place where caller-provided markup is trusted as is.

pub mod html;
pub mod markdown;
pub mod svg;

pub use html::{escape, render, Block, Report, Section};
pub use markdown::md_table;
pub use svg::{
    bar_chart, bar_chart_svg, bin_counts, histogram, line_plot, nice_ticks, Band, Bar, BarChart,
    Histogram, LinePlot, Series, SpanKind, Ticks, PALETTE,
};

/// Formats `x` with exactly `digits` decimals for tables: NaN → "—", ±∞ → "∞"/"−∞", and a
/// negative zero (also one produced by rounding, e.g. `-0.0001` at 2 digits) prints without sign.
pub fn fmt_num(x: f64, digits: usize) -> String {
    if x.is_nan() {
        return "—".to_string();
    }
    if x.is_infinite() {
        return if x > 0.0 { "∞" } else { "−∞" }.to_string();
    }
    let digits = digits.min(17);
    let s = format!("{x:.digits$}");
    match s.strip_prefix('-') {
        Some(rest) if rest.bytes().all(|b| b == b'0' || b == b'.') => rest.to_string(),
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use super::fmt_num;

    #[test]
    fn fmt_num_cases() {
        assert_eq!(fmt_num(f64::NAN, 3), "—");
        assert_eq!(fmt_num(0.12345, 3), "0.123");
        assert_eq!(fmt_num(2.0, 0), "2");
        assert_eq!(fmt_num(-0.0001, 2), "0.00");
        assert_eq!(fmt_num(-1.5, 1), "-1.5");
        assert_eq!(fmt_num(f64::INFINITY, 2), "∞");
        assert_eq!(fmt_num(f64::NEG_INFINITY, 2), "−∞");
    }
}
