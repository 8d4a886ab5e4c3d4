//! fbank (AST preset) and log-mel on 10 minutes of 16 kHz audio.
//! Compare with `python3 shared/bench/reference.py --only fbank` on the same machine.

use criterion::{criterion_group, criterion_main, Criterion};
use earmark_features::{FeatureConfig, FeatureKind, Preset};

fn bench(c: &mut Criterion) {
    let wave = earmark_testkit::test_signal(16_000, 16_000 * 600, 7);
    let ast = FeatureConfig::with_preset(FeatureKind::Fbank, Preset::Ast).unwrap();
    let mut logmel = FeatureConfig::new(FeatureKind::LogMel);
    for (k, v) in [
        ("n_fft", "1024"),
        ("win_length", "400"),
        ("hop_length", "160"),
        ("n_mels", "64"),
    ] {
        logmel.set(k, v).unwrap();
    }
    let mut g = c.benchmark_group("600s_16k");
    g.sample_size(10);
    g.bench_function("kaldi_fbank_128_ast", |b| {
        b.iter(|| ast.compute(&wave).unwrap())
    });
    g.bench_function("logmel_64_nfft1024_hop160", |b| {
        b.iter(|| logmel.compute(&wave).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
