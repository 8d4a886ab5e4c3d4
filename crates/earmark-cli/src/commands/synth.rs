//! `earmark synth`: soundscapes with weak and strong labels (the DESED recipe), deterministic by
//! seed — procedural sounds, or the user's folders of event sounds and backgrounds.

use clap::Args;
use earmark_synth::{procedural_class, write_dataset, Source, SynthOptions};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct SynthArgs {
    /// Output folder: audio/, weak.tsv, strong.tsv, synth.json.
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 100)]
    pub clips: usize,
    /// Clip length in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub secs: f64,
    #[arg(long, default_value_t = 16000)]
    pub rate: u32,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Folder of event sounds, one subfolder per class (else procedural sounds).
    #[arg(long)]
    pub events: Option<PathBuf>,
    /// Folder of background recordings (with --events; else coloured noise and babble).
    #[arg(long, requires = "events")]
    pub backgrounds: Option<PathBuf>,
    /// Procedural classes (comma-separated): impact, burst, voice, chirp.
    #[arg(long, value_delimiter = ',', conflicts_with = "events")]
    pub classes: Option<Vec<String>>,
    /// Fraction of clips with at least one event.
    #[arg(long, default_value_t = 0.5)]
    pub positive_fraction: f64,
    #[arg(long, default_value_t = 2)]
    pub max_events: usize,
    /// Event-to-background SNR range in dB, `LO,HI`.
    #[arg(long, value_delimiter = ',', num_args = 2, default_values_t = [0.0, 12.0])]
    pub snr_db: Vec<f64>,
    /// Forbid overlapping events.
    #[arg(long)]
    pub no_overlap: bool,
}

pub fn run(args: SynthArgs) -> anyhow::Result<ExitCode> {
    let mut opts = SynthOptions {
        n_clips: args.clips,
        clip_secs: args.secs,
        sample_rate: args.rate,
        seed: args.seed,
        positive_fraction: args.positive_fraction,
        max_events_per_clip: args.max_events,
        snr_db: (args.snr_db[0], args.snr_db[1]),
        allow_overlap: !args.no_overlap,
        ..SynthOptions::default()
    };
    if let Some(names) = &args.classes {
        opts.classes = names
            .iter()
            .map(|n| {
                procedural_class(n.trim()).ok_or_else(|| {
                    anyhow::anyhow!(
                        "unknown procedural class {n:?}; known: impact, burst, voice, chirp"
                    )
                })
            })
            .collect::<anyhow::Result<_>>()?;
    }
    let source = match args.events {
        Some(events) => Source::Folders {
            events,
            backgrounds: args.backgrounds,
        },
        None => Source::Procedural,
    };
    let s = write_dataset(&args.out, &opts, &source)?;
    println!(
        "wrote {} clips ({} with events, {} events; classes {}) to {}",
        s.clips,
        s.positives,
        s.events,
        s.classes.join(", "),
        s.dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
