//! Parity with torchaudio and librosa on the golden fixtures. Options are read from each fixture's
//! JSON and passed through `FeatureConfig::set` by their reference names, as a user would.

use earmark_features::{mel_power, FeatureConfig, FeatureKind, MelOptions, Preset};
use earmark_testkit::{assert_abs_close, assert_rel_close, fixtures_dir, read_json, read_npy_f32};
use serde_json::Value;

const INPUTS: [&str; 2] = ["mono16k_a", "mono16k_b"];

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "none".into(),
        other => other.to_string(),
    }
}

fn config_from(kind: FeatureKind, kwargs: &Value, skip: &[&str]) -> FeatureConfig {
    let mut c = FeatureConfig::new(kind);
    for (k, v) in kwargs.as_object().unwrap() {
        if skip.contains(&k.as_str()) {
            continue;
        }
        c.set(k, &text(v))
            .unwrap_or_else(|e| panic!("{k}={v}: {e}"));
    }
    c
}

fn fbank_sets() -> Vec<String> {
    let mut sets: Vec<String> = std::fs::read_dir(fixtures_dir().join("fbank"))
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            name.strip_suffix(".json").map(str::to_string)
        })
        .collect();
    sets.sort();
    sets
}

#[test]
fn kaldi_fbank_and_mfcc_match_torchaudio() {
    let sets = fbank_sets();
    assert_eq!(sets.len(), 9, "{sets:?}");
    for set in sets {
        let meta = read_json(&format!("fbank/{set}.json"));
        let kind = if meta["function"].as_str().unwrap().ends_with("mfcc") {
            FeatureKind::Mfcc
        } else {
            FeatureKind::Fbank
        };
        let mut cfg = config_from(kind, &meta["kwargs"], &[]);
        cfg.set("input_scale", &text(&meta["input_scale"])).unwrap();
        let linear = meta["kwargs"]["use_log_fbank"] == Value::Bool(false);
        for input in INPUTS {
            let (wave, _) = read_npy_f32(&format!("audio/{input}.f32.npy"));
            let (want, shape) = read_npy_f32(&format!("fbank/{set}__{input}.npy"));
            let got = cfg.compute(&wave).unwrap();
            assert_eq!(got.shape().to_vec(), shape, "{set} {input}");
            let what = format!("{set} {input}");
            let err = if linear {
                assert_rel_close(&what, &got.data, &want, shape[1], 1e-3, 1e-6)
            } else {
                assert_abs_close(&what, &got.data, &want, shape[1], 1e-3)
            };
            eprintln!(
                "{what}: max error {err:.2e}{}",
                if linear { " (scaled)" } else { "" }
            );
        }
    }
}

#[test]
fn fbank_grid_follows_snip_edges() {
    let meta = read_json("fbank/4_nosnip_energy.json");
    let cfg = config_from(FeatureKind::Fbank, &meta["kwargs"], &[]);
    let (wave, _) = read_npy_f32("audio/mono16k_a.f32.npy");
    let g = cfg.compute(&wave).unwrap().grid;
    // snip_edges=False: frame i starts at i·160 − (400/2 − 160/2).
    assert_eq!((g.rate, g.hop, g.win, g.offset), (16000, 160, 400, -120));
}

#[test]
fn log_mel_matches_torchaudio() {
    for variant in [
        "1_htk_w400_h160",
        "2_slaney_w1024_h320",
        "3_slaney_w400_h320_f50_7600",
        "4_htk_w1024_h160",
        "5_htk_slaneynorm_magnitude",
    ] {
        let meta = read_json(&format!("logmel/{variant}.json"));
        let mut cfg = config_from(
            FeatureKind::LogMel,
            &meta["kwargs"],
            &["window_fn", "wkwargs"],
        );
        for (k, v) in meta["to_db_kwargs"].as_object().unwrap() {
            cfg.set(k, &text(v)).unwrap();
        }
        for input in INPUTS {
            let (wave, _) = read_npy_f32(&format!("audio/{input}.f32.npy"));
            let (want, shape) = read_npy_f32(&format!("logmel/{variant}__{input}.npy"));
            let got = cfg.compute(&wave).unwrap();
            assert_eq!(got.shape().to_vec(), shape, "{variant} {input}");
            let err = assert_abs_close(
                &format!("{variant} {input}"),
                &got.data,
                &want,
                shape[1],
                1e-3,
            );
            eprintln!("{variant} {input}: max abs error {err:.2e} dB");
        }
    }
}

#[test]
fn log_mel_grid_is_centred() {
    let meta = read_json("logmel/1_htk_w400_h160.json");
    let cfg = config_from(
        FeatureKind::LogMel,
        &meta["kwargs"],
        &["window_fn", "wkwargs"],
    );
    let g = cfg.compute(&vec![0.1; 16000]).unwrap().grid;
    // n_fft 1024, win 400: frame i's window is [i·160 − 200, i·160 + 200).
    assert_eq!((g.hop, g.win, g.offset), (160, 400, -200));
    assert!((g.frame_center(10).0 - 0.1).abs() < 1e-12);
}

#[test]
fn librosa_preset_matches_librosa() {
    let mut cfg = FeatureConfig::with_preset(FeatureKind::LogMel, Preset::Librosa).unwrap();
    cfg.set("sample_rate", "16000").unwrap();
    let (wave, _) = read_npy_f32("audio/mono16k_a.f32.npy");
    let (want, shape) = read_npy_f32("logmel/librosa_default__mono16k_a.db.npy");
    let got = cfg.compute(&wave).unwrap();
    assert_eq!(got.shape().to_vec(), shape);
    let err = assert_abs_close("librosa db", &got.data, &want, shape[1], 1e-3);
    eprintln!("librosa db: max abs error {err:.2e} dB");

    let (want, shape) = read_npy_f32("logmel/librosa_default__mono16k_a.power.npy");
    let got = mel_power(&wave, &MelOptions::librosa(16000)).unwrap();
    let err = assert_rel_close("librosa power", &got.data, &want, shape[1], 1e-3, 1e-6);
    eprintln!("librosa power: max scaled error {err:.2e}");
}

#[test]
fn options_beyond_the_fixtures_stay_sane() {
    let wave = earmark_testkit::test_signal(16000, 12345, 3);
    for (k, v) in [
        ("window_type", "blackman"),
        ("round_to_power_of_two", "false"),
        ("subtract_mean", "true"),
        ("use_power", "false"),
        ("dither", "1.0"),
        ("frame_length", "50"),
    ] {
        let mut c = FeatureConfig::new(FeatureKind::Fbank);
        c.set(k, v).unwrap();
        let f = c.compute(&wave).unwrap();
        assert!(
            f.n_frames() > 0 && f.data.iter().all(|x| x.is_finite()),
            "{k}={v}"
        );
        if k == "subtract_mean" {
            for col in 0..f.dim {
                let m: f64 = f.rows().map(|r| r[col] as f64).sum::<f64>() / f.n_frames() as f64;
                assert!(m.abs() < 1e-4, "column {col} mean {m}");
            }
        }
    }
    // Dither is deterministic by seed and differs between seeds.
    let mut c = FeatureConfig::new(FeatureKind::Fbank);
    c.set("dither", "1.0").unwrap();
    let a = c.compute(&wave).unwrap();
    assert_eq!(a, c.compute(&wave).unwrap());
    c.set("seed", "9").unwrap();
    assert_ne!(a.data, c.compute(&wave).unwrap().data);
    // Too short for one frame is a clear error, and min_duration yields an empty matrix.
    let c = FeatureConfig::new(FeatureKind::Fbank);
    assert!(c
        .compute(&wave[..100])
        .unwrap_err()
        .to_string()
        .contains("too short"));
    let mut c = FeatureConfig::new(FeatureKind::Fbank);
    c.set("min_duration", "1.0").unwrap();
    assert_eq!(c.compute(&wave[..1000]).unwrap().n_frames(), 0);
    // Unsupported VTLN is refused, not ignored.
    let mut c = FeatureConfig::new(FeatureKind::Fbank);
    c.set("vtln_warp", "0.9").unwrap();
    assert!(c.compute(&wave).is_err());
}
