//! Calibration: isotonic against scikit-learn's fixture, Platt scaling recovering a known
//! logistic map, StratifiedKFold folds and CalibratedClassifierCV probabilities as scikit-learn
//! 1.9 computes them (values pasted from /work/venv's scikit-learn, see each test), and the
//! "truth known" check: an overconfident classifier's calibration error falls after calibration.

use earmark_eval::{brier_score, expected_calibration_error};
use earmark_heads::{
    fit_calibrated, stratified_kfold, Calibrated, Calibration, Calibrator, Classifier,
    FittedCalibrator, HeadError, Isotonic, Learner, Rows, Sigmoid, Targets, Task,
};
use earmark_testkit::{read_json, Rng};
use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------- helpers

/// A scikit-learn fixture array (f8 or i8), flat.
fn npy(rel: &str) -> Vec<f64> {
    earmark_testkit::read_npy_f64(rel).0
}

fn json_f64s(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// Asserts `|got − want| <= tol` element-wise and returns the largest difference.
fn close(what: &str, got: &[f64], want: &[f64], tol: f64) -> f64 {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let mut worst = 0.0f64;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let d = (g - w).abs();
        assert!(d <= tol, "{what}[{i}]: got {g}, want {w} (|diff| {d:e})");
        worst = worst.max(d);
    }
    worst
}

/// A learner whose scores ignore the training data except for an offset: binary
/// `scale · x₀ + 0.5 · mean(y == 1)`, multi-class `scale · x_k + 0.5 · mean(y == k)`,
/// multi-label `scale · x_k`. Deterministic, so folds and calibrators can be checked against
/// scikit-learn running the same estimator.
#[derive(Clone, Copy)]
struct Scaled {
    scale: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct ScaledModel {
    task: Task,
    dim: usize,
    scale: f64,
    offset: Vec<f64>,
}

impl Classifier for ScaledModel {
    fn task(&self) -> Task {
        self.task
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn decision_function(&self, x: Rows) -> Result<Vec<f64>, HeadError> {
        let k = self.task.n_outputs();
        let mut out = Vec::with_capacity(x.rows * k);
        for i in 0..x.rows {
            let r = x.row(i);
            out.extend((0..k).map(|j| self.scale * r[j] as f64 + self.offset[j]));
        }
        Ok(out)
    }
}

impl Learner for Scaled {
    type Model = ScaledModel;
    fn fit(
        &self,
        x: Rows,
        y: &Targets,
        _sample_weight: Option<&[f64]>,
    ) -> Result<ScaledModel, HeadError> {
        let n = y.rows() as f64;
        let offset = match y.task {
            Task::Binary => vec![0.5 * (y.y.iter().filter(|&&v| v == 1).count() as f64 / n)],
            Task::MultiClass(k) => (0..k)
                .map(|c| 0.5 * (y.y.iter().filter(|&&v| v as usize == c).count() as f64 / n))
                .collect(),
            Task::MultiLabel(c) => vec![0.0; c],
        };
        Ok(ScaledModel {
            task: y.task,
            dim: x.dim,
            scale: self.scale,
            offset,
        })
    }
}

// ---------------------------------------------------------------- isotonic

/// `IsotonicRegression(out_of_bounds='clip').fit(y_score, y_true)` from
/// testdata/fixtures/metrics/sklearn.json: thresholds, and predictions on new and training x.
#[test]
fn isotonic_matches_sklearn_fixture() {
    let j = read_json("metrics/sklearn.json");
    let want = &j["metrics"]["isotonic"];
    let y: Vec<bool> = npy("metrics/sklearn/y_true.npy")
        .iter()
        .map(|&v| v == 1.0)
        .collect();
    let s = npy("metrics/sklearn/y_score.npy");
    let iso = Isotonic::fit(&s, &y, None).unwrap();
    let mut worst = 0.0f64;
    worst = worst.max(close(
        "X_thresholds",
        &iso.x_thresholds,
        &json_f64s(&want["X_thresholds"]),
        1e-12,
    ));
    worst = worst.max(close(
        "y_thresholds",
        &iso.y_thresholds,
        &json_f64s(&want["y_thresholds"]),
        1e-12,
    ));
    assert_eq!(iso.range().0, want["X_min"].as_f64().unwrap());
    assert_eq!(iso.range().1, want["X_max"].as_f64().unwrap());
    let x_new = npy("metrics/sklearn/iso_x_new.npy");
    worst = worst.max(close(
        "predict(x_new)",
        &iso.predict(&x_new),
        &npy("metrics/sklearn/iso_predict_x_new.npy"),
        1e-12,
    ));
    close(
        "predict(x_new) json",
        &iso.predict(&x_new),
        &json_f64s(&want["predict_x_new"]),
        1e-12,
    );
    let train = iso.predict(&s);
    worst = worst.max(close(
        "predict(y_score)",
        &train,
        &npy("metrics/sklearn/iso_predict_train.npy"),
        1e-12,
    ));
    let brier = brier_score(&y, &train).unwrap();
    worst = worst.max(close(
        "in-sample Brier",
        &[brier],
        &[want["brier_after_calibration_in_sample"].as_f64().unwrap()],
        1e-12,
    ));
    eprintln!("isotonic vs sklearn max abs diff {worst:e}");

    // The thresholds survive a JSON round trip.
    let back: Isotonic = serde_json::from_str(&serde_json::to_string(&iso).unwrap()).unwrap();
    assert_eq!(back, iso);
}

#[test]
fn isotonic_is_monotone_and_weighted() {
    let mut rng = Rng::new(7);
    for trial in 0..20 {
        let n = 5 + trial * 13;
        let s: Vec<f64> = (0..n).map(|_| (rng.normal() * 4.0).round() / 2.0).collect();
        let y: Vec<bool> = s
            .iter()
            .map(|&v| rng.uniform() < 1.0 / (1.0 + (-v).exp()))
            .collect();
        let w: Vec<f64> = (0..n).map(|_| rng.uniform() * 2.0).collect();
        for weights in [None, Some(w.as_slice())] {
            let iso = Isotonic::fit(&s, &y, weights).unwrap();
            let grid: Vec<f64> = (0..200).map(|i| -8.0 + i as f64 * 0.08).collect();
            let p = iso.predict(&grid);
            for k in 1..p.len() {
                assert!(p[k] >= p[k - 1], "trial {trial}: not monotone at {k}");
            }
            assert!(p.iter().all(|v| (0.0..=1.0).contains(v)));
            assert!(iso.x_thresholds.windows(2).all(|w| w[0] < w[1]));
        }
    }
    // Pool-adjacent-violators by hand: truth 1,0,1,0 at scores 1..4 (weights 1,3,1,1) pools the
    // first two to 0.25 and the last two to 0.5.
    let iso = Isotonic::fit(
        &[1.0, 2.0, 3.0, 4.0],
        &[true, false, true, false],
        Some(&[1.0, 3.0, 1.0, 1.0]),
    )
    .unwrap();
    assert_eq!(iso.x_thresholds, vec![1.0, 2.0, 3.0, 4.0]);
    assert_eq!(iso.y_thresholds, vec![0.25, 0.25, 0.5, 0.5]);
    assert_eq!(iso.predict(&[0.0, 2.5, 9.0]), vec![0.25, 0.375, 0.5]);
    // Zero weights drop rows; all-zero weights and bad input are errors, not panics.
    assert!(Isotonic::fit(&[1.0], &[true], Some(&[0.0])).is_err());
    assert!(Isotonic::fit(&[f64::NAN], &[true], None).is_err());
    assert!(Isotonic::fit(&[1.0, 2.0], &[true], None).is_err());
    assert!(Isotonic::fit(&[], &[], None).is_err());
    let one = Isotonic::fit(&[0.3, 0.3], &[true, false], None).unwrap();
    assert_eq!(one.predict(&[-1.0, 0.3, 5.0]), vec![0.5; 3]);
}

// ---------------------------------------------------------------- sigmoid

#[test]
fn sigmoid_recovers_a_known_logistic_map() {
    let (a, b) = (-1.7, 0.4);
    let mut rng = Rng::new(11);
    let n = 40_000;
    let s: Vec<f64> = (0..n).map(|_| rng.uniform() * 8.0 - 4.0).collect();
    let y: Vec<bool> = s
        .iter()
        .map(|&v| rng.uniform() < 1.0 / (1.0 + (a * v + b).exp()))
        .collect();
    let fit = Sigmoid::fit(&s, &y, None).unwrap();
    assert!((fit.a - a).abs() < 0.05, "a = {}", fit.a);
    assert!((fit.b - b).abs() < 0.05, "b = {}", fit.b);
    // Large scores are rescaled internally; the result is the same map.
    let big: Vec<f64> = s.iter().map(|v| v * 100.0).collect();
    let fit_big = Sigmoid::fit(&big, &y, None).unwrap();
    assert!((fit_big.a * 100.0 - fit.a).abs() < 1e-6);
    assert!((fit_big.b - fit.b).abs() < 1e-6);
    // Constant scores: only the intercept is identifiable; no panic, a finite fit.
    let c = Sigmoid::fit(&[1.0; 4], &[true, false, false, false], None).unwrap();
    assert!(c.a.is_finite() && c.b.is_finite());
    // Platt's targets: 1 positive, 3 negatives → p = (2/3 + 3 · 1/5) / 4 at the optimum.
    let p = c.predict_one(1.0);
    assert!((p - (2.0 / 3.0 + 3.0 / 5.0) / 4.0).abs() < 1e-9, "p = {p}");
}

// ---------------------------------------------------------------- folds

/// Expected folds from `StratifiedKFold(n_splits).split(zeros, y)` in scikit-learn 1.9.
#[test]
fn stratified_kfold_matches_sklearn() {
    let cases: [(&[u32], usize, &[usize]); 3] = [
        (
            &[2, 0, 1, 0, 0, 2, 1, 0, 1, 2, 0, 0, 1, 2, 0],
            3,
            &[0, 0, 0, 0, 1, 0, 1, 1, 2, 1, 1, 2, 2, 2, 2],
        ),
        (
            &[1, 1, 0, 1, 0, 1, 1, 1, 0, 1, 1],
            4,
            &[0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3],
        ),
        (
            &[5, 3, 5, 5, 3, 9, 9, 3, 5, 9, 5, 3, 3],
            2,
            &[0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1],
        ),
    ];
    for (y, k, want) in cases {
        assert_eq!(stratified_kfold(y, k).unwrap(), want, "y = {y:?}, k = {k}");
    }
    // By hand, case 1: classes by first appearance are 2 (rows 0 5 9 13), 0 (rows 1 3 4 7 10 11
    // 14) and 1 (rows 2 6 8 12). The 15 class-sorted codes dealt round-robin over 3 folds give
    // positions 0-3 → folds 0 1 2 0, 4-10 → 1 2 0 1 2 0 1, 11-14 → 2 0 1 2, so the per-class
    // fold counts are (2, 1, 1), (2, 3, 2), (1, 1, 2), handed out in row order: class 2 rows get
    // 0 0 1 2, class 0 rows 0 0 1 1 1 2 2, class 1 rows 0 1 2 2.
    let by_hand = [0, 0, 0, 0, 1, 0, 1, 1, 2, 1, 1, 2, 2, 2, 2];
    assert_eq!(stratified_kfold(cases[0].0, 3).unwrap(), by_hand);
    assert!(stratified_kfold(&[0, 1, 0, 1], 1).is_err());
    assert!(stratified_kfold(&[0, 1], 3).is_err());
    assert!(stratified_kfold(&[0, 1, 2, 3], 2).is_err());
}

// ---------------------------------------------------------------- CalibratedClassifierCV

/// The binary data of the scikit-learn comparison (`x` is float32 as in `Rows`).
fn binary_data() -> (Vec<f32>, Vec<u32>) {
    let n = 40;
    let x: Vec<f32> = (0..n)
        .map(|i| (((i * 37) % 41) as f64 / 41.0 * 4.0 - 2.0) as f32)
        .collect();
    let y = (0..n)
        .map(|i| {
            let noise = ((i * 29) % 11) as f64 / 11.0 * 2.0 - 1.0;
            (x[i] as f64 + noise > 0.0) as u32
        })
        .collect();
    (x, y)
}

/// `CalibratedClassifierCV(Scaled(), cv=3, method=m).fit(X, y).predict_proba(X_test)[:, 1]`
/// with the same estimator in Python (scores `3·x + 0.5·mean(y_train)`).
#[test]
fn calibrated_cv_binary_matches_sklearn() {
    let (x, y) = binary_data();
    let rows = Rows::new(&x, x.len(), 1).unwrap();
    let targets = Targets::classes(y.clone(), 2).unwrap();
    let xt: Vec<f32> = vec![-3.0, -1.5, -0.2, 0.0, 0.3, 1.1, 2.5];
    let test = Rows::new(&xt, xt.len(), 1).unwrap();
    let learner = Scaled { scale: 3.0 };

    let iso = fit_calibrated(&learner, rows, &targets, None, Calibration::Isotonic, 3).unwrap();
    let p: Vec<f64> = iso
        .predict_proba(test)
        .unwrap()
        .chunks(2)
        .map(|r| r[1])
        .collect();
    #[rustfmt::skip]
    let want_iso = [0.0, 0.0, 0.35833333068165096, 0.5555555555555555, 0.8097222299121011, 1.0, 1.0];
    let d_iso = close("binary isotonic", &p, &want_iso, 1e-12);

    let sig = fit_calibrated(&learner, rows, &targets, None, Calibration::Sigmoid, 3).unwrap();
    let p: Vec<f64> = sig
        .predict_proba(test)
        .unwrap()
        .chunks(2)
        .map(|r| r[1])
        .collect();
    #[rustfmt::skip]
    let want_sig = [0.012475625837380655, 0.10860449898659898, 0.4647016562200111,
        0.5399649476839499, 0.6484867723996816, 0.86022314812519, 0.9806015168087598];
    // scikit-learn stops L-BFGS-B at a gradient of 1e-6; Newton here goes to 1e-12.
    let d_sig = close("binary sigmoid", &p, &want_sig, 1e-5);
    let want_ab = [
        (-0.4811796339351082, 0.09270277165203723),
        (-0.5109856208915217, -0.21249203086770063),
        (-0.5224046363213113, 0.03420286114306597),
    ];
    // The same folds' optimum solved tightly (scipy Newton-CG, xtol 1e-14, on scikit-learn's
    // loss): Newton here reaches it, scikit-learn's L-BFGS-B stops ~1e-7 short.
    let tight = [
        (-0.4811796225685666, 0.09270275044460831),
        (-0.5109855399166122, -0.21249187035348097),
        (-0.5224046325488692, 0.034202863550104545),
    ];
    let mut d_ab = 0.0f64;
    for (fold, (a, b)) in sig.folds.iter().zip(tight) {
        if let [FittedCalibrator::Sigmoid(s)] = &fold.calibrators[..] {
            close("fold (a, b) optimum", &[s.a, s.b], &[a, b], 1e-8);
        }
    }
    for (fold, (a, b)) in sig.folds.iter().zip(want_ab) {
        match &fold.calibrators[..] {
            [FittedCalibrator::Sigmoid(s)] => {
                d_ab = d_ab.max(close("fold (a, b)", &[s.a, s.b], &[a, b], 1e-5));
            }
            other => panic!("expected one sigmoid calibrator, got {other:?}"),
        }
    }
    eprintln!(
        "CalibratedClassifierCV binary: isotonic max diff {d_iso:e}, sigmoid {d_sig:e}, (a, b) {d_ab:e}"
    );

    // Folds as StratifiedKFold(3) puts them; out-of-fold data covers every row.
    let oof = iso.out_of_fold.as_ref().unwrap();
    #[rustfmt::skip]
    let want_folds = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 2, 2,
        1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2];
    assert_eq!(oof.fold, want_folds);
    assert_eq!(oof.raw_proba.len(), 80);
    assert_eq!(oof.calibrated_proba.len(), 80);
    for r in oof.calibrated_proba.chunks(2) {
        assert!((r[0] + r[1] - 1.0).abs() < 1e-12);
    }

    // Serde round trip of the whole calibrated model gives the same probabilities.
    let json = serde_json::to_string(&sig).unwrap();
    let back: Calibrated<ScaledModel> = serde_json::from_str(&json).unwrap();
    assert_eq!(
        back.predict_proba(test).unwrap(),
        sig.predict_proba(test).unwrap()
    );
    // As a Classifier, its scores map back to the calibrated probabilities.
    let raw = earmark_heads::raw_proba(Task::Binary, &sig.decision_function(test).unwrap());
    close(
        "logit round trip",
        &raw,
        &sig.predict_proba(test).unwrap(),
        1e-12,
    );
}

/// Three classes, `Scaled { scale: 2 }` on three columns, compared with scikit-learn.
#[test]
fn calibrated_cv_multiclass_matches_sklearn() {
    let n = 40;
    let mut x = Vec::with_capacity(n * 3);
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let row: Vec<f32> = [7, 19, 31]
            .iter()
            .map(|&a| (((i * a) % 43) as f64 / 43.0 * 2.0 - 1.0) as f32)
            .collect();
        let noisy: Vec<f64> = [5, 11, 3]
            .iter()
            .zip(&row)
            .map(|(&a, &v)| v as f64 + (((i * a) % 13) as f64 / 13.0 - 0.5))
            .collect();
        let arg = (0..3)
            .max_by(|&a, &b| noisy[a].total_cmp(&noisy[b]).then(b.cmp(&a)))
            .unwrap();
        y.push(arg as u32);
        x.extend(row);
    }
    #[rustfmt::skip]
    let want_y = [0, 1, 1, 1, 2, 0, 0, 1, 2, 1, 0, 2, 0, 1, 1, 2, 2, 0, 0, 2, 1, 1, 1, 0, 0, 2, 2,
        1, 0, 2, 0, 1, 0, 2, 2, 0, 0, 2, 1, 0];
    assert_eq!(y, want_y);
    let rows = Rows::new(&x, n, 3).unwrap();
    let targets = Targets::classes(y, 3).unwrap();
    #[rustfmt::skip]
    let xt: Vec<f32> = vec![0.5, -0.2, 0.1, -0.9, 0.9, 0.0, 0.0, 0.0, 0.0, 0.3, 0.2, 0.8];
    let test = Rows::new(&xt, 4, 3).unwrap();
    let learner = Scaled { scale: 2.0 };
    #[rustfmt::skip]
    let want_iso = [
        0.5523899374110597, 0.20333333333333334, 0.24427672925560698,
        0.037037037037037035, 0.7495242273830165, 0.2134387355799464,
        0.37194551755286587, 0.3177159107189498, 0.31033857172818435,
        0.33353015915105105, 0.1439562556767514, 0.5225135851721976,
    ];
    #[rustfmt::skip]
    let want_sig = [
        0.5046981330037784, 0.2415349315920485, 0.2537669354041732,
        0.13928125813089698, 0.5576136663723444, 0.3031050754967585,
        0.3958699092548719, 0.3289938419799496, 0.27513624876517856,
        0.35939186285488817, 0.2459605230882859, 0.3946476140568258,
    ];
    let mut diffs = Vec::new();
    for (method, want, tol) in [
        (Calibration::Isotonic, &want_iso, 1e-12),
        (Calibration::Sigmoid, &want_sig, 1e-5),
    ] {
        let m = fit_calibrated(&learner, rows, &targets, None, method, 3).unwrap();
        let p = m.predict_proba(test).unwrap();
        diffs.push(close(&format!("multi-class {method}"), &p, want, tol));
        for r in p.chunks(3) {
            assert!((r.iter().sum::<f64>() - 1.0).abs() < 1e-12, "row sums to 1");
        }
        let oof = m.out_of_fold.as_ref().unwrap();
        for r in oof.calibrated_proba.chunks(3) {
            assert!((r.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
        assert_eq!(m.folds.len(), 3);
        assert!(m.folds.iter().all(|f| f.calibrators.len() == 3));
    }
    eprintln!(
        "CalibratedClassifierCV multi-class: isotonic max diff {:e}, sigmoid {:e}",
        diffs[0], diffs[1]
    );
}

#[test]
fn multi_label_is_not_normalised_and_none_fits_once() {
    let mut rng = Rng::new(3);
    let n = 60;
    let x: Vec<f32> = (0..n * 2).map(|_| rng.normal() as f32).collect();
    let y: Vec<u32> = x.iter().map(|&v| (v > 0.0) as u32).collect();
    let rows = Rows::new(&x, n, 2).unwrap();
    let targets = Targets::multi_label(y, 2).unwrap();
    let learner = Scaled { scale: 1.0 };
    let m = fit_calibrated(&learner, rows, &targets, None, Calibration::Isotonic, 4).unwrap();
    let p = m.predict_proba(rows).unwrap();
    assert_eq!(p.len(), n * 2);
    // Labels are separable by their own column: isotonic maps each to 0/1 exactly, so some
    // rows sum to 2 and some to 0 (no normalisation).
    assert!(p.chunks(2).any(|r| r[0] + r[1] > 1.5));
    assert!(p.chunks(2).any(|r| r[0] + r[1] < 0.5));

    let none = fit_calibrated(&learner, rows, &targets, None, Calibration::None, 4).unwrap();
    assert_eq!(none.folds.len(), 1);
    assert!(none.out_of_fold.is_none());
    let want = earmark_heads::raw_proba(
        targets.task,
        &none.folds[0].model.decision_function(rows).unwrap(),
    );
    assert_eq!(none.predict_proba(rows).unwrap(), want);
}

// ---------------------------------------------------------------- truth known

/// Learns nothing; scores `3 ×` the true log-odds `x₀`: a badly overconfident classifier.
struct Overconfident;

#[derive(Clone, Debug, Serialize, Deserialize)]
struct OverconfidentModel;

impl Classifier for OverconfidentModel {
    fn task(&self) -> Task {
        Task::Binary
    }
    fn dim(&self) -> usize {
        1
    }
    fn decision_function(&self, x: Rows) -> Result<Vec<f64>, HeadError> {
        Ok(x.data.iter().map(|&v| 3.0 * v as f64).collect())
    }
}

impl Learner for Overconfident {
    type Model = OverconfidentModel;
    fn fit(&self, _: Rows, _: &Targets, _: Option<&[f64]>) -> Result<Self::Model, HeadError> {
        Ok(OverconfidentModel)
    }
}

/// Rows with `P(y = 1 | x) = σ(x)`, `x ~ N(0, 1.5²)`.
fn logistic_data(rng: &mut Rng, n: usize) -> (Vec<f32>, Vec<u32>) {
    let x: Vec<f32> = (0..n).map(|_| (rng.normal() * 1.5) as f32).collect();
    let y = x
        .iter()
        .map(|&v| (rng.uniform() < earmark_heads::sigmoid(v as f64)) as u32)
        .collect();
    (x, y)
}

#[test]
fn calibration_repairs_an_overconfident_classifier() {
    let mut rng = Rng::new(2024);
    let (x, y) = logistic_data(&mut rng, 4000);
    let (xt, yt) = logistic_data(&mut rng, 4000);
    let rows = Rows::new(&x, x.len(), 1).unwrap();
    let test = Rows::new(&xt, xt.len(), 1).unwrap();
    let targets = Targets::classes(y, 2).unwrap();
    let truth: Vec<bool> = yt.iter().map(|&v| v == 1).collect();
    let pos = |p: Vec<f64>| -> Vec<f64> { p.chunks(2).map(|r| r[1]).collect() };

    let raw = pos(OverconfidentModel.predict_proba(test).unwrap());
    let ece_raw = expected_calibration_error(&truth, &raw, 10).unwrap();
    let brier_raw = brier_score(&truth, &raw).unwrap();
    for method in [Calibration::Isotonic, Calibration::Sigmoid] {
        let m = fit_calibrated(&Overconfident, rows, &targets, None, method, 5).unwrap();
        let p = pos(m.predict_proba(test).unwrap());
        let ece = expected_calibration_error(&truth, &p, 10).unwrap();
        let brier = brier_score(&truth, &p).unwrap();
        eprintln!("{method}: ECE {ece_raw:.4} -> {ece:.4}, Brier {brier_raw:.4} -> {brier:.4}");
        assert!(
            ece_raw > 0.08,
            "the raw model is miscalibrated: ECE {ece_raw}"
        );
        assert!(ece < 0.03, "{method}: ECE after calibration {ece}");
        assert!(ece < ece_raw / 3.0);
        assert!(brier < brier_raw);
        if method == Calibration::Sigmoid {
            // The exact correction is a = 1/3 on scores 3·x (p = σ(x) = 1/(1+exp(−s/3))).
            for f in &m.folds {
                if let [FittedCalibrator::Sigmoid(s)] = &f.calibrators[..] {
                    assert!((s.a + 1.0 / 3.0).abs() < 0.04, "a = {}", s.a);
                    assert!(s.b.abs() < 0.15, "b = {}", s.b);
                }
            }
        }
        // The out-of-fold data shows the same repair on the training rows.
        let oof = m.out_of_fold.as_ref().unwrap();
        let train_truth: Vec<bool> = targets.y.iter().map(|&v| v == 1).collect();
        let before =
            expected_calibration_error(&train_truth, &pos(oof.raw_proba.clone()), 10).unwrap();
        let after =
            expected_calibration_error(&train_truth, &pos(oof.calibrated_proba.clone()), 10)
                .unwrap();
        assert!(after < before / 3.0, "out-of-fold ECE {before} -> {after}");
    }
}

// ---------------------------------------------------------------- errors and names

#[test]
fn errors_and_names() {
    let (x, y) = binary_data();
    let rows = Rows::new(&x, x.len(), 1).unwrap();
    let targets = Targets::classes(y, 2).unwrap();
    let learner = Scaled { scale: 1.0 };
    let e = fit_calibrated(&learner, rows, &targets, None, Calibration::Sigmoid, 1).unwrap_err();
    assert!(matches!(e, HeadError::Config { .. }), "{e}");
    // Class 2 has only 2 rows for 3 folds.
    let mut y3 = vec![0u32; 20];
    y3[..9].fill(1);
    y3[5] = 2;
    y3[7] = 2;
    let x3: Vec<f32> = (0..60).map(|i| i as f32).collect();
    let t3 = Targets::classes(y3, 3).unwrap();
    let e = fit_calibrated(
        &learner,
        Rows::new(&x3, 20, 3).unwrap(),
        &t3,
        None,
        Calibration::Isotonic,
        3,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("class 2 has 2 rows"), "{e}");
    // Mismatched weights and targets.
    let w = vec![1.0; 3];
    assert!(fit_calibrated(&learner, rows, &targets, Some(&w), Calibration::Isotonic, 3).is_err());
    let short = Targets::classes(vec![0, 1], 2).unwrap();
    assert!(fit_calibrated(&learner, rows, &short, None, Calibration::Isotonic, 3).is_err());
    // Weighted fits run and give probabilities.
    let w: Vec<f64> = (0..x.len()).map(|i| 0.5 + (i % 3) as f64).collect();
    let m = fit_calibrated(&learner, rows, &targets, Some(&w), Calibration::Sigmoid, 3).unwrap();
    assert!(m
        .predict_proba(rows)
        .unwrap()
        .iter()
        .all(|p| (0.0..=1.0).contains(p)));
    // Wrong embedding dimension at prediction time.
    let wide = vec![0.0f32; 4];
    assert!(m.predict_proba(Rows::new(&wide, 2, 2).unwrap()).is_err());

    for (name, c) in [
        ("none", Calibration::None),
        ("sigmoid", Calibration::Sigmoid),
        ("isotonic", Calibration::Isotonic),
    ] {
        assert_eq!(name.parse::<Calibration>().unwrap(), c);
        assert_eq!(c.to_string(), name);
        assert_eq!(serde_json::to_string(&c).unwrap(), format!("\"{name}\""));
    }
    assert!("platt".parse::<Calibration>().is_err());
}
