//! EAT parity against the golden fixtures (`testdata/fixtures/eat/`: the Hugging Face remote code
//! of `worstchan/EAT-base_epoch30_finetune_AS2M`, tiny random weights, torch 2.11 float32 CPU):
//! every array of every case, for both checkpoints, must satisfy
//! `max|ours − ref| ≤ 1e-4 · max|ref|` (the encoders issue's bound; the reference's own
//! float32-vs-float64 spread is ≤ 5.3e-5 for the fbank and ≤ 6.3e-6 for the hidden states).

use candle_core::{DType, Device, Tensor};
use earmark_encoders::checkpoint::Checkpoint;
use earmark_encoders::eat::{
    column_means, fit_and_normalise, log_mel, sincos_table, Config, EatEncoder, EatFrames,
};
use earmark_encoders::{Encoder, EncoderError, LayerSelection};
use earmark_testkit::{fixture, read_npy_f32, read_npz_f32, rel_err, ParityReport};
use ndarray::ArrayD;
use ndarray_npy::NpzReader;

const TOL: f32 = 1e-4;

/// The two fixture cases: (name, input, frame policy).
const CASES: [(&str, &str, EatFrames); 2] = [
    ("1s_t1024", "input_in1s.npy", EatFrames::Fixed(1024)),
    ("3p3s_r16", "input_in3p3s.npy", EatFrames::Round16),
];

fn npz(case: &str) -> String {
    format!("eat/out_{case}.npz")
}

/// One float32 array in logical (C) order. The fixture's `patch_embed` is stored
/// Fortran-ordered (the reference saved a transposed view), and `read_npz_f32` returns the raw
/// memory order, so read through ndarray's logical iterator here.
fn npz_f32(case: &str, key: &str) -> Vec<f32> {
    let f = std::fs::File::open(fixture(&npz(case))).unwrap();
    let mut z = NpzReader::new(f).unwrap();
    let a: ArrayD<f32> = z.by_name(&format!("{key}.npy")).unwrap();
    a.iter().copied().collect()
}

fn npz_i64(case: &str, key: &str) -> i64 {
    let f = std::fs::File::open(fixture(&npz(case))).unwrap();
    let mut z = NpzReader::new(f).unwrap();
    let a: ArrayD<i64> = z.by_name(&format!("{key}.npy")).unwrap();
    a.into_raw_vec_and_offset().0[0]
}

fn wave(file: &str) -> Vec<f32> {
    read_npy_f32(&format!("eat/{file}")).0
}

fn load(variant: &str) -> EatEncoder {
    EatEncoder::from_hf_dir(&fixture(&format!("eat/eat_tiny_{variant}")), &Device::Cpu).unwrap()
}

fn flat(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

/// (1) The stored `fbank` into the model: every later array.
fn check_from_fbank(rep: &mut ParityReport, enc: &EatEncoder, case: &str) {
    let (fb, shape) = read_npz_f32(&npz(case), "fbank");
    assert_eq!(fb, npz_f32(case, "fbank"), "fbank is C-ordered");
    let (t, bins) = (shape[0], shape[1]);
    let l = enc.num_layers();
    let all: Vec<usize> = (0..=l).collect();
    let x = Tensor::from_slice(&fb, (1, t, bins), &Device::Cpu).unwrap();
    let (pe, td, fd) = enc.model().local_encoder.forward(&x).unwrap();
    assert_eq!(
        (td as i64, fd as i64),
        (
            npz_i64(case, "n_time_columns"),
            npz_i64(case, "n_freq_patches")
        )
    );
    rep.check(
        &format!("{case}/patch_embed"),
        &flat(&pe),
        &npz_f32(case, "patch_embed"),
    );
    let pos = enc.model().positions(td * fd).unwrap().unwrap();
    rep.check(
        &format!("{case}/pos_embed"),
        &flat(&pos),
        &npz_f32(case, "pos_embed"),
    );
    let out = enc.run_features(&fb, 1, t, &all, true).unwrap();
    assert_eq!(out.hidden_states.len(), l + 1);
    for (i, h) in &out.hidden_states {
        rep.check(
            &format!("{case}/tokens_{i:02}"),
            &flat(h),
            &npz_f32(case, &format!("tokens_{i:02}")),
        );
        // Frames over every column, padded ones included, as the fixture stores them.
        let frames = column_means(h, 0, out.columns, out.freq_patches, out.columns).unwrap();
        rep.check(
            &format!("{case}/layer_{i:02}"),
            &frames,
            &npz_f32(case, &format!("layer_{i:02}")),
        );
    }
    let last = out.last.as_ref().unwrap();
    rep.check(
        &format!("{case}/final"),
        &flat(last),
        &npz_f32(case, "final"),
    );
    let cls = flat(&last.get(0).unwrap().get(0).unwrap());
    rep.check(
        &format!("{case}/cls_final"),
        &cls,
        &npz_f32(case, "cls_final"),
    );
    match &out.logits {
        Some(lg) => rep.check(
            &format!("{case}/logits"),
            &flat(lg),
            &npz_f32(case, "logits"),
        ),
        None => assert!(!enc.has_head()),
    }
}

/// (2) End to end from the waveform through the `Encoder` trait, with the case's policy.
fn check_end_to_end(
    rep: &mut ParityReport,
    enc: &EatEncoder,
    case: &str,
    input: &str,
    p: EatFrames,
) {
    let enc = enc.clone().with_frames(p).unwrap();
    let w = wave(input);
    let bins = enc.config().mel_bins;
    let (raw, n) = log_mel(&w, bins).unwrap();
    assert_eq!(n as i64, npz_i64(case, "n_fbank_frames"));
    rep.check(
        &format!("{case}/e2e/fbank_raw"),
        &raw,
        &npz_f32(case, "fbank_raw"),
    );
    let input = enc.features(&w).unwrap();
    assert_eq!(input.target_frames as i64, npz_i64(case, "target_length"));
    rep.check(
        &format!("{case}/e2e/fbank"),
        &input.values,
        &npz_f32(case, "fbank"),
    );
    let l = enc.num_layers();
    let out = enc.encode(&w, &LayerSelection::All).unwrap();
    let valid = npz_i64(case, "n_valid_time_columns") as usize;
    let d = enc.dim();
    let toks = out.tokens.as_ref().unwrap();
    assert_eq!(out.layers.len(), l + 1);
    for ((i, f), (j, t)) in out.layers.iter().zip(toks) {
        assert_eq!(i, j);
        assert_eq!(f.shape(), [valid, d], "only the columns over real audio");
        assert_eq!(f.grid, enc.grid());
        let want = npz_f32(case, &format!("layer_{i:02}"));
        rep.check(
            &format!("{case}/e2e/layer_{i:02}"),
            &f.data,
            &want[..valid * d],
        );
        let want = npz_f32(case, &format!("tokens_{i:02}"));
        assert_eq!(t.shape, [want.len() / d, d]);
        rep.check(&format!("{case}/e2e/tokens_{i:02}"), &t.data, &want);
    }
    let last = out.last_hidden_state.as_ref().unwrap();
    let want = npz_f32(case, "layer_02");
    rep.check(
        &format!("{case}/e2e/last_hidden_state"),
        &last.data,
        &want[..valid * d],
    );
    let cls = out.cls.as_ref().unwrap();
    assert_eq!(cls.len(), l + 1);
    let (ci, cv) = cls.last().unwrap();
    assert_eq!(*ci, l);
    rep.check(
        &format!("{case}/e2e/cls_final"),
        cv,
        &npz_f32(case, "cls_final"),
    );
    let tokens_0 = npz_f32(case, "tokens_00");
    rep.check(&format!("{case}/e2e/cls_00"), &cls[0].1, &tokens_0[..d]);
    if enc.has_head() {
        let lg = out.logits.as_ref().unwrap();
        rep.check(&format!("{case}/e2e/logits"), lg, &npz_f32(case, "logits"));
        let probs: Vec<f32> = lg.iter().map(|v| 1.0 / (1.0 + (-v).exp())).collect();
        rep.check(
            &format!("{case}/e2e/probs"),
            &probs,
            &npz_f32(case, "probs"),
        );
    } else {
        assert!(out.logits.is_none());
    }
}

fn parity(variant: &str) {
    let enc = load(variant);
    let mut rep = ParityReport::new(&format!("eat_tiny_{variant}"), TOL);
    for (case, input, p) in CASES {
        check_from_fbank(&mut rep, &enc, case);
        check_end_to_end(&mut rep, &enc, case, input, p);
    }
    rep.finish();
}

#[test]
fn parity_finetuned() {
    parity("finetuned");
}

#[test]
fn parity_pretrained() {
    parity("pretrained");
}

/// The front end's order: padding happens in the log domain, before normalising.
#[test]
fn padding_before_normalisation() {
    let x = fit_and_normalise(&[1.0; 4], 2, 2, 3);
    assert_eq!(x.len(), 6);
    assert!((x[4] - 0.467_061).abs() < 1e-6 && (x[5] - 0.467_061).abs() < 1e-6);
    assert!((x[0] - (1.0 + 4.268) / 9.138).abs() < 1e-6);
    let cut = fit_and_normalise(&[1.0, 2.0, 3.0, 4.0], 2, 2, 1);
    assert_eq!(cut.len(), 2);
}

/// Frame grid, frame counts per policy, batching and the errors.
#[test]
fn frame_grid_and_policies() {
    let enc = load("pretrained");
    let g = enc.grid();
    for (case, ..) in CASES {
        assert_eq!(
            (g.rate as i64, g.hop as i64, g.win as i64, g.offset),
            (
                npz_i64(case, "sample_rate"),
                npz_i64(case, "hop_samples"),
                npz_i64(case, "win_samples"),
                npz_i64(case, "offset_samples")
            )
        );
    }
    assert_eq!(enc.frames_policy(), EatFrames::Fixed(1024));
    assert_eq!(enc.cache_key(), "eat-frames=1024");
    let w = wave("input_in1s.npy");
    // 98 frames: 7 valid columns at 1024 (of 64), 7 of 7 at round16 (112 frames).
    let r16 = enc.clone().with_frames(EatFrames::Round16).unwrap();
    assert_eq!(r16.cache_key(), "eat-frames=round16");
    let a = enc.encode(&w, &LayerSelection::Last).unwrap();
    let b = r16.encode(&w, &LayerSelection::Last).unwrap();
    assert_eq!(a.layers[0].1.n_frames(), 7);
    assert_eq!(b.layers[0].1.n_frames(), 7);
    assert_eq!(a.tokens.as_ref().unwrap()[0].1.shape[0], 1 + 64 * 8);
    assert_eq!(b.tokens.as_ref().unwrap()[0].1.shape[0], 1 + 7 * 8);
    // No padding mask: the policy changes the numbers (the spec's reason to key the cache on it).
    assert!(rel_err(&a.layers[0].1.data, &b.layers[0].1.data) > 1e-2);
    // Truncation: 64 frames of a 98-frame window, all 4 columns valid.
    let short = enc.clone().with_frames(EatFrames::Fixed(64)).unwrap();
    assert_eq!(
        short.encode(&w, &LayerSelection::Last).unwrap().layers[0]
            .1
            .n_frames(),
        4
    );
    // Equal-length windows batch = one by one; different lengths under round16 run apart.
    let w3 = wave("input_in3p3s.npy");
    let (w1, w2) = (&w3[..16_000], &w3[16_000..32_000]);
    let batch = enc.encode_batch(&[w1, w2], &LayerSelection::All).unwrap();
    let single = enc.encode(w2, &LayerSelection::All).unwrap();
    for ((_, x), (_, y)) in batch[1].layers.iter().zip(&single.layers) {
        assert!(rel_err(&x.data, &y.data) < 1e-5);
    }
    let mixed = r16.encode_batch(&[&w3, w1], &LayerSelection::Last).unwrap();
    assert_eq!(mixed[0].layers[0].1.n_frames(), 21);
    assert_eq!(mixed[1].layers[0].1.n_frames(), 7);
    // Layers below L only: no classifier run, no last_hidden_state.
    let sel = enc.encode(&w, &LayerSelection::List(vec![1])).unwrap();
    assert!(sel.last_hidden_state.is_none() && sel.logits.is_none());
    // Errors that say what to do.
    assert!(matches!(
        enc.encode(&w[..399], &LayerSelection::Last),
        Err(EncoderError::Shape { .. })
    ));
    assert!(matches!(
        enc.encode(&w, &LayerSelection::List(vec![3])),
        Err(EncoderError::Layer {
            requested: 3,
            max: 2
        })
    ));
    // The tiny table has 80 columns: 1280 frames at most.
    assert!(matches!(
        enc.clone().with_frames(EatFrames::Fixed(1296)),
        Err(EncoderError::Shape { .. })
    ));
    let long = vec![0.1f32; 16_000 * 13];
    assert!(matches!(
        r16.encode(&long, &LayerSelection::Last),
        Err(EncoderError::Shape { .. })
    ));
}

/// (3) The loader reads exactly the checkpoint's key set, and the variant must match the keys.
#[test]
fn key_set_is_checked() {
    let dir = fixture("eat/eat_tiny_finetuned");
    let cfg_ft: Config =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let ckpt_ft = Checkpoint::read(&dir.join("model.safetensors"), &Device::Cpu).unwrap();
    let pdir = fixture("eat/eat_tiny_pretrained");
    let cfg_pt: Config =
        serde_json::from_str(&std::fs::read_to_string(pdir.join("config.json")).unwrap()).unwrap();
    let ckpt_pt = Checkpoint::read(&pdir.join("model.safetensors"), &Device::Cpu).unwrap();
    assert_eq!(ckpt_ft.tensors.len(), 34);
    assert_eq!(ckpt_pt.tensors.len(), 30);
    // Both load as they are (every key consumed).
    EatEncoder::from_checkpoint(cfg_ft.clone(), ckpt_ft.clone(), &Device::Cpu).unwrap();
    EatEncoder::from_checkpoint(cfg_pt.clone(), ckpt_pt.clone(), &Device::Cpu).unwrap();
    let err = |cfg: &Config, ckpt: &Checkpoint| match EatEncoder::from_checkpoint(
        cfg.clone(),
        ckpt.clone(),
        &Device::Cpu,
    ) {
        Err(EncoderError::Checkpoint {
            missing,
            unexpected,
            ..
        }) => (missing, unexpected),
        other => panic!("expected a key-set error, got {other:?}"),
    };
    // "pretrain" config, fine-tuned weights: the head is left over.
    let (m, u) = err(&cfg_pt, &ckpt_ft);
    assert!(m.is_empty());
    assert_eq!(
        u,
        [
            "model.fc_norm.bias",
            "model.fc_norm.weight",
            "model.head.bias",
            "model.head.weight"
        ]
    );
    // "finetune" config, pre-trained weights: the head is missing.
    let (m, u) = err(&cfg_ft, &ckpt_pt);
    assert!(u.is_empty());
    assert_eq!(
        m,
        [
            "model.fc_norm.bias",
            "model.fc_norm.weight",
            "model.head.bias",
            "model.head.weight"
        ]
    );
    // A missing block key and an extra key are both named.
    let mut bad = ckpt_pt.clone();
    bad.tensors.remove("model.blocks.1.norm2.bias");
    bad.tensors.insert(
        "model.blocks.1.extra".into(),
        Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap(),
    );
    let (m, u) = err(&cfg_pt, &bad);
    assert_eq!(m, ["model.blocks.1.norm2.bias"]);
    assert_eq!(u, ["model.blocks.1.extra"]);
    // A config with another depth does not fit the weights.
    let deeper = Config {
        depth: 3,
        ..cfg_pt.clone()
    };
    let (m, _) = err(&deeper, &ckpt_pt);
    assert!(m.iter().all(|k| k.starts_with("model.blocks.2.")) && !m.is_empty());
}

/// A bad config.json is reported with its path.
#[test]
fn bad_config_names_the_file() {
    let tmp = std::env::temp_dir().join(format!("earmark-eat-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let src = fixture("eat/eat_tiny_pretrained");
    std::fs::copy(src.join("model.safetensors"), tmp.join("model.safetensors")).unwrap();
    for (text, why) in [
        ("{\"embed_dim\": \"wide\"}", "invalid type"),
        ("{\"model_type\": \"ast\"}", "model_type"),
        ("{\"embed_dim\": 30, \"num_heads\": 4}", "divisible"),
        ("{\"layer_norm_first\": true}", "layer_norm_first"),
    ] {
        std::fs::write(tmp.join("config.json"), text).unwrap();
        match EatEncoder::from_hf_dir(&tmp, &Device::Cpu) {
            Err(EncoderError::Format { path, reason }) => {
                assert!(path.ends_with("config.json"), "{path:?}");
                assert!(reason.contains(why), "{reason}");
            }
            other => panic!("{text}: expected a config error, got {other:?}"),
        }
    }
    std::fs::remove_dir_all(&tmp).ok();
}

/// A perturbed weight fails parity from its layer on, not before.
#[test]
fn perturbed_layer_fails_parity() {
    let dir = fixture("eat/eat_tiny_finetuned");
    let cfg: Config =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let mut ckpt = Checkpoint::read(&dir.join("model.safetensors"), &Device::Cpu).unwrap();
    // A constant added to a bias could vanish in the post-norm: scale a matrix.
    let key = "model.blocks.1.mlp.fc2.weight";
    let t = ckpt.tensors[key].clone();
    ckpt.tensors.insert(key.into(), (t * 1.01).unwrap());
    let enc = EatEncoder::from_checkpoint(cfg, ckpt, &Device::Cpu).unwrap();
    let case = "1s_t1024";
    let (fb, shape) = read_npz_f32(&npz(case), "fbank");
    let out = enc
        .run_features(&fb, 1, shape[0], &[0, 1, 2], true)
        .unwrap();
    let err = |i: usize| {
        rel_err(
            &flat(&out.hidden_states[i].1),
            &npz_f32(case, &format!("tokens_{i:02}")),
        )
    };
    assert!(
        err(0) <= TOL && err(1) <= TOL,
        "blocks 0 and 1 are untouched"
    );
    assert!(err(2) > TOL, "block 2 perturbed but passes: {}", err(2));
    let lg = flat(out.logits.as_ref().unwrap());
    assert!(rel_err(&lg, &npz_f32(case, "logits")) > TOL);
}

/// The computed sin-cos table equals the stored one, and a folder without the stored table
/// still passes parity (the fallback computes it in f32).
#[test]
fn computed_positions_match_the_stored_table() {
    let dir = fixture("eat/eat_tiny_pretrained");
    let cfg: Config =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let mut ckpt = Checkpoint::read(&dir.join("model.safetensors"), &Device::Cpu).unwrap();
    let stored = flat(&ckpt.tensors["model.fixed_positional_encoder.positions"]);
    let ours = sincos_table(cfg.embed_dim, cfg.max_length, 8);
    let worst = stored
        .iter()
        .zip(&ours)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(worst < 1e-5, "table differs by {worst:e}");
    // Swapping the halves (time first) is the spec's named trap: it must not match.
    let d = cfg.embed_dim;
    let swapped: Vec<f32> = ours
        .chunks(d)
        .flat_map(|r| r[d / 2..].iter().chain(&r[..d / 2]).copied())
        .collect();
    assert!(rel_err(&swapped, &stored) > 0.5);
    ckpt.tensors
        .remove("model.fixed_positional_encoder.positions");
    let enc = EatEncoder::from_checkpoint(cfg, ckpt, &Device::Cpu).unwrap();
    let mut rep = ParityReport::new("eat_tiny_pretrained/computed positions", TOL);
    for (case, ..) in CASES {
        check_from_fbank(&mut rep, &enc, case);
    }
    rep.finish();
}
