//! `embed_file` on the fixture models, through the same resolution path `earmark embed` uses.

use earmark::embed::{embed_file, EmbedOptions};
use earmark::models::{load_model, LoadOptions};
use earmark_encoders::LayerSelection;
use earmark_testkit::{fixture, read_npz_f32};

fn load(folder: &str) -> earmark::models::LoadedModel {
    load_model(fixture(folder).to_str().unwrap(), &LoadOptions::from_env()).unwrap()
}

fn scaled_err(got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    got.iter()
        .zip(want)
        .fold(0.0f32, |m, (g, w)| m.max((g - w).abs()))
        / scale
}

#[test]
fn whole_file_layers_match_transformers() {
    let model = load("hubert/base-like/model");
    let opts = EmbedOptions {
        layers: LayerSelection::All,
        window_secs: Some(0.0),
        ..Default::default()
    };
    // The folder's preprocessor_config.json says do_normalize, so the reference is a_norm.
    let emb = embed_file(&model, &fixture("audio/mono16k_a.wav"), &opts).unwrap();
    assert_eq!(emb.layers.len(), 4);
    for (i, f) in &emb.layers {
        let (want, shape) = read_npz_f32("hubert/base-like/a_norm.npz", &format!("hidden_{i:02}"));
        assert_eq!(f.shape().to_vec(), shape[1..].to_vec());
        let e = scaled_err(&f.data, &want);
        assert!(e <= 1e-4, "hidden_{i:02}: {e:e}");
    }
    assert_eq!((emb.grid.hop, emb.grid.win, emb.grid.offset), (320, 400, 0));
    let npz = emb.to_npz();
    let names: Vec<&str> = npz.names().collect();
    for k in [
        "layer_00",
        "layer_03",
        "extract_features",
        "sample_rate",
        "hop_samples",
        "win_samples",
        "offset_samples",
    ] {
        assert!(names.contains(&k), "{k} missing from {names:?}");
    }
}

#[test]
fn windows_stitch_to_the_whole_file_where_the_receptive_field_allows() {
    // The layer-norm conv front end sees 400 samples per frame: overlapping windows must give the
    // whole-file pass's extract_features exactly (up to float noise), on one grid. (No waveform
    // normalisation: a per-window normalisation would differ from the whole file's.)
    let opts = LoadOptions {
        builder: Some(fixture("torchaudio/large-like/builder.json")),
        ..LoadOptions::from_env()
    };
    let model = load_model(
        fixture("torchaudio/large-like/model.pth").to_str().unwrap(),
        &opts,
    )
    .unwrap();
    let wav = fixture("audio/mono16k_b.wav");
    let whole = embed_file(
        &model,
        &wav,
        &EmbedOptions {
            window_secs: Some(0.0),
            ..Default::default()
        },
    )
    .unwrap();
    let opts = EmbedOptions {
        window_secs: Some(1.0),
        hop_secs: Some(0.5),
        ..Default::default()
    };
    let win = embed_file(&model, &wav, &opts).unwrap();
    assert!(win.windows >= 6, "{} windows", win.windows);
    let (a, b) = (
        whole.extract_features.unwrap(),
        win.extract_features.unwrap(),
    );
    assert_eq!(a.shape(), b.shape());
    assert_eq!(a.grid, b.grid);
    let e = scaled_err(&b.data, &a.data);
    assert!(e < 1e-5, "stitched extract_features differ: {e:e}");
    // Transformer layers attend globally, so they only approximately agree; the frame count and
    // grid must still be the whole file's.
    assert_eq!(win.layers[0].1.shape(), whole.layers[0].1.shape());
}
