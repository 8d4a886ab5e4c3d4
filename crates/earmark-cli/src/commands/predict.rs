//! `earmark predict --detector DIR --embeddings X.npz --out P.npy`: calibrated probabilities
//! `[rows, classes]` (float32) of embedding rows.

use anyhow::Context;
use clap::Args;
use earmark::detector::Detector;
use earmark::npy::{read_npz, write_npy_f32, NpyData};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct PredictArgs {
    /// A detector directory written by `earmark train`.
    #[arg(long)]
    pub detector: PathBuf,
    /// Rows to score: an .npz with X [rows, dim] (float).
    #[arg(long)]
    pub embeddings: PathBuf,
    /// Where to write the probabilities, float32 [rows, classes] .npy.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: PredictArgs) -> anyhow::Result<ExitCode> {
    let det = Detector::load(&args.detector)?;
    let m = read_npz(&args.embeddings)?;
    let x = m
        .get("X")
        .with_context(|| format!("{}: no array X", args.embeddings.display()))?;
    let [rows, dim] = x.shape[..] else {
        anyhow::bail!(
            "{}: X has shape {:?}; it must be [rows, dim]",
            args.embeddings.display(),
            x.shape
        );
    };
    let NpyData::Float(v) = &x.data else {
        anyhow::bail!("{}: X must be a float array", args.embeddings.display());
    };
    let xs: Vec<f32> = v.iter().map(|&f| f as f32).collect();
    let p = det
        .predict_rows(&xs, rows, dim)
        .with_context(|| format!("{}", args.embeddings.display()))?;
    let classes = &det.manifest.classes;
    let pf: Vec<f32> = p.iter().map(|&v| v as f32).collect();
    write_npy_f32(&args.out, &[rows, classes.len()], &pf)
        .with_context(|| format!("writing {}", args.out.display()))?;
    println!(
        "{rows} rows → {} [{rows}, {}]",
        args.out.display(),
        classes.len()
    );
    for (k, name) in classes.iter().enumerate() {
        if let Some(t) = det.manifest.thresholds.get(name) {
            let n = p
                .iter()
                .skip(k)
                .step_by(classes.len())
                .filter(|&&q| q >= t.value)
                .count();
            println!(
                "  {name}: {n} rows at or above its threshold {:.3}",
                t.value
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
