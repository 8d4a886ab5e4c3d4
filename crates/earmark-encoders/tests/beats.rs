//! BEATs against the golden fixtures of `testdata/fixtures/beats` (microsoft/unilm `beats/`,
//! torch / torchaudio 2.11, float32 CPU; tiny random weights in the released `.pt` layout):
//! every array the reference stored must satisfy `max|ours − ref| ≤ 1e-4 · max|ref|`, from the
//! stored fbank (encoder only) and end to end from the waveform, for both checkpoints.

use candle_core::{Device, Tensor};
use earmark_core::FrameGrid;
use earmark_encoders::beats::{read_pt, relative_bucket, BeatsEncoder, Config};
use earmark_encoders::{Encoder, EncoderError, LayerSelection};
use earmark_testkit::{fixture, read_json, read_npy_f32, rel_err, ParityReport};
use ndarray::ArrayD;
use ndarray_npy::NpzReader;
use std::collections::BTreeSet;

const TOL: f32 = 1e-4;
const CASES: [&str; 2] = ["in1s", "in3p3s"];
const PRE: &str = "beats/beats_tiny_pretrained.pt";
const FT: &str = "beats/beats_tiny_finetuned.pt";

/// One float32 array in logical (C) order: `patch_embed` and `pos_conv` are stored in
/// Fortran order (the reference transposed them), which `read_npz_f32`'s raw buffer keeps.
fn npz(case: &str, key: &str) -> Vec<f32> {
    let f = std::fs::File::open(fixture(&format!("beats/out_{case}.npz"))).unwrap();
    let a: ArrayD<f32> = NpzReader::new(f)
        .unwrap()
        .by_name(&format!("{key}.npy"))
        .unwrap();
    a.iter().copied().collect()
}

fn npz_i64(case: &str, key: &str) -> i64 {
    let f = std::fs::File::open(fixture(&format!("beats/out_{case}.npz"))).unwrap();
    let a: ArrayD<i64> = NpzReader::new(f)
        .unwrap()
        .by_name(&format!("{key}.npy"))
        .unwrap();
    a.iter().copied().next().unwrap()
}

fn npz_i32(case: &str, key: &str) -> Vec<i32> {
    let f = std::fs::File::open(fixture(&format!("beats/out_{case}.npz"))).unwrap();
    let a: ArrayD<i32> = NpzReader::new(f)
        .unwrap()
        .by_name(&format!("{key}.npy"))
        .unwrap();
    a.into_raw_vec_and_offset().0
}

fn load(rel: &str) -> BeatsEncoder {
    BeatsEncoder::from_pt(&fixture(rel), &Device::Cpu).unwrap()
}

fn flat(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

/// `[N, C]` → `[N / 8, C]`: the mean over each time column's 8 tokens.
fn column_mean(x: &[f32], c: usize) -> Vec<f32> {
    let cols = x.len() / c / 8;
    let mut out = vec![0f32; cols * c];
    for t in 0..cols {
        for j in 0..c {
            out[t * c + j] = (0..8).map(|f| x[(t * 8 + f) * c + j]).sum::<f32>() / 8.0;
        }
    }
    out
}

/// The encoder from the stored `fbank` (separating encoder error from front-end error): every
/// intermediate the reference stored.
fn check_from_fbank(rep: &mut ParityReport, enc: &BeatsEncoder, case: &str) {
    let fb = npz(case, "fbank");
    let t = fb.len() / 128;
    let all: Vec<usize> = (0..=enc.num_layers()).collect();
    let m = enc.model();
    let x = Tensor::from_slice(&fb, (1, t, 128), &Device::Cpu).unwrap();
    let patches = m.embed.patches(&x).unwrap();
    rep.check(
        &format!("{case}/patch_embed"),
        &flat(&patches),
        &npz(case, "patch_embed"),
    );
    let out = enc.run_features(&fb, 1, &all, true).unwrap();
    rep.check(
        &format!("{case}/features"),
        &flat(&out.features),
        &npz(case, "features"),
    );
    let pos = m.encoder.pos_conv.forward(&out.features).unwrap();
    rep.check(
        &format!("{case}/pos_conv"),
        &flat(&pos),
        &npz(case, "pos_conv"),
    );
    assert_eq!(out.hidden_states.len(), all.len());
    for (i, h) in &out.hidden_states {
        rep.check(
            &format!("{case}/tokens_{i:02}"),
            &flat(h),
            &npz(case, &format!("tokens_{i:02}")),
        );
        let frames = m.column_mean(h).unwrap();
        rep.check(
            &format!("{case}/layer_{i:02}"),
            &flat(&frames),
            &npz(case, &format!("layer_{i:02}")),
        );
    }
    let last = out.last_hidden_state.as_ref().unwrap();
    rep.check(&format!("{case}/final"), &flat(last), &npz(case, "final"));
    match &out.token_logits {
        Some(tl) => {
            assert!(enc.has_head());
            rep.check(
                &format!("{case}/token_logits"),
                &flat(tl),
                &npz(case, "token_logits"),
            );
            let logits = tl.mean(1).unwrap();
            rep.check(
                &format!("{case}/logits"),
                &flat(&logits),
                &npz(case, "logits"),
            );
            let probs = candle_nn::ops::sigmoid(&logits).unwrap();
            rep.check(&format!("{case}/probs"), &flat(&probs), &npz(case, "probs"));
        }
        None => assert!(!enc.has_head()),
    }
}

/// The `Encoder` path from the waveform: front end, frames, tokens, logits and the grid.
fn check_end_to_end(rep: &mut ParityReport, enc: &BeatsEncoder, case: &str) {
    let (wave, _) = read_npy_f32(&format!("beats/input_{case}.npy"));
    let raw = earmark_features::fbank(&wave, &BeatsEncoder::fbank_options()).unwrap();
    rep.check(
        &format!("{case}/fbank_raw (e2e)"),
        &raw.data,
        &npz(case, "fbank_raw"),
    );
    let (fb, n) = BeatsEncoder::features(&wave).unwrap();
    assert_eq!(n as i64, npz_i64(case, "n_fbank_frames"));
    rep.check(&format!("{case}/fbank (e2e)"), &fb, &npz(case, "fbank"));

    let out = enc.encode(&wave, &LayerSelection::All).unwrap();
    let cols = npz_i64(case, "n_time_columns") as usize;
    let grid = FrameGrid::new(
        npz_i64(case, "sample_rate") as u32,
        npz_i64(case, "hop_samples") as u64,
        npz_i64(case, "win_samples") as u64,
        npz_i64(case, "offset_samples"),
    );
    assert_eq!(enc.grid(), grid);
    assert_eq!(out.layers.len(), enc.num_layers() + 1);
    let toks = out.tokens.as_ref().unwrap();
    for ((i, f), (j, tk)) in out.layers.iter().zip(toks) {
        assert_eq!(i, j);
        assert_eq!(f.grid, grid);
        assert_eq!(f.shape(), [cols, 32]);
        assert_eq!(tk.shape, [cols * 8, 32]);
        rep.check(
            &format!("{case}/layer_{i:02} (e2e)"),
            &f.data,
            &npz(case, &format!("layer_{i:02}")),
        );
        rep.check(
            &format!("{case}/tokens_{i:02} (e2e)"),
            &tk.data,
            &npz(case, &format!("tokens_{i:02}")),
        );
    }
    let last = out.last_hidden_state.as_ref().unwrap();
    rep.check(
        &format!("{case}/last_hidden_state (e2e)"),
        &last.data,
        &column_mean(&npz(case, "final"), 32),
    );
    // The model's clip summary: the mean token of hidden state L.
    let cls = out.cls.as_ref().unwrap();
    let (l, summary) = cls.last().unwrap();
    assert_eq!(*l, enc.num_layers());
    let fin = npz(case, "final");
    let mean: Vec<f32> = (0..32)
        .map(|j| (0..cols * 8).map(|r| fin[r * 32 + j]).sum::<f32>() / (cols * 8) as f32)
        .collect();
    rep.check(&format!("{case}/cls mean token (e2e)"), summary, &mean);
    if enc.has_head() {
        let logits = out.logits.as_ref().unwrap();
        rep.check(
            &format!("{case}/logits (e2e)"),
            logits,
            &npz(case, "logits"),
        );
        let fl = out.frame_logits.as_ref().unwrap();
        assert_eq!(fl.shape(), [cols, 7]);
        assert_eq!(fl.grid, grid);
        let want = column_mean(&npz(case, "token_logits"), 7);
        rep.check(&format!("{case}/frame_logits (e2e)"), &fl.data, &want);
        assert_eq!(out.classes.as_ref().unwrap().len(), 7);
    } else {
        assert!(out.logits.is_none() && out.frame_logits.is_none() && out.classes.is_none());
    }
}

#[test]
fn pretrained_parity() {
    let enc = load(PRE);
    assert!(!enc.has_head());
    let mut rep = ParityReport::new("beats/pretrained", TOL);
    for case in CASES {
        check_from_fbank(&mut rep, &enc, case);
        check_end_to_end(&mut rep, &enc, case);
    }
    rep.finish();
}

#[test]
fn finetuned_parity() {
    let enc = load(FT);
    assert!(enc.has_head());
    let mut rep = ParityReport::new("beats/finetuned", TOL);
    for case in CASES {
        check_from_fbank(&mut rep, &enc, case);
        check_end_to_end(&mut rep, &enc, case);
    }
    rep.finish();
}

#[test]
fn relative_buckets() {
    let cfg = read_pt(&fixture(FT), &Device::Cpu).unwrap().config;
    for case in CASES {
        let want = npz_i32(case, "rel_bucket");
        let n = (want.len() as f64).sqrt() as usize;
        for i in 0..n {
            for j in 0..n {
                let b = relative_bucket(j as i64 - i as i64, cfg.num_buckets, cfg.max_distance);
                assert_eq!(b as i32, want[i * n + j], "{case}: query {i}, key {j}");
            }
        }
    }
    // The cap: from |r| = 778 tokens every distance shares the last bucket of its direction.
    assert_eq!(relative_bucket(-777, 320, 800), 158);
    assert_eq!(relative_bucket(-778, 320, 800), 159);
    assert_eq!(relative_bucket(20_000, 320, 800), 319);
    assert_eq!(relative_bucket(0, 320, 800), 0);
    assert_eq!(relative_bucket(1, 320, 800), 161);
}

/// The cfg and label_dict are read from the pickle, and the state dict holds exactly the keys
/// the architecture reads.
#[test]
fn checkpoint_cfg_labels_and_keys() {
    let meta = read_json("beats/meta.json");
    let want_ft: Config = serde_json::from_value(meta["config_finetuned"].clone()).unwrap();
    let want_pre = Config {
        finetuned_model: false,
        ..want_ft.clone()
    };
    let ft = read_pt(&fixture(FT), &Device::Cpu).unwrap();
    let pre = read_pt(&fixture(PRE), &Device::Cpu).unwrap();
    assert_eq!(ft.config, want_ft);
    assert_eq!(pre.config, want_pre);
    assert!(pre.labels.is_none());
    let labels = ft.labels.clone().unwrap();
    println!("label_dict: {labels:?}");
    assert_eq!(labels.len(), 7);
    assert_eq!(load(FT).classes().unwrap(), &labels[..]);

    let mut expected: BTreeSet<String> = [
        "patch_embedding.weight",
        "layer_norm.weight",
        "layer_norm.bias",
        "post_extract_proj.weight",
        "post_extract_proj.bias",
        "encoder.pos_conv.0.weight_g",
        "encoder.pos_conv.0.weight_v",
        "encoder.pos_conv.0.bias",
        "encoder.layer_norm.weight",
        "encoder.layer_norm.bias",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for i in 0..2 {
        for k in [
            "self_attn.q_proj.weight",
            "self_attn.q_proj.bias",
            "self_attn.k_proj.weight",
            "self_attn.k_proj.bias",
            "self_attn.v_proj.weight",
            "self_attn.v_proj.bias",
            "self_attn.out_proj.weight",
            "self_attn.out_proj.bias",
            "self_attn.relative_attention_bias.weight",
            "self_attn.grep_linear.weight",
            "self_attn.grep_linear.bias",
            "self_attn.grep_a",
            "self_attn_layer_norm.weight",
            "self_attn_layer_norm.bias",
            "fc1.weight",
            "fc1.bias",
            "fc2.weight",
            "fc2.bias",
            "final_layer_norm.weight",
            "final_layer_norm.bias",
        ] {
            expected.insert(format!("encoder.layers.{i}.{k}"));
        }
    }
    let keys = |f: &earmark_encoders::beats::PtFile| -> BTreeSet<String> {
        f.checkpoint.tensors.keys().cloned().collect()
    };
    assert_eq!(keys(&pre), expected);
    assert_eq!(expected.len(), 50);
    expected.insert("predictor.weight".into());
    expected.insert("predictor.bias".into());
    assert_eq!(keys(&ft), expected);
    // One shared storage under every layer's key: the same values.
    let t0 = &ft.checkpoint.tensors["encoder.layers.0.self_attn.relative_attention_bias.weight"];
    let t1 = &ft.checkpoint.tensors["encoder.layers.1.self_attn.relative_attention_bias.weight"];
    assert_eq!(t0.dims(), [320, 2]);
    assert_eq!(flat(t0), flat(t1));

    // A missing key and an unexpected one are both named.
    let mut f = ft.clone();
    f.checkpoint
        .tensors
        .remove("encoder.layers.1.self_attn.grep_a");
    let extra = f.checkpoint.tensors["layer_norm.bias"].clone();
    f.checkpoint
        .tensors
        .insert("encoder.layers.1.extra".into(), extra);
    match BeatsEncoder::from_checkpoint(f.config, f.labels, f.checkpoint, &Device::Cpu) {
        Err(EncoderError::Checkpoint {
            missing,
            unexpected,
            ..
        }) => {
            assert_eq!(missing, ["encoder.layers.1.self_attn.grep_a"]);
            assert_eq!(unexpected, ["encoder.layers.1.extra"]);
        }
        other => panic!("expected a checkpoint error, got {other:?}"),
    }
    // A fine-tuned state dict under a pre-trained cfg: the head is unexpected.
    let f = ft.clone();
    match BeatsEncoder::from_checkpoint(pre.config.clone(), None, f.checkpoint, &Device::Cpu) {
        Err(EncoderError::Checkpoint { unexpected, .. }) => {
            assert_eq!(unexpected, ["predictor.bias", "predictor.weight"]);
        }
        other => panic!("expected a checkpoint error, got {other:?}"),
    }
}

/// Files that are not BEATs checkpoints give errors that name the file, never a panic.
#[test]
fn bad_files_are_errors() {
    let dir = std::env::temp_dir().join(format!("earmark-beats-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = std::fs::read(fixture(FT)).unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty.pt", Vec::new()),
        ("text.pt", b"not a checkpoint at all".to_vec()),
        ("truncated.pt", good[..good.len() / 2].to_vec()),
        ("tail_cut.pt", good[..good.len() - 10].to_vec()),
        ("head_cut.pt", good[1000..].to_vec()),
    ];
    for (name, bytes) in cases {
        let p = dir.join(name);
        std::fs::write(&p, &bytes).unwrap();
        let err = BeatsEncoder::from_pt(&p, &Device::Cpu).unwrap_err();
        let msg = err.to_string();
        println!("{name}: {msg}");
        assert!(msg.contains(name), "{name}: {msg}");
    }
    // An AST-style state dict (a plain pickle of tensors, no cfg) says what is missing.
    let p = fixture("ast/model/pytorch_model.bin");
    if p.is_file() {
        let msg = BeatsEncoder::from_pt(&p, &Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("cfg") || msg.contains("dict"), "{msg}");
    }
    let missing = BeatsEncoder::from_pt(&dir.join("nope.pt"), &Device::Cpu).unwrap_err();
    assert!(matches!(missing, EncoderError::Io { .. }));
    std::fs::remove_dir_all(&dir).ok();
}

/// A perturbed weight must break parity: the fixtures see the layers, the gate, the deep-norm
/// residual and the shared relative-position table.
#[test]
fn perturbed_layers_fail() {
    let base = read_pt(&fixture(FT), &Device::Cpu).unwrap();
    let fb = npz("in3p3s", "fbank");
    let perturb: [(&str, f64, f64); 4] = [
        ("encoder.layers.1.fc2.weight", 1.01, 0.0),
        ("encoder.layers.0.self_attn.grep_a", 1.0, 0.05),
        // Scaled: a constant shift of the table would cancel in the softmax.
        (
            "encoder.layers.0.self_attn.relative_attention_bias.weight",
            1.05,
            0.0,
        ),
        ("encoder.pos_conv.0.weight_g", 1.02, 0.0),
    ];
    for (key, mul, add) in perturb {
        let mut f = base.clone();
        let t = f.checkpoint.tensors[key].affine(mul, add).unwrap();
        f.checkpoint.tensors.insert(key.into(), t);
        let enc =
            BeatsEncoder::from_checkpoint(f.config, f.labels, f.checkpoint, &Device::Cpu).unwrap();
        let out = enc.run_features(&fb, 1, &[2], true).unwrap();
        let e = rel_err(&flat(&out.hidden_states[0].1), &npz("in3p3s", "tokens_02"));
        println!("perturbed {key}: tokens_02 relative error {e:.2e}");
        assert!(e > 10.0 * TOL, "{key}: {e}");
    }
}

/// Batches of equal-length windows equal single runs; other lengths are refused.
#[test]
fn batches_grid_and_lengths() {
    let enc = load(FT);
    assert_eq!(enc.grid(), FrameGrid::new(16_000, 2560, 2800, 0));
    assert_eq!(enc.dim(), 32);
    assert_eq!(enc.num_layers(), 2);
    let (wave, _) = read_npy_f32("beats/input_in3p3s.npy");
    let (a, b) = (&wave[..16_000], &wave[20_000..36_000]);
    let batch = enc
        .encode_batch(&[a, b], &LayerSelection::Quartiles)
        .unwrap();
    let single = enc.encode(b, &LayerSelection::Quartiles).unwrap();
    assert_eq!(batch.len(), 2);
    for ((i, x), (j, y)) in batch[1].layers.iter().zip(&single.layers) {
        assert_eq!(i, j);
        assert!(rel_err(&x.data, &y.data) < 1e-6);
    }
    let (lb, ls) = (
        batch[1].logits.as_ref().unwrap(),
        single.logits.as_ref().unwrap(),
    );
    assert!(rel_err(lb, ls) < 1e-6);
    // Columns: ⌊fbank frames / 16⌋; the first column needs 2800 samples.
    for (n, cols) in [(2800, 1), (5359, 1), (5360, 2), (16_000, 6), (52_800, 20)] {
        let out = enc.encode(&wave[..n], &LayerSelection::Last).unwrap();
        assert_eq!(out.layers[0].1.n_frames(), cols, "{n} samples");
        assert_eq!(out.frame_logits.as_ref().unwrap().n_frames(), cols);
    }
    assert!(matches!(
        enc.encode(&wave[..2799], &LayerSelection::Last),
        Err(EncoderError::Shape { .. })
    ));
    assert!(matches!(
        enc.encode_batch(&[a, &wave[..16_160]], &LayerSelection::Last),
        Err(EncoderError::Shape { .. })
    ));
    assert!(matches!(
        enc.encode(a, &"3".parse().unwrap()),
        Err(EncoderError::Layer {
            requested: 3,
            max: 2
        })
    ));
}

/// The device-generic path (candle ops with an `[H, T, T]` bias, as on CUDA) computes the same
/// function: run in f16, which the fused f32 CPU kernels do not take (candle's CPU layer norm has
/// no f64). f16 rounding allows ~1e-2; the mistakes the fixtures catch are 0.1–1.5.
#[test]
fn generic_path_matches() {
    use candle_core::DType;
    use candle_nn::VarBuilder;
    use earmark_encoders::beats::BeatsModel;
    let f = read_pt(&fixture(FT), &Device::Cpu).unwrap();
    let vb = VarBuilder::from_tensors(f.checkpoint.tensors.clone(), DType::F16, &Device::Cpu);
    let model = BeatsModel::new(&f.config, vb).unwrap();
    for case in CASES {
        let fb = npz(case, "fbank");
        let x = Tensor::from_slice(&fb, (1, fb.len() / 128, 128), &Device::Cpu)
            .unwrap()
            .to_dtype(DType::F16)
            .unwrap();
        let out = model.forward(&x, &[0, 1, 2], true).unwrap();
        let f32s = |t: &Tensor| flat(&t.to_dtype(DType::F32).unwrap());
        let mut worst = 0f32;
        for (i, h) in &out.hidden_states {
            worst = worst.max(rel_err(&f32s(h), &npz(case, &format!("tokens_{i:02}"))));
        }
        let tl = out.token_logits.as_ref().unwrap();
        worst = worst.max(rel_err(&f32s(tl), &npz(case, "token_logits")));
        println!("generic path (f16) {case}: worst relative error {worst:.2e}");
        assert!(worst < 1e-2, "{case}: {worst}");
    }
}
