//! `earmark workflow`: weak labels → pooling choice → frame scores → boundaries → frozen vs
//! scratch, with `report.html`, `metrics.json` and `decision.md` in `--out`.

use clap::Args;
use earmark::workflow::{run as run_workflow, WorkflowOptions};
use earmark_heads::{Pooling, TrainOptions};

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Args, Debug)]
pub struct WorkflowArgs {
    /// Folder of recordings (names as in --weak). Without it, the default dataset is synthesised.
    #[arg(long, requires = "weak")]
    pub audio: Option<PathBuf>,
    /// Weak labels, DCASE TSV: `filename<TAB>event_labels` (comma-separated).
    #[arg(long, requires = "audio")]
    pub weak: Option<PathBuf>,
    /// Strong labels, DCASE TSV: `filename onset offset event_label` (enables boundary steps).
    #[arg(long, requires = "audio")]
    pub strong: Option<PathBuf>,
    /// Registry encoder for the frozen path (e.g. HUBERT_BASE); default: log-mel frames.
    #[arg(long)]
    pub encoder: Option<String>,
    /// Output folder for the artifacts.
    #[arg(long, default_value = "earmark-workflow")]
    pub out: PathBuf,
    /// Seed of the split, the synthesised data and the training.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Clips in the synthesised default dataset.
    #[arg(long, default_value_t = 120)]
    pub clips: usize,
    /// Maximum training epochs per model (early stopping usually ends sooner).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Pooling rules to compare (comma-separated): mean,max,linear_softmax,attention,auto_pool.
    #[arg(long, value_delimiter = ',')]
    pub pooling: Option<Vec<Pooling>>,
}

pub fn run(args: WorkflowArgs) -> anyhow::Result<ExitCode> {
    let start = Instant::now();
    let mut train = TrainOptions {
        seed: args.seed,
        ..WorkflowOptions::default().train
    };
    if let Some(e) = args.epochs {
        anyhow::ensure!(e > 0, "--epochs must be at least 1");
        train.max_epochs = e;
    }
    let opts = WorkflowOptions {
        out: args.out,
        audio: args.audio,
        weak: args.weak,
        strong: args.strong,
        encoder: args.encoder,
        seed: args.seed,
        synth_clips: args.clips,
        train,
        poolings: args.pooling.unwrap_or_else(|| Pooling::ALL.to_vec()),
        ..WorkflowOptions::default()
    };
    let out = run_workflow(&opts, &mut |msg| eprintln!("{msg}"))?;
    println!();
    for line in &out.summary {
        println!("{line}");
    }
    println!(
        "\nwrote {}, {}, {} ({:.1} s)",
        out.report.display(),
        out.metrics_path.display(),
        out.decision.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
