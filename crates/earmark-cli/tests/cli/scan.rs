//! `earmark scan` and `earmark merge` end to end: the output contract (events.tsv with relative
//! names, scores/<name>.tsv, summary.json), a bad file reported and skipped, resume after a
//! finished (or killed) run, and shards merged back to the single-run result.

use super::{earmark, text};
use std::path::Path;

fn json(p: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn scan_contract_resume_and_shards() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = d.join("syn");
    let out = earmark(&[
        "synth",
        "--out",
        data.to_str().unwrap(),
        "--clips",
        "24",
        "--secs",
        "3",
        "--classes",
        "impact",
        "--seed",
        "5",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let det = d.join("det");
    let cache = d.join("cache");
    let out = earmark(&[
        "train",
        "--audio",
        data.join("audio").to_str().unwrap(),
        "--strong",
        data.join("strong.tsv").to_str().unwrap(),
        "--head",
        "logistic",
        "--cv",
        "2",
        "--cache",
        cache.to_str().unwrap(),
        "--out",
        det.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // Recordings: a folder with a sub-folder, a broken file in it, and one file given directly.
    let rec = d.join("rec");
    std::fs::create_dir_all(rec.join("night")).unwrap();
    for i in 0..3 {
        let f = format!("synth_{i:04}.wav");
        std::fs::copy(data.join("audio").join(&f), rec.join("night").join(&f)).unwrap();
    }
    std::fs::write(
        rec.join("night/broken.wav"),
        b"RIFF\x10\x00\x00\x00WAVEjunk",
    )
    .unwrap();
    let single = data.join("audio/synth_0010.wav");
    let scan_out = d.join("scan");
    let scan_cache = d.join("scan-cache");
    let scan = |extra: &[&str], out_dir: &Path| {
        let mut a = vec![
            "scan",
            "--detector",
            det.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
            "--cache",
            scan_cache.to_str().unwrap(),
        ];
        a.extend_from_slice(extra);
        a.push(rec.to_str().unwrap());
        a.push(single.to_str().unwrap());
        earmark(&a)
    };
    let out = scan(
        &[
            "--scores",
            "--scores-npz",
            "--format",
            "csv,audacity,per-file",
        ],
        &scan_out,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("failed night/broken.wav"),
        "{}",
        text(&out.stderr)
    );
    let events = std::fs::read_to_string(scan_out.join("events.tsv")).unwrap();
    assert!(
        events.starts_with("filename\tonset\toffset\tevent_label\n"),
        "{events}"
    );
    for line in events.lines().skip(1) {
        let name = line.split('\t').next().unwrap();
        assert!(
            name.starts_with("night/synth_") || name == "synth_0010.wav",
            "{line}"
        );
    }
    for name in ["night/synth_0000", "night/synth_0002", "synth_0010"] {
        let p = scan_out.join("scores").join(format!("{name}.tsv"));
        let t = std::fs::read_to_string(&p).unwrap_or_else(|_| panic!("{}", p.display()));
        let mut lines = t.lines();
        assert_eq!(lines.next().unwrap(), "onset\toffset\timpact");
        let rows: Vec<Vec<f64>> = lines
            .map(|l| l.split('\t').map(|v| v.parse().unwrap()).collect())
            .collect();
        // Contiguous cells from 0 to the end of the 3 s recording, probabilities in [0, 1].
        assert_eq!(rows[0][0], 0.0);
        assert!((rows.last().unwrap()[1] - 3.0).abs() < 1e-6);
        for w in rows.windows(2) {
            assert!((w[0][1] - w[1][0]).abs() < 1e-9);
        }
        assert!(rows.iter().all(|r| (0.0..=1.0).contains(&r[2])));
    }
    assert!(scan_out.join("events.csv").is_file());
    assert!(scan_out.join("events/synth_0010.tsv").is_file());
    assert!(scan_out.join("audacity/night/synth_0000.txt").is_file());
    let npz = earmark::npy::read_npz(&scan_out.join("scores/synth_0010.npz")).unwrap();
    assert_eq!(npz["scores"].shape[1], 1);
    assert_eq!(
        npz["classes"].data,
        earmark::npy::NpyData::Str(vec!["impact".into()])
    );
    let s = json(&scan_out.join("summary.json"));
    assert_eq!(s["files_total"], 5);
    assert_eq!(s["files_done"], 4);
    assert_eq!(s["files_failed"], 1);
    assert_eq!(s["failures"][0]["file"], "night/broken.wav");
    assert!((s["audio_hours"].as_f64().unwrap() - 4.0 * 3.0 / 3600.0).abs() < 1e-6);
    assert!(s["real_time_factor"].as_f64().unwrap() > 0.0);

    // A second run redoes only what is unfinished: here, the broken file (which fails again).
    // Removing one part simulates a run killed before that recording finished.
    std::fs::remove_file(scan_out.join("parts/night/synth_0001.wav.json")).unwrap();
    let out = scan(&["--scores"], &scan_out);
    assert_eq!(out.status.code(), Some(1));
    let s2 = json(&scan_out.join("summary.json"));
    assert_eq!(s2["files_resumed"], 3);
    assert_eq!(s2["files_done"], 4);
    assert_eq!(
        std::fs::read_to_string(scan_out.join("events.tsv")).unwrap(),
        events
    );

    // The embedding cache: a fresh output folder reads every window row from it, and a
    // corrupted entry is recomputed, with the same events either way.
    let mut entries = Vec::new();
    for e in walk(&scan_cache.join("scan")) {
        entries.push(e);
    }
    assert_eq!(entries.len(), 4, "{entries:?}");
    std::fs::write(&entries[0], b"PK\x03\x04truncated").unwrap();
    let again = d.join("scan-again");
    let out = scan(&[], &again);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        std::fs::read_to_string(again.join("events.tsv")).unwrap(),
        events
    );
    let out = earmark(&["cache", "stats", "--cache", scan_cache.to_str().unwrap()]);
    assert!(text(&out.stdout).contains("scan"), "{}", text(&out.stdout));

    // Shards of an array job, merged, give the single run's events.
    let sharded = d.join("sharded");
    for i in 0..2 {
        let shard = format!("{i}/2");
        let out = scan(&["--shard", &shard], &sharded);
        assert!(out.status.code().is_some(), "{}", text(&out.stderr));
    }
    let out = earmark(&["merge", sharded.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the broken file is still a failure: {}",
        text(&out.stdout)
    );
    let mut a: Vec<String> = events.lines().map(String::from).collect();
    let mut b: Vec<String> = std::fs::read_to_string(sharded.join("events.tsv"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
    assert_eq!(json(&sharded.join("summary.json"))["files_done"], 4);
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn scan_refuses_what_it_cannot_use() {
    let dir = tempfile::tempdir().unwrap();
    let out = earmark(&[
        "scan",
        "--detector",
        dir.path().to_str().unwrap(),
        "--out",
        "o",
        "x.wav",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("not an earmark detector"),
        "{}",
        text(&out.stderr)
    );
    let out = earmark(&[
        "scan",
        "--detector",
        "d",
        "--out",
        "o",
        "--shard",
        "2/2",
        "x.wav",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("0 ≤ I < N"),
        "{}",
        text(&out.stderr)
    );
}
