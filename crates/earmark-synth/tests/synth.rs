//! The synthesiser: deterministic, labels true to the audio, files that round-trip.

use earmark_synth::{
    procedural_class, soundscape, synthesize, write_dataset, Source, SynthError, SynthOptions,
};

fn small(n: usize, seed: u64) -> SynthOptions {
    SynthOptions {
        n_clips: n,
        clip_secs: 3.0,
        seed,
        ..Default::default()
    }
}

fn rms(x: &[f32]) -> f64 {
    (x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / x.len().max(1) as f64).sqrt()
}

#[test]
fn same_seed_same_clips_other_seed_other_clips() {
    let a = synthesize(&small(6, 1), &Source::Procedural).unwrap();
    let b = synthesize(&small(6, 1), &Source::Procedural).unwrap();
    let c = synthesize(&small(6, 2), &Source::Procedural).unwrap();
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.samples, y.samples);
        assert_eq!(x.events, y.events);
    }
    assert!(a.iter().zip(&c).any(|(x, y)| x.samples != y.samples));
    // Clip i alone equals clip i of the set.
    let one = soundscape(&small(6, 1), &Source::Procedural, 4).unwrap();
    assert_eq!(one.samples, a[4].samples);
}

#[test]
fn labels_are_where_the_energy_is() {
    let opts = SynthOptions {
        n_clips: 30,
        clip_secs: 4.0,
        snr_db: (20.0, 20.0),
        positive_fraction: 1.0,
        max_events_per_clip: 1,
        seed: 7,
        ..Default::default()
    };
    let clips = synthesize(&opts, &Source::Procedural).unwrap();
    let mut checked = 0;
    for s in &clips {
        assert_eq!(s.events.len(), 1, "{}", s.file);
        let e = &s.events[0];
        assert!(e.onset >= 0.0 && e.offset <= 4.0 && e.offset > e.onset);
        let (a, b) = ((e.onset * 16000.0) as usize, (e.offset * 16000.0) as usize);
        let inside = rms(&s.samples[a..b]);
        let before = rms(&s.samples[a.saturating_sub(8000)..a]);
        let after = rms(&s.samples[b..(b + 8000).min(s.samples.len())]);
        let outside = if a < 1600 {
            after
        } else if b + 1600 > s.samples.len() {
            before
        } else {
            before.max(after)
        };
        assert!(
            inside > 3.0 * outside,
            "{}: inside {inside} outside {outside}",
            s.file
        );
        checked += 1;
        let dur = e.offset - e.onset;
        let spec = ["impact", "burst", "voice"]
            .iter()
            .map(|n| procedural_class(n).unwrap())
            .find(|c| c.name == e.label)
            .unwrap();
        // Trimming to the −40 dB extent can only shorten the drawn length.
        assert!(dur <= spec.max_secs + 0.011, "{} {dur}", e.label);
    }
    assert_eq!(checked, 30);
}

#[test]
fn positives_negatives_and_weak_labels_agree() {
    let clips = synthesize(&small(200, 3), &Source::Procedural).unwrap();
    let pos = clips.iter().filter(|c| !c.events.is_empty()).count();
    // Binomial(200, 0.5): ±4.5 sigma.
    assert!((68..=132).contains(&pos), "{pos}");
    for c in &clips {
        let mut labels: Vec<String> = c.events.iter().map(|e| e.label.clone()).collect();
        labels.sort();
        labels.dedup();
        assert_eq!(c.weak.labels, labels);
        assert!(c.events.len() <= 2);
        assert!(c.samples.iter().all(|x| x.abs() <= 0.99 + 1e-6));
    }
}

#[test]
fn dataset_round_trips_through_the_parsers_and_decoder() {
    let dir = tempfile::tempdir().unwrap();
    let opts = small(8, 5);
    let s = write_dataset(dir.path(), &opts, &Source::Procedural).unwrap();
    assert_eq!(s.clips, 8);
    let weak = earmark_core::parse_weak_tsv(
        &std::fs::read_to_string(dir.path().join("weak.tsv")).unwrap(),
        "weak.tsv",
    )
    .unwrap();
    let strong = earmark_core::parse_strong_tsv(
        &std::fs::read_to_string(dir.path().join("strong.tsv")).unwrap(),
        "strong.tsv",
    )
    .unwrap();
    let mem = synthesize(&opts, &Source::Procedural).unwrap();
    assert_eq!(weak.len(), 8);
    assert_eq!(
        strong.len(),
        mem.iter().map(|c| c.events.len()).sum::<usize>()
    );
    assert_eq!(s.events, strong.len());
    for (w, c) in weak.iter().zip(&mem) {
        assert_eq!(w, &c.weak);
        let wave = earmark_audio::load_mono(&dir.path().join("audio").join(&c.file), None).unwrap();
        assert_eq!(wave.samples.len(), 48_000);
        // 16-bit PCM: within one quantisation step.
        let err = wave
            .samples
            .iter()
            .zip(&c.samples)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(err <= 1.0 / 32768.0 + 1e-6, "{err}");
    }
    assert!(dir.path().join("synth.json").is_file());
}

#[test]
fn folders_mode_uses_the_users_sounds_and_names_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let ev = dir.path().join("events");
    for (class, f) in [("knock", 300.0), ("whistle", 2000.0)] {
        std::fs::create_dir_all(ev.join(class)).unwrap();
        let tone: Vec<f32> = (0..4000)
            .map(|i| (i as f32 * f * std::f32::consts::TAU / 16000.0).sin() * 0.5)
            .collect();
        earmark_audio::write_wav_pcm16(&ev.join(class).join("a.wav"), &tone, 16000, 1).unwrap();
    }
    let bg = dir.path().join("bg");
    std::fs::create_dir_all(&bg).unwrap();
    let noise: Vec<f32> = (0..8000)
        .map(|i| ((i * 7919 % 1000) as f32 / 1000.0 - 0.5) * 0.1)
        .collect();
    earmark_audio::write_wav_pcm16(&bg.join("n.wav"), &noise, 16000, 1).unwrap();
    let src = Source::Folders {
        events: ev.clone(),
        backgrounds: Some(bg.clone()),
    };
    let opts = SynthOptions {
        positive_fraction: 1.0,
        ..small(10, 1)
    };
    let s = write_dataset(&dir.path().join("out"), &opts, &src).unwrap();
    assert_eq!(s.classes, ["knock", "whistle"]);
    assert!(s.events >= 10);
    let clips = synthesize(&opts, &src).unwrap();
    for c in &clips {
        for e in &c.events {
            // A 0.25 s tone: the label spans it (10 ms envelope frames).
            assert!((e.offset - e.onset - 0.25).abs() <= 0.011, "{e:?}");
        }
    }

    // An undecodable file is named.
    std::fs::write(ev.join("knock").join("bad.wav"), b"RIFF nonsense").unwrap();
    let err = synthesize(&opts, &src).unwrap_err();
    assert!(matches!(err, SynthError::Decode { .. }));
    assert!(err.to_string().contains("bad.wav"), "{err}");
    std::fs::remove_file(ev.join("knock").join("bad.wav")).unwrap();
    // An empty class folder is named.
    std::fs::create_dir_all(ev.join("empty")).unwrap();
    let err = synthesize(&opts, &src).unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");
}

#[test]
fn bad_options_are_refused() {
    let bad = [
        SynthOptions {
            n_clips: 0,
            ..Default::default()
        },
        SynthOptions {
            clip_secs: 0.0,
            ..Default::default()
        },
        SynthOptions {
            clip_secs: 0.5,
            ..Default::default()
        }, // voice up to 0.8 s
        SynthOptions {
            snr_db: (10.0, 0.0),
            ..Default::default()
        },
        SynthOptions {
            positive_fraction: 1.5,
            ..Default::default()
        },
    ];
    for o in bad {
        assert!(matches!(
            synthesize(&o, &Source::Procedural),
            Err(SynthError::Options { .. })
        ));
    }
}
