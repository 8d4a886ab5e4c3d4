//! Gradient-boosted trees: accuracy on problems with a known answer (a separable toy, the
//! benchmark's generator at small size, three classes, two labels), determinism, JSON round
//! trip, the `min_samples_leaf` constraint, early stopping, class weights and errors.

use earmark_eval::roc_auc;
use earmark_heads::gbt::EarlyStopping;
use earmark_heads::{
    Classifier, Gbt, GbtModel, GbtOptions, HeadError, Learner, Rows, SplitMix64, Targets, Task,
};

fn fit(options: GbtOptions, x: &[f32], rows: usize, dim: usize, y: &Targets) -> GbtModel {
    Gbt { options }
        .fit(Rows::new(x, rows, dim).unwrap(), y, None)
        .unwrap()
}

fn scores(m: &GbtModel, x: &[f32], rows: usize, dim: usize) -> Vec<f64> {
    m.decision_function(Rows::new(x, rows, dim).unwrap())
        .unwrap()
}

fn normals(rng: &mut SplitMix64, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.normal() as f32).collect()
}

/// `reference.py`'s `gbt` generator at `n × d`: 5 % informative features, y = (X·w + 2·noise > 0).
fn linear_data(n: usize, d: usize, seed: u64) -> (Vec<f32>, Vec<u32>) {
    let mut rng = SplitMix64::new(seed);
    let w: Vec<f64> = (0..d).map(|_| rng.normal()).collect();
    let w: Vec<f64> = w
        .into_iter()
        .map(|v| if rng.next_f64() < 0.05 { v } else { 0.0 })
        .collect();
    let x = normals(&mut rng, n * d);
    let y = x
        .chunks_exact(d)
        .map(|r| {
            let s: f64 = r.iter().zip(&w).map(|(&a, &b)| a as f64 * b).sum();
            u32::from(s + 2.0 * rng.normal() > 0.0)
        })
        .collect();
    (x, y)
}

fn small() -> GbtOptions {
    GbtOptions {
        max_iter: 30,
        ..GbtOptions::default()
    }
}

#[test]
fn separable_toy_is_learned() {
    let (n, d) = (600, 4);
    let mut rng = SplitMix64::new(1);
    let x = normals(&mut rng, n * d);
    let y: Vec<u32> = x.chunks_exact(d).map(|r| u32::from(r[2] > 0.3)).collect();
    let t = Targets::classes(y[..400].to_vec(), 2).unwrap();
    let m = fit(small(), &x[..400 * d], 400, d, &t);
    let s = scores(&m, &x[400 * d..], 200, d);
    let truth: Vec<bool> = y[400..].iter().map(|&v| v == 1).collect();
    assert!(roc_auc(&truth, &s).unwrap() > 0.99);
    let imp = m.feature_importances();
    assert!((imp.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    assert!(imp[2] > 0.9, "importances {imp:?}");
}

/// The bar — validation ROC-AUC within 0.01 of scikit-learn's — on the benchmark's
/// generator at 2000 × 300 (SplitMix64 seed 7, 1500 train / 500 validation rows, defaults).
/// `HistGradientBoostingClassifier(random_state=0)` (scikit-learn 1.8) reached 0.8817 on the
/// identical rows (the generator ported to Python bit for bit); earmark measured 0.8736.
#[test]
fn benchmark_generator_at_small_size() {
    const SKLEARN: f64 = 0.8817;
    const MEASURED: f64 = 0.8736;
    let (n, d) = (2000, 300);
    let (x, y) = linear_data(n, d, 7);
    let t = Targets::classes(y[..1500].to_vec(), 2).unwrap();
    let m = fit(GbtOptions::default(), &x[..1500 * d], 1500, d, &t);
    assert_eq!(m.n_iter(), 100);
    let truth: Vec<bool> = y[1500..].iter().map(|&v| v == 1).collect();
    let auc = roc_auc(&truth, &scores(&m, &x[1500 * d..], 500, d)).unwrap();
    assert!(auc >= SKLEARN - 0.01, "AUC {auc}, scikit-learn {SKLEARN}");
    assert!(
        (auc - MEASURED).abs() < 0.005,
        "AUC {auc}, measured {MEASURED}"
    );
}

#[test]
fn three_classes() {
    let (n, d) = (900, 3);
    let mut rng = SplitMix64::new(3);
    let mut x = Vec::with_capacity(n * d);
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let c = (i % 3) as u32;
        for j in 0..d {
            let centre = if j as u32 == c { 2.0 } else { 0.0 };
            x.push((centre + rng.normal()) as f32);
        }
        y.push(c);
    }
    let t = Targets::classes(y[..600].to_vec(), 3).unwrap();
    let m = fit(small(), &x[..600 * d], 600, d, &t);
    assert_eq!(m.task(), Task::MultiClass(3));
    let p = m
        .predict_proba(Rows::new(&x[600 * d..], 300, d).unwrap())
        .unwrap();
    let mut correct = 0;
    for (row, &yi) in p.chunks_exact(3).zip(&y[600..]) {
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        let arg = (0..3).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
        correct += usize::from(arg as u32 == yi);
    }
    // Chance is 1/3; the Bayes rate here is about 0.86.
    assert!(
        correct as f64 / 300.0 > 0.75,
        "accuracy {}",
        correct as f64 / 300.0
    );
}

#[test]
fn two_labels_are_each_learned() {
    let (n, d) = (500, 3);
    let mut rng = SplitMix64::new(4);
    let x = normals(&mut rng, n * d);
    // Label 0 follows feature 0, label 1 follows feature 2.
    let y: Vec<u32> = x
        .chunks_exact(d)
        .flat_map(|r| [u32::from(r[0] > 0.0), u32::from(r[2] < 0.5)])
        .collect();
    let t = Targets::multi_label(y[..2 * 300].to_vec(), 2).unwrap();
    let m = fit(small(), &x[..300 * d], 300, d, &t);
    let s = scores(&m, &x[300 * d..], 200, d);
    assert_eq!(s.len(), 400);
    for label in 0..2 {
        let truth: Vec<bool> = (300..n).map(|i| y[2 * i + label] == 1).collect();
        let col: Vec<f64> = s.chunks_exact(2).map(|r| r[label]).collect();
        assert!(roc_auc(&truth, &col).unwrap() > 0.97, "label {label}");
    }
}

#[test]
fn same_seed_same_scores_and_json_round_trip() {
    let (n, d) = (400, 20);
    let (x, y) = linear_data(n, d, 5);
    let t = Targets::classes(y, 2).unwrap();
    let o = GbtOptions {
        feature_fraction: 0.5,
        seed: 11,
        ..small()
    };
    let a = fit(o.clone(), &x, n, d, &t);
    let b = fit(o.clone(), &x, n, d, &t);
    let sa = scores(&a, &x, n, d);
    assert_eq!(sa, scores(&b, &x, n, d));
    let c = fit(GbtOptions { seed: 12, ..o }, &x, n, d, &t);
    assert_ne!(sa, scores(&c, &x, n, d));

    let json = a.to_json().unwrap();
    let back = GbtModel::from_json(&json).unwrap();
    assert_eq!(back, a);
    assert_eq!(scores(&back, &x, n, d), sa);
}

#[test]
fn leaves_hold_at_least_min_samples_leaf_rows() {
    let (n, d) = (700, 5);
    let (x, y) = linear_data(n, d, 6);
    let t = Targets::classes(y, 2).unwrap();
    let o = GbtOptions {
        min_samples_leaf: 37,
        max_leaf_nodes: 15,
        ..small()
    };
    let m = fit(o, &x, n, d, &t);
    for tree in &m.outputs[0].trees {
        assert_eq!(tree.nodes[0].count as usize, n);
        assert!(tree.leaves().all(|l| l.count >= 37));
        assert!(tree.leaves().count() <= 15);
        assert_eq!(tree.leaves().map(|l| l.count as usize).sum::<usize>(), n);
    }
    let deep = fit(
        GbtOptions {
            max_depth: Some(2),
            ..small()
        },
        &x,
        n,
        d,
        &t,
    );
    assert!(deep.outputs[0]
        .trees
        .iter()
        .all(|t| t.leaves().count() <= 4));
}

#[test]
fn early_stopping_stops_on_noise() {
    let (n, d) = (600, 5);
    let mut rng = SplitMix64::new(8);
    let x = normals(&mut rng, n * d);
    let y: Vec<u32> = (0..n).map(|_| u32::from(rng.next_f64() < 0.5)).collect();
    let t = Targets::classes(y, 2).unwrap();
    let o = GbtOptions {
        early_stopping: Some(EarlyStopping::default()),
        ..GbtOptions::default()
    };
    let m = fit(o, &x, n, d, &t);
    assert!(m.n_iter() < 100, "ran {} iterations", m.n_iter());
    assert_eq!(m.validation_loss[0].len(), m.n_iter() + 1);
}

#[test]
fn balanced_weights_centre_the_prior() {
    let (n, d) = (400, 2);
    let mut rng = SplitMix64::new(9);
    let x = normals(&mut rng, n * d);
    let y: Vec<u32> = (0..n).map(|i| u32::from(i % 10 == 0)).collect();
    let t = Targets::classes(y, 2).unwrap();
    let o = GbtOptions {
        max_iter: 1,
        class_weight_balanced: true,
        ..GbtOptions::default()
    };
    let m = fit(o, &x, n, d, &t);
    assert!(m.outputs[0].baseline.abs() < 1e-9);
}

#[test]
fn errors_instead_of_panics() {
    let x = vec![0.0f32, 1.0, 2.0, 3.0];
    let rows = Rows::new(&x, 2, 2).unwrap();
    let t = Targets::classes(vec![0, 1], 2).unwrap();
    for o in [
        GbtOptions {
            max_bins: 0,
            ..GbtOptions::default()
        },
        GbtOptions {
            max_bins: 256,
            ..GbtOptions::default()
        },
        GbtOptions {
            learning_rate: 0.0,
            ..GbtOptions::default()
        },
    ] {
        let r = Gbt { options: o }.fit(rows, &t, None);
        assert!(matches!(r, Err(HeadError::Config { .. })), "{r:?}");
    }
    let one_class = Targets::classes(vec![0, 0], 2).unwrap();
    let r = Gbt::default().fit(rows, &one_class, None);
    assert!(matches!(r, Err(HeadError::Data { .. })), "{r:?}");
    let r = Gbt::default().fit(rows, &t, Some(&[1.0]));
    assert!(matches!(r, Err(HeadError::Shape { .. })), "{r:?}");

    // Two rows are too few to split: a constant model, which still predicts.
    let m = Gbt::default().fit(rows, &t, None).unwrap();
    let wrong = Rows::new(&x, 1, 4).unwrap();
    let r = m.decision_function(wrong);
    assert!(matches!(r, Err(HeadError::Shape { .. })), "{r:?}");
    assert!(GbtModel::from_json("{\"task\":\"binary\"}").is_err());
}
