//! The `earmark` binary end to end: real files in, the contract's outputs and exit codes out.

use earmark_testkit::{assert_abs_close, fixture, read_json, read_npy_f32};
use ndarray::Array2;
use ndarray_npy::ReadNpyExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod eval;
mod scan;
mod train;

fn earmark(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_earmark"))
        .args(args)
        .output()
        .expect("run earmark")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A canonical WAV header + data, with `data_len_claim` written as the data chunk size.
fn wav_bytes(
    tag: u16,
    channels: u16,
    rate: u32,
    bits: u16,
    data: &[u8],
    data_len_claim: u32,
) -> Vec<u8> {
    let block = channels as u32 * bits as u32 / 8;
    let mut v = Vec::new();
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&tag.to_le_bytes());
    v.extend_from_slice(&channels.to_le_bytes());
    v.extend_from_slice(&rate.to_le_bytes());
    v.extend_from_slice(&(rate * block).to_le_bytes());
    v.extend_from_slice(&(block as u16).to_le_bytes());
    v.extend_from_slice(&bits.to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&data_len_claim.to_le_bytes());
    v.extend_from_slice(data);
    v
}

fn pcm16(n: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|i| (((i as f32 * 0.05).sin() * 8000.0) as i16).to_le_bytes())
        .collect()
}

struct BadFiles {
    _dir: tempfile::TempDir,
    files: Vec<(PathBuf, &'static str)>,
}

/// One file of each kind of bad input, with a word its error line must contain.
fn bad_files() -> BadFiles {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    let mut files = Vec::new();
    let mut put = |name: &str, bytes: Vec<u8>, word: &'static str| {
        std::fs::write(p(name), bytes).unwrap();
        files.push((p(name), word));
    };
    put(
        "notes.wav",
        b"this is a text file, not audio\n".repeat(20),
        "",
    );
    put("empty.wav", Vec::new(), "empty");
    let data = pcm16(4000);
    put(
        "truncated.wav",
        wav_bytes(1, 1, 16000, 16, &data, 16000 * 2),
        "truncat",
    );
    put(
        "zero_channels.wav",
        wav_bytes(1, 0, 16000, 16, &data, data.len() as u32),
        "channel",
    );
    put(
        "adpcm.wav",
        wav_bytes(2, 1, 16000, 4, &data, data.len() as u32),
        "",
    );
    let nan: Vec<u8> = (0..1000)
        .flat_map(|i| (if i == 500 { f32::NAN } else { 0.1f32 }).to_le_bytes())
        .collect();
    put(
        "nan.wav",
        wav_bytes(3, 1, 16000, 32, &nan, nan.len() as u32),
        "",
    );
    BadFiles { _dir: dir, files }
}

#[test]
fn info_reports_good_files_and_one_line_per_bad_file() {
    let good = fixture("audio/mono16k_b.wav");
    let stereo = fixture("audio/stereo44k.wav");
    let bad = bad_files();
    let mut args: Vec<String> = vec!["info".into(), good.display().to_string()];
    args.extend(bad.files.iter().map(|(p, _)| p.display().to_string()));
    args.push(stereo.display().to_string());
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = earmark(&argv);
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);

    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    // The good files are still reported, with their facts.
    assert!(
        stdout.contains("mono16k_b.wav")
            && stdout.contains("16000 Hz")
            && stdout.contains("52837 frames"),
        "{stdout}"
    );
    assert!(
        stdout.contains("stereo44k.wav") && stdout.contains("2 ch") && stdout.contains("44100 Hz"),
        "{stdout}"
    );
    // One error line per bad file, naming it and the cause.
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(errors.len(), bad.files.len(), "{stderr}");
    for (path, word) in &bad.files {
        let name = path.file_name().unwrap().to_string_lossy();
        let line = errors
            .iter()
            .find(|l| l.contains(name.as_ref()))
            .unwrap_or_else(|| panic!("no error line names {name}:\n{stderr}"));
        assert!(
            line.to_lowercase().contains(word),
            "{name}: {line:?} should mention {word:?}"
        );
        assert!(
            line.len() > format!("error: {}: ", path.display()).len() + 5,
            "cause missing: {line}"
        );
    }
    assert!(
        stderr.contains(&format!(
            "{} of {} files failed",
            bad.files.len(),
            bad.files.len() + 2
        )),
        "{stderr}"
    );
}

#[test]
fn info_json_lines() {
    let out = earmark(&[
        "info",
        "--json",
        fixture("audio/mono8k.wav").to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert_eq!(v["sample_rate"], 8000);
    assert_eq!(v["channels"], 1);
    assert_eq!(v["frames"], 4000);
}

fn read_npy2(path: &Path) -> Array2<f32> {
    Array2::<f32>::read_npy(std::fs::File::open(path).unwrap()).unwrap()
}

#[test]
fn features_ast_preset_matches_torchaudio_and_writes_the_grid() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("a.npy");
    let r = earmark(&[
        "features",
        fixture("audio/mono16k_a.wav").to_str().unwrap(),
        "--kind",
        "fbank",
        "--preset",
        "ast",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    let got = read_npy2(&out);
    let (want, shape) = read_npy_f32("fbank/2_ast__mono16k_a.npy");
    assert_eq!(got.shape(), &shape[..]);
    assert_abs_close(
        "cli fbank ast",
        got.as_slice().unwrap(),
        &want,
        shape[1],
        1e-3,
    );
    let grid: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("a.grid.json")).unwrap())
            .unwrap();
    assert_eq!(grid["sample_rate"], 16000);
    assert_eq!(grid["hop_samples"], 160);
    assert_eq!(grid["win_samples"], 400);
    assert_eq!(grid["offset_samples"], 0);
}

#[test]
fn features_opts_use_torchaudio_names_and_override_presets() {
    // Set 4 of the fixtures, given entirely through --opt.
    let kw = read_json("fbank/4_nosnip_energy.json");
    let given = kw["kwargs_given"].as_object().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("b.npy");
    let mut args: Vec<String> = vec![
        "features".into(),
        fixture("audio/mono16k_b.wav").display().to_string(),
        "--kind".into(),
        "fbank".into(),
        "--preset".into(),
        "ast".into(),
        // Undo the preset's values that set 4 leaves at torchaudio's defaults.
        "--opt".into(),
        "htk_compat=false".into(),
        "--opt".into(),
        "frame_shift=10".into(),
        "--out".into(),
        out.display().to_string(),
    ];
    for (k, v) in given {
        let v = match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        args.push("--opt".into());
        args.push(format!("{k}={v}"));
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = earmark(&argv);
    assert!(r.status.success(), "{}", text(&r.stderr));
    let (want, shape) = read_npy_f32("fbank/4_nosnip_energy__mono16k_b.npy");
    let got = read_npy2(&out);
    assert_eq!(got.shape(), &shape[..]);
    assert_abs_close(
        "cli fbank set 4",
        got.as_slice().unwrap(),
        &want,
        shape[1],
        1e-3,
    );
}

#[test]
fn features_unknown_option_lists_valid_names() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.npy");
    let r = earmark(&[
        "features",
        fixture("audio/mono16k_a.wav").to_str().unwrap(),
        "--kind",
        "fbank",
        "--opt",
        "num_mel_binz=40",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(2));
    let err = text(&r.stderr);
    assert!(
        err.contains("num_mel_binz") && err.contains("num_mel_bins") && err.contains("window_type"),
        "{err}"
    );
    assert!(!out.exists(), "no output on error");

    let r = earmark(&[
        "features",
        fixture("audio/mono16k_a.wav").to_str().unwrap(),
        "--kind",
        "fbank",
        "--opt",
        "window_type=triangle",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(2));
    let err = text(&r.stderr);
    assert!(
        err.contains("window_type") && err.contains("triangle"),
        "{err}"
    );
}

#[test]
fn features_of_a_bad_file_names_it() {
    let bad = bad_files();
    let (path, _) = &bad.files[0];
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.npy");
    let r = earmark(&[
        "features",
        path.to_str().unwrap(),
        "--kind",
        "logmel",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_ne!(r.status.code(), Some(0));
    assert!(text(&r.stderr).contains("notes.wav"), "{}", text(&r.stderr));
    assert!(!out.exists());
}

#[test]
fn embed_writes_the_npz_contract() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ast.npz");
    let r = earmark(&[
        "embed",
        "--model",
        fixture("ast/classifier").to_str().unwrap(),
        "--layers",
        "all",
        "--window",
        "0",
        "--tokens",
        "--out",
        out.to_str().unwrap(),
        fixture("audio/mono16k_b.wav").to_str().unwrap(),
    ]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    let mut npz = ndarray_npy::NpzReader::new(std::fs::File::open(&out).unwrap()).unwrap();
    let mut names = npz.names().unwrap();
    names.sort();
    let names: Vec<String> = names
        .into_iter()
        .map(|n| n.trim_end_matches(".npy").to_string())
        .collect();
    for k in [
        "layer_00",
        "layer_02",
        "tokens_01",
        "last_hidden_state",
        "logits",
        "classes",
        "hop_samples",
        "offset_samples",
    ] {
        assert!(names.contains(&k.to_string()), "{k} not in {names:?}");
    }
    let tokens: Array2<f32> = npz.by_name("tokens_02.npy").unwrap();
    let (want, shape) = earmark_testkit::read_npz_f32("ast/b.npz", "hidden_02");
    assert_eq!(tokens.shape(), &shape[1..]);
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let (err, _) = earmark_testkit::max_abs_diff(tokens.as_slice().unwrap(), &want);
    assert!(err <= 1e-4 * scale, "tokens_02 vs hidden_02: {err}");
    // layer_02: the mean over frequency of hidden_02's patch tokens per time column (12 × 19 patches).
    let frames: Array2<f32> = npz.by_name("layer_02.npy").unwrap();
    assert_eq!(frames.shape(), &[19, 32]);
    let mut mean = vec![0.0f32; 19 * 32];
    for f in 0..12 {
        for t in 0..19 {
            for d in 0..32 {
                mean[t * 32 + d] += want[(2 + f * 19 + t) * 32 + d] / 12.0;
            }
        }
    }
    let (err, _) = earmark_testkit::max_abs_diff(frames.as_slice().unwrap(), &mean);
    assert!(
        err <= 1e-4 * scale,
        "layer_02 vs mean over frequency of hidden_02: {err}"
    );
    let logits: ndarray::Array1<f32> = npz.by_name("logits.npy").unwrap();
    assert_eq!(logits.len(), 5);
    let hop: ndarray::Array0<i64> = npz.by_name("hop_samples.npy").unwrap();
    let win: ndarray::Array0<i64> = npz.by_name("win_samples.npy").unwrap();
    assert_eq!(
        (hop.into_scalar(), win.into_scalar()),
        (1600, 15 * 160 + 400)
    );
}

#[test]
fn models_lists_the_registry_and_where_it_looked() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_earmark"))
        .arg("models")
        .env("HF_HOME", dir.path())
        .env("TORCH_HOME", dir.path())
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap();
    assert!(out.status.success());
    let s = text(&out.stdout);
    for name in [
        "WAV2VEC2_BASE",
        "HUBERT_BASE",
        "HUBERT_LARGE",
        "HUBERT_XLARGE_ML",
        "AST",
        "AST_ML",
    ] {
        assert!(s.contains(name), "{name} missing:\n{s}");
    }
    assert!(
        s.contains("5120")
            && s.contains("not found")
            && s.contains(&dir.path().display().to_string()),
        "{s}"
    );
}

#[test]
fn embed_offline_without_weights_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_earmark"))
        .args([
            "embed",
            "--model",
            "HUBERT_BASE",
            "--out",
            dir.path().join("x.npz").to_str().unwrap(),
        ])
        .arg(fixture("audio/mono16k_a.wav"))
        .env("HF_HOME", dir.path())
        .env("TORCH_HOME", dir.path())
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("facebook/hubert-base-ls960") && err.contains("HF_HUB_OFFLINE"),
        "{err}"
    );
}

/// The `earmark …` lines of the ```sh blocks of docs/track.md, in order.
fn track_commands() -> Vec<Vec<String>> {
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/track.md");
    let text = std::fs::read_to_string(&doc).expect("docs/track.md");
    let mut out = Vec::new();
    let mut in_sh = false;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("```") {
            in_sh = t == "```sh";
            continue;
        }
        if in_sh {
            assert!(
                t.is_empty() || t.starts_with("earmark "),
                "track.md sh blocks hold earmark commands only: {t}"
            );
            if let Some(rest) = t.strip_prefix("earmark ") {
                out.push(rest.split_whitespace().map(String::from).collect());
            }
        }
    }
    out
}

#[test]
fn track_commands_run_as_written() {
    let cmds = track_commands();
    assert!(cmds.len() >= 4, "track.md lost its commands: {cmds:?}");
    let dir = tempfile::tempdir().unwrap();
    // The commands run in a scratch folder; paths into the repository's test data (written
    // relative to the repository root, where a learner runs them) are resolved from here.
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for args in &cmds {
        let args: Vec<String> = args
            .iter()
            .map(|a| {
                if a.starts_with("testdata/") {
                    repo.join(a).to_string_lossy().into_owned()
                } else {
                    a.clone()
                }
            })
            .collect();
        let out = Command::new(env!("CARGO_BIN_EXE_earmark"))
            .args(&args)
            .current_dir(dir.path())
            .output()
            .expect("run earmark");
        assert!(
            out.status.success(),
            "earmark {} failed:\n{}\n{}",
            args.join(" "),
            text(&out.stdout),
            text(&out.stderr)
        );
    }
    // The artifacts the track tells the learner to open.
    for f in [
        "track-data/weak.tsv",
        "track-data/strong.tsv",
        "track-demo/demo.html",
        "track-run/report.html",
        "track-run/metrics.json",
        "track-run/decision.md",
        "track-run-seed2/metrics.json",
        "track-compare/decision.md",
        "track-detector/detector.json",
        "track-detector/reliability.svg",
    ] {
        assert!(dir.path().join(f).is_file(), "missing {f}");
    }
    let m: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("track-run/metrics.json")).unwrap(),
    )
    .unwrap();
    // The fields the exercises point at.
    for rule in ["mean", "max", "linear_softmax", "attention", "auto_pool"] {
        let r = &m["pooling"][rule];
        assert!(
            r["clip_auc"].is_number() && r["mean_score_positive"].is_number(),
            "{rule}"
        );
    }
    for key in [
        "boundary",
        "chance",
        "comparison",
        "models",
        "split",
        "chosen_pooling",
    ] {
        assert!(!m[key].is_null(), "metrics.json lacks {key}");
    }
    assert!(m["comparison"]["verdict"].is_string());
    let seed2: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("track-run-seed2/metrics.json")).unwrap(),
    )
    .unwrap();
    let rules: Vec<&String> = seed2["pooling"].as_object().unwrap().keys().collect();
    assert_eq!(rules, ["max", "mean"]);
    let cmp: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("track-compare/metrics.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(cmp["adaptation"]["tried"], true);
    assert!(cmp["adaptation"]["clip_auc_difference"]["lo"].is_number());
    assert!(cmp["models"]["adapted"].is_object());
    let det: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("track-detector/detector.json")).unwrap(),
    )
    .unwrap();
    for c in det["classes"].as_array().unwrap() {
        let v = &det["validation"]["classes"][c.as_str().unwrap()];
        assert!(v["brier_uncalibrated"].is_number() && v["ece_calibrated"].is_number());
    }
}

#[test]
fn workflow_and_synth_refuse_bad_usage_with_a_reason() {
    let out = earmark(&["workflow", "--audio", "somewhere"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--weak"),
        "{}",
        text(&out.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    let o = dir.path().join("s");
    let out = earmark(&[
        "synth",
        "--out",
        o.to_str().unwrap(),
        "--classes",
        "impact,gong",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("gong") && err.contains("chirp"), "{err}");
    let out = earmark(&["synth", "--out", o.to_str().unwrap(), "--clips", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("n_clips"),
        "{}",
        text(&out.stderr)
    );
    // A weak table naming a file that is not there: the run stops with the file named when too
    // few recordings remain.
    std::fs::write(
        dir.path().join("weak.tsv"),
        "filename\tevent_labels\nnope.wav\tx\n",
    )
    .unwrap();
    let out = earmark(&[
        "workflow",
        "--audio",
        dir.path().to_str().unwrap(),
        "--weak",
        dir.path().join("weak.tsv").to_str().unwrap(),
        "--out",
        dir.path().join("w").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("1 failed") && err.contains("nope.wav"),
        "{err}"
    );
}
