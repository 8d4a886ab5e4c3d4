//! The weak-label workflow on synthesised data: a small model must beat chance at finding events
//! and their boundaries, and max-like pooling must find the short events mean pooling misses.

use earmark::workflow::{run, BoundaryOrReason, WorkflowOptions};
use earmark_encoders::adapt::{AdaptOptions, LoraOptions};
use earmark_heads::{Pooling, TrainOptions};

#[test]
fn workflow_beats_chance_and_max_pooling_finds_short_events() {
    let dir = tempfile::tempdir().unwrap();
    let opts = WorkflowOptions {
        out: dir.path().to_path_buf(),
        synth_clips: 80,
        seed: 3,
        train: TrainOptions {
            max_epochs: 25,
            seed: 3,
            ..TrainOptions::default()
        },
        poolings: vec![Pooling::Mean, Pooling::Max, Pooling::LinearSoftmax],
        ..WorkflowOptions::default()
    };
    let out = run(&opts, &mut |m| eprintln!("{m}")).unwrap();
    let m = &out.metrics;
    for f in [
        "report.html",
        "metrics.json",
        "decision.md",
        "events_test.tsv",
    ] {
        assert!(dir.path().join(f).is_file(), "missing {f}");
    }

    // Event F1 beats a chance detector with the same outputs by at least 0.2 (stated margin).
    let f1 = m.event_f1.expect("strong labels exist");
    let chance = m.chance.as_ref().expect("chance baseline");
    assert!(
        f1 >= chance.event_f1 + 0.2,
        "event F1 {f1:.3} vs chance {:.3}",
        chance.event_f1
    );
    // Boundaries: median onset error under 200 ms and at most half the chance detector's.
    let BoundaryOrReason::Measured(b) = &m.boundary else {
        panic!("boundary should be measured");
    };
    let on = b.onset_median_abs_s.expect("some events matched");
    let chance_on = chance.onset_median_abs_s.expect("chance onsets");
    assert!(
        on < 0.2 && on <= 0.5 * chance_on,
        "onset {on:.3} vs chance {chance_on:.3}"
    );
    assert!(
        b.peak_inside.unwrap() >= 0.6,
        "peak inside {:?}",
        b.peak_inside
    );

    // Max-like pooling localises short events that mean pooling misses.
    let max = &m.pooling["max"];
    let mean = &m.pooling["mean"];
    assert!(
        max.peak_inside.unwrap() >= mean.peak_inside.unwrap() + 0.1
            || max.event_f1.unwrap() >= mean.event_f1.unwrap() + 0.1,
        "max {max:?}\nmean {mean:?}"
    );
    assert_ne!(m.chosen_pooling, Pooling::Mean);

    // The split is written out, disjoint, and covers every recording.
    let mut all: Vec<&String> = m
        .split
        .train
        .iter()
        .chain(&m.split.val)
        .chain(&m.split.test)
        .collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 80);
    // The note is generated from the measurements.
    let note = std::fs::read_to_string(&out.decision).unwrap();
    assert!(note.contains(&format!("`{}`", m.chosen_pooling)));
    assert!(note.contains(&format!("{:.3}", max.clip_auc)));
    // No pretrained transformer on the default path: step 6 says why it did not run.
    assert!(!m.adaptation.tried);
    assert!(
        note.contains("Adaptation was not tried") && note.contains("log-mel"),
        "{note}"
    );
}

#[test]
fn user_data_without_strong_labels_reports_no_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let synth = earmark_synth::SynthOptions {
        n_clips: 24,
        clip_secs: 4.0,
        seed: 5,
        ..Default::default()
    };
    earmark_synth::write_dataset(&data, &synth, &earmark_synth::Source::Procedural).unwrap();
    // One listed file that is not audio: named, counted, and left out.
    std::fs::write(data.join("audio/broken.wav"), b"not audio").unwrap();
    let mut weak = std::fs::read_to_string(data.join("weak.tsv")).unwrap();
    weak.push_str("broken.wav\timpact\n");
    std::fs::write(data.join("weak.tsv"), weak).unwrap();
    let opts = WorkflowOptions {
        out: dir.path().join("out"),
        audio: Some(data.join("audio")),
        weak: Some(data.join("weak.tsv")),
        train: TrainOptions {
            max_epochs: 3,
            ..TrainOptions::default()
        },
        poolings: vec![Pooling::Max],
        ..WorkflowOptions::default()
    };
    let out = run(&opts, &mut |_| {}).unwrap();
    let m = &out.metrics;
    assert!(m.event_f1.is_none() && m.chance.is_none());
    assert!(matches!(m.boundary, BoundaryOrReason::Unavailable { .. }));
    assert_eq!(m.dataset.skipped.len(), 1);
    assert_eq!(m.dataset.skipped[0].file, "broken.wav");
    let json = std::fs::read_to_string(&out.metrics_path).unwrap();
    assert!(json.contains("no strong labels"));
    let note = std::fs::read_to_string(&out.decision).unwrap();
    assert!(note.contains("Not measured"));
}

#[test]
fn a_given_encoder_is_the_frozen_representation() {
    // A tiny random-weight HuBERT in Hugging Face layout stands in for a downloaded checkpoint.
    let model = earmark_testkit::fixture("hubert/base-like/model");
    let dir = tempfile::tempdir().unwrap();
    let opts = WorkflowOptions {
        out: dir.path().to_path_buf(),
        synth_clips: 24,
        clip_secs: 4.0,
        encoder: Some(model.to_str().unwrap().to_string()),
        train: TrainOptions {
            max_epochs: 2,
            min_epochs: 1,
            ..TrainOptions::default()
        },
        poolings: vec![Pooling::Max],
        adapt: Some(AdaptOptions {
            top_layers: 1,
            lora: Some(LoraOptions {
                rank: 2,
                alpha: 4.0,
            }),
            seed: 0,
        }),
        ..WorkflowOptions::default()
    };
    let out = run(&opts, &mut |_| {}).unwrap();
    let m = &out.metrics;
    // Step 6 ran on the same split: an adapted model with intervals, and a decision.
    let a = &m.adaptation;
    assert!(
        a.tried && a.top_layers == Some(1) && a.lora_rank == Some(2),
        "{a:?}"
    );
    assert!(a.clip_auc_difference.is_some());
    assert!(m.models.contains_key("adapted"));
    // What the decision would keep is on disk: the adapter overlay and the frame head.
    assert!(dir.path().join("adapted/overlay.safetensors").is_file());
    assert!(dir.path().join("adapted/head").is_dir());
    assert!(["frozen_probe", "adapted"].contains(&a.kept.as_str()));
    let note = std::fs::read_to_string(&out.decision).unwrap();
    assert!(note.contains("LoRA adapters (rank 2"), "{note}");
    assert!(note.contains(&format!(
        "Decision: keep the {}",
        if a.kept == "adapted" {
            "adapted"
        } else {
            "frozen"
        }
    )));
    assert!(
        m.frozen_representation.contains("base-like"),
        "{}",
        m.frozen_representation
    );
    assert!(m.models["frozen_probe"].representation.contains("frames"));
    // Detections come through the encoder's own grid and stay inside the 4 s clips.
    let tsv = std::fs::read_to_string(dir.path().join("events_test.tsv")).unwrap();
    for line in tsv.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        let (on, off): (f64, f64) = (f[1].parse().unwrap(), f[2].parse().unwrap());
        assert!(0.0 <= on && on < off && off <= 4.0 + 1e-9, "{line}");
    }
}
