//! `earmark workflow`: weak labels → pooling choice → frame scores → boundaries → frozen vs
//! scratch, with `report.html`, `metrics.json` and `decision.md` in `--out`.

use clap::Args;
use earmark::workflow::{run as run_workflow, WorkflowOptions};
use earmark_encoders::adapt::{AdaptOptions, LoraOptions};
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
    #[command(flatten)]
    pub adapt: AdaptArgs,
}

/// Step 6's options.
#[derive(Args, Debug)]
pub struct AdaptArgs {
    /// Transformer layers to fine-tune from the top (1 or 2; 0 skips adaptation). Needs a
    /// wav2vec2/HuBERT/AST --encoder.
    #[arg(long, default_value_t = 1)]
    pub adapt_layers: usize,
    /// Train LoRA adapters of this rank on the top layers' attention projections instead of
    /// the whole layers.
    #[arg(long)]
    pub lora: Option<usize>,
}

impl AdaptArgs {
    fn options(&self, seed: u64) -> anyhow::Result<Option<AdaptOptions>> {
        if self.adapt_layers == 0 {
            anyhow::ensure!(self.lora.is_none(), "--lora needs --adapt-layers 1 or 2");
            return Ok(None);
        }
        anyhow::ensure!(
            self.adapt_layers <= 2,
            "--adapt-layers is 0, 1 or 2 (light adaptation)"
        );
        let lora = match self.lora {
            Some(0) => anyhow::bail!("--lora rank must be at least 1"),
            Some(rank) => Some(LoraOptions {
                rank,
                alpha: 2.0 * rank as f64,
            }),
            None => None,
        };
        Ok(Some(AdaptOptions {
            top_layers: self.adapt_layers,
            lora,
            seed,
        }))
    }
}

/// `earmark compare`: scratch baseline, frozen encoder + probe and adapted encoder on one split.
#[derive(Args, Debug)]
pub struct CompareArgs {
    /// Folder of recordings (names as in --weak). Without it, the default dataset is synthesised.
    #[arg(long, requires = "weak")]
    pub audio: Option<PathBuf>,
    /// Weak labels, DCASE TSV.
    #[arg(long, requires = "audio")]
    pub weak: Option<PathBuf>,
    /// Strong labels, DCASE TSV (event F1 and boundaries become the measure).
    #[arg(long, requires = "audio")]
    pub strong: Option<PathBuf>,
    /// The pretrained encoder to probe frozen and to adapt: a registry name or a model folder.
    #[arg(long)]
    pub encoder: String,
    /// The pooling rule all three models use.
    #[arg(long, default_value = "max")]
    pub pooling: Pooling,
    #[arg(long, default_value = "earmark-compare")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Clips in the synthesised default dataset.
    #[arg(long, default_value_t = 120)]
    pub clips: usize,
    #[arg(long)]
    pub epochs: Option<usize>,
    #[command(flatten)]
    pub adapt: AdaptArgs,
}

pub fn compare(args: CompareArgs) -> anyhow::Result<ExitCode> {
    run(WorkflowArgs {
        audio: args.audio,
        weak: args.weak,
        strong: args.strong,
        encoder: Some(args.encoder),
        out: args.out,
        seed: args.seed,
        clips: args.clips,
        epochs: args.epochs,
        pooling: Some(vec![args.pooling]),
        adapt: args.adapt,
    })
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
        adapt: args.adapt.options(args.seed)?,
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
