//! Fit time and validation AUC of the gradient-boosted trees on the data of
//! `shared/bench/reference.py`'s `gbt` job (6000 × 3072 Gaussian features, 5 % of them
//! informative, labels from a noisy linear score; the first 5000 rows train, the last 1000
//! validate), regenerated with the workspace's SplitMix64 (not numpy's stream).
//!
//! Prints JSON lines: (a) a plain fit with scikit-learn's defaults, (b) the reference's whole
//! job: isotonic calibration with 3-fold cross-validation ([`fit_calibrated`], the semantics of
//! `CalibratedClassifierCV(cv=3, method='isotonic')`), then the validation AUC of the averaged
//! calibrated probabilities.
//!
//! `--data DIR` reads numpy's draw instead (`DIR/X.f32`: 6000 × 3072 little-endian `f32`,
//! row-major; `DIR/y.u8`: 6000 labels), so that AUCs compare with scikit-learn's on the same rows.
//!
//! ```text
//! cargo run --release -p earmark-heads --example gbt_bench [-- --feature-fraction 0.5 --max-bins 63 --only plain|cv --data DIR]
//! ```

use std::time::Instant;

use earmark_heads::{
    fit_calibrated, Calibration, Classifier, Gbt, GbtOptions, Learner, Rows, SplitMix64, Targets,
};

const N: usize = 6000;
const D: usize = 3072;
const N_TRAIN: usize = 5000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let mut options = GbtOptions::default();
    if let Some(v) = arg("--feature-fraction") {
        options.feature_fraction = v.parse()?;
    }
    if let Some(v) = arg("--max-bins") {
        options.max_bins = v.parse()?;
    }
    let only = arg("--only");
    let (x, y) = match arg("--data") {
        Some(dir) => read_data(&dir)?,
        None => data(),
    };
    let (xt, yt) = (&x[..N_TRAIN * D], &y[..N_TRAIN]);
    let (xv, yv) = (&x[N_TRAIN * D..], &y[N_TRAIN..]);
    let truth: Vec<bool> = yv.iter().map(|&v| v == 1).collect();
    let gbt = Gbt { options };
    let threads = rayon::current_num_threads();
    let common = serde_json::json!({
        "threads": threads,
        "feature_fraction": gbt.options.feature_fraction,
        "max_bins": gbt.options.max_bins,
    });

    if only.as_deref() != Some("cv") {
        let targets = Targets::classes(yt.to_vec(), 2)?;
        let t = Instant::now();
        let model = gbt.fit(Rows::new(xt, N_TRAIN, D)?, &targets, None)?;
        let fit_s = t.elapsed().as_secs_f64();
        let auc = auc(&model, xv, &truth)?;
        println!(
            "{}",
            serde_json::json!({
                "what": "earmark Gbt plain fit 5000x3072", "fit_s": fit_s, "auc": auc,
                "n_iter": model.n_iter(), "options": common,
            })
        );
    }

    if only.as_deref() != Some("plain") {
        // The reference's job: CalibratedClassifierCV(HistGradientBoostingClassifier(), cv=3,
        // method='isotonic').fit, then the calibrated probabilities of the validation rows.
        let targets = Targets::classes(yt.to_vec(), 2)?;
        let t = Instant::now();
        let cal = fit_calibrated(
            &gbt,
            Rows::new(xt, N_TRAIN, D)?,
            &targets,
            None,
            Calibration::Isotonic,
            3,
        )?;
        let fit_s = t.elapsed().as_secs_f64();
        let p = cal.predict_proba(Rows::new(xv, truth.len(), D)?)?;
        let p1: Vec<f64> = p.chunks(2).map(|r| r[1]).collect();
        let mut fold_aucs = Vec::new();
        for f in &cal.folds {
            fold_aucs.push(auc(&f.model, xv, &truth)?);
        }
        println!(
            "{}",
            serde_json::json!({
                "what": "earmark Gbt + isotonic cv=3, 5000x3072",
                "fit_s": fit_s,
                "auc": earmark_eval::roc_auc(&truth, &p1)?,
                "mean_fold_model_auc": fold_aucs.iter().sum::<f64>() / 3.0,
                "options": common,
            })
        );
    }
    Ok(())
}

/// numpy's draw, written by the reference script.
fn read_data(dir: &str) -> Result<(Vec<f32>, Vec<u32>), Box<dyn std::error::Error>> {
    let xb = std::fs::read(format!("{dir}/X.f32"))?;
    let yb = std::fs::read(format!("{dir}/y.u8"))?;
    if xb.len() != N * D * 4 || yb.len() != N {
        return Err(format!("{dir}: expected {N}x{D} f32 and {N} labels").into());
    }
    let x = xb
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok((x, yb.into_iter().map(u32::from).collect()))
}

/// `reference.py`'s generator: w = normal · (uniform < 0.05), X normal (f32),
/// y = (X·w + 2·noise > 0).
fn data() -> (Vec<f32>, Vec<u32>) {
    let mut rng = SplitMix64::new(0);
    let w: Vec<f64> = (0..D).map(|_| rng.normal()).collect();
    let w: Vec<f64> = w
        .into_iter()
        .map(|v| if rng.next_f64() < 0.05 { v } else { 0.0 })
        .collect();
    let x: Vec<f32> = (0..N * D).map(|_| rng.normal() as f32).collect();
    let y = x
        .chunks_exact(D)
        .map(|row| {
            let s: f64 = row.iter().zip(&w).map(|(&a, &b)| a as f64 * b).sum();
            u32::from(s + 2.0 * rng.normal() > 0.0)
        })
        .collect();
    (x, y)
}

fn auc(
    model: &impl Classifier,
    xv: &[f32],
    truth: &[bool],
) -> Result<f64, Box<dyn std::error::Error>> {
    let s = model.decision_function(Rows::new(xv, truth.len(), D)?)?;
    Ok(earmark_eval::roc_auc(truth, &s)?)
}
