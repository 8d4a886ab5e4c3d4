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

/// Max abs difference between a perturbed configuration's output and the fixture.
fn perturbed_error(set: &str, name: &str, value: &str) -> f32 {
    let meta = read_json(&format!("fbank/{set}.json"));
    let mut cfg = config_from(FeatureKind::Fbank, &meta["kwargs"], &[]);
    cfg.set("input_scale", &text(&meta["input_scale"])).unwrap();
    cfg.set(name, value).unwrap();
    let (wave, _) = read_npy_f32("audio/mono16k_b.f32.npy");
    let (want, _) = read_npy_f32(&format!("fbank/{set}__mono16k_b.npy"));
    let got = cfg.compute(&wave).unwrap();
    assert_eq!(got.data.len(), want.len(), "{set} {name}={value}");
    earmark_testkit::max_abs_diff(&got.data, &want).0
}

#[test]
fn parity_tolerance_catches_small_perturbations() {
    // Each change is small next to the option's range; the 1e-3 bound must see every one, so the
    // parity tests above are not vacuous.
    for (set, name, value) in [
        ("1_default", "preemphasis_coefficient", "0.96"),
        ("1_default", "low_freq", "21"),
        ("1_default", "high_freq", "-10"),
        ("1_default", "remove_dc_offset", "false"),
        ("2_ast", "window_type", "hamming"),
        ("3_beats", "input_scale", "32000"),
        ("5_magnitude_energy", "energy_floor", "1.5"),
        ("4_nosnip_energy", "raw_energy", "false"),
    ] {
        let err = perturbed_error(set, name, value);
        assert!(err > 1e-3, "{set} with {name}={value}: error only {err:e}");
    }
    // Log-mel: a 1 Hz shift of f_min, and the other window normalisation.
    for (name, value) in [("f_min", "1"), ("normalized", "true")] {
        let meta = read_json("logmel/1_htk_w400_h160.json");
        let mut cfg = config_from(
            FeatureKind::LogMel,
            &meta["kwargs"],
            &["window_fn", "wkwargs"],
        );
        cfg.set(name, value).unwrap();
        let (wave, _) = read_npy_f32("audio/mono16k_b.f32.npy");
        let (want, _) = read_npy_f32("logmel/1_htk_w400_h160__mono16k_b.npy");
        let err = earmark_testkit::max_abs_diff(&cfg.compute(&wave).unwrap().data, &want).0;
        assert!(err > 1e-3, "logmel with {name}={value}: error only {err:e}");
    }
}

#[test]
fn mfcc_energy_and_htk_columns_follow_torchaudio() {
    // torchaudio's mfcc: with use_energy, C0 is replaced by fbank's log energy; with htk_compat,
    // C0 (or the energy) moves to the last column, and a plain C0 is scaled by sqrt(2). The DCT
    // input is always the num_mel_bins log mel energies, whatever htk_compat does to fbank's
    // energy column.
    let (wave, _) = read_npy_f32("audio/mono16k_b.f32.npy");
    let base = FeatureConfig::new(FeatureKind::Mfcc)
        .compute(&wave)
        .unwrap();
    let mut fb = FeatureConfig::new(FeatureKind::Fbank);
    fb.set("use_energy", "true").unwrap();
    let fb = fb.compute(&wave).unwrap();
    let nc = base.dim;
    for (htk, energy) in [(false, true), (true, false), (true, true)] {
        let mut c = FeatureConfig::new(FeatureKind::Mfcc);
        c.set("htk_compat", &htk.to_string()).unwrap();
        c.set("use_energy", &energy.to_string()).unwrap();
        let got = c.compute(&wave).unwrap();
        assert_eq!(got.shape(), base.shape());
        for (i, (g, b)) in got.rows().zip(base.rows()).enumerate() {
            let e = fb.row(i)[0];
            let c0 = if energy {
                e
            } else {
                b[0] * std::f32::consts::SQRT_2
            };
            let want: Vec<f32> = if htk {
                b[1..].iter().copied().chain([c0]).collect()
            } else {
                [c0].into_iter().chain(b[1..].iter().copied()).collect()
            };
            for k in 0..nc {
                assert!(
                    (g[k] - want[k]).abs() <= 1e-5 * want[k].abs().max(1.0),
                    "htk {htk} energy {energy} frame {i} ceps {k}: {} vs {}",
                    g[k],
                    want[k]
                );
            }
        }
    }
}

#[test]
fn short_inputs_and_bad_options_are_errors_not_panics() {
    let wave = earmark_testkit::test_signal(16000, 3000, 5);
    // Log-mel: reflect padding needs more than n_fft/2 samples; center=false needs n_fft.
    let c = FeatureConfig::new(FeatureKind::LogMel);
    assert!(c.compute(&wave[..150]).is_err());
    assert_eq!(c.compute(&wave[..201]).unwrap().n_frames(), 2);
    let mut c = FeatureConfig::new(FeatureKind::LogMel);
    c.set("center", "false").unwrap();
    assert!(c.compute(&wave[..399]).is_err());
    assert_eq!(c.compute(&wave[..400]).unwrap().n_frames(), 1);
    for (k, v) in [("num_ceps", "0"), ("num_ceps", "24"), ("num_mel_bins", "3")] {
        let mut c = FeatureConfig::new(FeatureKind::Mfcc);
        c.set(k, v).unwrap();
        assert!(c.compute(&wave).is_err(), "mfcc {k}={v}");
    }
    for (k, v) in [
        ("frame_length", "1e9"),
        ("frame_shift", "0.01"),
        ("high_freq", "9000"),
    ] {
        let mut c = FeatureConfig::new(FeatureKind::Fbank);
        c.set(k, v).unwrap();
        assert!(c.compute(&wave).is_err(), "fbank {k}={v}");
    }
    for (k, v) in [
        ("win_length", "500"),
        ("hop_length", "0"),
        ("f_max", "9000"),
    ] {
        let mut c = FeatureConfig::new(FeatureKind::LogMel);
        c.set(k, v).unwrap();
        assert!(c.compute(&wave).is_err(), "logmel {k}={v}");
    }
    // Every pad mode and both powers give finite, correctly shaped output.
    for mode in ["reflect", "constant", "replicate", "circular"] {
        for power in ["1", "2"] {
            let mut c = FeatureConfig::new(FeatureKind::LogMel);
            c.set("pad_mode", mode).unwrap();
            c.set("power", power).unwrap();
            let f = c.compute(&wave).unwrap();
            assert_eq!(f.shape(), [1 + 3000 / 200, 128], "{mode} {power}");
            assert!(f.data.iter().all(|x| x.is_finite()));
        }
    }
}

#[test]
fn presets_match_their_fixture_sets_and_take_overrides() {
    let (wave, _) = read_npy_f32("audio/mono16k_b.f32.npy");
    for (preset, set) in [
        (Preset::Ast, "2_ast"),
        (Preset::Eat, "2_ast"),
        (Preset::Beats, "3_beats"),
    ] {
        let cfg = FeatureConfig::with_preset(FeatureKind::Fbank, preset).unwrap();
        let (want, shape) = read_npy_f32(&format!("fbank/{set}__mono16k_b.npy"));
        let got = cfg.compute(&wave).unwrap();
        assert_eq!(got.shape().to_vec(), shape);
        assert_abs_close(&format!("{preset:?}"), &got.data, &want, shape[1], 1e-3);
        assert_eq!((got.grid.hop, got.grid.win, got.grid.offset), (160, 400, 0));
    }
    // The CLI's route: a preset, then --opt overrides by torchaudio's names (set 4 from ast).
    let meta = read_json("fbank/4_nosnip_energy.json");
    let mut cfg = FeatureConfig::with_preset(FeatureKind::Fbank, Preset::Ast).unwrap();
    cfg.set("htk_compat", "false").unwrap();
    cfg.set("frame_shift", "10").unwrap();
    for (k, v) in meta["kwargs_given"].as_object().unwrap() {
        cfg.set(k, &text(v)).unwrap();
    }
    let (want, shape) = read_npy_f32("fbank/4_nosnip_energy__mono16k_b.npy");
    let got = cfg.compute(&wave).unwrap();
    assert_eq!(got.shape().to_vec(), shape);
    assert_abs_close("ast + set 4 overrides", &got.data, &want, shape[1], 1e-3);
    // Presets that do not fit the kind are refused with a reason.
    for (kind, preset) in [
        (FeatureKind::LogMel, Preset::Ast),
        (FeatureKind::Fbank, Preset::Librosa),
        (FeatureKind::Mfcc, Preset::Librosa),
    ] {
        let err = FeatureConfig::with_preset(kind, preset)
            .unwrap_err()
            .to_string();
        assert!(err.contains("preset"), "{err}");
    }
}
