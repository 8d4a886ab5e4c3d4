//! Probes on pooled embeddings: the logistic probe against scikit-learn's coefficients, the MLP
//! on a problem no linear probe can solve, multi-label, determinism and serialisation.

use earmark_heads::{
    Classifier, Learner, Logistic, LogisticOptions, Mlp, MlpOptions, Rows, Targets, Task,
};
use earmark_testkit::Rng;

/// The data of the scikit-learn reference below (60 rows × 4 columns, float32).
fn sk_data() -> (Vec<f32>, Vec<f64>) {
    let (n, d) = (60, 4);
    let mut x = Vec::with_capacity(n * d);
    let mut s = Vec::with_capacity(n);
    for i in 0..n {
        for j in 0..d {
            let (fi, fj) = (i as f64, j as f64);
            x.push(((1.3 * fi + 0.7 * fj).sin() + 0.1 * fj * (0.37 * fi).cos()) as f32);
        }
        let r = &x[i * d..];
        s.push(r[0] as f64 + 0.5 * r[1] as f64 - 0.3 * r[2] as f64 + 0.4 * (5.0 * i as f64).sin());
    }
    (x, s)
}

/// Reference values from scikit-learn 1.8 (numpy 2.x), on `StandardScaler().fit_transform(X)`:
/// `LogisticRegression(C=C, class_weight='balanced', tol=1e-10, max_iter=10000)`, `coef_` and
/// `intercept_`. Binary y = s > 0.3; three classes y = digitize(s, [−0.5, 0.5]).
#[test]
fn logistic_matches_scikit_learn() {
    #[rustfmt::skip]
    let cases: [(&str, f64, Vec<f64>, Vec<f64>); 4] = [
        ("binary", 1.0,
         vec![1.9079830980544037, 1.4698386337882547, 0.3634091680822239, -0.8672692760713309],
         vec![-0.9750813844694324]),
        ("binary", 0.1,
         vec![0.8279652013354413, 0.6555165090614877, 0.1815204882537269, -0.363450036006497],
         vec![-0.3004366483116107]),
        ("multi", 1.0,
         vec![-1.8744001544279592, -1.5239786245271298, -0.45836986952508274, 0.8159414081168835,
              -0.014610370732394136, 0.013497273471532024, 0.03822727147072427, 0.05133343406228697,
              1.8890105251603533, 1.5104813510555983, 0.42014259805435883, -0.8672748421791698],
         vec![-0.7841161657001336, 1.6032772533607154, -0.8191610876605839]),
        ("multi", 0.1,
         vec![-0.6684607231588005, -0.5578655043436898, -0.18869053985872308, 0.2601404220607288,
              -0.0032267668995344103, 0.020239908365836598, 0.03523549459013817, 0.036240062672342525,
              0.6716874900583351, 0.5376255959778531, 0.1534550452685849, -0.29638048473307144],
         vec![-0.2125130942531647, 0.41029673690324386, -0.19778364265007875]),
    ];
    let (x, s) = sk_data();
    let rows = Rows::new(&x, 60, 4).unwrap();
    let mut worst = 0f64;
    for (kind, c, coef, icpt) in cases {
        let y = if kind == "binary" {
            Targets::classes(s.iter().map(|&v| (v > 0.3) as u32).collect(), 2).unwrap()
        } else {
            let y = s.iter().map(|&v| (v >= -0.5) as u32 + (v >= 0.5) as u32);
            Targets::classes(y.collect(), 3).unwrap()
        };
        let opts = LogisticOptions {
            c,
            tol: 1e-10,
            ..LogisticOptions::default()
        };
        let m = Logistic { options: opts }.fit(rows, &y, None).unwrap();
        assert!(m.converged, "{kind} C={c}");
        for (g, w) in m
            .coef
            .iter()
            .zip(&coef)
            .chain(m.intercept.iter().zip(&icpt))
        {
            worst = worst.max((g - w).abs());
            assert!(
                (g - w).abs() < 2e-4,
                "{kind} C={c}: {:?} vs {coef:?}",
                m.coef
            );
        }
    }
    eprintln!("logistic vs scikit-learn: max abs coefficient difference {worst:e}");
}

/// Two-blob XOR in the first two of 8 columns: a linear probe is at chance, the MLP is not.
fn xor_data(n: usize, seed: u64) -> (Vec<f32>, Vec<u32>) {
    let mut rng = Rng::new(seed);
    let d = 8;
    let mut x = Vec::with_capacity(n * d);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let (a, b) = (rng.normal() as f32, rng.normal() as f32);
        x.extend([a, b]);
        x.extend((2..d).map(|_| rng.normal() as f32));
        y.push(((a > 0.0) != (b > 0.0)) as u32);
    }
    (x, y)
}

fn auc(y: &[bool], s: &[f64]) -> f64 {
    earmark_eval::roc_auc(y, s).unwrap()
}

#[test]
fn mlp_solves_what_a_linear_probe_cannot() {
    let (xt, yt) = xor_data(600, 1);
    let (xv, yv) = xor_data(300, 2);
    let (rt, rv) = (
        Rows::new(&xt, 600, 8).unwrap(),
        Rows::new(&xv, 300, 8).unwrap(),
    );
    let targets = Targets::classes(yt, 2).unwrap();
    let truth: Vec<bool> = yv.iter().map(|&v| v == 1).collect();
    let lin = Logistic::default().fit(rt, &targets, None).unwrap();
    let lin_auc = auc(&truth, &lin.decision_function(rv).unwrap());
    let mlp = Mlp {
        options: MlpOptions {
            hidden: 32,
            learning_rate: 1e-2,
            ..MlpOptions::default()
        },
    };
    let m = mlp.fit(rt, &targets, None).unwrap();
    let mlp_auc = auc(&truth, &m.decision_function(rv).unwrap());
    eprintln!(
        "xor: logistic AUC {lin_auc:.3}, MLP AUC {mlp_auc:.3} (best epoch {})",
        m.best_epoch
    );
    assert!(lin_auc < 0.65, "{lin_auc}");
    assert!(mlp_auc > 0.93, "{mlp_auc}");
    // Same seed, same model; JSON round trip keeps every score.
    let again = mlp.fit(rt, &targets, None).unwrap();
    assert_eq!(again, m);
    let back: earmark_heads::MlpModel =
        serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
    assert_eq!(
        back.decision_function(rv).unwrap(),
        m.decision_function(rv).unwrap()
    );
    // Probabilities are [rows, 2] and sum to one.
    let p = m.predict_proba(rv).unwrap();
    assert_eq!(p.len(), 600);
    assert!(p.chunks(2).all(|r| (r[0] + r[1] - 1.0).abs() < 1e-9));
}

#[test]
fn multi_label_probes_learn_each_label() {
    // Label k is present when column k is above 0.3; three labels, independent.
    let (n, d, c) = (400, 6, 3);
    let mut rng = Rng::new(7);
    let x: Vec<f32> = (0..n * d).map(|_| rng.normal() as f32).collect();
    let y: Vec<u32> = (0..n)
        .flat_map(|i| (0..c).map(move |k| (i, k)))
        .map(|(i, k)| (x[i * d + k] > 0.3) as u32)
        .collect();
    let rows = Rows::new(&x, n, d).unwrap();
    let t = Targets::multi_label(y, c).unwrap();
    let lin = Logistic::default().fit(rows, &t, None).unwrap();
    let mlp = Mlp {
        options: MlpOptions {
            hidden: 16,
            learning_rate: 1e-2,
            ..MlpOptions::default()
        },
    }
    .fit(rows, &t, None)
    .unwrap();
    for model in [&lin as &dyn Classifier, &mlp] {
        assert_eq!(model.task(), Task::MultiLabel(3));
        let s = model.decision_function(rows).unwrap();
        for k in 0..c {
            let col: Vec<f64> = s.iter().skip(k).step_by(c).copied().collect();
            let a = auc(&t.column(k), &col);
            assert!(a > 0.97, "label {k}: AUC {a}");
        }
    }
}

#[test]
fn bad_inputs_are_named() {
    let x = vec![0.0f32, 1.0, f32::NAN, 2.0];
    let e = Rows::new(&x, 2, 2).unwrap_err().to_string();
    assert!(e.contains("row 1, column 0"), "{e}");
    let x = vec![0.0f32, 1.0, 2.0, 3.0];
    let rows = Rows::new(&x, 2, 2).unwrap();
    let e = Logistic::default()
        .fit(rows, &Targets::classes(vec![0, 0], 2).unwrap(), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("class 1 has no training rows"), "{e}");
    let m = Logistic::default()
        .fit(rows, &Targets::classes(vec![0, 1], 2).unwrap(), None)
        .unwrap();
    let three = vec![0.0f32; 3];
    let e = m
        .decision_function(Rows::new(&three, 1, 3).unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("embedding dimension"), "{e}");
}
