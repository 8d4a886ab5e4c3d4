//! [`Report`] → one self-contained HTML5 page: inline CSS, a table of contents, no scripts, no
//! external resources. Caller text is escaped everywhere except [`Block::Svg`].

use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// A piece of a section's body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Block {
    /// Escaped text in a `<p>`.
    Paragraph(String),
    /// Trusted markup (from [`crate::svg`]), inserted as is inside a `<figure>`.
    Svg(String),
    /// Escaped cells. Cells that look numeric are right-aligned; short rows are padded.
    Table {
        header: Vec<String>,
        rows: Vec<Vec<String>>,
    },
    /// Escaped preformatted text.
    Pre(String),
    /// Escaped bullet items.
    List(Vec<String>),
    /// Small multiples side by side (CSS grid, wraps on narrow screens).
    Grid(Vec<Block>),
    /// A call-out; `kind` is "info" or "warn" (anything else renders as "info").
    Note { kind: String, text: String },
}

/// One titled section; `id` is the anchor the table of contents links to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Section {
    pub id: String,
    pub heading: String,
    pub blocks: Vec<Block>,
}

/// A whole report page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub title: String,
    pub subtitle: String,
    pub sections: Vec<Section>,
}

/// Escapes `& < > " '` for text and attribute values (HTML and XML alike).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters other than tab/newline are not allowed in XML 1.0.
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' && c != '\r' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = r#"
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1040px; padding: 24px 28px 48px; background: #fff; color: #1d1d1f;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; }
header h1 { font-size: 1.7em; margin: 0 0 4px; }
header .subtitle { color: #555; margin: 0 0 16px; }
h2 { font-size: 1.3em; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 1px solid #ddd; }
nav.toc { background: #f6f7f9; border: 1px solid #e3e5e8; border-radius: 6px; padding: 10px 18px; margin: 0 0 12px; }
nav.toc h2 { font-size: 1em; margin: 0 0 4px; border: 0; padding: 0; }
nav.toc ol { margin: 0; padding-left: 22px; columns: 2 260px; }
a { color: #0060a0; }
p { margin: 8px 0; }
figure.plot { margin: 10px 0; }
figure.plot svg { display: block; max-width: 100%; height: auto; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 12px; margin: 10px 0; }
.grid > div { min-width: 0; }
.table-wrap { overflow-x: auto; margin: 10px 0; }
table { border-collapse: collapse; font-size: 0.92em; }
th, td { border: 1px solid #d8dadd; padding: 4px 9px; text-align: left; vertical-align: top; }
th { background: #f0f2f4; }
tbody tr:nth-child(even) td { background: #fafbfc; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f6f7f9; border: 1px solid #e3e5e8; border-radius: 4px; padding: 8px 12px; overflow-x: auto;
  font: 13px/1.4 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; white-space: pre-wrap; }
.note { border-left: 4px solid #0072B2; background: #eef5fb; padding: 8px 12px; margin: 10px 0; border-radius: 0 4px 4px 0; }
.note.warn { border-left-color: #D55E00; background: #fdf1e9; }
.note .kind { font-weight: 600; margin-right: 6px; }
footer { margin-top: 40px; color: #888; font-size: 0.85em; }
@media print {
  body { max-width: none; padding: 0; font-size: 11pt; }
  nav.toc { break-after: avoid; }
  a { color: inherit; text-decoration: none; }
  h2 { break-after: avoid; }
  figure.plot, table, .note, pre { break-inside: avoid; }
  .table-wrap { overflow: visible; }
}
"#;

/// The anchor used for section `i`: its id with characters outside `[A-Za-z0-9_.:-]` replaced by
/// `-`, or `section-{i+1}` when empty.
fn anchor(i: usize, id: &str) -> String {
    if id.trim().is_empty() {
        return format!("section-{}", i + 1);
    }
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.:".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// Renders the report as one self-contained HTML5 page.
///
/// Section ids are used as anchors (characters other than ASCII letters, digits and `-_.:` become
/// `-`; an empty id becomes `section-N`). The output is deterministic (no timestamps).
pub fn render(r: &Report) -> String {
    let mut out = String::with_capacity(16 * 1024);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n");
    out.push_str("<meta name=\"generator\" content=\"earmark-report\"/>\n");
    let _ = writeln!(out, "<title>{}</title>", escape(&r.title));
    let _ = writeln!(out, "<style>{CSS}</style>\n</head>\n<body>");
    out.push_str("<header>\n");
    let _ = writeln!(out, "<h1>{}</h1>", escape(&r.title));
    if !r.subtitle.is_empty() {
        let _ = writeln!(out, "<p class=\"subtitle\">{}</p>", escape(&r.subtitle));
    }
    out.push_str("</header>\n");

    let anchors: Vec<String> = r
        .sections
        .iter()
        .enumerate()
        .map(|(i, s)| anchor(i, &s.id))
        .collect();
    if !r.sections.is_empty() {
        out.push_str("<nav class=\"toc\">\n<h2>Contents</h2>\n<ol>\n");
        for (s, a) in r.sections.iter().zip(&anchors) {
            let _ = writeln!(
                out,
                "<li><a href=\"#{}\">{}</a></li>",
                escape(a),
                escape(&s.heading)
            );
        }
        out.push_str("</ol>\n</nav>\n");
    }
    out.push_str("<main>\n");
    for (s, a) in r.sections.iter().zip(&anchors) {
        let _ = writeln!(out, "<section id=\"{}\">", escape(a));
        let _ = writeln!(out, "<h2>{}</h2>", escape(&s.heading));
        for b in &s.blocks {
            block(&mut out, b);
        }
        out.push_str("</section>\n");
    }
    out.push_str("</main>\n<footer>Generated by earmark-report.</footer>\n</body>\n</html>\n");
    out
}

/// Whether a cell reads as a number (for right alignment): "0.93", "-1.2e-3", "12 %", "—".
fn numeric(cell: &str) -> bool {
    let t = cell.trim().trim_end_matches('%').trim_end();
    if t == "—" || t == "∞" || t == "−∞" {
        return true;
    }
    !t.is_empty() && t.parse::<f64>().is_ok()
}

fn block(out: &mut String, b: &Block) {
    match b {
        Block::Paragraph(t) => {
            let _ = writeln!(out, "<p>{}</p>", escape(t));
        }
        Block::Svg(svg) => {
            let _ = writeln!(out, "<figure class=\"plot\">{svg}</figure>");
        }
        Block::Table { header, rows } => {
            let ncol = rows
                .iter()
                .map(Vec::len)
                .chain([header.len()])
                .max()
                .unwrap_or(0);
            out.push_str("<div class=\"table-wrap\"><table>\n");
            if !header.is_empty() {
                out.push_str("<thead><tr>");
                for i in 0..ncol {
                    let _ = write!(
                        out,
                        "<th>{}</th>",
                        escape(header.get(i).map_or("", String::as_str))
                    );
                }
                out.push_str("</tr></thead>\n");
            }
            out.push_str("<tbody>\n");
            for row in rows {
                out.push_str("<tr>");
                for i in 0..ncol {
                    let cell = row.get(i).map_or("", String::as_str);
                    let class = if numeric(cell) { " class=\"num\"" } else { "" };
                    let _ = write!(out, "<td{class}>{}</td>", escape(cell));
                }
                out.push_str("</tr>\n");
            }
            out.push_str("</tbody>\n</table></div>\n");
        }
        Block::Pre(t) => {
            let _ = writeln!(out, "<pre>{}</pre>", escape(t));
        }
        Block::List(items) => {
            out.push_str("<ul>\n");
            for it in items {
                let _ = writeln!(out, "<li>{}</li>", escape(it));
            }
            out.push_str("</ul>\n");
        }
        Block::Grid(children) => {
            out.push_str("<div class=\"grid\">\n");
            for c in children {
                out.push_str("<div>\n");
                block(out, c);
                out.push_str("</div>\n");
            }
            out.push_str("</div>\n");
        }
        Block::Note { kind, text } => {
            let kind = if kind.eq_ignore_ascii_case("warn") {
                "warn"
            } else {
                "info"
            };
            let label = if kind == "warn" { "Warning" } else { "Note" };
            let _ = writeln!(
                out,
                "<div class=\"note {kind}\" role=\"note\"><span class=\"kind\">{label}:</span>{}</div>",
                escape(text)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_are_sanitised() {
        assert_eq!(anchor(0, "scores"), "scores");
        assert_eq!(anchor(1, "a b\"c"), "a-b-c");
        assert_eq!(anchor(2, ""), "section-3");
    }

    #[test]
    fn numeric_cells() {
        assert!(numeric("0.93"));
        assert!(numeric(" -1.2e-3 "));
        assert!(numeric("12 %"));
        assert!(numeric("—"));
        assert!(!numeric("cough"));
        assert!(!numeric(""));
    }
}
