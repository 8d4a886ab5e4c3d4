//! Prints a sample report page to stdout: `cargo run -p earmark-report --example sample_report > r.html`.
//! With an argument `svg`, prints the plots alone, separated by blank lines.

use earmark_report::{
    bar_chart, fmt_num, histogram, line_plot, render, Band, Bar, Block, Histogram, LinePlot,
    Report, Section, Series, SpanKind,
};

fn main() {
    let scores: Vec<(f64, f64)> = (0..3000)
        .map(|i| {
            let t = i as f64 * 0.02;
            let bump = |c: f64, w: f64| (-((t - c) / w).powi(2)).exp();
            let noise = ((i * 7919) % 101) as f64 / 101.0 * 0.12;
            (
                t,
                (0.05
                    + 0.85 * bump(12.0, 0.8)
                    + 0.7 * bump(31.5, 0.5)
                    + 0.4 * bump(47.0, 0.3)
                    + noise)
                    .min(1.0),
            )
        })
        .collect();
    let smoothed: Vec<(f64, f64)> = scores
        .windows(9)
        .map(|w| (w[4].0, w.iter().map(|p| p.1).sum::<f64>() / 9.0))
        .collect();
    let line = line_plot(&LinePlot {
        title: "Frame scores — cough (file 0042.wav)".into(),
        x_label: "time (s)".into(),
        y_label: "score".into(),
        series: vec![
            Series::new("frame score", scores),
            Series {
                name: "smoothed".into(),
                points: smoothed,
                color: None,
                dashed: true,
            },
        ],
        bands: vec![
            Band {
                start: 11.2,
                end: 12.9,
                label: "cough".into(),
                kind: SpanKind::Truth,
            },
            Band {
                start: 31.0,
                end: 32.1,
                label: "cough".into(),
                kind: SpanKind::Truth,
            },
            Band {
                start: 11.4,
                end: 12.6,
                label: "d1".into(),
                kind: SpanKind::Detected,
            },
            Band {
                start: 31.2,
                end: 31.9,
                label: "d2".into(),
                kind: SpanKind::Detected,
            },
        ],
        hlines: vec![(0.5, "threshold 0.50".into())],
        y_range: Some((0.0, 1.0)),
        ..Default::default()
    });
    let pos: Vec<f64> = (0..200)
        .map(|i| 0.55 + 0.4 * (((i * 37) % 100) as f64 / 100.0 - 0.3))
        .collect();
    let neg: Vec<f64> = (0..400)
        .map(|i| (((i * 53) % 100) as f64 / 100.0).powi(3) * 0.8)
        .collect();
    let hist = histogram(&Histogram {
        title: "Clip scores by label".into(),
        x_label: "score".into(),
        groups: vec![("positives".into(), pos), ("negatives".into(), neg)],
        bins: 25,
        range: Some((0.0, 1.0)),
        vlines: vec![(0.5, "threshold".into())],
        ..Default::default()
    });
    let mut onset: Vec<f64> = (0..150)
        .map(|i| (((i * 31) % 100) as f64 / 100.0 - 0.5) * 0.3)
        .collect();
    onset.extend([f64::NAN, 2.0]);
    let onset = histogram(&Histogram {
        title: "Onset errors".into(),
        x_label: "detected − true onset (s)".into(),
        groups: vec![("onset".into(), onset)],
        range: Some((-0.2, 0.2)),
        vlines: vec![(0.0, String::new())],
        ..Default::default()
    });
    let bars = bar_chart(
        "Event F1 by pooling (95 % CI)",
        "F1",
        &[
            Bar {
                label: "mean".into(),
                value: 0.71,
                interval: Some((0.66, 0.76)),
            },
            Bar {
                label: "max".into(),
                value: 0.64,
                interval: Some((0.58, 0.7)),
            },
            Bar {
                label: "attention".into(),
                value: 0.78,
                interval: Some((0.74, 0.82)),
            },
            Bar {
                label: "linear-softmax".into(),
                value: 0.76,
                interval: Some((0.71, 0.8)),
            },
            Bar {
                label: "auto-pool".into(),
                value: 0.77,
                interval: None,
            },
        ],
        Some((0.0, 1.0)),
    );
    if std::env::args().nth(1).as_deref() == Some("svg") {
        for s in [&line, &hist, &onset, &bars] {
            println!("{s}\n");
        }
        return;
    }
    let report = Report {
        title: "Detector report: cough".into(),
        subtitle: "BEATs iter3 · layer 9 · attention pool · 1,204 clips".into(),
        sections: vec![
            Section {
                id: "summary".into(),
                heading: "Summary".into(),
                blocks: vec![
                    Block::Paragraph("Attention pooling wins by 0.02 F1 over linear-softmax; the intervals overlap.".into()),
                    Block::Note { kind: "warn".into(), text: "Only 38 positive clips in validation.".into() },
                    Block::Table {
                        header: vec!["pooling".into(), "event F1".into(), "PSDS1".into()],
                        rows: vec![
                            vec!["attention".into(), fmt_num(0.78, 3), fmt_num(0.512, 3)],
                            vec!["mean".into(), fmt_num(0.71, 3), fmt_num(f64::NAN, 3)],
                        ],
                    },
                ],
            },
            Section { id: "scores".into(), heading: "Frame scores".into(), blocks: vec![Block::Svg(line)] },
            Section {
                id: "distributions".into(),
                heading: "Distributions".into(),
                blocks: vec![Block::Grid(vec![Block::Svg(hist), Block::Svg(onset)])],
            },
            Section { id: "pooling".into(), heading: "Pooling comparison".into(), blocks: vec![Block::Svg(bars)] },
        ],
    };
    print!("{}", render(&report));
}
