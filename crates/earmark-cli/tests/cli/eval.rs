//! `earmark eval` end to end on the metric fixtures: sed_eval's event- and segment-based numbers,
//! sed_scores_eval's threshold-free PSDS, a bad score table (named with its line, exit 1, the rest
//! still evaluated), thresholds written into a detector, and usage errors (exit 2).

use super::{earmark, text};
use earmark_testkit::{fixture, read_json};
use serde_json::Value;

fn close(what: &str, got: &Value, want: &Value) {
    let (g, w) = (got.as_f64(), want.as_f64());
    assert!(
        matches!((g, w), (Some(g), Some(w)) if (g - w).abs() <= 1e-9),
        "{what}: got {got}, want {want}"
    );
}

#[test]
fn eval_matches_sed_eval_on_the_event_fixtures() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("eval.json");
    let m = fixture("metrics/events");
    let out = earmark(&[
        "eval",
        "--pred",
        m.join("est.tsv").to_str().unwrap(),
        "--truth",
        m.join("ref.tsv").to_str().unwrap(),
        "--durations",
        m.join("durations.tsv").to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("overall") && stdout.contains("impact"),
        "{stdout}"
    );
    let got: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let want = read_json("metrics/sed_eval.json");
    for (key, w) in [
        ("event_based", &want["metrics"]["event_based"]["results"]),
        (
            "segment_based",
            &want["metrics"]["segment_based_1s"]["results"],
        ),
    ] {
        let g = &got[key];
        for part in ["f_measure", "precision", "recall"] {
            close(
                &format!("{key} overall {part}"),
                &g["overall"]["f_measure"][part],
                &w["overall"]["f_measure"][part],
            );
        }
        close(
            &format!("{key} overall ER"),
            &g["overall"]["error_rate"]["error_rate"],
            &w["overall"]["error_rate"]["error_rate"],
        );
        for c in g["class_wise"].as_array().unwrap() {
            let label = c["label"].as_str().unwrap();
            close(
                &format!("{key} {label} F"),
                &c["metrics"]["f_measure"]["f_measure"],
                &w["class_wise"][label]["f_measure"]["f_measure"],
            );
        }
    }
    assert_eq!(got["files"].as_array().unwrap().len(), 5);
    assert_eq!(got["boundary"]["overall"]["matched"], 11);
    assert!(got["clip"]["micro"]["f1"].is_number());
    assert!(got["scores"].is_null());
}

#[test]
fn eval_scores_psds_matches_sed_scores_eval_and_names_a_bad_table() {
    let dir = tempfile::tempdir().unwrap();
    let scores = dir.path().join("scores");
    std::fs::create_dir(&scores).unwrap();
    let src = fixture("metrics/psds/scores");
    for id in ["p1", "p2", "p3"] {
        std::fs::copy(
            src.join(format!("{id}.tsv")),
            scores.join(format!("{id}.tsv")),
        )
        .unwrap();
    }
    let det = dir.path().join("det");
    std::fs::create_dir(&det).unwrap();
    std::fs::write(
        det.join("detector.json"),
        r#"{"format": "earmark-detector", "classes": ["clap", "impact", "vocal"],
            "thresholds": {"clap": {"value": 0.5}}, "keep": "me"}"#,
    )
    .unwrap();
    let json = dir.path().join("eval.json");
    let m = fixture("metrics/psds");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "eval",
            "--pred",
            m.join("op_0.5.tsv").to_str().unwrap().to_string().leak(),
            "--truth",
            m.join("ref.tsv").to_str().unwrap().to_string().leak(),
            "--durations",
            m.join("durations.tsv").to_str().unwrap().to_string().leak(),
            "--scores",
            scores.to_str().unwrap().to_string().leak(),
            "--out",
            json.to_str().unwrap().to_string().leak(),
        ];
        args.extend_from_slice(extra);
        earmark(&args)
    };
    let want = read_json("metrics/psds.json");
    let check = |got: &Value| {
        let psds = got["scores"]["psds"].as_array().unwrap();
        assert_eq!(psds.len(), 2);
        for p in psds {
            let name = p["name"].as_str().unwrap();
            let w = &want["sed_scores_eval"][name];
            close(name, &p["psds"]["value"], &w["psds"]);
            for c in p["psds"]["classes"].as_array().unwrap() {
                let class = c["class"].as_str().unwrap();
                close(
                    &format!("{name} {class}"),
                    &c["psds"],
                    &w["class_wise"][class],
                );
            }
        }
        assert_eq!(got["scores"]["thresholds"].as_array().unwrap().len(), 3);
        assert!(got["clip"]["class_wise"][0]["roc_auc"].is_number());
    };

    let out = run(&["--write-thresholds", det.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let got: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    check(&got);
    let d: Value =
        serde_json::from_str(&std::fs::read_to_string(det.join("detector.json")).unwrap()).unwrap();
    assert_eq!(d["keep"], "me");
    for c in ["clap", "impact", "vocal"] {
        let t = &d["thresholds"][c];
        for k in ["value", "precision", "recall", "f1"] {
            assert!(t[k].is_number(), "{c}.{k}: {t}");
        }
        assert_eq!(t["target_met"], true);
        assert!(t["rule"].is_string());
    }

    // A broken table: named with its line, exit 1, the others still give the same PSDS.
    std::fs::write(
        scores.join("p9.tsv"),
        "onset\toffset\tclap\timpact\tvocal\n0.0\t0.1\t0.1\t0.2\t0.3\n0.1\t0.2\tnope\t0.2\t0.3\n",
    )
    .unwrap();
    std::fs::remove_file(&json).unwrap();
    let out = run(&[]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.lines()
            .any(|l| l.starts_with("error: ") && l.contains("p9.tsv") && l.contains("line 3")),
        "{err}"
    );
    let got: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    check(&got);
    assert_eq!(got["scores"]["failed"].as_array().unwrap().len(), 1);

    // Usage: a cross-trigger weight without a cttc, and a detector.json of something else.
    let out = run(&["--alpha-ct", "0.5"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--cttc"),
        "{}",
        text(&out.stderr)
    );
    std::fs::remove_file(scores.join("p9.tsv")).unwrap();
    std::fs::write(det.join("detector.json"), r#"{"format": "other"}"#).unwrap();
    let out = run(&["--write-thresholds", det.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("earmark-detector"),
        "{}",
        text(&out.stderr)
    );
}
