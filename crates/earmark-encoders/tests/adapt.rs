//! Light adaptation on the tiny fixture models: the frozen lower part plus the trainable top
//! reproduce the full encoder; training changes exactly the variables it claims to; the saved
//! overlay holds exactly those tensors and, applied to the base checkpoint, reproduces the
//! adapted forward.

use candle_core::{DType, Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use earmark_encoders::adapt::{AdaptOptions, Adaptable, LoraOptions, TrainableTop};
use earmark_encoders::ast::AstEncoder;
use earmark_encoders::wav2vec2::Wav2Vec2Encoder;
use earmark_encoders::LayerSelection;
use earmark_testkit::{fixture, read_npy_f32, test_signal};
use std::collections::BTreeSet;

const TOL: f32 = 1e-5;

fn rel_err(got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    let diff = got
        .iter()
        .zip(want)
        .fold(0f32, |m, (g, w)| m.max((g - w).abs()));
    if diff.is_nan() {
        return f32::INFINITY;
    }
    diff / scale.max(f32::MIN_POSITIVE)
}

fn flat(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

fn audio(name: &str) -> Vec<f32> {
    read_npy_f32(&format!("audio/{name}.f32.npy")).0
}

fn w2v2(rel: &str) -> Wav2Vec2Encoder {
    Wav2Vec2Encoder::from_hf_dir(&fixture(rel), &Device::Cpu).unwrap()
}

fn ast(rel: &str) -> AstEncoder {
    AstEncoder::from_hf_dir(&fixture(rel), &Device::Cpu).unwrap()
}

fn lora() -> Option<LoraOptions> {
    Some(LoraOptions {
        rank: 4,
        alpha: 8.0,
    })
}

/// The full encoder's last hidden state `[1, N, H]` (tokens for AST).
fn full_last(enc: &dyn Reference, wave: &[f32]) -> Vec<f32> {
    enc.last(wave)
}

trait Reference {
    fn last(&self, wave: &[f32]) -> Vec<f32>;
}

impl Reference for Wav2Vec2Encoder {
    fn last(&self, wave: &[f32]) -> Vec<f32> {
        let out = self.run(&[wave], &[], true).unwrap();
        flat(&out.last_hidden_state.unwrap())
    }
}

impl Reference for AstEncoder {
    fn last(&self, wave: &[f32]) -> Vec<f32> {
        let (x, _) = self.preprocessor.features(wave).unwrap();
        let (out, _) = self.run_features(&x, 1, &[], true).unwrap();
        flat(&out.last_hidden_state.unwrap())
    }
}

fn top_last<E: Adaptable>(enc: &E, top: &TrainableTop, wave: &[f32]) -> Vec<f32> {
    let low = enc.lower(wave, top.top_layers()).unwrap();
    flat(
        &top.forward_hidden(&low.tensor(&Device::Cpu).unwrap(), None)
            .unwrap(),
    )
}

/// lower + top (untrained, and LoRA at init) against the full encoder, k = 1 and 2; and the top's
/// frames against the encoder's own last-hidden-state frames.
fn split_parity<E: Adaptable + Reference>(name: &str, enc: &E, waves: &[Vec<f32>]) -> f32 {
    let mut worst = 0f32;
    for k in [1, 2] {
        for lora in [None, lora()] {
            let opts = AdaptOptions {
                top_layers: k,
                lora,
                seed: 7,
            };
            let top = enc.trainable_top(&opts).unwrap();
            assert_eq!(top.first_layer(), enc.num_layers() - k);
            for wave in waves {
                let e = rel_err(&top_last(enc, &top, wave), &full_last(enc, wave));
                worst = worst.max(e);
                assert!(e <= TOL, "{name} k={k} lora={lora:?}: {e:e}");
                // Frames through `forward` equal the encoder's last-hidden-state frames.
                let low = enc.lower(wave, k).unwrap();
                let x = low.tensor(&Device::Cpu).unwrap();
                let mask = Tensor::ones((1, low.rows), DType::F32, &Device::Cpu).unwrap();
                let (frames, m) = top.forward(&x, &mask, false).unwrap();
                let want = enc.encode(wave, &LayerSelection::Last).unwrap();
                let want = want.last_hidden_state.unwrap();
                assert_eq!(m.dims(), &[1, want.n_frames()]);
                let e = rel_err(&flat(&frames), &want.data);
                worst = worst.max(e);
                assert!(e <= TOL, "{name} frames k={k} lora={lora:?}: {e:e}");
            }
        }
    }
    println!("ADAPT PARITY {name:<24} worst {worst:.2e}");
    worst
}

#[test]
fn split_parity_wav2vec2_hubert_ast() {
    let waves = vec![audio("mono16k_a"), audio("mono16k_b")];
    split_parity("hubert/base-like", &w2v2("hubert/base-like/model"), &waves);
    split_parity(
        "wav2vec2/large-like",
        &w2v2("wav2vec2/large-like/model"),
        &waves,
    );
    split_parity("ast/model", &ast("ast/model"), &waves);
    split_parity("ast/classifier", &ast("ast/classifier"), &waves);
}

/// A padded batch with a mask gives each clip's frames exactly as alone.
#[test]
fn padded_batch_equals_single_clips() {
    let enc = w2v2("hubert/base-like/model");
    let top = enc
        .trainable_top(&AdaptOptions {
            top_layers: 2,
            ..AdaptOptions::default()
        })
        .unwrap();
    let waves = [
        test_signal(16_000, 8_000, 1),
        test_signal(16_000, 16_000, 2),
    ];
    let lows: Vec<_> = waves.iter().map(|w| enc.lower(w, 2).unwrap()).collect();
    let t = lows.iter().map(|l| l.rows).max().unwrap();
    let h = lows[0].dim;
    let mut x = vec![0f32; 2 * t * h];
    let mut m = vec![0f32; 2 * t];
    for (b, l) in lows.iter().enumerate() {
        x[b * t * h..b * t * h + l.hidden.len()].copy_from_slice(&l.hidden);
        m[b * t..b * t + l.rows].fill(1.0);
    }
    let x = Tensor::from_vec(x, (2, t, h), &Device::Cpu).unwrap();
    let m = Tensor::from_vec(m, (2, t), &Device::Cpu).unwrap();
    let (frames, _) = top.forward(&x, &m, false).unwrap();
    for (b, (l, w)) in lows.iter().zip(&waves).enumerate() {
        let got = flat(&frames.get(b).unwrap().narrow(0, 0, l.rows).unwrap());
        let e = rel_err(&got, &full_last(&enc, w));
        assert!(e <= TOL, "item {b}: {e:e}");
    }
}

/// A few AdamW steps on a toy loss (squared distance of the frames to a fixed target).
fn train_steps<E: Adaptable>(enc: &E, top: &TrainableTop, waves: &[Vec<f32>], steps: usize) {
    let dev = Device::Cpu;
    let mut opt = AdamW::new(
        top.varmap().all_vars(),
        ParamsAdamW {
            lr: 1e-2,
            ..ParamsAdamW::default()
        },
    )
    .unwrap();
    let lows: Vec<_> = waves
        .iter()
        .map(|w| enc.lower(w, top.top_layers()).unwrap())
        .collect();
    for step in 0..steps {
        let low = &lows[step % lows.len()];
        let x = low.tensor(&dev).unwrap();
        let mask = Tensor::ones((1, low.rows), DType::F32, &dev).unwrap();
        let (frames, _) = top.forward(&x, &mask, true).unwrap();
        let target = (frames.ones_like().unwrap() * 0.5).unwrap();
        let loss = (frames - target)
            .unwrap()
            .sqr()
            .unwrap()
            .mean_all()
            .unwrap();
        opt.backward_step(&loss).unwrap();
    }
}

fn snapshot(top: &TrainableTop) -> Vec<(String, Vec<f32>)> {
    let data = top.varmap().data().lock().unwrap();
    let mut v: Vec<_> = data
        .iter()
        .map(|(k, var)| (k.clone(), flat(var.as_tensor())))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// The checkpoint keys of the given layers (and extras), as the top should own them.
fn layer_keys<E: Adaptable>(
    enc: &E,
    layer_prefixes: &[String],
    extra: &[&str],
) -> BTreeSet<String> {
    let ckpt = enc.checkpoint().unwrap();
    ckpt.tensors
        .keys()
        .filter(|k| {
            layer_prefixes.iter().any(|p| k.starts_with(p.as_str())) || extra.contains(&k.as_str())
        })
        .cloned()
        .collect()
}

fn lora_keys(layer_prefixes: &[String], projections: &[&str]) -> BTreeSet<String> {
    let mut s = BTreeSet::new();
    for p in layer_prefixes {
        for proj in projections {
            s.insert(format!("{p}{proj}.lora_A.weight"));
            s.insert(format!("{p}{proj}.lora_B.weight"));
        }
    }
    s
}

/// Train, then check: every variable moved, the cached lower output is bitwise unchanged, the
/// overlay holds exactly `want_keys`, and base checkpoint + overlay reproduces the adapted model.
fn adapt_roundtrip<E: Adaptable + Reference>(
    name: &str,
    enc: &E,
    opts: &AdaptOptions,
    want_keys: &BTreeSet<String>,
) {
    let waves = vec![audio("mono16k_a"), audio("mono16k_b")];
    let top = enc.trainable_top(opts).unwrap();
    let names: BTreeSet<String> = top.trainable_names().into_iter().collect();
    assert_eq!(&names, want_keys, "{name}: trainable names");
    let lower_before = enc.lower(&waves[0], opts.top_layers).unwrap();
    let before = snapshot(&top);
    train_steps(enc, &top, &waves, 4);
    let after = snapshot(&top);
    for ((k, b), (_, a)) in before.iter().zip(&after) {
        assert!(b != a, "{name}: variable {k} did not change");
    }
    let lower_after = enc.lower(&waves[0], opts.top_layers).unwrap();
    assert!(
        lower_before == lower_after,
        "{name}: the frozen part changed"
    );

    let dir = std::env::temp_dir().join(format!(
        "earmark-adapt-{}-{}",
        std::process::id(),
        name.replace('/', "_")
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("overlay.safetensors");
    top.save(&path).unwrap();
    let saved: BTreeSet<String> = candle_core::safetensors::load(&path, &Device::Cpu)
        .unwrap()
        .into_keys()
        .collect();
    assert_eq!(&saved, want_keys, "{name}: overlay keys");

    let adapted = enc.with_overlay(&path).unwrap();
    let mut worst = 0f32;
    for wave in &waves {
        let want = top_last(enc, &top, wave);
        let e = rel_err(&full_last(&adapted, wave), &want);
        worst = worst.max(e);
        assert!(e <= TOL, "{name}: base + overlay vs adapted: {e:e}");
        // And the adaptation did something.
        assert!(
            rel_err(&full_last(enc, wave), &want) > 1e-3,
            "{name}: no effect"
        );
    }
    println!(
        "ADAPT OVERLAY {name:<28} {} keys, worst {worst:.2e}",
        saved.len()
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn adaptation_changes_only_what_it_claims_wav2vec2() {
    let enc = w2v2("hubert/base-like/model");
    // Post-LN: the encoder layer norm sits below the stack, so only the top layer is trained.
    let top1 = vec!["encoder.layers.2.".to_string()];
    let want = layer_keys(&enc, &top1, &[]);
    assert_eq!(want.len(), 16);
    adapt_roundtrip("hubert-k1", &enc, &AdaptOptions::default(), &want);

    let proj = [
        "attention.q_proj",
        "attention.k_proj",
        "attention.v_proj",
        "attention.out_proj",
    ];
    let opts = AdaptOptions {
        top_layers: 1,
        lora: lora(),
        seed: 3,
    };
    adapt_roundtrip("hubert-k1-lora", &enc, &opts, &lora_keys(&top1, &proj));

    // Pre-LN ("stable layer norm"): the final encoder layer norm follows the stack.
    let enc = w2v2("wav2vec2/large-like/model");
    let top2 = vec![
        "encoder.layers.1.".to_string(),
        "encoder.layers.2.".to_string(),
    ];
    let want = layer_keys(
        &enc,
        &top2,
        &["encoder.layer_norm.weight", "encoder.layer_norm.bias"],
    );
    assert_eq!(want.len(), 34);
    let opts = AdaptOptions {
        top_layers: 2,
        ..AdaptOptions::default()
    };
    adapt_roundtrip("wav2vec2-large-k2", &enc, &opts, &want);
}

#[test]
fn adaptation_changes_only_what_it_claims_ast() {
    // A classification checkpoint: keys carry the backbone prefix.
    let enc = ast("ast/classifier");
    let p = "audio_spectrogram_transformer.";
    let top1 = vec![format!("{p}encoder.layer.1.")];
    let ln = [format!("{p}layernorm.weight"), format!("{p}layernorm.bias")];
    let want = layer_keys(&enc, &top1, &[&ln[0], &ln[1]]);
    assert_eq!(want.len(), 18);
    adapt_roundtrip("ast-cls-k1", &enc, &AdaptOptions::default(), &want);

    let enc = ast("ast/model");
    let top2 = vec![
        "encoder.layer.0.".to_string(),
        "encoder.layer.1.".to_string(),
    ];
    let proj = [
        "attention.attention.query",
        "attention.attention.key",
        "attention.attention.value",
        "attention.output.dense",
    ];
    let opts = AdaptOptions {
        top_layers: 2,
        lora: lora(),
        seed: 1,
    };
    adapt_roundtrip("ast-k2-lora", &enc, &opts, &lora_keys(&top2, &proj));
}

#[test]
fn k1_and_k2_train_different_key_sets() {
    let enc = w2v2("hubert/base-like/model");
    let names = |k: usize| -> BTreeSet<String> {
        enc.trainable_top(&AdaptOptions {
            top_layers: k,
            ..AdaptOptions::default()
        })
        .unwrap()
        .trainable_names()
        .into_iter()
        .collect()
    };
    let (n1, n2) = (names(1), names(2));
    assert!(n1.iter().all(|k| k.starts_with("encoder.layers.2.")));
    assert!(n1.is_subset(&n2) && n2.len() == 2 * n1.len());
    let extra: BTreeSet<_> = n2.difference(&n1).collect();
    assert!(extra.iter().all(|k| k.starts_with("encoder.layers.1.")));
    assert!(n2.contains("encoder.layers.1.attention.q_proj.weight"));
    assert!(!n1.contains("encoder.layers.1.attention.q_proj.weight"));
    // Nothing below the top is ever trainable.
    assert!(!n2
        .iter()
        .any(|k| k.starts_with("encoder.layers.0.") || k.contains("pos_conv")));
}

#[test]
fn bad_options_are_errors() {
    let enc = w2v2("hubert/base-like/model");
    for k in [0, 4] {
        let opts = AdaptOptions {
            top_layers: k,
            ..AdaptOptions::default()
        };
        assert!(enc.trainable_top(&opts).is_err(), "k = {k}");
        assert!(enc.lower(&audio("mono16k_a"), k).is_err(), "k = {k}");
    }
    let opts = AdaptOptions {
        lora: Some(LoraOptions {
            rank: 0,
            alpha: 1.0,
        }),
        ..AdaptOptions::default()
    };
    assert!(enc.trainable_top(&opts).is_err());
    // An overlay naming a tensor the checkpoint lacks is refused.
    let dir = std::env::temp_dir().join(format!("earmark-adapt-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.safetensors");
    let t = Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap();
    candle_core::safetensors::save(
        &std::collections::HashMap::from([("encoder.nope".to_string(), t)]),
        &path,
    )
    .unwrap();
    assert!(enc.with_overlay(&path).is_err());
    std::fs::remove_dir_all(&dir).ok();
}

/// A torchaudio `.pth` (keys renamed to transformers' at load): the top is copied from the
/// re-read, renamed checkpoint, and the overlay (transformers' names) applies to it.
#[test]
fn torchaudio_checkpoint_roundtrip() {
    let dir = fixture("torchaudio/large-like");
    let enc = Wav2Vec2Encoder::from_torchaudio_files(
        &dir.join("model.pth"),
        &dir.join("builder.json"),
        "hubert",
        earmark_encoders::wav2vec2::WaveformNorm::None,
        &Device::Cpu,
    )
    .unwrap();
    let waves = vec![audio("mono16k_a")];
    split_parity("torchaudio/large-like", &enc, &waves);
    let top1 = vec![format!(
        "encoder.layers.{}.",
        enc.config().num_hidden_layers - 1
    )];
    let mut want = layer_keys(&enc, &top1, &[]);
    if enc.config().do_stable_layer_norm {
        want.insert("encoder.layer_norm.weight".into());
        want.insert("encoder.layer_norm.bias".into());
    }
    adapt_roundtrip("torchaudio-large-k1", &enc, &AdaptOptions::default(), &want);
}
