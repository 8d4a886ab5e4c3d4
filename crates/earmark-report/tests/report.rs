//! Plots and pages: well-formed XML on normal, empty, single-value and NaN inputs, finite
//! coordinates, hand-worked histogram counts, escaping, nice ticks, the table of contents.

use earmark_report::{
    bar_chart, bar_chart_svg, bin_counts, escape, fmt_num, histogram, line_plot, md_table,
    nice_ticks, render, Band, Bar, BarChart, Block, Histogram, LinePlot, Report, Section, Series,
    SpanKind,
};

// ---------------------------------------------------------------------------------------------
// A tiny XML checker: balanced tags, quoted attributes, known entities, no `<` in attributes.

#[derive(Debug)]
struct Element {
    name: String,
    attrs: Vec<(String, String)>,
}

fn check_entities(s: &str, ctx: &str) {
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        let tail = &rest[i + 1..];
        let end = tail
            .find(';')
            .unwrap_or_else(|| panic!("unterminated entity in {ctx}: {s:?}"));
        let ent = &tail[..end];
        let ok = matches!(ent, "amp" | "lt" | "gt" | "quot" | "apos")
            || (ent.starts_with("#x") && u32::from_str_radix(&ent[2..], 16).is_ok())
            || (ent.starts_with('#') && ent[1..].parse::<u32>().is_ok());
        assert!(ok, "unknown entity &{ent}; in {ctx}");
        rest = &tail[end + 1..];
    }
}

/// Parses `doc` as XML (a leading `<!DOCTYPE …>` is allowed) and returns every element in order.
fn parse_xml(doc: &str) -> Vec<Element> {
    let mut stack: Vec<String> = Vec::new();
    let mut elements = Vec::new();
    let mut roots = 0;
    let b = doc.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'<' {
            let j = doc[i..].find('<').map_or(b.len(), |k| i + k);
            let text = &doc[i..j];
            if stack.is_empty() {
                assert!(text.trim().is_empty(), "text outside the root: {text:?}");
            }
            assert!(
                !text.contains('>') || stack.last().is_some_and(|s| s == "style"),
                "stray '>' in text {text:?}"
            );
            check_entities(text, "text");
            i = j;
            continue;
        }
        let rest = &doc[i..];
        if rest.starts_with("<!--") {
            i += rest.find("-->").expect("unterminated comment") + 3;
            continue;
        }
        if rest.starts_with("<!DOCTYPE") || rest.starts_with("<?") {
            assert!(stack.is_empty() && roots == 0, "prolog after the root");
            i += rest.find('>').expect("unterminated prolog") + 1;
            continue;
        }
        if let Some(close) = rest.strip_prefix("</") {
            let end = close.find('>').expect("unterminated end tag");
            let name = close[..end].trim();
            let open = stack
                .pop()
                .unwrap_or_else(|| panic!("end tag </{name}> with nothing open"));
            assert_eq!(open, name, "mismatched end tag");
            i += 2 + end + 1;
            continue;
        }
        // Start tag: name, then attributes name="value", then > or />.
        let mut j = i + 1;
        let name_end = doc[j..]
            .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
            .expect("tag")
            + j;
        let name = doc[j..name_end].to_string();
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':'),
            "bad tag name {name:?}"
        );
        j = name_end;
        let mut attrs = Vec::new();
        let self_closing;
        loop {
            while b[j].is_ascii_whitespace() {
                j += 1;
            }
            if doc[j..].starts_with("/>") {
                self_closing = true;
                j += 2;
                break;
            }
            if b[j] == b'>' {
                self_closing = false;
                j += 1;
                break;
            }
            let eq = doc[j..].find('=').expect("attribute without value") + j;
            let an = doc[j..eq].trim().to_string();
            assert!(
                !an.is_empty()
                    && an
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':'),
                "bad attribute name {an:?}"
            );
            let q = b[eq + 1];
            assert!(
                q == b'"' || q == b'\'',
                "unquoted attribute {an} on <{name}>"
            );
            let vend = doc[eq + 2..]
                .find(q as char)
                .expect("unterminated attribute")
                + eq
                + 2;
            let v = &doc[eq + 2..vend];
            assert!(!v.contains('<'), "'<' in attribute {an}={v:?}");
            check_entities(v, "attribute");
            assert!(
                attrs.iter().all(|(a, _): &(String, String)| a != &an),
                "duplicate attribute {an} on <{name}>"
            );
            attrs.push((an, v.to_string()));
            j = vend + 1;
        }
        if stack.is_empty() {
            roots += 1;
            assert_eq!(roots, 1, "more than one root element");
        }
        if !self_closing {
            stack.push(name.clone());
        }
        elements.push(Element { name, attrs });
        i = j;
    }
    assert!(stack.is_empty(), "unclosed elements: {stack:?}");
    assert_eq!(roots, 1, "no root element");
    elements
}

const NUMERIC_ATTRS: &[&str] = &[
    "x",
    "y",
    "x1",
    "x2",
    "y1",
    "y2",
    "cx",
    "cy",
    "r",
    "width",
    "height",
    "viewBox",
    "d",
    "transform",
    "font-size",
    "stroke-width",
    "fill-opacity",
    "stroke-dasharray",
];

/// Well-formed SVG whose numeric attributes are all finite numbers.
fn check_svg(svg: &str) -> Vec<Element> {
    assert!(
        svg.starts_with("<svg "),
        "not an svg: {}",
        &svg[..svg.len().min(60)]
    );
    assert!(svg.contains("viewBox=\"0 0 "));
    let els = parse_xml(svg);
    assert_eq!(els[0].name, "svg");
    for e in &els {
        for (a, v) in &e.attrs {
            assert!(
                !v.contains("NaN") && !v.to_ascii_lowercase().contains("inf"),
                "{a}={v:?} on <{}>",
                e.name
            );
            if NUMERIC_ATTRS.contains(&a.as_str()) {
                let stripped = v.replace("rotate", " ");
                for tok in stripped.split(|c: char| c.is_whitespace() || "(),MLHVZ".contains(c)) {
                    if tok.is_empty() {
                        continue;
                    }
                    let x: f64 = tok
                        .parse()
                        .unwrap_or_else(|_| panic!("{a}={v:?}: {tok:?} is not a number"));
                    assert!(x.is_finite(), "{a}={v:?}");
                }
            }
        }
    }
    els
}

fn attr<'a>(e: &'a Element, name: &str) -> Option<&'a str> {
    e.attrs
        .iter()
        .find(|(a, _)| a == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn the_checker_rejects_bad_xml() {
    for bad in [
        "<a><b></a></b>",
        "<a x=1></a>",
        "<a>&nope;</a>",
        "<a x=\"<\"></a>",
        "<a>",
        "<a/><b/>",
    ] {
        assert!(
            std::panic::catch_unwind(|| parse_xml(bad)).is_err(),
            "accepted {bad:?}"
        );
    }
    parse_xml("<!DOCTYPE html>\n<a x=\"1\"><b/>t &amp; &#39;</a>\n");
}

// ---------------------------------------------------------------------------------------------
// Line plot

fn scores_plot() -> LinePlot {
    let pts: Vec<(f64, f64)> = (0..600)
        .map(|i| {
            (
                i as f64 * 0.02,
                (0.5 + 0.45 * (i as f64 * 0.05).sin()).clamp(0.0, 1.0),
            )
        })
        .collect();
    LinePlot {
        title: "Frame scores: cough".into(),
        x_label: "time (s)".into(),
        y_label: "score".into(),
        series: vec![
            Series::new("calibrated", pts.clone()),
            Series {
                name: "raw".into(),
                points: pts.iter().map(|&(x, y)| (x, y * 0.8)).collect(),
                color: None,
                dashed: true,
            },
        ],
        bands: vec![
            Band {
                start: 1.0,
                end: 2.5,
                label: "cough".into(),
                kind: SpanKind::Truth,
            },
            Band {
                start: 6.0,
                end: 6.4,
                label: "cough".into(),
                kind: SpanKind::Truth,
            },
            Band {
                start: 1.1,
                end: 2.4,
                label: "det 1".into(),
                kind: SpanKind::Detected,
            },
        ],
        hlines: vec![(0.5, "threshold 0.50".into())],
        y_range: Some((0.0, 1.0)),
        width: 0,
        height: 0,
    }
}

#[test]
fn line_plot_normal() {
    let svg = line_plot(&scores_plot());
    let els = check_svg(&svg);
    assert_eq!(attr(&els[0], "viewBox"), Some("0 0 640 220"));
    assert!(svg.contains("Frame scores: cough"));
    assert!(svg.contains("calibrated") && svg.contains("raw") && svg.contains("threshold 0.50"));
    assert!(svg.contains("stroke-dasharray=\"5 3\""), "dashed series");
    assert_eq!(els.iter().filter(|e| e.name == "path").count(), 2);
    // Truth bands in green, one detected bar in vermillion.
    let fills = |c: &str| {
        els.iter()
            .filter(|e| e.name == "rect" && attr(e, "fill") == Some(c))
            .count()
    };
    assert_eq!(fills("#009E73"), 2 + 1, "two bands plus the legend swatch");
    assert_eq!(fills("#D55E00"), 1 + 1, "one bar plus the legend swatch");
    // y ticks 0 … 1 and x tick labels on nice values.
    for label in [">0.0<", ">0.2<", ">1.0<", ">0<", ">2<", ">10<"] {
        assert!(svg.contains(label), "missing tick label {label}");
    }
    // Colours from the Okabe–Ito palette.
    assert!(svg.contains("#0072B2") && svg.contains("#E69F00"));
}

#[test]
fn line_plot_empty() {
    let svg = line_plot(&LinePlot::default());
    check_svg(&svg);
    assert!(svg.contains("no data"));
    let svg = line_plot(&LinePlot {
        title: "t".into(),
        series: vec![Series::new("s", vec![])],
        ..Default::default()
    });
    check_svg(&svg);
    assert!(svg.contains("no data"));
}

#[test]
fn line_plot_single_value() {
    let p = LinePlot {
        title: "one".into(),
        series: vec![Series::new("s", vec![(3.0, 0.7)])],
        ..Default::default()
    };
    let svg = line_plot(&p);
    let els = check_svg(&svg);
    assert!(
        els.iter().any(|e| e.name == "circle"),
        "a lone point is drawn as a dot"
    );
    // Constant curve: degenerate y range is widened, still finite.
    let p = LinePlot {
        series: vec![Series::new("flat", vec![(0.0, 0.0), (1.0, 0.0)])],
        ..Default::default()
    };
    check_svg(&line_plot(&p));
}

#[test]
fn line_plot_nan_inputs() {
    let p = LinePlot {
        title: "nan".into(),
        series: vec![
            Series::new(
                "gappy",
                vec![
                    (0.0, 0.1),
                    (0.2, 0.15),
                    (0.5, f64::NAN),
                    (1.0, 0.3),
                    (1.5, 0.4),
                    (f64::INFINITY, 0.2),
                    (2.0, f64::NEG_INFINITY),
                    (2.5, 0.9),
                ],
            ),
            Series::new("all nan", vec![(f64::NAN, f64::NAN)]),
        ],
        bands: vec![
            Band {
                start: f64::NAN,
                end: 1.0,
                label: "x".into(),
                kind: SpanKind::Truth,
            },
            Band {
                start: 0.2,
                end: f64::INFINITY,
                label: "y".into(),
                kind: SpanKind::Detected,
            },
        ],
        hlines: vec![
            (f64::NAN, "nan line".into()),
            (f64::INFINITY, "inf line".into()),
        ],
        y_range: Some((f64::NAN, 1.0)),
        ..Default::default()
    };
    let svg = line_plot(&p);
    let els = check_svg(&svg);
    let path = els.iter().find(|e| e.name == "path").expect("a path");
    let d = attr(path, "d").unwrap();
    assert_eq!(d.matches('M').count(), 2, "the gap splits the line: {d}");
    assert_eq!(
        els.iter().filter(|e| e.name == "circle").count(),
        1,
        "the isolated last point"
    );

    let only_nan = LinePlot {
        series: vec![Series::new("s", vec![(f64::NAN, 1.0), (1.0, f64::NAN)])],
        ..Default::default()
    };
    let svg = line_plot(&only_nan);
    check_svg(&svg);
    assert!(svg.contains("no data"));
}

#[test]
fn line_plot_bands_without_curves_and_custom_size() {
    let p = LinePlot {
        bands: vec![Band {
            start: 0.0,
            end: 3.0,
            label: "a".into(),
            kind: SpanKind::Truth,
        }],
        width: 300,
        height: 150,
        ..Default::default()
    };
    let svg = line_plot(&p);
    let els = check_svg(&svg);
    assert_eq!(attr(&els[0], "viewBox"), Some("0 0 300 150"));
    assert!(svg.contains("no curve data"));
}

#[test]
fn long_curves_are_decimated_but_keep_peaks() {
    let n = 200_000;
    let pts: Vec<(f64, f64)> = (0..n)
        .map(|i| (i as f64 * 0.01, if i == 123_457 { 1.0 } else { 0.1 }))
        .collect();
    let p = LinePlot {
        series: vec![Series::new("long", pts)],
        y_range: Some((0.0, 1.0)),
        ..Default::default()
    };
    let svg = line_plot(&p);
    assert!(svg.len() < 100_000, "{} bytes", svg.len());
    let els = check_svg(&svg);
    let d = attr(els.iter().find(|e| e.name == "path").unwrap(), "d")
        .unwrap()
        .to_string();
    // The peak reaches the top of the plot area: some y equals the smallest y in the path.
    let ys: Vec<f64> = d
        .split(['M', 'L'])
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.split_whitespace().nth(1).unwrap().parse().unwrap())
        .collect();
    let top = ys.iter().cloned().fold(f64::INFINITY, f64::min);
    let bottomish = ys.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    assert!(bottomish - top > 100.0, "peak kept: {top} vs {bottomish}");
}

// ---------------------------------------------------------------------------------------------
// Histogram

#[test]
fn bin_counts_hand_worked() {
    let v = [
        0.0,
        0.1,
        0.25,
        0.5,
        0.75,
        1.0,
        1.5,
        -0.1,
        f64::NAN,
        f64::INFINITY,
    ];
    // [0, .25): 0, .1 · [.25, .5): .25 · [.5, .75): .5 · [.75, 1]: .75, 1.0 (last bin closed)
    assert_eq!(bin_counts(&v, 4, (0.0, 1.0)), vec![2, 1, 1, 2]);
    // Decimal edges are exact: 0.3 falls in [0.3, 0.4), 0.7 in [0.7, 0.8).
    assert_eq!(
        bin_counts(&[0.3, 0.7, 0.1, 0.2], 10, (0.0, 1.0)),
        vec![0, 1, 1, 1, 0, 0, 0, 1, 0, 0]
    );
    assert_eq!(bin_counts(&[1.0, 2.0], 0, (0.0, 3.0)), Vec::<usize>::new());
    // lo == hi: NumPy's (lo − .5, lo + .5).
    assert_eq!(bin_counts(&[2.0, 2.0, 2.4], 2, (2.0, 2.0)), vec![0, 3]);
    // Reversed range is swapped.
    assert_eq!(bin_counts(&[0.1, 0.9], 2, (1.0, 0.0)), vec![1, 1]);
    assert_eq!(bin_counts(&[], 3, (0.0, 1.0)), vec![0, 0, 0]);
}

fn bar_rects(els: &[Element], color: &str) -> Vec<(f64, f64)> {
    els.iter()
        .filter(|e| {
            e.name == "rect"
                && attr(e, "fill") == Some(color)
                && attr(e, "fill-opacity") == Some("0.35")
        })
        .filter(|e| attr(e, "width") != Some("18")) // legend swatch
        .map(|e| {
            (
                attr(e, "x").unwrap().parse().unwrap(),
                attr(e, "height").unwrap().parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn histogram_normal_rect_heights_match_counts() {
    let h = Histogram {
        title: "Scores by label".into(),
        x_label: "score".into(),
        groups: vec![
            ("positives".into(), vec![0.9, 0.8, 0.85, 0.95, 0.6]),
            (
                "negatives".into(),
                vec![0.1, 0.2, 0.15, 0.3, 0.05, 0.1, 0.62],
            ),
        ],
        bins: 4,
        range: Some((0.0, 1.0)),
        vlines: vec![(0.5, "threshold".into())],
        width: 0,
        height: 0,
    };
    let svg = histogram(&h);
    let els = check_svg(&svg);
    assert!(svg.contains("positives (n=5)") && svg.contains("negatives (n=7)"));
    assert!(svg.contains("threshold"));
    // positives: [0, 0, 1, 4]; negatives: [5, 1, 1, 0]
    let pos = bar_rects(&els, "#0072B2");
    let neg = bar_rects(&els, "#E69F00");
    assert_eq!(pos.len(), 2);
    assert_eq!(neg.len(), 3);
    let unit = neg[0].1 / 5.0;
    assert!(unit > 0.0);
    let close = |a: f64, b: f64| (a - b).abs() < 0.02;
    assert!(
        close(pos[0].1, unit) && close(pos[1].1, 4.0 * unit),
        "{pos:?} unit {unit}"
    );
    assert!(close(neg[1].1, unit) && close(neg[2].1, unit), "{neg:?}");
    assert!(pos[0].0 > neg[1].0, "bins ordered left to right");
    assert!(!svg.contains("not shown"));
}

#[test]
fn histogram_empty() {
    for h in [
        Histogram::default(),
        Histogram {
            title: "empty".into(),
            groups: vec![("a".into(), vec![])],
            ..Default::default()
        },
    ] {
        let svg = histogram(&h);
        check_svg(&svg);
        assert!(svg.contains("no data"));
    }
    // A range but no values: axes and a message, no bars.
    let h = Histogram {
        groups: vec![("a".into(), vec![])],
        range: Some((0.0, 1.0)),
        ..Default::default()
    };
    let svg = histogram(&h);
    check_svg(&svg);
    assert!(svg.contains("no values in range"));
}

#[test]
fn histogram_single_value() {
    let h = Histogram {
        title: "one".into(),
        groups: vec![("a".into(), vec![0.42])],
        ..Default::default()
    };
    let svg = histogram(&h);
    let els = check_svg(&svg);
    assert_eq!(bar_rects(&els, "#0072B2").len(), 1);
    assert!(svg.contains("a (n=1)"));
}

#[test]
fn histogram_nan_inputs_are_footnoted() {
    let h = Histogram {
        title: "onset errors".into(),
        x_label: "seconds".into(),
        groups: vec![
            (
                "onset".into(),
                vec![0.01, f64::NAN, -0.02, f64::INFINITY, 0.03, 0.0],
            ),
            ("offset".into(), vec![f64::NAN]),
        ],
        bins: 0,
        range: Some((-0.1, 0.02)),
        vlines: vec![(f64::NAN, "nan".into()), (0.0, "zero".into())],
        ..Default::default()
    };
    let svg = histogram(&h);
    check_svg(&svg);
    assert!(
        svg.contains("onset: 2 non-finite, 1 outside range"),
        "{svg}"
    );
    assert!(svg.contains("offset: 1 non-finite"));
    assert!(svg.contains("onset (n=3)"));
    // Non-finite range falls back to the data.
    let h = Histogram {
        groups: vec![("a".into(), vec![1.0, 2.0])],
        range: Some((f64::NAN, 1.0)),
        ..Default::default()
    };
    check_svg(&histogram(&h));
}

// ---------------------------------------------------------------------------------------------
// Bar chart

#[test]
fn bar_chart_normal() {
    let bars = vec![
        Bar {
            label: "mean pool".into(),
            value: 0.82,
            interval: Some((0.78, 0.86)),
        },
        Bar {
            label: "attention pool".into(),
            value: 0.874,
            interval: Some((0.84, 0.9)),
        },
        Bar {
            label: "max".into(),
            value: 0.61,
            interval: None,
        },
    ];
    let svg = bar_chart("Event F1 by pooling", "F1", &bars, Some((0.0, 1.0)));
    let els = check_svg(&svg);
    for s in [
        ">0.820<",
        ">0.874<",
        ">0.610<",
        "mean pool",
        "Event F1 by pooling",
        ">F1<",
    ] {
        assert!(svg.contains(s), "missing {s}");
    }
    let bars_drawn = els
        .iter()
        .filter(|e| e.name == "rect" && attr(e, "fill") == Some("#0072B2"))
        .count();
    assert_eq!(bars_drawn, 3);
    // Two whiskers of three lines each.
    let whiskers = els
        .iter()
        .filter(|e| e.name == "line" && attr(e, "stroke") == Some("#222"))
        .count();
    assert_eq!(whiskers, 6);
}

#[test]
fn bar_chart_empty_single_nan_negative() {
    let svg = bar_chart("none", "y", &[], None);
    check_svg(&svg);
    assert!(svg.contains("no data"));

    let svg = bar_chart(
        "one",
        "y",
        &[Bar {
            label: "a".into(),
            value: 3.0,
            interval: None,
        }],
        None,
    );
    check_svg(&svg);
    assert!(svg.contains(">3.00<"));

    let bars = vec![
        Bar {
            label: "nan".into(),
            value: f64::NAN,
            interval: Some((f64::NAN, 1.0)),
        },
        Bar {
            label: "inf".into(),
            value: f64::INFINITY,
            interval: None,
        },
        Bar {
            label: "neg".into(),
            value: -0.4,
            interval: Some((-0.5, -0.3)),
        },
    ];
    let svg = bar_chart("odd", "Δ", &bars, Some((f64::NAN, f64::NAN)));
    check_svg(&svg);
    assert!(svg.contains(">—<"));
    assert!(svg.contains(">-0.400<"));

    let svg = bar_chart_svg(&BarChart {
        title: "sized".into(),
        bars: vec![Bar {
            label: "a very long label that cannot fit under a narrow bar".into(),
            value: 1.0,
            interval: None,
        }],
        width: 200,
        height: 160,
        ..Default::default()
    });
    let els = check_svg(&svg);
    assert_eq!(attr(&els[0], "viewBox"), Some("0 0 200 160"));
    assert!(svg.contains('…'), "long labels are truncated");
}

// ---------------------------------------------------------------------------------------------
// Escaping

const EVIL: &str = "<script>alert('x & y')</script>";

#[test]
fn escape_basics() {
    assert_eq!(
        escape(EVIL),
        "&lt;script&gt;alert(&#39;x &amp; y&#39;)&lt;/script&gt;"
    );
    assert_eq!(escape("a\"b"), "a&quot;b");
    assert_eq!(escape("ok\u{1}"), "ok\u{FFFD}");
}

#[test]
fn titles_and_labels_are_escaped_in_svg() {
    let mut p = scores_plot();
    p.title = EVIL.into();
    p.x_label = EVIL.into();
    p.series[0].name = EVIL.into();
    p.series[0].color = Some("\"><script>".into());
    p.bands[0].label = EVIL.into();
    p.hlines[0].1 = EVIL.into();
    let h = Histogram {
        title: EVIL.into(),
        groups: vec![(EVIL.into(), vec![1.0, 2.0])],
        vlines: vec![(1.5, EVIL.into())],
        ..Default::default()
    };
    let b = bar_chart(
        EVIL,
        EVIL,
        &[Bar {
            label: EVIL.into(),
            value: 1.0,
            interval: None,
        }],
        None,
    );
    for svg in [line_plot(&p), histogram(&h), b] {
        check_svg(&svg);
        assert!(!svg.contains("<script"), "unescaped: {svg}");
        assert!(svg.contains("&lt;script&gt;"));
    }
}

// ---------------------------------------------------------------------------------------------
// Pages

fn sample_report() -> Report {
    Report {
        title: format!("Detector report {EVIL}"),
        subtitle: "cough · BEATs layer 9 · attention pool".into(),
        sections: vec![
            Section {
                id: "summary".into(),
                heading: "Summary".into(),
                blocks: vec![
                    Block::Paragraph(format!("Chosen threshold 0.42. {EVIL}")),
                    Block::Note {
                        kind: "warn".into(),
                        text: "only 12 positives".into(),
                    },
                    Block::Note {
                        kind: "bogus\"".into(),
                        text: "info by default".into(),
                    },
                    Block::List(vec!["a".into(), EVIL.into()]),
                ],
            },
            Section {
                id: "metrics".into(),
                heading: "Metrics & thresholds".into(),
                blocks: vec![
                    Block::Table {
                        header: vec!["metric".into(), "value".into()],
                        rows: vec![
                            vec!["event F1".into(), fmt_num(0.8234, 3)],
                            vec![EVIL.into(), fmt_num(f64::NAN, 3)],
                            vec!["short row".into()],
                        ],
                    },
                    Block::Pre("a < b && c > d".into()),
                ],
            },
            Section {
                id: "plots".into(),
                heading: "Plots".into(),
                blocks: vec![
                    Block::Svg(line_plot(&scores_plot())),
                    Block::Grid(vec![
                        Block::Svg(histogram(&Histogram {
                            groups: vec![("a".into(), vec![1.0, 2.0, 2.5])],
                            ..Default::default()
                        })),
                        Block::Svg(bar_chart(
                            "b",
                            "y",
                            &[Bar {
                                label: "x".into(),
                                value: 0.5,
                                interval: None,
                            }],
                            None,
                        )),
                    ]),
                ],
            },
            Section {
                id: "odd id with spaces".into(),
                heading: "Odd".into(),
                blocks: vec![],
            },
            Section {
                id: "".into(),
                heading: "No id".into(),
                blocks: vec![],
            },
        ],
    }
}

#[test]
fn render_has_toc_sections_and_is_well_formed() {
    let html = render(&sample_report());
    assert!(html.starts_with("<!DOCTYPE html>"));
    let els = parse_xml(&html);
    assert_eq!(els[0].name, "html");
    assert!(html.contains("<nav class=\"toc\">"));
    for id in [
        "summary",
        "metrics",
        "plots",
        "odd-id-with-spaces",
        "section-5",
    ] {
        assert!(
            html.contains(&format!("href=\"#{id}\"")),
            "toc link to {id}"
        );
        assert!(
            html.contains(&format!("<section id=\"{id}\">")),
            "section {id}"
        );
    }
    // Every TOC link points at an element id.
    let ids: Vec<&str> = els.iter().filter_map(|e| attr(e, "id")).collect();
    for e in els.iter().filter(|e| e.name == "a") {
        let href = attr(e, "href").unwrap();
        assert!(
            ids.contains(&href.trim_start_matches('#')),
            "dangling {href}"
        );
    }
    assert!(html.contains("Metrics &amp; thresholds"));
    assert!(html.contains("<td class=\"num\">0.823</td>"));
    assert!(html.contains("<td class=\"num\">—</td>"));
    assert!(html.contains("class=\"note warn\""));
    assert!(html.contains("class=\"note info\""));
    assert!(html.contains("class=\"grid\""));
    assert!(html.contains("a &lt; b &amp;&amp; c &gt; d"));
    assert_eq!(html.matches("<svg ").count(), 3);
    // Self-contained and script-free: nothing but the escaped <script> text.
    assert!(!html.contains("<script"));
    assert!(html.contains("&lt;script&gt;"));
    for ext in ["src=", "<link", "http://", "https://", "@import", "url("] {
        let n = html.matches(ext).count();
        let allowed = if ext == "http://" {
            html.matches("xmlns=\"http://www.w3.org/2000/svg\"").count()
        } else {
            0
        };
        assert_eq!(n, allowed, "external resource marker {ext}");
    }
    assert!(html.contains("@media print"));
}

#[test]
fn render_is_deterministic_and_serde_round_trips() {
    let r = sample_report();
    assert_eq!(render(&r), render(&r));
    let json = serde_json::to_string(&r).unwrap();
    let back: Report = serde_json::from_str(&json).unwrap();
    assert_eq!(back, r);
    let mut p = scores_plot();
    // Binary-exact values so the round trip does not depend on serde_json's float parsing mode.
    p.series[0].points = vec![(0.0, 0.25), (0.5, 0.75)];
    p.series.truncate(1);
    let back: LinePlot = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
    assert_eq!(back, p);
}

#[test]
fn render_empty_report() {
    let html = render(&Report {
        title: String::new(),
        subtitle: String::new(),
        sections: vec![],
    });
    parse_xml(&html);
    assert!(!html.contains("<nav"));
}

// ---------------------------------------------------------------------------------------------
// Ticks, numbers, markdown

#[test]
fn nice_ticks_unit_range() {
    let t = nice_ticks(0.0, 1.0, 5);
    assert_eq!(t.values, vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
    assert_eq!(t.step, 0.2);
    assert_eq!(t.decimals, 1);
    assert_eq!(t.label(0.6), "0.6");
    let t = nice_ticks(0.0, 1.0, 10);
    assert_eq!(t.values[3], 0.3, "decimal ticks are the nearest doubles");
    assert_eq!(t.values.len(), 11);
}

#[test]
fn nice_ticks_offset_range() {
    let t = nice_ticks(-0.37, 2.4, 5);
    assert_eq!(t.step, 0.5);
    assert_eq!(t.values, vec![-0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5]);
    assert!(t.lo <= -0.37 && t.hi >= 2.4);
    let labels: Vec<String> = t.values.iter().map(|&v| t.label(v)).collect();
    assert_eq!(labels, ["-0.5", "0.0", "0.5", "1.0", "1.5", "2.0", "2.5"]);
}

#[test]
fn nice_ticks_degenerate_and_odd() {
    let t = nice_ticks(0.0, 0.0, 5);
    assert!(t.lo < 0.0 && t.hi > 0.0 && t.step > 0.0);
    assert!(t.values.contains(&0.0));
    assert!(t.values.iter().all(|v| v.is_finite()));
    let t = nice_ticks(5.0, 5.0, 5);
    assert!(t.lo < 5.0 && t.hi > 5.0);
    let t = nice_ticks(f64::NAN, 1.0, 5);
    assert_eq!((t.lo, t.hi), (0.0, 1.0));
    let t = nice_ticks(10.0, -10.0, 4);
    assert_eq!(t.values, vec![-10.0, -5.0, 0.0, 5.0, 10.0]);
    let t = nice_ticks(0.0, 3600.0, 7);
    assert_eq!(t.step, 500.0);
    assert_eq!(t.label(1500.0), "1500");
    let t = nice_ticks(-1e308, 1e308, 5);
    assert!(t.values.iter().all(|v| v.is_finite()) && t.values.len() <= 12);
    let t = nice_ticks(1e-9, 3e-9, 4);
    assert_eq!(t.step, 5e-10);
    // Every step is 1, 2 or 5 × 10^k and the ticks cover the range.
    for (lo, hi) in [
        (0.013, 0.047),
        (-3.3, 17.0),
        (100.0, 100.5),
        (0.0, 7.0),
        (-0.001, 0.0),
    ] {
        for target in [2, 5, 8] {
            let t = nice_ticks(lo, hi, target);
            let m = t.step / 10f64.powf(t.step.log10().floor());
            assert!(
                [1.0, 2.0, 5.0].iter().any(|x| (m - x).abs() < 1e-9),
                "step {}",
                t.step
            );
            assert!(t.lo <= lo && t.hi >= hi, "{lo}..{hi}: {:?}", t.values);
            assert!(
                t.values.len() >= 2 && t.values.len() <= 2 * target + 3,
                "{:?}",
                t.values
            );
        }
    }
}

#[test]
fn fmt_num_for_tables() {
    assert_eq!(fmt_num(f64::NAN, 2), "—");
    assert_eq!(fmt_num(0.5, 3), "0.500");
    assert_eq!(fmt_num(12.345, 1), "12.3");
    assert_eq!(fmt_num(-0.0, 2), "0.00");
}

#[test]
fn markdown_tables() {
    let t = md_table(
        &["detector", "F1"],
        &[vec!["a|b <x>".into(), "0.80".into()]],
    );
    assert_eq!(
        t,
        "| detector | F1 |\n| --- | --- |\n| a\\|b <x> | 0.80 |\n"
    );
    // Each line has as many unescaped pipes as columns + 1.
    for l in t.lines() {
        assert_eq!(l.replace("\\|", "").matches('|').count(), 3);
    }
}
