//! The built-in scratch CNN: shapes and grid, seeded init, safetensors round trip, gradients,
//! the `Encoder` view and padding invariance.

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use earmark_encoders::builtin::{ScratchCnn, ScratchConfig, ScratchEncoder};
use earmark_encoders::registry;
use earmark_encoders::{Encoder, EncoderError, LayerSelection};
use earmark_testkit::{sine, test_signal, Rng};
use std::path::PathBuf;

fn tmp_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("earmark-builtin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn enc(seed: u64) -> ScratchEncoder {
    ScratchEncoder::new_seeded(ScratchConfig::default(), seed, &Device::Cpu).unwrap()
}

/// Random "dB" features `[b, t, m]` around −40 dB.
fn random_mel(b: usize, t: usize, m: usize, seed: u64) -> Tensor {
    let mut r = Rng::new(seed);
    let v: Vec<f32> = (0..b * t * m)
        .map(|_| (-40.0 + 15.0 * r.normal()) as f32)
        .collect();
    Tensor::from_vec(v, (b, t, m), &Device::Cpu).unwrap()
}

fn to_vec3(t: &Tensor) -> Vec<Vec<Vec<f32>>> {
    t.to_vec3::<f32>().unwrap()
}

#[test]
fn shapes_and_grid() {
    let cfg = ScratchConfig::default();
    assert_eq!(cfg.dim(), 64);
    assert_eq!(cfg.frame_hop_samples(), 320);
    let e = enc(1);
    let cnn = e.cnn();
    // The log-mel grid the config claims is the one log_mel reports.
    let f = cnn.features(&sine(16_000, 440.0, 0.5, 16_000)).unwrap();
    assert_eq!(f.grid, cfg.mel_grid());
    assert_eq!((f.grid.hop, f.grid.win, f.grid.offset), (160, 400, -200));
    assert_eq!(f.n_frames(), 101);
    assert_eq!(f.dim, 64);
    // Output grid: two 10 ms frames pooled → hop 320, win 560, offset −200.
    let g = cnn.grid();
    assert_eq!((g.rate, g.hop, g.win, g.offset), (16_000, 320, 560, -200));
    // Frame j is centred on sample 320·j + 80 (mean of the log-mel centres 320j and 320j + 160).
    for j in [0u64, 1, 7, 1000] {
        let c = g.frame_center(j).0;
        assert!(
            (c - (320.0 * j as f64 + 80.0) / 16_000.0).abs() < 1e-12,
            "{j}: {c}"
        );
    }
    assert!(cnn.receptive_field_samples() > g.win);
    for t in [1usize, 2, 7, 100, 101] {
        let x = random_mel(2, t, 64, t as u64);
        let mask = Tensor::ones((2, t), DType::F32, &Device::Cpu).unwrap();
        let (h, m) = cnn.forward(&x, &mask, false).unwrap();
        assert_eq!(h.dims(), &[2, t.div_ceil(2), 64]);
        assert_eq!(m.dims(), &[2, t.div_ceil(2)]);
        let layers = cnn.forward_layers(&x, &mask).unwrap();
        assert_eq!(layers.len(), 4);
        for l in &layers {
            assert_eq!(l.dims(), &[2, t.div_ceil(2), 64]);
        }
        // The last hidden state is forward's output.
        let d = (layers[3].clone() - h).unwrap().abs().unwrap();
        assert_eq!(d.max_all().unwrap().to_scalar::<f32>().unwrap(), 0.0);
    }
    // Output mask: 1 where any frame of the pair was real.
    let x = random_mel(1, 6, 64, 9);
    let mask = Tensor::new(&[[1f32, 1., 1., 0., 0., 0.]], &Device::Cpu).unwrap();
    let (h, m) = cnn.forward(&x, &mask, false).unwrap();
    assert_eq!(m.to_vec2::<f32>().unwrap(), vec![vec![1., 1., 0.]]);
    assert!(to_vec3(&h)[0][2].iter().all(|&v| v == 0.0));
    // Bad inputs are errors, not panics.
    let bad = random_mel(1, 6, 40, 1);
    assert!(cnn.forward(&bad, &mask, false).is_err());
    assert!(cnn
        .forward(
            &x,
            &Tensor::ones((1, 5), DType::F32, &Device::Cpu).unwrap(),
            false
        )
        .is_err());
    let even = ScratchConfig {
        kernel: 4,
        ..ScratchConfig::default()
    };
    let err = ScratchEncoder::new_seeded(even, 0, &Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("kernel 4"), "{err}");
}

#[test]
fn seeded_init_is_deterministic() {
    let x = random_mel(2, 50, 64, 3);
    let mask = Tensor::ones((2, 50), DType::F32, &Device::Cpu).unwrap();
    let run = |seed| {
        let (h, _) = enc(seed).cnn().forward(&x, &mask, false).unwrap();
        h.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    };
    let a = run(7);
    assert_eq!(a, run(7));
    assert_ne!(a, run(8));
    assert!(a.iter().all(|v| v.is_finite()));
    // Kaiming-uniform bounds: first conv fan-in 64·5 → |w| ≤ sqrt(6/320).
    let e = enc(7);
    assert_eq!(e.num_parameters(), 3 * (64 * 64 * 5 + 64));
    let data = e.varmap().data().lock().unwrap();
    let w = data["blocks.0.weight"].as_tensor().flatten_all().unwrap();
    let w = w.to_vec1::<f32>().unwrap();
    let b = (6.0f32 / 320.0).sqrt();
    assert!(w.iter().all(|v| v.abs() <= b));
    assert!(w.iter().cloned().fold(0.0f32, f32::max) > 0.9 * b);
    let bias = data["blocks.2.bias"].as_tensor().to_vec1::<f32>().unwrap();
    assert!(bias.iter().all(|v| v.abs() <= 1.0 / 320f32.sqrt()));
}

#[test]
fn safetensors_round_trip_and_key_check() {
    let e = enc(11);
    let path = tmp_path("scratch.safetensors");
    e.save(&path).unwrap();
    let back =
        ScratchEncoder::from_safetensors(ScratchConfig::default(), &path, &Device::Cpu).unwrap();
    let wave = test_signal(16_000, 16_000, 5);
    let a = e.encode(&wave, &LayerSelection::All).unwrap();
    let b = back.encode(&wave, &LayerSelection::All).unwrap();
    assert_eq!(a.layers, b.layers);
    // Through the registry too.
    let spec = registry::find("scratch").unwrap();
    assert!(spec.is_builtin());
    let c = spec.load_builtin(Some(&path), &Device::Cpu).unwrap();
    assert_eq!(
        c.encode(&wave, &LayerSelection::All).unwrap().layers,
        a.layers
    );
    let d = spec.load_builtin(None, &Device::Cpu).unwrap();
    let seeded = enc(ScratchEncoder::DEFAULT_SEED);
    assert_eq!(
        d.encode(&wave, &LayerSelection::Last).unwrap().layers,
        seeded.encode(&wave, &LayerSelection::Last).unwrap().layers
    );

    // Drop one tensor and add a stray one: both are named.
    let mut tensors = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    tensors.remove("blocks.1.bias");
    tensors.insert(
        "head.weight".into(),
        Tensor::zeros((2, 64), DType::F32, &Device::Cpu).unwrap(),
    );
    let bad = tmp_path("bad.safetensors");
    candle_core::safetensors::save(&tensors, &bad).unwrap();
    match ScratchEncoder::from_safetensors(ScratchConfig::default(), &bad, &Device::Cpu) {
        Err(EncoderError::Checkpoint {
            missing,
            unexpected,
            ..
        }) => {
            assert_eq!(missing, vec!["blocks.1.bias".to_string()]);
            assert_eq!(unexpected, vec!["head.weight".to_string()]);
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("accepted a checkpoint with a missing key"),
    }
    let msg = ScratchEncoder::from_safetensors(ScratchConfig::default(), &bad, &Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("blocks.1.bias") && msg.contains("bad.safetensors"),
        "{msg}"
    );
    // A wrong shape is named too.
    let narrow = ScratchConfig {
        channels: vec![64, 32, 64],
        ..ScratchConfig::default()
    };
    let msg = ScratchEncoder::from_safetensors(narrow, &path, &Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(msg.contains("blocks.1."), "{msg}");

    // A trainer's VarMap with the CNN under `cnn.` and a head beside it.
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let cnn = ScratchCnn::new(&ScratchConfig::default(), vb.pp("cnn")).unwrap();
    let _head = vb.pp("head").get((3, 64), "weight").unwrap();
    earmark_encoders::builtin::init_seeded(&varmap, 11).unwrap();
    let both = tmp_path("both.safetensors");
    varmap.save(&both).unwrap();
    let sub = ScratchEncoder::from_safetensors_prefixed(
        ScratchConfig::default(),
        &both,
        "cnn.",
        &Device::Cpu,
    )
    .unwrap();
    let direct = ScratchEncoder::from_parts(cnn, varmap, Device::Cpu);
    assert_eq!(
        sub.encode(&wave, &LayerSelection::All).unwrap().layers,
        direct.encode(&wave, &LayerSelection::All).unwrap().layers
    );
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

#[test]
fn gradients_reach_every_variable() {
    let e = enc(3);
    let x = random_mel(2, 40, 64, 4);
    let mask = Tensor::new(
        &[[1f32; 40], {
            let mut m = [1f32; 40];
            m[25..].fill(0.0);
            m
        }],
        &Device::Cpu,
    )
    .unwrap();
    let (h, _) = e.cnn().forward(&x, &mask, true).unwrap();
    let loss = h.sqr().unwrap().sum_all().unwrap();
    let grads = loss.backward().unwrap();
    let vars: Vec<(String, Var)> = {
        let data = e.varmap().data().lock().unwrap();
        data.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    };
    assert_eq!(vars.len(), 6);
    for (name, v) in vars {
        let g = grads
            .get(v.as_tensor())
            .unwrap_or_else(|| panic!("no gradient for {name}"));
        let n = g
            .abs()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(n > 0.0 && n.is_finite(), "{name}: |grad| = {n}");
    }
    // Dropout is on in training only: inference is repeatable, training draws fresh masks.
    let (a, _) = e.cnn().forward(&x, &mask, true).unwrap();
    let (b, _) = e.cnn().forward(&x, &mask, true).unwrap();
    let diff = (a - b).unwrap().abs().unwrap().sum_all().unwrap();
    assert!(diff.to_scalar::<f32>().unwrap() > 0.0);
}

#[test]
fn encoder_trait_on_a_sine() {
    let e = enc(0);
    assert_eq!(e.name(), "scratch");
    assert_eq!(e.sample_rate(), 16_000);
    assert_eq!(e.dim(), 64);
    assert_eq!(e.num_layers(), 3);
    let n = 20_800; // 1.3 s
    let wave = sine(16_000, 1000.0, 0.3, n);
    let out = e.encode(&wave, &LayerSelection::All).unwrap();
    assert_eq!(out.layers.len(), 4);
    // 1 + 20800/160 = 131 log-mel frames → ⌈131/2⌉ = 66 output frames.
    let frames = (1 + n / 160).div_ceil(2);
    assert_eq!(frames, 66);
    for (i, (idx, f)) in out.layers.iter().enumerate() {
        assert_eq!(*idx, i);
        assert_eq!(f.shape(), [frames, 64]);
        assert_eq!(f.grid, e.grid());
        assert!(f.data.iter().all(|v| v.is_finite()));
    }
    // The frames tile the clip: the last centre lies within half a hop of its end.
    let g = e.grid();
    let last = g.frame_center(frames as u64 - 1).0;
    assert!((last - 1.3).abs() <= g.hop_secs().0, "{last}");
    assert_eq!(
        out.last_hidden_state.as_ref().unwrap(),
        out.layer(3).unwrap()
    );
    let q = e.encode(&wave, &LayerSelection::Quartiles).unwrap();
    let idx: Vec<usize> = q.layers.iter().map(|(i, _)| *i).collect();
    assert_eq!(idx, vec![1, 2, 3]);
    assert!(e.encode(&wave, &"4".parse().unwrap()).is_err());
    // Too short for the front end's reflect padding: an error, not a panic.
    assert!(e.encode(&[0.0; 100], &LayerSelection::Last).is_err());
}

#[test]
fn padding_does_not_leak() {
    let e = enc(5);
    // Odd frame counts on purpose: the short clip's last pooled group is half padding.
    let short = test_signal(16_000, 16_000 + 160, 1); // 102 log-mel frames → 51
    let short_odd = test_signal(16_000, 16_000 + 320, 2); // 103 → 52
    let long = test_signal(16_000, 40_000, 3);
    for clip in [&short, &short_odd] {
        let alone = e.encode(clip, &LayerSelection::All).unwrap();
        let batch = e
            .encode_batch(&[&long, clip, &long], &LayerSelection::All)
            .unwrap();
        let inside = &batch[1];
        for ((i, a), (j, b)) in alone.layers.iter().zip(&inside.layers) {
            assert_eq!(i, j);
            assert_eq!(a.shape(), b.shape());
            let d = a
                .data
                .iter()
                .zip(&b.data)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0f32, f32::max);
            assert!(d <= 1e-5, "layer {i}: max diff {d}");
        }
        // And the long clip is unaffected by the short one.
        let long_alone = e.encode(&long, &LayerSelection::Last).unwrap();
        let d = long_alone.layers[0]
            .1
            .data
            .iter()
            .zip(&batch[0].layers[3].1.data)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(d <= 1e-5, "long: {d}");
    }
}
