//! Pooling against hand-worked values, MIL training on a
//! synthetic task with a known answer, determinism, early stopping, save/load, class weighting.

use std::path::PathBuf;

use candle_core::{DType, Device, Tensor, Var};
use earmark_heads::{
    class_pos_weights, clip_loss, fit_standardizer, load_head, pool, pool_scores, predict,
    save_head, seeded_head, train, Example, FrameHead, HeadConfig, HeadError, HeadKind, Pooling,
    TrainOptions,
};
use earmark_testkit::Rng;

const CPU: Device = Device::Cpu;

// ---------------------------------------------------------------- pooling

/// probs [2,4,2]; clip 0 has 3 real frames, clip 1 has 2. Padding frames hold large values that
/// would change every result if they leaked in.
fn pool_inputs() -> (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>) {
    #[rustfmt::skip]
    let probs = vec![
        0.2, 0.9,   0.6, 0.1,   0.4, 0.5,   0.99, 0.99,
        0.5, 0.3,   0.1, 0.7,   0.95, 0.95, 0.95, 0.95,
    ];
    let mask = vec![1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0];
    let (l2, l3) = (2f32.ln(), 3f32.ln());
    #[rustfmt::skip]
    let att = vec![
        0.0, l3,    l2, 0.0,   0.0, 0.0,   100.0, 100.0,
        0.0, l3,    0.0, 0.0,  50.0, 50.0, 50.0, 50.0,
    ];
    let alpha = vec![0.0, 2.0];
    (probs, mask, att, alpha)
}

fn run_pool(rule: Pooling) -> Vec<f32> {
    let (p, m, a, al) = pool_inputs();
    let p = Tensor::from_vec(p, (2, 4, 2), &CPU).unwrap();
    let m = Tensor::from_vec(m, (2, 4), &CPU).unwrap();
    let a = Tensor::from_vec(a, (2, 4, 2), &CPU).unwrap();
    let al = Tensor::from_vec(al, 2, &CPU).unwrap();
    let out = pool(rule, &p, &m, Some(&a), Some(&al)).unwrap();
    assert_eq!(out.dims(), [2, 2]);
    out.flatten_all().unwrap().to_vec1().unwrap()
}

fn assert_close(what: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol,
            "{what}[{i}]: got {g}, want {w} (all: {got:?})"
        );
    }
}

#[test]
fn pooling_matches_hand_worked_values() {
    assert_close(
        "mean",
        &run_pool(Pooling::Mean),
        &[0.4, 0.5, 0.3, 0.5],
        1e-6,
    );
    assert_close("max", &run_pool(Pooling::Max), &[0.6, 0.9, 0.5, 0.7], 1e-6);
    // Σp²/Σp: (0.04+0.36+0.16)/1.2, (0.81+0.01+0.25)/1.5, (0.25+0.01)/0.6, (0.09+0.49)/1.0
    assert_close(
        "linear_softmax",
        &run_pool(Pooling::LinearSoftmax),
        &[0.56 / 1.2, 1.07 / 1.5, 0.26 / 0.6, 0.58],
        1e-6,
    );
    // Softmax weights over real frames: [1,2,1]/4, [3,1,1]/5, [1,1]/2, [3,1]/4.
    assert_close(
        "attention",
        &run_pool(Pooling::Attention),
        &[0.45, 0.66, 0.3, 0.4],
        1e-6,
    );
    // α = 0 is the mean; α = 2 weights frames by exp(2p).
    let w = |ps: &[f64]| {
        let z: f64 = ps.iter().map(|p| (2.0 * p).exp()).sum();
        (ps.iter().map(|p| p * (2.0 * p).exp()).sum::<f64>() / z) as f32
    };
    assert_close(
        "auto_pool",
        &run_pool(Pooling::AutoPool),
        &[0.4, w(&[0.9, 0.1, 0.5]), 0.3, w(&[0.3, 0.7])],
        1e-6,
    );
}

#[test]
fn pooling_gradients_flow_to_real_frames_only() {
    let (p, m, a, al) = pool_inputs();
    for rule in Pooling::ALL {
        let probs = Var::from_vec(p.clone(), (2, 4, 2), &CPU).unwrap();
        let att = Var::from_vec(a.clone(), (2, 4, 2), &CPU).unwrap();
        let alpha = Var::from_vec(al.clone(), 2, &CPU).unwrap();
        let mask = Tensor::from_vec(m.clone(), (2, 4), &CPU).unwrap();
        let out = pool(rule, &probs, &mask, Some(&att), Some(&alpha)).unwrap();
        let grads = out.sum_all().unwrap().backward().unwrap();
        let g: Vec<f32> = grads
            .get(&probs)
            .expect("grad on probs")
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert!(g.iter().all(|v| v.is_finite()), "{rule}: {g:?}");
        for (i, v) in g.iter().enumerate() {
            let frame = i / 2;
            if m[frame] == 0.0 {
                assert_eq!(*v, 0.0, "{rule}: padding element {i} got gradient {v}");
            }
        }
        let nonzero = g.iter().filter(|v| **v != 0.0).count();
        assert!(
            nonzero >= 4,
            "{rule}: only {nonzero} non-zero gradients: {g:?}"
        );
        if rule == Pooling::Attention {
            let ga: Vec<f32> = grads
                .get(&att)
                .expect("grad on att")
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            assert!(
                ga.iter().any(|v| *v != 0.0),
                "attention logits get no gradient"
            );
        }
        if rule == Pooling::AutoPool {
            let ga: Vec<f32> = grads.get(&alpha).expect("grad on alpha").to_vec1().unwrap();
            assert!(ga[1] != 0.0, "alpha gets no gradient: {ga:?}");
        }
    }
}

#[test]
fn pool_scores_equals_pool() {
    let (p, _, a, al) = pool_inputs();
    for rule in Pooling::ALL {
        let want = run_pool(rule);
        // Clip 0 without its padding frame, and clip 1 without its two.
        let got0 = pool_scores(rule, &p[..6], 2, Some(&a[..6]), Some(&al)).unwrap();
        let got1 = pool_scores(rule, &p[8..12], 2, Some(&a[8..12]), Some(&al)).unwrap();
        assert_close(&format!("{rule} clip 0"), &got0, &want[..2], 1e-7);
        assert_close(&format!("{rule} clip 1"), &got1, &want[2..], 1e-7);
    }
}

// ---------------------------------------------------------------- synthetic MIL

const T: usize = 200;
const DIM: usize = 8;
const RUN: usize = 5;

/// Noise clips; positives carry a 5-frame run of a fixed pattern. Returns the examples and, for
/// positives, the run's first frame.
fn synthetic(n: usize, seed: u64) -> (Vec<Example>, Vec<Option<usize>>) {
    let mut rng = Rng::new(seed);
    let pattern: Vec<f32> = (0..DIM)
        .map(|d| if d % 2 == 0 { 1.8 } else { -1.8 })
        .collect();
    let mut out = Vec::new();
    let mut runs = Vec::new();
    for i in 0..n {
        let mut x: Vec<f32> = (0..T * DIM).map(|_| rng.normal() as f32).collect();
        let run = if i % 2 == 0 {
            let start = (rng.uniform() * (T - RUN) as f64) as usize;
            for f in start..start + RUN {
                for d in 0..DIM {
                    x[f * DIM + d] += pattern[d];
                }
            }
            Some(start)
        } else {
            None
        };
        let targets = vec![if run.is_some() { 1.0 } else { 0.0 }];
        out.push(Example {
            x,
            n_frames: T,
            dim: DIM,
            targets,
        });
        runs.push(run);
    }
    (out, runs)
}

/// Area under the ROC curve by the Mann–Whitney statistic (ties count one half).
fn auc(scores: &[f32], labels: &[bool]) -> f64 {
    let (mut wins, mut pairs) = (0.0, 0.0);
    for (s, l) in scores.iter().zip(labels) {
        if !l {
            continue;
        }
        for (t, m) in scores.iter().zip(labels) {
            if *m {
                continue;
            }
            pairs += 1.0;
            wins += if s > t {
                1.0
            } else if s == t {
                0.5
            } else {
                0.0
            };
        }
    }
    wins / pairs
}

fn linear_cfg(train: &[Example], pooling: Pooling) -> HeadConfig {
    let (mean, std) = fit_standardizer(train);
    HeadConfig {
        input_mean: Some(mean),
        input_std: Some(std),
        ..HeadConfig::linear(DIM, 1, pooling)
    }
}

fn mil_opts() -> TrainOptions {
    TrainOptions {
        max_epochs: 30,
        learning_rate: 0.02,
        patience: 8,
        seed: 5,
        ..TrainOptions::default()
    }
}

#[test]
fn max_pooling_learns_and_localises_weak_labels() {
    let (tr, _) = synthetic(80, 1);
    let (va, _) = synthetic(20, 2);
    let (te, runs) = synthetic(60, 3);
    let labels: Vec<bool> = runs.iter().map(Option::is_some).collect();
    let mut max_auc = 0.0;
    for pooling in [Pooling::Max, Pooling::Mean] {
        let (head, vm) = seeded_head(linear_cfg(&tr, pooling), 11, &CPU).unwrap();
        let report = train(&head, &vm, &tr, &va, &mil_opts(), &CPU).unwrap();
        let preds = predict(&head, &te, 16, &CPU).unwrap();
        let scores: Vec<f32> = preds.iter().map(|p| p.clip_probs[0]).collect();
        let a = auc(&scores, &labels);
        let mut hits = 0;
        for (p, run) in preds.iter().zip(&runs) {
            assert_eq!(p.n_frames, T);
            if let Some(start) = run {
                let peak = (0..T)
                    .max_by(|&i, &j| p.frame_probs[i].total_cmp(&p.frame_probs[j]))
                    .unwrap();
                hits += usize::from((*start..start + RUN).contains(&peak));
            }
        }
        let n_pos = labels.iter().filter(|l| **l).count();
        eprintln!(
            "{pooling}: test AUC {a:.3}, peak in run {hits}/{n_pos}, epochs {} (best {}), {:.2}s",
            report.epochs_run, report.best_epoch, report.seconds
        );
        if pooling == Pooling::Max {
            max_auc = a;
            assert!(a >= 0.9, "max pooling: AUC {a}");
            assert!(
                hits * 10 >= n_pos * 8,
                "max pooling: peak inside the run in {hits}/{n_pos}"
            );
        }
    }
    assert!(max_auc >= 0.9);
}

#[test]
fn same_seed_gives_identical_predictions() {
    let (tr, _) = synthetic(24, 4);
    let (va, _) = synthetic(8, 5);
    let run = |seed: u64| {
        let cfg = HeadConfig {
            kind: HeadKind::Mlp { hidden: 16 },
            dropout: 0.2,
            ..linear_cfg(&tr, Pooling::Attention)
        };
        let (head, vm) = seeded_head(cfg, seed, &CPU).unwrap();
        let opts = TrainOptions {
            max_epochs: 4,
            seed,
            ..mil_opts()
        };
        let report = train(&head, &vm, &tr, &va, &opts, &CPU).unwrap();
        let preds = predict(&head, &va, 4, &CPU).unwrap();
        let flat: Vec<f32> = preds
            .iter()
            .flat_map(|p| p.frame_probs.iter().chain(&p.clip_probs).copied())
            .collect();
        (report.train_loss, flat)
    };
    let (l1, p1) = run(3);
    let (l2, p2) = run(3);
    let (l3, p3) = run(4);
    assert_eq!(l1, l2);
    assert!(
        p1.iter().zip(&p2).all(|(a, b)| a.to_bits() == b.to_bits()),
        "same seed, different predictions"
    );
    assert_ne!(l1, l3);
    assert_ne!(p1, p3);
}

/// Random labels: validation loss gets worse as the head memorises the training clips, so the
/// best epoch is an early one and must be the one restored.
#[test]
fn early_stopping_restores_the_best_epoch() {
    let mut rng = Rng::new(9);
    let mut noisy = |n: usize| -> Vec<Example> {
        (0..n)
            .map(|_| Example {
                x: (0..20 * DIM).map(|_| rng.normal() as f32).collect(),
                n_frames: 20,
                dim: DIM,
                targets: vec![if rng.uniform() < 0.5 { 1.0 } else { 0.0 }],
            })
            .collect()
    };
    let (tr, va) = (noisy(16), noisy(16));
    let cfg = HeadConfig {
        kind: HeadKind::Mlp { hidden: 32 },
        ..HeadConfig::linear(DIM, 1, Pooling::Mean)
    };
    let (head, vm) = seeded_head(cfg, 1, &CPU).unwrap();
    let opts = TrainOptions {
        max_epochs: 60,
        learning_rate: 0.03,
        patience: 5,
        batch_size: 4,
        ..TrainOptions::default()
    };
    let report = train(&head, &vm, &tr, &va, &opts, &CPU).unwrap();
    eprintln!("{report:?}");
    assert!(
        report.epochs_run < opts.max_epochs,
        "never stopped early: {report:?}"
    );
    assert!(report.best_epoch < report.epochs_run);
    assert_eq!(
        report.epochs_run,
        (report.best_epoch + opts.patience).max(opts.min_epochs)
    );
    assert_eq!(report.val_loss[report.best_epoch - 1], report.best_val_loss);
    let last = *report.val_loss.last().unwrap();
    assert!(
        last > report.best_val_loss + 1e-4,
        "last epoch is as good as the best: {report:?}"
    );
    let now = clip_loss(&head, &va, Some(&report.pos_weight), opts.batch_size, &CPU).unwrap();
    assert!(
        (now - report.best_val_loss).abs() <= 1e-5,
        "restored weights give {now}, best was {}",
        report.best_val_loss
    );
}

#[test]
fn no_validation_runs_every_epoch() {
    let (tr, _) = synthetic(8, 6);
    let (head, vm) = seeded_head(HeadConfig::linear(DIM, 1, Pooling::Max), 0, &CPU).unwrap();
    let opts = TrainOptions {
        max_epochs: 3,
        ..TrainOptions::default()
    };
    let report = train(&head, &vm, &tr, &[], &opts, &CPU).unwrap();
    assert_eq!((report.epochs_run, report.best_epoch), (3, 3));
    assert!(report.val_loss.is_empty());
}

#[test]
fn padding_does_not_change_a_clips_outputs() {
    // A conv head sees neighbouring frames: the clip's end must look the same alone or padded.
    let (mut ex, _) = synthetic(2, 7);
    ex[1].n_frames = 37;
    ex[1].x.truncate(37 * DIM);
    let cfg = HeadConfig {
        kind: HeadKind::Conv {
            hidden: 6,
            kernel: 4,
        },
        ..linear_cfg(&ex, Pooling::AutoPool)
    };
    let (head, _vm) = seeded_head(cfg, 2, &CPU).unwrap();
    let together = predict(&head, &ex, 2, &CPU).unwrap();
    let alone = predict(&head, &ex[1..], 1, &CPU).unwrap();
    assert_eq!(together[1].n_frames, 37);
    assert_eq!(together[1].frame_probs.len(), 37);
    assert_close(
        "frames",
        &together[1].frame_probs,
        &alone[0].frame_probs,
        1e-6,
    );
    assert_close("clip", &together[1].clip_probs, &alone[0].clip_probs, 1e-6);
}

// ---------------------------------------------------------------- save / load

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("earmark-heads-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn save_load_round_trip_gives_identical_predictions() {
    let (tr, _) = synthetic(12, 8);
    for (kind, pooling) in [
        (
            HeadKind::Conv {
                hidden: 8,
                kernel: 3,
            },
            Pooling::Attention,
        ),
        (HeadKind::Linear, Pooling::AutoPool),
    ] {
        let cfg = HeadConfig {
            kind,
            dropout: 0.1,
            ..linear_cfg(&tr, pooling)
        };
        let (head, vm) = seeded_head(cfg.clone(), 3, &CPU).unwrap();
        let opts = TrainOptions {
            max_epochs: 2,
            ..TrainOptions::default()
        };
        train(&head, &vm, &tr, &[], &opts, &CPU).unwrap();
        let dir = temp_dir(pooling.name());
        save_head(&dir, &cfg, &vm).unwrap();
        let (loaded, _) = load_head(&dir, &CPU).unwrap();
        assert_eq!(loaded.config(), &cfg);
        let a = predict(&head, &tr, 4, &CPU).unwrap();
        let b = predict(&loaded, &tr, 4, &CPU).unwrap();
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.frame_probs, y.frame_probs);
            assert_eq!(x.clip_probs, y.clip_probs);
            assert_eq!(x.att_logits, y.att_logits);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn load_refuses_weights_with_a_missing_key() {
    let cfg = HeadConfig::linear(DIM, 2, Pooling::Max);
    let (_head, vm) = seeded_head(cfg.clone(), 0, &CPU).unwrap();
    let dir = temp_dir("missing");
    save_head(&dir, &cfg, &vm).unwrap();
    let weights = dir.join("head.safetensors");
    let mut tensors = candle_core::safetensors::load(&weights, &CPU).unwrap();
    tensors.remove("proj.bias");
    tensors.insert(
        "extra.weight".into(),
        Tensor::zeros(3, DType::F32, &CPU).unwrap(),
    );
    candle_core::safetensors::save(&tensors, &weights).unwrap();
    let Err(err) = load_head(&dir, &CPU) else {
        panic!("a head with a missing tensor loaded")
    };
    match &err {
        HeadError::Checkpoint {
            missing,
            unexpected,
            ..
        } => {
            assert_eq!(missing, &vec!["proj.bias".to_string()]);
            assert_eq!(unexpected, &vec!["extra.weight".to_string()]);
        }
        other => panic!("expected a checkpoint error, got {other:?}"),
    }
    assert!(err.to_string().contains("proj.bias"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------- class weighting

#[test]
fn class_weighting_changes_the_loss_when_positives_are_rare() {
    let (mut ex, _) = synthetic(20, 10);
    for (i, e) in ex.iter_mut().enumerate() {
        e.targets = vec![if i == 0 { 1.0 } else { 0.0 }];
    }
    assert_eq!(class_pos_weights(&ex, 1), vec![19.0]);
    let (head, vm) = seeded_head(HeadConfig::linear(DIM, 1, Pooling::Max), 0, &CPU).unwrap();
    let plain = clip_loss(&head, &ex, None, 8, &CPU).unwrap();
    let weighted = clip_loss(&head, &ex, Some(&[19.0]), 8, &CPU).unwrap();
    assert!(
        weighted > plain + 1e-3,
        "weighted {weighted} vs plain {plain}"
    );

    let first_loss = |class_weighting: bool| {
        earmark_heads::init_varmap(&vm, 0).unwrap();
        let opts = TrainOptions {
            max_epochs: 1,
            class_weighting,
            ..TrainOptions::default()
        };
        let r = train(&head, &vm, &ex, &[], &opts, &CPU).unwrap();
        (r.train_loss[0], r.pos_weight)
    };
    let (on, w_on) = first_loss(true);
    let (off, w_off) = first_loss(false);
    assert_eq!((w_on, w_off), (vec![19.0], vec![1.0]));
    assert!(
        (on - off).abs() > 1e-3,
        "weighting did not change the training loss: {on} vs {off}"
    );
}

#[test]
fn bad_data_is_an_error_not_a_panic() {
    let (head, vm) = seeded_head(HeadConfig::linear(DIM, 1, Pooling::Max), 0, &CPU).unwrap();
    let good = Example {
        x: vec![0.0; 2 * DIM],
        n_frames: 2,
        dim: DIM,
        targets: vec![1.0],
    };
    let cases = [
        Example {
            dim: DIM + 1,
            x: vec![0.0; 2 * (DIM + 1)],
            ..good.clone()
        },
        Example {
            x: vec![0.0; 3],
            ..good.clone()
        },
        Example {
            n_frames: 0,
            x: vec![],
            ..good.clone()
        },
        Example {
            targets: vec![1.0, 0.0],
            ..good.clone()
        },
        Example {
            x: vec![f32::NAN; 2 * DIM],
            ..good.clone()
        },
    ];
    for bad in cases {
        let r = train(
            &head,
            &vm,
            &[good.clone(), bad.clone()],
            &[],
            &TrainOptions::default(),
            &CPU,
        );
        assert!(r.is_err(), "accepted {bad:?}");
    }
    assert!(train(&head, &vm, &[], &[], &TrainOptions::default(), &CPU).is_err());
    let zero_batch = TrainOptions {
        batch_size: 0,
        ..TrainOptions::default()
    };
    assert!(train(
        &head,
        &vm,
        std::slice::from_ref(&good),
        &[],
        &zero_batch,
        &CPU
    )
    .is_err());
    assert!(predict(&head, &[good], 0, &CPU).is_err());
    let bad_cfg = HeadConfig {
        input_mean: Some(vec![0.0; 3]),
        ..HeadConfig::linear(DIM, 1, Pooling::Max)
    };
    assert!(seeded_head(bad_cfg, 0, &CPU).is_err());
}

#[allow(dead_code)]
fn _object_safe(_: &dyn earmark_heads::MilModel, _: &FrameHead) {}
