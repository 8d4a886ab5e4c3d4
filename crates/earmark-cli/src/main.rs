//! `earmark`: timing-aware audio event detection from the command line.
//!
//! Arguments are parsed here (clap) and handed to one module per subcommand; library errors become
//! `anyhow` errors only at this boundary. Exit codes: 0 success, 1 some inputs failed (the others
//! were still processed), 2 usage or setup errors.

mod commands;
mod output;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "earmark",
    version,
    about = "Find short audio events, with their start and end, in long recordings."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Describe audio files: format, codec, channels, rate, duration (or the error, per file).
    Info(commands::info::InfoArgs),
    /// Compute log-mel, Kaldi fbank or Kaldi MFCC features of one file into a float32 .npy.
    Features(commands::features::FeaturesArgs),
    /// Frame embeddings of audio files from a pretrained encoder, every layer, with their time axis.
    Embed(commands::embed::EmbedArgs),
    /// List the encoder registry: name, dimension, rate, frame hop, where weights are looked for.
    Models(commands::models::ModelsArgs),
    /// Write soundscapes with weak and strong labels (procedural sounds or your folders).
    Synth(commands::synth::SynthArgs),
    /// One short event in long clips: what mean and max pooling say, and where the frames put it.
    Demo(commands::demo::DemoArgs),
    /// Train a detector: embeddings → head (gbt, logistic, mlp, mil) → calibration → thresholds.
    Train(commands::train::TrainArgs),
    /// Calibrated probabilities of embedding rows from a trained detector.
    Predict(commands::predict::PredictArgs),
    /// Events (and frame scores) of recordings from a detector: resumable, shardable.
    Scan(commands::scan::ScanArgs),
    /// The embedding cache: `stats`, or `gc [--older-than-days D] [--max-gb G]`.
    Cache(commands::scan::CacheArgs),
    /// Combine the shard outputs of an array-job scan.
    Merge(commands::scan::MergeArgs),
    /// Scratch baseline vs frozen encoder + probe vs adapted encoder, same split, with intervals.
    Compare(commands::workflow::CompareArgs),
    /// Metrics of predicted events against references (clip, segment, event, boundaries), and
    /// threshold-free PSDS and per-class thresholds from score tables.
    Eval(commands::eval::EvalArgs),
    /// The local web page: recordings on a timeline, threshold slider, train and scan dialogs.
    Serve(commands::serve::ServeArgs),
    /// The full loop from weak labels to boundaries: report.html, metrics.json, decision.md.
    Workflow(commands::workflow::WorkflowArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Info(args) => commands::info::run(args),
        Command::Features(args) => commands::features::run(args),
        Command::Embed(args) => commands::embed::run(args),
        Command::Models(args) => commands::models::run(args),
        Command::Synth(args) => commands::synth::run(args),
        Command::Demo(args) => commands::demo::run(args),
        Command::Workflow(args) => commands::workflow::run(args),
        Command::Train(args) => commands::train::run(args),
        Command::Compare(args) => commands::workflow::compare(args),
        Command::Scan(args) => commands::scan::run_scan(args),
        Command::Merge(args) => commands::scan::run_merge(args),
        Command::Cache(args) => commands::scan::run_cache(args),
        Command::Predict(args) => commands::predict::run(args),
        Command::Eval(args) => commands::eval::run(args),
        Command::Serve(args) => commands::serve::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
