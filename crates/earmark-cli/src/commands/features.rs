//! `earmark features FILE --kind logmel|fbank|mfcc --out X.npy`: the reference's own option names
//! (`--opt num_mel_bins=128`), presets for the encoders' recipes, and the frame grid written beside
//! the array so the time axis is never lost.

use crate::output::{write_atomic, write_npy_2d};
use anyhow::Context;
use clap::Args;
use earmark_features::{FeatureConfig, FeatureKind, Preset};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct FeaturesArgs {
    /// The audio file.
    pub file: PathBuf,
    /// logmel (torchaudio MelSpectrogram + AmplitudeToDB), fbank or mfcc (torchaudio.compliance.kaldi).
    #[arg(long)]
    pub kind: FeatureKind,
    /// Output .npy: float32 [frames, bins]. The frame grid goes to <out stem>.grid.json.
    #[arg(long)]
    pub out: PathBuf,
    /// A recipe: ast, eat, beats (Kaldi fbank as those encoders call it) or librosa (log-mel).
    #[arg(long)]
    pub preset: Option<Preset>,
    /// NAME=VALUE with NAME a keyword of torchaudio's function (repeatable; overrides the preset).
    #[arg(long = "opt", value_name = "NAME=VALUE")]
    pub opts: Vec<String>,
}

pub fn run(args: FeaturesArgs) -> anyhow::Result<ExitCode> {
    let mut config = match args.preset {
        Some(p) => FeatureConfig::with_preset(args.kind, p)?,
        None => FeatureConfig::new(args.kind),
    };
    for opt in &args.opts {
        let (name, value) = opt
            .split_once('=')
            .with_context(|| format!("--opt {opt:?}: expected NAME=VALUE"))?;
        config.set(name.trim(), value.trim())?;
    }
    let rate = config.sample_rate();
    let wave = earmark_audio::load_mono(&args.file, Some(rate))?;
    let frames = config
        .compute(&wave.samples)
        .with_context(|| format!("{}: computing features", args.file.display()))?;
    let [n, dim] = frames.shape();
    write_npy_2d(&args.out, &frames.data, n, dim)?;

    let grid = frames.grid;
    let meta = serde_json::json!({
        "file": args.file.display().to_string(),
        "kind": format!("{:?}", args.kind).to_lowercase(),
        "shape": [n, dim],
        "sample_rate": grid.rate,
        "hop_samples": grid.hop,
        "win_samples": grid.win,
        "offset_samples": grid.offset,
        "options": config.describe(),
    });
    let grid_path = args.out.with_extension("grid.json");
    write_atomic(&grid_path, serde_json::to_string_pretty(&meta)?.as_bytes())?;
    println!(
        "{}: {n} frames x {dim} bins -> {} (grid: rate {} Hz, hop {} samples, window {} samples, offset {} samples; {})",
        args.file.display(),
        args.out.display(),
        grid.rate,
        grid.hop,
        grid.win,
        grid.offset,
        grid_path.display()
    );
    Ok(ExitCode::SUCCESS)
}
