//! CPU timing of full-size, random-weight encoders on one 10 s window, every hidden state kept.
//!
//! - `hubert_base_10s`: transformers `HubertConfig()` defaults (768 wide, 12 layers, group-norm
//!   conv extractor, 128-tap positional conv in 16 groups) on 160 000 samples.
//! - `ast_1024_frames`: `ASTConfig(max_length=1024)` (768 wide, 12 layers, 1214 tokens).
//! - `beats_iter3_10s`: the published `BEATs_iter3` config (512-wide patches, 768 wide, 12
//!   layers, 128-tap positional conv in 16 groups, 320 relative-position buckets up to 800) on
//!   the 998 fbank frames of 10 s (496 tokens), from the normalised fbank.
//! - `eat_base_1024_frames` / `eat_base_round16_1008_frames`: EAT-base fine-tuned on AS-2M
//!   (`EATConfig(model_variant="finetune")`: 768 wide, 12 layers, 12 heads, MLP 3072, 527
//!   classes) on a 10 s window's 998 fbank frames fitted to 1024 (the default `--eat-frames`,
//!   513 tokens) or rounded up to 1008 (`round16`, 505 tokens); logits included.
//!
//! `cargo bench -p earmark-encoders`; compare with
//! `shared/bench/reference.py --only HUBERT_BASE` / `--only AST` at the same thread count
//! (`RAYON_NUM_THREADS`). Weights are random and built in memory: the arithmetic is the same as
//! for a trained checkpoint.

use candle_core::{DType, Device, Result, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder};
use criterion::{criterion_group, criterion_main, Criterion};
use earmark_encoders::ast::{AstModel, Config as AstConfig};
use earmark_encoders::eat::{Config as EatConfig, EatModel};
use earmark_encoders::wav2vec2::{Config, Wav2Vec2Model};
use std::time::{Duration, Instant};

/// Every tensor the model asks for exists and is drawn from N(0, 0.02²); layer-norm weights
/// are drawn around 1.
struct RandomWeights;

impl SimpleBackend for RandomWeights {
    fn get(&self, s: Shape, name: &str, _: Init, dtype: DType, dev: &Device) -> Result<Tensor> {
        let mean = if name.ends_with("norm.weight") || name.ends_with("weight_g") {
            1.0
        } else {
            0.0
        };
        Tensor::randn(mean, 0.02f32, s, dev)?.to_dtype(dtype)
    }

    fn get_unchecked(&self, name: &str, _: DType, _: &Device) -> Result<Tensor> {
        candle_core::bail!("random weights need a shape for {name}")
    }

    fn contains_tensor(&self, _: &str) -> bool {
        true
    }
}

fn random_vb() -> VarBuilder<'static> {
    VarBuilder::from_backend(Box::new(RandomWeights), DType::F32, Device::Cpu)
}

const SECONDS: f64 = 10.0;

fn report(name: &str, mut f: impl FnMut()) {
    f();
    let mut ts: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    ts.sort_by(f64::total_cmp);
    let med = ts[ts.len() / 2];
    println!(
        "{name}: median {med:.3} s over 5 runs (min {:.3} s), {:.1}x realtime for {SECONDS} s audio, {} threads",
        ts[0],
        SECONDS / med,
        candle_core::utils::get_num_threads()
    );
}

fn hubert_base(c: &mut Criterion) {
    let model = Wav2Vec2Model::new(&Config::base("hubert"), random_vb()).expect("HuBERT base");
    let n = (16_000.0 * SECONDS) as usize;
    let wave = Tensor::randn(0f32, 1.0, (1, n), &Device::Cpu).expect("waveform");
    let all: Vec<usize> = (0..=model.num_layers()).collect();
    let mut run = || {
        let out = model.forward(&wave, None, &all, true).expect("forward");
        assert_eq!(out.hidden_states.len(), all.len());
        std::hint::black_box(out);
    };
    report("HUBERT_BASE 10 s", &mut run);
    c.bench_function("hubert_base_10s", |b| b.iter(&mut run));
}

fn ast(c: &mut Criterion) {
    let cfg = AstConfig::audioset_10_10();
    let model = AstModel::new(&cfg, random_vb()).expect("AST");
    let x = Tensor::randn(
        0f32,
        0.5,
        (1, cfg.max_length, cfg.num_mel_bins),
        &Device::Cpu,
    )
    .expect("fbank");
    let all: Vec<usize> = (0..=model.num_layers()).collect();
    let mut run = || {
        let out = model.forward(&x, &all, true).expect("forward");
        assert_eq!(out.hidden_states.len(), all.len());
        std::hint::black_box(out);
    };
    report("AST 1024 frames (10.24 s)", &mut run);
    c.bench_function("ast_1024_frames", |b| b.iter(&mut run));
}

fn eat(c: &mut Criterion) {
    let cfg = EatConfig::base_finetuned();
    let model = EatModel::new(&cfg, random_vb()).expect("EAT");
    let all: Vec<usize> = (0..=model.num_layers()).collect();
    for (label, id, frames) in [
        (
            "EAT-base 1024 frames (10 s padded)",
            "eat_base_1024_frames",
            1024,
        ),
        (
            "EAT-base 1008 frames (10 s round16)",
            "eat_base_round16_1008_frames",
            1008,
        ),
    ] {
        let x = Tensor::randn(0f32, 0.5, (1, frames, cfg.mel_bins), &Device::Cpu).expect("fbank");
        let mut run = || {
            let out = model.forward(&x, &all, true).expect("forward");
            assert_eq!(out.hidden_states.len(), all.len());
            assert!(out.logits.is_some());
            std::hint::black_box(out);
        };
        report(label, &mut run);
        c.bench_function(id, |b| b.iter(&mut run));
    }
}

fn beats(c: &mut Criterion) {
    use earmark_encoders::beats::{BeatsModel, Config as BeatsConfig};
    let model = BeatsModel::new(&BeatsConfig::iter3(), random_vb()).expect("BEATs iter3");
    // 10 s at 16 kHz: 1 + (160 000 − 400) / 160 = 998 fbank frames, 62 columns, 496 tokens.
    let x = Tensor::randn(0f32, 0.5, (1, 998, 128), &Device::Cpu).expect("fbank");
    let all: Vec<usize> = (0..=model.num_layers()).collect();
    let mut run = || {
        let out = model.forward(&x, &all, true).expect("forward");
        assert_eq!(out.hidden_states.len(), all.len());
        std::hint::black_box(out);
    };
    report("BEATS iter3 10 s (998 frames, 496 tokens)", &mut run);
    c.bench_function("beats_iter3_10s", |b| b.iter(&mut run));
}

/// One training step of the built-in CNN: a batch of 16 clips × 1000 log-mel frames, forward and
/// backward (what `earmark workflow` repeats per batch for the scratch baseline).
fn scratch_train_step(c: &mut Criterion) {
    use earmark_encoders::builtin::{ScratchConfig, ScratchEncoder};
    let enc =
        ScratchEncoder::new_seeded(ScratchConfig::default(), 0, &Device::Cpu).expect("scratch");
    let x = Tensor::randn(-40f32, 10.0, (16, 1000, 64), &Device::Cpu).expect("mel");
    let mask = Tensor::ones((16, 1000), DType::F32, &Device::Cpu).expect("mask");
    let mut run = || {
        let (h, _) = enc.cnn().forward(&x, &mask, true).expect("forward");
        let loss = h.sqr().and_then(|t| t.mean_all()).expect("loss");
        std::hint::black_box(loss.backward().expect("backward"));
    };
    report("scratch CNN train step, 16 × 1000 frames", &mut run);
    c.bench_function("scratch_train_step_16x1000", |b| b.iter(&mut run));
}

criterion_group! {
    name = encoders;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(15));
    targets = hubert_base, ast, eat, beats, scratch_train_step
}
criterion_main!(encoders);
