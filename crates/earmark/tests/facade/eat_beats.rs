//! BEATs and EAT through the facade: resolution (a `.pt` path, an EAT folder, the registry names
//! and what a missing checkpoint says), `--eat-frames` in the identity, and `earmark embed`'s
//! outputs (`last_hidden_state` as the reference's final tokens, `logits`, `frame_logits`,
//! `cls_NN`) against the shared fixtures.

use earmark::cache::encoder_id;
use earmark::embed::{embed_file, EmbedOptions};
use earmark::hub::HubOptions;
use earmark::models::{load_model, registry_status, LoadOptions, ModelError};
use earmark_encoders::eat::EatFrames;
use earmark_encoders::LayerSelection;
use earmark_testkit::{fixture, read_npy_f32, read_npz_f32, rel_err as rel};
use std::path::Path;

/// The fixture waveform as a float32 WAV (bit-exact samples).
fn wav_of(npy: &str, dir: &Path) -> std::path::PathBuf {
    let (x, _) = read_npy_f32(npy);
    let p = dir.join("in.wav");
    earmark_audio::write_wav_f32(&p, &x, 16_000, 1).unwrap();
    p
}

fn npz_array(emb: &earmark::embed::Embedding, key: &str, dir: &Path) -> (Vec<f32>, Vec<usize>) {
    let p = dir.join("out.npz");
    emb.to_npz().write(&p).unwrap();
    let m = earmark::npy::read_npz(&p).unwrap();
    let a = m
        .get(key)
        .unwrap_or_else(|| panic!("{key} missing: {:?}", m.keys()));
    match &a.data {
        earmark::npy::NpyData::Float(v) => (v.iter().map(|&x| x as f32).collect(), a.shape.clone()),
        _ => panic!("{key} is not float"),
    }
}

#[test]
fn beats_pt_embeds_like_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let pt = fixture("beats/beats_tiny_finetuned.pt");
    let model = load_model(pt.to_str().unwrap(), &LoadOptions::from_env()).unwrap();
    assert_eq!(model.encoder.name(), "beats");
    let wav = wav_of("beats/input_in1s.npy", dir.path());
    let emb = embed_file(
        &model,
        &wav,
        &EmbedOptions {
            layers: LayerSelection::List(vec![1]),
            window_secs: Some(0.0),
            tokens: true,
            ..Default::default()
        },
    )
    .unwrap();
    let out = "beats/out_in1s.npz";
    // The final tokens even though layer 2 was not selected; layer 2 itself is not returned.
    let (f, shape) = npz_array(&emb, "last_hidden_state", dir.path());
    let (want, wshape) = read_npz_f32(out, "final");
    assert_eq!(shape, wshape);
    assert!(rel(&f, &want) < 1e-4, "final {}", rel(&f, &want));
    assert_eq!(emb.layers.len(), 1);
    assert_eq!(emb.tokens.len(), 1);
    let (t1, _) = npz_array(&emb, "tokens_01", dir.path());
    assert!(rel(&t1, &read_npz_f32(out, "tokens_01").0) < 1e-4);
    let (l, _) = npz_array(&emb, "logits", dir.path());
    assert!(rel(&l, &read_npz_f32(out, "logits").0) < 1e-4);
    // Frame logits: the per-token head averaged over each time column's 8 patches.
    let (tl, ts) = read_npz_f32(out, "token_logits");
    let (c, cols) = (ts[1], ts[0] / 8);
    let want: Vec<f32> = (0..cols)
        .flat_map(|j| {
            let tl = &tl;
            (0..c).map(move |k| (0..8).map(|p| tl[(j * 8 + p) * c + k]).sum::<f32>() / 8.0)
        })
        .collect();
    let (fl, fs) = npz_array(&emb, "frame_logits", dir.path());
    assert_eq!(fs, vec![cols, c]);
    assert!(rel(&fl, &want) < 1e-4, "frame_logits {}", rel(&fl, &want));
    assert_eq!(emb.classes.as_ref().map(Vec::len), Some(c));
    // The clip summary is offered, per selected layer.
    let (cls, cs) = npz_array(&emb, "cls_01", dir.path());
    assert_eq!(cs, vec![1, 32]);
    assert!(cls.iter().all(|v| v.is_finite()));
}

#[test]
fn eat_folder_frames_policy_is_part_of_the_identity() {
    let dir = tempfile::tempdir().unwrap();
    let folder = fixture("eat/eat_tiny_finetuned");
    let f = folder.to_str().unwrap();
    let default = load_model(f, &LoadOptions::from_env()).unwrap();
    let r16 = load_model(
        f,
        &LoadOptions {
            eat_frames: Some(EatFrames::Round16),
            ..LoadOptions::from_env()
        },
    )
    .unwrap();
    assert_eq!(r16.encoder.name(), "eat");
    assert_eq!(default.options_key, "eat-frames=1024");
    assert_eq!(r16.options_key, "eat-frames=round16");
    assert_ne!(encoder_id(&default, f), encoder_id(&r16, f));

    let wav = wav_of("eat/input_in3p3s.npy", dir.path());
    let emb = embed_file(
        &r16,
        &wav,
        &EmbedOptions {
            layers: LayerSelection::All,
            window_secs: Some(0.0),
            tokens: true,
            ..Default::default()
        },
    )
    .unwrap();
    let out = "eat/out_3p3s_r16.npz";
    let (f, shape) = npz_array(&emb, "last_hidden_state", dir.path());
    let (want, wshape) = read_npz_f32(out, "final");
    assert_eq!(shape, wshape, "CLS + every patch token");
    assert!(rel(&f, &want) < 1e-4, "final {}", rel(&f, &want));
    for l in 0..=2 {
        let (got, _) = npz_array(&emb, &format!("layer_{l:02}"), dir.path());
        let (want, _) = read_npz_f32(out, &format!("layer_{l:02}"));
        assert!(rel(&got, &want) < 1e-4, "layer {l}");
    }
    let (l, _) = npz_array(&emb, "logits", dir.path());
    assert!(rel(&l, &read_npz_f32(out, "logits").0) < 1e-4);
    let (cls, _) = npz_array(&emb, "cls_02", dir.path());
    assert!(rel(&cls, &read_npz_f32(out, "cls_final").0) < 1e-4);
    // The default policy pads to 1024 frames: other tokens.
    let emb0 = embed_file(
        &default,
        &wav,
        &EmbedOptions {
            window_secs: Some(0.0),
            ..Default::default()
        },
    )
    .unwrap();
    let a = &emb0.layers[0].1.data;
    let b = &emb.layers.last().unwrap().1.data;
    assert_eq!(a.len(), b.len());
    assert!(rel(a, b) > 1e-3, "the frame policy changes the frames");
}

#[test]
fn registry_names_and_what_a_missing_checkpoint_says() {
    let empty = tempfile::tempdir().unwrap();
    let hub = HubOptions {
        hf_cache: empty.path().join("hf"),
        torch_checkpoints: empty.path().join("torch"),
        offline: true,
        revision: "main".into(),
    };
    let rows = registry_status(&hub);
    for name in ["BEATS", "BEATS_ML", "EAT", "EAT_ML"] {
        let r = rows.iter().find(|r| r.name == name).unwrap();
        assert_eq!(r.hop_samples, 2560);
        assert!(r.found.is_none());
        assert_eq!(r.dim, if name.ends_with("_ML") { 3072 } else { 768 });
    }
    let opts = LoadOptions {
        hub: hub.clone(),
        ..LoadOptions::from_env()
    };
    let e = load_model("BEATS", &opts).err().expect("no checkpoint");
    let msg = e.to_string();
    assert!(
        matches!(e, ModelError::MissingPt { .. })
            && msg.contains("BEATs_iter3_plus_AS2M.pt")
            && msg.contains("microsoft/unilm"),
        "{msg}"
    );
    assert!(msg.contains(&hub.torch_checkpoints.display().to_string()));
    let e = load_model("EAT_ML", &opts)
        .err()
        .expect("offline, not cached")
        .to_string();
    assert!(
        e.contains("worstchan/EAT-base_epoch30_finetune_AS2M"),
        "{e}"
    );
    // A BEATs .pt put where the registry looks is found under the registry name. The tiny
    // fixture is not BEATs-base, so the registry's shape check refuses it by name.
    std::fs::create_dir_all(&hub.torch_checkpoints).unwrap();
    std::fs::copy(
        fixture("beats/beats_tiny_pretrained.pt"),
        hub.torch_checkpoints.join("BEATs_iter3_plus_AS2M.pt"),
    )
    .unwrap();
    let e = load_model("BEATS", &opts)
        .err()
        .expect("tiny is not base")
        .to_string();
    assert!(
        e.contains("BEATS") && e.contains("12 layers of width 768"),
        "{e}"
    );
    // --eat-frames on something that is not EAT is an error, not ignored.
    let bad = LoadOptions {
        eat_frames: Some(EatFrames::Round16),
        ..LoadOptions::from_env()
    };
    let e = load_model(
        fixture("beats/beats_tiny_pretrained.pt").to_str().unwrap(),
        &bad,
    )
    .err()
    .expect("not EAT");
    assert!(matches!(e, ModelError::NotEat { .. }), "{e}");
}
