//! `earmark train` and `earmark predict` end to end: detectors from an embeddings `.npz` and from
//! synthesised audio with weak and strong labels, the predict contract, and bad input.

use super::{earmark, text};
use earmark::npy::{read_npy, NpyData};
use earmark::npz::Npz;
use earmark_testkit::Rng;
use std::path::Path;

fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("detector.json")).unwrap()).unwrap()
}

/// 240 rows, 12 dims: class 1 when x0 + x1 > 0.3 (with label noise), classes named.
fn binary_npz(path: &Path) -> (Vec<f32>, Vec<u32>) {
    let mut rng = Rng::new(3);
    let (n, d) = (240, 12);
    let x: Vec<f32> = (0..n * d).map(|_| rng.normal() as f32).collect();
    let y: Vec<u32> = (0..n)
        .map(|i| (x[i * d] + x[i * d + 1] + 0.3 * rng.normal() as f32 > 0.3) as u32)
        .collect();
    let mut npz = Npz::new();
    npz.add_f32("X", &[n, d], &x);
    // y as float 0/1 (what a pandas round trip often leaves) is read as class ids too.
    npz.add_f32("y", &[n], &y.iter().map(|&v| v as f32).collect::<Vec<_>>());
    npz.add_strings("classes", &["quiet".into(), "cough".into()]);
    npz.write(path).unwrap();
    (x, y)
}

#[test]
fn train_and_predict_on_embeddings() {
    let dir = tempfile::tempdir().unwrap();
    let npz = dir.path().join("emb.npz");
    let (_, y) = binary_npz(&npz);
    for (head, calibration) in [
        ("logistic", "sigmoid"),
        ("gbt", "isotonic"),
        ("mlp", "none"),
    ] {
        let det = dir.path().join(format!("det-{head}"));
        let out = earmark(&[
            "train",
            "--embeddings",
            npz.to_str().unwrap(),
            "--head",
            head,
            "--calibration",
            calibration,
            "--cv",
            "3",
            "--out",
            det.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{head}: {}", text(&out.stderr));
        let m = manifest(&det);
        assert_eq!(m["format"], "earmark-detector");
        assert_eq!(m["classes"], serde_json::json!(["quiet", "cough"]));
        assert_eq!(m["head"]["kind"], head);
        assert_eq!(m["head"]["calibration"], calibration);
        let v = &m["validation"]["classes"]["cough"];
        let auc = v["roc_auc"].as_f64().unwrap();
        assert!(auc > 0.9, "{head}: held-out AUC {auc}");
        let t = &m["thresholds"]["cough"];
        assert!(
            t["value"].as_f64().unwrap() > 0.0 && t["f1"].as_f64().unwrap() > 0.7,
            "{t}"
        );
        assert!(det.join("reliability.svg").exists());

        let p = dir.path().join(format!("P-{head}.npy"));
        let out = earmark(&[
            "predict",
            "--detector",
            det.to_str().unwrap(),
            "--embeddings",
            npz.to_str().unwrap(),
            "--out",
            p.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let a = read_npy(&p).unwrap();
        assert_eq!(a.shape, vec![240, 2]);
        let NpyData::Float(v) = a.data else { panic!() };
        assert!(v.chunks(2).all(|r| (r[0] + r[1] - 1.0).abs() < 1e-5));
        // In-sample predictions rank the classes well.
        let s: Vec<f64> = v.chunks(2).map(|r| r[1]).collect();
        let truth: Vec<bool> = y.iter().map(|&c| c == 1).collect();
        assert!(earmark_eval::roc_auc(&truth, &s).unwrap() > 0.93);
    }
    // A detector is replaced whole; an unrelated folder is refused and left alone.
    let other = dir.path().join("notes");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("keep.txt"), "mine").unwrap();
    let out = earmark(&[
        "train",
        "--embeddings",
        npz.to_str().unwrap(),
        "--out",
        other.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("not a detector directory"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(other.join("keep.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn predict_refuses_rows_of_the_wrong_width() {
    let dir = tempfile::tempdir().unwrap();
    let npz = dir.path().join("emb.npz");
    binary_npz(&npz);
    let det = dir.path().join("det");
    let out = earmark(&[
        "train",
        "--embeddings",
        npz.to_str().unwrap(),
        "--head",
        "logistic",
        "--out",
        det.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let narrow = dir.path().join("narrow.npz");
    let mut n = Npz::new();
    n.add_f32("X", &[2, 3], &[0.0; 6]);
    n.write(&narrow).unwrap();
    let p = dir.path().join("P.npy");
    let out = earmark(&[
        "predict",
        "--detector",
        det.to_str().unwrap(),
        "--embeddings",
        narrow.to_str().unwrap(),
        "--out",
        p.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let e = text(&out.stderr);
    assert!(
        e.contains("3 columns") && e.contains("trained on 12"),
        "{e}"
    );
    assert!(!p.exists());
    // Bad labels name the array and the row.
    let bad = dir.path().join("bad.npz");
    let mut b = Npz::new();
    b.add_f32("X", &[2, 2], &[0.0, 1.0, 2.0, 3.0]);
    b.add_f32("y", &[2], &[0.0, 0.5]);
    b.write(&bad).unwrap();
    let out = earmark(&[
        "train",
        "--embeddings",
        bad.to_str().unwrap(),
        "--out",
        p.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("y[1] = 0.5"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn train_from_audio_with_weak_and_strong_labels() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("syn");
    let out = earmark(&[
        "synth",
        "--out",
        data.to_str().unwrap(),
        "--clips",
        "36",
        "--secs",
        "3",
        "--classes",
        "impact,voice",
        "--seed",
        "4",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // A file the labels name that does not decode: named, counted, left out, exit 1.
    std::fs::write(data.join("audio/broken.wav"), b"RIFF....WAVEnot audio").unwrap();
    let weak = std::fs::read_to_string(data.join("weak.tsv")).unwrap() + "broken.wav\timpact\n";
    std::fs::write(data.join("weak_plus.tsv"), weak).unwrap();
    let cache = dir.path().join("cache");
    let audio = data.join("audio");
    let det = dir.path().join("weak-det");
    let run = |extra: &[&str], det: &Path| {
        let mut args = vec![
            "train",
            "--audio",
            audio.to_str().unwrap(),
            "--cache",
            cache.to_str().unwrap(),
            "--out",
            det.to_str().unwrap(),
            "--cv",
            "2",
        ];
        args.extend_from_slice(extra);
        earmark(&args)
    };
    let weak_tsv = data.join("weak_plus.tsv");
    let out = run(
        &["--weak", weak_tsv.to_str().unwrap(), "--head", "logistic"],
        &det,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let m = manifest(&det);
    assert_eq!(m["classes"], serde_json::json!(["impact", "voice"]));
    assert_eq!(m["training"]["rows"], 36);
    assert_eq!(m["training"]["failed_files"][0]["file"], "broken.wav");
    assert_eq!(m["input"]["encoder"]["name"], "scratch");
    assert_eq!(m["input"]["labels"], "weak");
    assert_eq!(m["input"]["window_secs"], 3.0);
    assert!(text(&out.stderr).contains("skipped broken.wav"));
    // Every recording's frames are in the cache (content-addressed, under frames/<key>/).
    let n_cached = std::fs::read_dir(cache.join("frames"))
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .count();
    assert_eq!(n_cached, 36);

    // Strong labels read every audio file of the folder: without the broken one, a clean run.
    std::fs::remove_file(data.join("audio/broken.wav")).unwrap();
    let sdet = dir.path().join("strong-det");
    let strong = data.join("strong.tsv");
    let out = run(
        &[
            "--strong",
            strong.to_str().unwrap(),
            "--window",
            "1",
            "--hop",
            "0.5",
        ],
        &sdet,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let m = manifest(&sdet);
    assert_eq!(m["input"]["labels"], "strong");
    assert_eq!(m["input"]["overlap_fraction"], 0.5);
    // 36 clips of 3 s in 1 s windows with 0.5 s hop: 5 windows each.
    assert_eq!(m["training"]["rows"], 36 * 5);
    assert!(m["training"]["positives"]["impact"].as_u64().unwrap() > 0);

    let mdet = dir.path().join("mil-det");
    let weak_tsv = data.join("weak.tsv");
    let out = run(
        &[
            "--weak",
            weak_tsv.to_str().unwrap(),
            "--head",
            "mil",
            "--frame-head",
            "linear",
            "--epochs",
            "3",
        ],
        &mdet,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(mdet.join("head").is_dir());
    // With the built-in encoder, `--head mil` trains the encoder too (the CRNN): a frozen random
    // encoder is never what a weak-label run gets.
    assert!(mdet.join("encoder/model.safetensors").is_file());
    let m = manifest(&mdet);
    assert_eq!(m["head"]["kind"], "crnn");
    assert_eq!(m["input"]["encoder"]["name"], "crnn");
    assert_eq!(m["input"]["pooling"], "max");
    assert_eq!(m["head"]["options"]["crnn"]["train"]["max_epochs"], 3);
    assert!(m["post"].as_object().is_some_and(|p| !p.is_empty()));
    // A MIL detector scores frames, not rows: predict says so.
    let npz = dir.path().join("rows.npz");
    let mut n = Npz::new();
    n.add_f32("X", &[1, 64], &[0.0; 64]);
    n.write(&npz).unwrap();
    let p = dir.path().join("P.npy");
    let out = earmark(&[
        "predict",
        "--detector",
        mdet.to_str().unwrap(),
        "--embeddings",
        npz.to_str().unwrap(),
        "--out",
        p.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("MIL detector"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn train_usage_errors_say_what_to_fix() {
    let cases: [(&[&str], &str); 6] = [
        (&["compare", "--out", "x"], "--encoder"),
        (
            &[
                "compare",
                "--encoder",
                "m",
                "--adapt-layers",
                "3",
                "--out",
                "x",
            ],
            "0, 1 or 2",
        ),
        (&["train", "--out", "x"], "--audio"),
        (
            &[
                "train",
                "--embeddings",
                "a.npz",
                "--weak",
                "w.tsv",
                "--out",
                "x",
            ],
            "labels",
        ),
        (
            &[
                "train",
                "--embeddings",
                "a.npz",
                "--threshold",
                "precision:3",
                "--out",
                "x",
            ],
            "(0, 1]",
        ),
        (
            &[
                "train",
                "--embeddings",
                "a.npz",
                "--head",
                "svm",
                "--out",
                "x",
            ],
            "gbt, logistic, mlp or mil",
        ),
    ];
    for (args, want) in cases {
        let out = earmark(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let e = text(&out.stderr);
        assert!(e.contains(want), "{args:?}: {e}");
    }
}
