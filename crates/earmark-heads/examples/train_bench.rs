//! Training-time benchmark: 150 clips × 500–1000 frames × 64 dims, 3 classes, the head/pooling
//! mixes a workflow compares. Run with `cargo run -p earmark-heads --example train_bench`.

use std::time::Instant;

use candle_core::Device;
use earmark_heads::{
    fit_standardizer, predict, seeded_head, stratified_split, train, Example, HeadConfig, HeadKind,
    Pooling, SplitMix64, TrainOptions,
};

const DIM: usize = 64;
const CLASSES: usize = 3;

/// Noise clips; each class has its own pattern, placed as a 10-frame run in positive clips.
fn clips(n: usize, seed: u64) -> Vec<Example> {
    let mut rng = SplitMix64::new(seed);
    let mut normal = move || {
        let (u1, u2) = (rng.next_f64().max(1e-300), rng.next_f64());
        ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
    };
    let patterns: Vec<Vec<f32>> = (0..CLASSES)
        .map(|_| (0..DIM).map(|_| 0.6 * normal()).collect())
        .collect();
    (0..n)
        .map(|i| {
            let t = 500 + (i * 337) % 501;
            let mut x: Vec<f32> = (0..t * DIM).map(|_| normal()).collect();
            let mut targets = vec![0.0; CLASSES];
            for (c, p) in patterns.iter().enumerate() {
                if (i + c) % 3 == 0 {
                    targets[c] = 1.0;
                    let start = (i * 97 + c * 211) % (t - 10);
                    for f in start..start + 10 {
                        for (d, v) in p.iter().enumerate() {
                            x[f * DIM + d] += v;
                        }
                    }
                }
            }
            Example {
                x,
                n_frames: t,
                dim: DIM,
                targets,
            }
        })
        .collect()
}

fn main() {
    let dev = Device::Cpu;
    let data = clips(150, 1);
    let targets: Vec<Vec<f32>> = data.iter().map(|e| e.targets.clone()).collect();
    let parts = stratified_split(&targets, &[0.8, 0.2], 0);
    let pick = |idx: &[usize]| idx.iter().map(|&i| data[i].clone()).collect::<Vec<_>>();
    let (tr, va) = (pick(&parts[0]), pick(&parts[1]));
    let frames: usize = tr.iter().map(|e| e.n_frames).sum();
    println!(
        "{} train clips ({frames} frames), {} val clips, dim {DIM}",
        tr.len(),
        va.len()
    );
    let (mean, std) = fit_standardizer(&tr);
    let only = std::env::args().nth(1);
    let runs = [
        (HeadKind::Linear, Pooling::Max),
        (HeadKind::Linear, Pooling::Mean),
        (HeadKind::Linear, Pooling::LinearSoftmax),
        (HeadKind::Linear, Pooling::Attention),
        (HeadKind::Linear, Pooling::AutoPool),
        (HeadKind::Mlp { hidden: 64 }, Pooling::Max),
        (
            HeadKind::Conv {
                hidden: 64,
                kernel: 5,
            },
            Pooling::Max,
        ),
    ];
    let total = Instant::now();
    for (kind, pooling) in runs {
        if only
            .as_deref()
            .is_some_and(|o| o != pooling.name() || !format!("{kind:?}").starts_with("Linear"))
            && only.as_deref() != Some(&format!("{kind:?}")[..3])
        {
            continue;
        }
        let cfg = HeadConfig {
            kind: kind.clone(),
            input_mean: Some(mean.clone()),
            input_std: Some(std.clone()),
            ..HeadConfig::linear(DIM, CLASSES, pooling)
        };
        let (head, vm) = seeded_head(cfg, 0, &dev).expect("head");
        let r = train(&head, &vm, &tr, &va, &TrainOptions::default(), &dev).expect("train");
        let t = Instant::now();
        predict(&head, &va, 16, &dev).expect("predict");
        println!(
            "{kind:?} {pooling}: {:.2}s for {} epochs ({:.3}s/epoch, best {} val {:.3}); predict {:.3}s",
            r.seconds,
            r.epochs_run,
            r.seconds / r.epochs_run as f64,
            r.best_epoch,
            r.best_val_loss,
            t.elapsed().as_secs_f64()
        );
    }
    println!("total {:.2}s", total.elapsed().as_secs_f64());
}
