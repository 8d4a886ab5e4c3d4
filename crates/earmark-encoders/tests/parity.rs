//! Parity against the golden fixtures (transformers 5.23 / torchaudio 2.11, float32 CPU):
//! every hidden state of every fixture model, loaded through the user code path, must satisfy
//! `max|out − ref| ≤ 1e-4 · max|ref|` per array (the fixtures README's fair bound).

use candle_core::{Device, Tensor};
use earmark_encoders::checkpoint::Checkpoint;
use earmark_encoders::wav2vec2::{
    torchaudio_to_hf, Config, Wav2Vec2Encoder, Wav2Vec2Output, WaveformNorm,
};
use earmark_encoders::{Encoder, EncoderError, LayerSelection};
use earmark_testkit::{fixture, read_json, read_npy_f32, read_npz_f32, rel_err};
use ndarray::ArrayD;
use ndarray_npy::NpzReader;

const TOL: f32 = 1e-4;

/// Collects per-array errors for one model and asserts at the end.
struct Report {
    model: String,
    rows: Vec<(String, f32)>,
}

impl Report {
    fn new(model: &str) -> Self {
        Report {
            model: model.into(),
            rows: Vec::new(),
        }
    }

    fn check(&mut self, what: &str, got: &[f32], want: &[f32]) {
        self.rows.push((what.to_string(), rel_err(got, want)));
    }

    fn worst(&self) -> (String, f32) {
        self.rows.iter().fold((String::new(), 0f32), |a, (k, v)| {
            if *v > a.1 {
                (k.clone(), *v)
            } else {
                a
            }
        })
    }

    fn finish(self) {
        let bad: Vec<_> = self
            .rows
            .iter()
            .filter(|(_, e)| e.is_nan() || *e > TOL)
            .collect();
        let (wk, wv) = self.worst();
        println!(
            "PARITY {:<28} {:>3} arrays, worst {:.2e} at {}",
            self.model,
            self.rows.len(),
            wv,
            wk
        );
        assert!(bad.is_empty(), "{}: over {TOL:e}: {bad:?}", self.model);
    }
}

fn npz_i32(rel: &str, key: &str) -> Vec<i32> {
    let f = std::fs::File::open(fixture(rel)).unwrap();
    let mut npz = NpzReader::new(f).unwrap();
    let a: ArrayD<i32> = npz.by_name(&format!("{key}.npy")).unwrap();
    a.into_raw_vec_and_offset().0
}

fn vec3(t: &Tensor, item: usize, frames: usize) -> Vec<f32> {
    let x = t.get(item).unwrap().narrow(0, 0, frames).unwrap();
    x.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

/// `want` `[B, T, D]` rows of item `b`, first `frames` frames.
fn ref_rows(data: &[f32], shape: &[usize], b: usize, frames: usize) -> Vec<f32> {
    let (t, d) = (shape[1], shape[2]);
    data[b * t * d..b * t * d + frames * d].to_vec()
}

/// Compare every output of one wav2vec2/HuBERT run with an npz, for item `b`.
fn check_hf(
    rep: &mut Report,
    case: &str,
    rel: &str,
    out: &Wav2Vec2Output,
    b: usize,
    frames: usize,
    l: usize,
) {
    let mut pairs: Vec<(String, Tensor)> = vec![
        ("conv_features".into(), out.conv_features.clone()),
        ("projected".into(), out.projected.clone()),
    ];
    if let Some(e) = &out.extract_features {
        pairs.push(("extract_features".into(), e.clone()));
    }
    for (i, h) in &out.hidden_states {
        pairs.push((format!("hidden_{i:02}"), h.clone()));
    }
    pairs.push((
        "last_hidden_state".into(),
        out.last_hidden_state.clone().unwrap(),
    ));
    assert_eq!(out.hidden_states.len(), l + 1);
    for (key, t) in pairs {
        let (want, shape) = read_npz_f32(rel, &key);
        rep.check(
            &format!("{case}/{key}[{b}]"),
            &vec3(&t, b, frames),
            &ref_rows(&want, &shape, b, frames),
        );
    }
}

fn audio(name: &str) -> Vec<f32> {
    read_npy_f32(&format!("audio/{name}.f32.npy")).0
}

fn hf_cases(rep: &mut Report, family_dir: &str, enc: &Wav2Vec2Encoder) {
    let l = enc.num_layers();
    let all: Vec<usize> = (0..=l).collect();
    let raw = enc.clone().with_normalize(WaveformNorm::None);
    for (case, file) in [("a", "mono16k_a"), ("b", "mono16k_b")] {
        let wave = audio(file);
        let out = raw.run(&[&wave], &all, true).unwrap();
        let rel = format!("{family_dir}/{case}.npz");
        let t = out.projected.dim(1).unwrap();
        check_hf(rep, case, &rel, &out, 0, t, l);
    }
    // a_norm: the folder's preprocessor (do_normalize = true) applied to the raw audio.
    assert_eq!(enc.normalize, WaveformNorm::ZeroMeanUnitVar);
    let wave = audio("mono16k_a");
    let mut normed = wave.clone();
    enc.normalize.apply(&mut normed);
    let rel = format!("{family_dir}/a_norm.npz");
    rep.check(
        "a_norm/input_values",
        &normed,
        &read_npz_f32(&rel, "input_values").0,
    );
    let out = enc.run(&[&wave], &all, true).unwrap();
    check_hf(rep, "a_norm", &rel, &out, 0, 49, l);
    // batch: padded item masked as with transformers' attention_mask; valid frames only.
    let rel = format!("{family_dir}/batch.npz");
    let (x, shape) = read_npz_f32(&rel, "input_values");
    let lens = npz_i32(&rel, "input_lengths");
    let flens = npz_i32(&rel, "frame_lengths");
    let n = shape[1];
    let items: Vec<&[f32]> = (0..2)
        .map(|b| &x[b * n..b * n + lens[b] as usize])
        .collect();
    let out = raw.run(&items, &all, true).unwrap();
    assert_eq!(
        out.frame_lengths.as_deref(),
        Some(&flens.iter().map(|&v| v as usize).collect::<Vec<_>>()[..])
    );
    for (b, &frames) in flens.iter().enumerate() {
        check_hf(rep, "batch", &rel, &out, b, frames as usize, l);
    }
}

fn hf_dir_model(family: &str, variant: &str, sub: &str) {
    let dir = format!("{family}/{variant}");
    let enc =
        Wav2Vec2Encoder::from_hf_dir(&fixture(&format!("{dir}/{sub}")), &Device::Cpu).unwrap();
    let mut rep = Report::new(&format!("{family}/{variant}/{sub}"));
    hf_cases(&mut rep, &dir, &enc);
    rep.finish();
}

#[test]
fn wav2vec2_base_safetensors() {
    hf_dir_model("wav2vec2", "base-like", "model");
}
#[test]
fn wav2vec2_large_safetensors() {
    hf_dir_model("wav2vec2", "large-like", "model");
}
#[test]
fn hubert_base_safetensors() {
    hf_dir_model("hubert", "base-like", "model");
}
#[test]
fn hubert_large_safetensors() {
    hf_dir_model("hubert", "large-like", "model");
}

/// `pytorch_model.bin` (zip prefix `pytorch_model/`, old weight-norm names) and the legacy
/// safetensors folder: same outputs as the new-name safetensors.
#[test]
fn bin_and_legacy_safetensors_load() {
    for family in ["wav2vec2", "hubert"] {
        for variant in ["base-like", "large-like"] {
            let dir = fixture(&format!("{family}/{variant}"));
            let cfg: Config = serde_json::from_str(
                &std::fs::read_to_string(dir.join("model/config.json")).unwrap(),
            )
            .unwrap();
            let bin = Checkpoint::read(&dir.join("model/pytorch_model.bin"), &Device::Cpu).unwrap();
            assert!(bin
                .tensors
                .contains_key("encoder.pos_conv_embed.conv.weight_g"));
            let from_bin =
                Wav2Vec2Encoder::from_checkpoint(cfg, bin, WaveformNorm::None, &Device::Cpu)
                    .unwrap();
            let legacy =
                Wav2Vec2Encoder::from_hf_dir(&dir.join("model_legacy_safetensors"), &Device::Cpu)
                    .unwrap();
            for (sub, enc) in [("bin", from_bin), ("legacy", legacy)] {
                let mut rep = Report::new(&format!("{family}/{variant}/{sub}"));
                let l = enc.num_layers();
                let all: Vec<usize> = (0..=l).collect();
                for (case, file) in [("a", "mono16k_a"), ("b", "mono16k_b")] {
                    let wave = audio(file);
                    let out = enc.run(&[&wave], &all, true).unwrap();
                    let t = out.projected.dim(1).unwrap();
                    check_hf(
                        &mut rep,
                        case,
                        &format!("{family}/{variant}/{case}.npz"),
                        &out,
                        0,
                        t,
                        l,
                    );
                }
                rep.finish();
            }
        }
    }
}

fn check_ta(
    rep: &mut Report,
    case: &str,
    rel: &str,
    out: &Wav2Vec2Output,
    b: usize,
    frames: usize,
) {
    let mut pairs: Vec<(String, Tensor)> = vec![
        ("conv_features".into(), out.conv_features.clone()),
        ("projected".into(), out.projected.clone()),
        ("output".into(), out.last_hidden_state.clone().unwrap()),
    ];
    for (i, h) in &out.hidden_states {
        let key = if *i == 0 {
            "encoder_input".to_string()
        } else {
            format!("layer_{i:02}")
        };
        pairs.push((key, h.clone()));
    }
    for (key, t) in pairs {
        let (want, shape) = read_npz_f32(rel, &key);
        rep.check(
            &format!("{case}/{key}[{b}]"),
            &vec3(&t, b, frames),
            &ref_rows(&want, &shape, b, frames),
        );
    }
}

fn torchaudio_model(variant: &str, file: &str) {
    let dir = fixture(&format!("torchaudio/{variant}"));
    let enc = Wav2Vec2Encoder::from_torchaudio_files(
        &dir.join(file),
        &dir.join("builder.json"),
        "hubert",
        WaveformNorm::None,
        &Device::Cpu,
    )
    .unwrap();
    let mut rep = Report::new(&format!("torchaudio/{variant}/{file}"));
    let l = enc.num_layers();
    let all: Vec<usize> = (0..=l).collect();
    for (case, f) in [("a", "mono16k_a"), ("b", "mono16k_b")] {
        let wave = audio(f);
        let out = enc.run(&[&wave], &all, true).unwrap();
        let t = out.projected.dim(1).unwrap();
        check_ta(
            &mut rep,
            case,
            &format!("torchaudio/{variant}/{case}.npz"),
            &out,
            0,
            t,
        );
    }
    // Bundle normalisation (layer norm over the waveform, eps 1e-5).
    let rel = format!("torchaudio/{variant}/a_bundle_norm.npz");
    let wave = audio("mono16k_a");
    let norm = enc.clone().with_normalize(WaveformNorm::LayerNorm);
    let mut normed = wave.clone();
    norm.normalize.apply(&mut normed);
    rep.check(
        "a_bundle_norm/input_values",
        &normed,
        &read_npz_f32(&rel, "input_values").0,
    );
    let out = norm.run(&[&wave], &all, true).unwrap();
    check_ta(&mut rep, "a_bundle_norm", &rel, &out, 0, 49);
    // Batch with lengths (−10000 masking in torchaudio; valid frames only).
    let rel = format!("torchaudio/{variant}/batch.npz");
    let (x, shape) = read_npz_f32(&rel, "input_values");
    let lens = npz_i32(&rel, "lengths");
    let olens = npz_i32(&rel, "output_lengths");
    let n = shape[1];
    let items: Vec<&[f32]> = (0..2)
        .map(|b| &x[b * n..b * n + lens[b] as usize])
        .collect();
    let out = enc.run(&items, &all, true).unwrap();
    for (b, &frames) in olens.iter().enumerate() {
        check_ta(&mut rep, "batch", &rel, &out, b, frames as usize);
    }
    rep.finish();
}

#[test]
fn torchaudio_base_old_names() {
    torchaudio_model("base-like", "model.pth");
}
#[test]
fn torchaudio_base_new_names() {
    torchaudio_model("base-like", "model_state_dict_torchaudio_2_11.pth");
}
#[test]
fn torchaudio_large_old_names() {
    torchaudio_model("large-like", "model.pth");
}
#[test]
fn torchaudio_large_new_names() {
    torchaudio_model("large-like", "model_state_dict_torchaudio_2_11.pth");
}

/// The `Encoder` trait path: frames, grid and the layer selection.
#[test]
fn encoder_trait_frames_and_grid() {
    let dir = fixture("hubert/large-like/model");
    let enc = Wav2Vec2Encoder::from_hf_dir(&dir, &Device::Cpu)
        .unwrap()
        .with_normalize(WaveformNorm::None);
    let g = enc.grid();
    assert_eq!((g.rate, g.hop, g.win, g.offset), (16_000, 320, 400, 0));
    let wave = audio("mono16k_b");
    let out = enc.encode(&wave, &LayerSelection::All).unwrap();
    assert_eq!(out.layers.len(), 4);
    let mut rep = Report::new("hubert/large-like/encode()");
    for (i, f) in &out.layers {
        assert_eq!(f.shape(), [164, 32]);
        rep.check(
            &format!("hidden_{i:02}"),
            &f.data,
            &read_npz_f32("hubert/large-like/b.npz", &format!("hidden_{i:02}")).0,
        );
    }
    let last = out.last_hidden_state.as_ref().unwrap();
    rep.check(
        "last_hidden_state",
        &last.data,
        &read_npz_f32("hubert/large-like/b.npz", "last_hidden_state").0,
    );
    let ef = out.extract_features.as_ref().unwrap();
    rep.check(
        "extract_features",
        &ef.data,
        &read_npz_f32("hubert/large-like/b.npz", "extract_features").0,
    );
    // Equal-length windows batch = one by one.
    let w1 = &wave[..16_000];
    let w2 = &wave[16_000..32_000];
    let batch = enc.encode_batch(&[w1, w2], &LayerSelection::Last).unwrap();
    let single = enc.encode(w2, &LayerSelection::Last).unwrap();
    rep.check(
        "batch==single",
        &batch[1].layers[0].1.data,
        &single.layers[0].1.data,
    );
    assert!(out.layers[3].1.grid == g);
    rep.finish();
    // Errors that say what to do.
    assert!(matches!(
        enc.encode(&wave[..399], &LayerSelection::Last),
        Err(EncoderError::Shape { .. })
    ));
    assert!(matches!(
        enc.encode(&wave, &LayerSelection::List(vec![4])),
        Err(EncoderError::Layer {
            requested: 4,
            max: 3
        })
    ));
}

/// A perturbed weight must fail the check from its layer on, not before.
#[test]
fn perturbed_layer_fails_parity() {
    let dir = fixture("hubert/base-like/model");
    let cfg: Config =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let mut ckpt = Checkpoint::read(&dir.join("model.safetensors"), &Device::Cpu).unwrap();
    // A constant added to a bias would vanish in the post-LN layer norm: scale a matrix.
    let key = "encoder.layers.1.feed_forward.output_dense.weight";
    let t = ckpt.tensors[key].clone();
    ckpt.tensors.insert(key.into(), (t * 1.01).unwrap());
    let enc =
        Wav2Vec2Encoder::from_checkpoint(cfg, ckpt, WaveformNorm::None, &Device::Cpu).unwrap();
    let wave = audio("mono16k_a");
    let out = enc.encode(&wave, &LayerSelection::All).unwrap();
    let err = |i: usize| {
        rel_err(
            &out.layers[i].1.data,
            &read_npz_f32("hubert/base-like/a.npz", &format!("hidden_{i:02}")).0,
        )
    };
    assert!(err(1) <= TOL, "layer 1 is untouched: {}", err(1));
    assert!(err(2) > TOL, "layer 2 perturbed but passes: {}", err(2));
    assert!(err(3) > TOL);
}

/// The loader reports missing and unexpected keys instead of loading a partial model.
#[test]
fn key_set_is_checked() {
    let dir = fixture("wav2vec2/large-like/model");
    let cfg: Config =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let mut ckpt = Checkpoint::read(&dir.join("model.safetensors"), &Device::Cpu).unwrap();
    ckpt.tensors
        .remove("encoder.layers.2.final_layer_norm.bias");
    ckpt.tensors.insert(
        "encoder.layers.3.extra".into(),
        Tensor::zeros(3, candle_core::DType::F32, &Device::Cpu).unwrap(),
    );
    match Wav2Vec2Encoder::from_checkpoint(cfg.clone(), ckpt, WaveformNorm::None, &Device::Cpu) {
        Err(EncoderError::Checkpoint {
            missing,
            unexpected,
            ..
        }) => {
            assert_eq!(
                missing,
                vec!["encoder.layers.2.final_layer_norm.bias".to_string()]
            );
            assert_eq!(unexpected, vec!["encoder.layers.3.extra".to_string()]);
        }
        other => panic!("expected a Checkpoint error, got {other:?}"),
    }
    // The torchaudio file is not a transformers checkpoint.
    let pth = fixture("torchaudio/large-like/model.pth");
    let ckpt = Checkpoint::read(&pth, &Device::Cpu).unwrap();
    assert!(matches!(
        Wav2Vec2Encoder::from_checkpoint(cfg, ckpt, WaveformNorm::None, &Device::Cpu),
        Err(EncoderError::Checkpoint { .. })
    ));
    // The torchaudio → transformers renaming agrees with the fixtures' tensor-matched mapping.
    let map = read_json("torchaudio/hf_to_torchaudio_keys.json");
    let mut n = 0;
    for (variant, pairs) in map.as_object().unwrap() {
        let Some(pairs) = pairs.as_object() else {
            continue;
        };
        for (hf, ta) in pairs {
            if let Some(ta) = ta.as_str() {
                let back = torchaudio_to_hf(ta).unwrap_or_else(|| ta.to_string());
                assert_eq!(&back, hf, "{variant}");
                n += 1;
            }
        }
    }
    assert!(n > 200, "{n} pairs checked");
}

// ---------------------------------------------------------------- AST

use earmark_encoders::ast::AstEncoder;

fn ast_check_case(rep: &mut Report, enc: &AstEncoder, case: &str) {
    let rel = format!("ast/{case}.npz");
    let (x, _) = read_npz_f32(&rel, "input_values");
    let l = enc.num_layers();
    let all: Vec<usize> = (0..=l).collect();
    let (out, logits) = enc.run_features(&x, 1, &all, true).unwrap();
    for (i, h) in &out.hidden_states {
        let key = format!("hidden_{i:02}");
        rep.check(
            &format!("{case}/{key}"),
            &h.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            &read_npz_f32(&rel, &key).0,
        );
    }
    let last = out.last_hidden_state.as_ref().unwrap();
    rep.check(
        &format!("{case}/last_hidden_state"),
        &last.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        &read_npz_f32(&rel, "last_hidden_state").0,
    );
    let pooled = out.pooler_output.as_ref().unwrap();
    rep.check(
        &format!("{case}/pooler_output"),
        &pooled.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        &read_npz_f32(&rel, "pooler_output").0,
    );
    if let Some(lg) = logits {
        rep.check(
            &format!("{case}/logits"),
            &lg.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            &read_npz_f32(&rel, "logits").0,
        );
    }
}

/// The transformer from the stored `input_values`, every hidden state; then the full path
/// (fbank front end from earmark-features → frames) from the raw audio.
#[test]
fn ast_model_and_front_end() {
    let enc = AstEncoder::from_hf_dir(&fixture("ast/model"), &Device::Cpu).unwrap();
    assert!(!enc.has_head());
    let mut rep = Report::new("ast/model");
    for case in ["a", "b"] {
        ast_check_case(&mut rep, &enc, case);
    }
    // Front end: ASTFeatureExtractor's input_values from the waveform.
    for (case, file) in [("a", "mono16k_a"), ("b", "mono16k_b")] {
        let (x, _) = enc.preprocessor.features(&audio(file)).unwrap();
        rep.check(
            &format!("{case}/input_values (front end)"),
            &x,
            &read_npz_f32(&format!("ast/{case}.npz"), "input_values").0,
        );
    }
    // The Encoder path: frames = mean over frequency of patch tokens per time column.
    let g = enc.grid();
    assert_eq!((g.hop, g.win, g.offset), (1600, 15 * 160 + 400, 0));
    for (case, file, cols) in [("a", "mono16k_a", 19), ("b", "mono16k_b", 19)] {
        let out = enc.encode(&audio(file), &LayerSelection::All).unwrap();
        let last = out.last_hidden_state.as_ref().unwrap();
        assert_eq!(
            last.shape(),
            [cols, 32],
            "{case}: every time column, padding included"
        );
        let (want, _) = read_npz_f32(&format!("ast/{case}.npz"), "patch_mean_over_freq");
        rep.check(
            &format!("{case}/patch_mean_over_freq (encode)"),
            &last.data,
            &want[..cols * 32],
        );
        let toks = out.tokens.as_ref().unwrap();
        assert_eq!(toks.len(), 3);
        assert_eq!(toks[2].1.shape, [230, 32]);
        rep.check(
            &format!("{case}/hidden_02 tokens (encode)"),
            &toks[2].1.data,
            &read_npz_f32(&format!("ast/{case}.npz"), "hidden_02").0,
        );
    }
    rep.finish();
}

#[test]
fn ast_classifier_logits() {
    let enc = AstEncoder::from_hf_dir(&fixture("ast/classifier"), &Device::Cpu).unwrap();
    assert!(enc.has_head());
    let mut rep = Report::new("ast/classifier");
    for case in ["a", "b"] {
        ast_check_case(&mut rep, &enc, case);
    }
    let out = enc
        .encode(&audio("mono16k_b"), &LayerSelection::Last)
        .unwrap();
    assert_eq!(out.classes.as_deref().unwrap()[4], "class_4");
    rep.check(
        "b/logits (encode)",
        out.logits.as_ref().unwrap(),
        &read_npz_f32("ast/b.npz", "logits").0,
    );
    rep.finish();
}

#[test]
fn registry_table() {
    use earmark_encoders::registry::{find, MODELS};
    let dims: Vec<(&str, usize)> = MODELS.iter().map(|m| (m.name, m.dim)).collect();
    for (name, dim) in [
        ("WAV2VEC2_BASE", 768),
        ("HUBERT_BASE", 768),
        ("HUBERT_LARGE", 1024),
        ("HUBERT_XLARGE", 1280),
        ("AST", 768),
        ("HUBERT_XLARGE_ML", 5120),
        ("HUBERT_LARGE_ML", 4096),
        ("HUBERT_BASE_ML", 3072),
        ("WAV2VEC2_BASE_ML", 3072),
        ("AST_ML", 3072),
    ] {
        assert!(dims.contains(&(name, dim)), "{name}");
        let m = find(name).unwrap();
        assert_eq!(
            m.layers().indices(m.num_layers).unwrap().len() * m.layer_dim,
            m.dim
        );
    }
    assert_eq!(
        find("hubert_large_ml")
            .unwrap()
            .layers()
            .indices(24)
            .unwrap(),
        vec![6, 12, 18, 24]
    );
    assert_eq!(
        find("HUBERT_XLARGE")
            .unwrap()
            .torchaudio_builder()
            .unwrap()
            .encoder_num_layers,
        48
    );
    assert!(find("AST").unwrap().torchaudio_builder().is_none());
    // Layer selections.
    assert_eq!(
        "1, 2,3".parse::<LayerSelection>().unwrap(),
        LayerSelection::List(vec![1, 2, 3])
    );
    assert_eq!(
        LayerSelection::Quartiles.indices(12).unwrap(),
        vec![3, 6, 9, 12]
    );
    assert_eq!(LayerSelection::Quartiles.indices(3).unwrap(), vec![1, 2, 3]);
    assert_eq!(LayerSelection::All.indices(2).unwrap(), vec![0, 1, 2]);
    assert!("x".parse::<LayerSelection>().is_err());
}

/// `_ML` frames = the quartile layers side by side, on the same grid.
#[test]
fn multi_layer_concat() {
    let enc =
        Wav2Vec2Encoder::from_hf_dir(&fixture("hubert/base-like/model"), &Device::Cpu).unwrap();
    let out = enc
        .encode(&audio("mono16k_a"), &LayerSelection::Quartiles)
        .unwrap();
    let ml = out.concat().unwrap();
    assert_eq!(ml.shape(), [49, 3 * 32]);
    assert_eq!(&ml.row(5)[32..64], out.layer(2).unwrap().row(5));
    assert_eq!(ml.grid, enc.grid());
}
