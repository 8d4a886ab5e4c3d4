//! `earmark scan --detector DIR --out OUTDIR [--scores] FILES|FOLDERS`: events (and on request
//! frame scores) for every recording, resumable, shardable; `earmark merge OUTDIR` combines the
//! shards of an array job.

use anyhow::Context;
use clap::Args;
use earmark::detector::Detector;
use earmark::scan::{collect, merge, run, EventFormat, RunOptions, ScanSettings, Scanner, Shard};
use earmark_detect::Merge;
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct ScanArgs {
    /// A detector directory written by `earmark train`.
    #[arg(long)]
    pub detector: PathBuf,
    /// Output folder: events.tsv, summary.json, parts/ (and scores/ with --scores).
    #[arg(long)]
    pub out: PathBuf,
    /// Also write each recording's frame scores: scores/<name>.tsv (sed_scores_eval's format).
    #[arg(long)]
    pub scores: bool,
    /// With --scores, also scores/<name>.npz (float32 [frames, classes], classes, frame grid).
    #[arg(long, requires = "scores")]
    pub scores_npz: bool,
    /// Extra event formats (comma-separated): per-file (events/<name>.tsv), audacity, raven (one
    /// file per recording), jsonl, csv.
    #[arg(long, value_delimiter = ',')]
    pub format: Vec<EventFormat>,
    /// Threshold for every class, or CLASS=P for one (repeatable); default: the detector's.
    #[arg(long)]
    pub threshold: Vec<String>,
    /// How overlapping windows' scores combine on the frame grid.
    #[arg(long, default_value = "mean")]
    pub merge: String,
    /// Window hop in seconds (default: the detector's).
    #[arg(long)]
    pub hop: Option<f64>,
    /// Median filter over score frames (default: 3 for frame heads, 1 for window heads).
    #[arg(long)]
    pub median: Option<usize>,
    /// Drop events shorter than this (seconds).
    #[arg(long, default_value_t = 0.0)]
    pub min_event: f64,
    /// Join events of a class separated by less than this (seconds).
    #[arg(long, default_value_t = 0.0)]
    pub merge_gap: f64,
    /// Scan shard I of N (0-based): every N-th recording, into OUTDIR/shard-I-of-N/. Without it,
    /// Slurm's SLURM_ARRAY_TASK_ID/COUNT or a Kubernetes JOB_COMPLETION_INDEX (with
    /// EARMARK_SHARDS) are used when set.
    #[arg(long)]
    pub shard: Option<Shard>,
    /// Embedding cache folder (default: $EARMARK_CACHE or ~/.cache/earmark/embeddings).
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Do not read or write the embedding cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Rescan recordings an earlier run already finished.
    #[arg(long)]
    pub restart: bool,
    /// Recordings: files and folders (walked recursively for wav, flac, mp3, ogg).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
}

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// The scan's output folder holding shard-*-of-* folders.
    pub out: PathBuf,
    /// Combined event formats to write anew (jsonl, csv); per-recording files are copied from
    /// the shards.
    #[arg(long, value_delimiter = ',')]
    pub format: Vec<EventFormat>,
}

pub fn run_scan(args: ScanArgs) -> anyhow::Result<ExitCode> {
    let mut settings = ScanSettings {
        merge: match args.merge.as_str() {
            "mean" => Merge::Mean,
            "max" => Merge::Max,
            o => anyhow::bail!("--merge {o:?}: use mean or max"),
        },
        hop_secs: args.hop,
        median_filter_frames: args.median,
        min_event_secs: args.min_event,
        merge_gap_secs: args.merge_gap,
        ..ScanSettings::default()
    };
    anyhow::ensure!(args.hop.is_none_or(|h| h > 0.0), "--hop must be positive");
    let mut per_class = BTreeMap::new();
    for t in &args.threshold {
        let (name, v) = match t.split_once('=') {
            Some((n, v)) => (Some(n.to_string()), v),
            None => (None, t.as_str()),
        };
        let v: f32 = v
            .parse()
            .ok()
            .filter(|x: &f32| (0.0..=1.0).contains(x))
            .with_context(|| format!("--threshold {t:?}: a probability in [0, 1]"))?;
        match name {
            Some(n) => {
                per_class.insert(n, v);
            }
            None => settings.threshold = Some(v),
        }
    }
    settings.thresholds = per_class;
    let shard = match args.shard {
        Some(s) => Some(s),
        None => Shard::from_env(|k| std::env::var(k).ok()).map_err(anyhow::Error::msg)?,
    };
    let detector = Detector::load(&args.detector)?;
    let cache = (!args.no_cache).then(|| {
        args.cache
            .clone()
            .unwrap_or_else(earmark::cache::default_dir)
    });
    let scanner = Scanner::new(detector, &settings)
        .map_err(anyhow::Error::msg)?
        .with_cache(cache);
    let mut inputs = collect(&args.inputs).map_err(anyhow::Error::msg)?;
    anyhow::ensure!(
        !inputs.is_empty(),
        "no audio files (wav, flac, mp3, ogg) in {:?}",
        args.inputs
    );
    if let Some(s) = shard {
        inputs = s.select(inputs);
    }
    let bar = ProgressBar::new(inputs.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} files  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let opts = RunOptions {
        out: args.out.clone(),
        scores: args.scores,
        scores_npz: args.scores_npz,
        formats: args.format.clone(),
        shard,
        restart: args.restart,
    };
    let summary = run(
        &inputs,
        &scanner,
        &opts,
        &mut |done, _total, audio, wall, file| {
            bar.set_position(done as u64);
            bar.set_message(format!(
                "{:.2} h audio, {:.0}× real time  {file}",
                audio / 3600.0,
                if wall > 0.0 { audio / wall } else { 0.0 }
            ));
        },
    )
    .map_err(anyhow::Error::msg)?;
    bar.finish_and_clear();
    for w in &summary.whole_recording_events {
        eprintln!(
            "warning: {}: the {} score stayed above its threshold over the whole recording; \
             that event is left out (the detector did not localise it)",
            w.file, w.label
        );
    }
    for f in &summary.failures {
        eprintln!("failed {}: {}", f.file, f.reason);
    }
    let dir = match shard {
        Some(s) => args.out.join(s.dir_name()),
        None => args.out.clone(),
    };
    println!(
        "{} recordings scanned ({} from an earlier run), {} failed; {} events; {:.2} h audio in {:.1} s ({:.0}× real time) → {}",
        summary.files_done,
        summary.files_resumed,
        summary.files_failed,
        summary.events,
        summary.audio_hours,
        summary.wall_seconds,
        summary.real_time_factor,
        dir.join("events.tsv").display()
    );
    Ok(if summary.files_failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

pub fn run_merge(args: MergeArgs) -> anyhow::Result<ExitCode> {
    let m = merge(&args.out, &args.format).map_err(anyhow::Error::msg)?;
    for s in &m.missing_shards {
        eprintln!("missing {s}");
    }
    println!(
        "merged {} shard(s): {} recordings, {} failed, {} events, {:.2} h audio → {}",
        m.shards.len(),
        m.files_done,
        m.files_failed,
        m.events,
        m.audio_hours,
        args.out.join("events.tsv").display()
    );
    Ok(if m.files_failed > 0 || !m.missing_shards.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

#[derive(Args, Debug)]
pub struct CacheArgs {
    /// stats or gc.
    pub action: String,
    /// The cache folder (default: $EARMARK_CACHE or ~/.cache/earmark/embeddings).
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// gc: remove entries not written for this many days.
    #[arg(long)]
    pub older_than_days: Option<f64>,
    /// gc: then remove the oldest entries until the cache is at most this many GB.
    #[arg(long)]
    pub max_gb: Option<f64>,
}

pub fn run_cache(args: CacheArgs) -> anyhow::Result<ExitCode> {
    let root = args.cache.unwrap_or_else(earmark::cache::default_dir);
    match args.action.as_str() {
        "stats" => {
            let s = earmark::cache::stats(&root);
            println!("{}", root.display());
            for (kind, (n, bytes)) in &s.kinds {
                println!(
                    "  {kind:<7} {n:>8} entries {:>10.1} MB",
                    *bytes as f64 / 1e6
                );
            }
            if s.temporaries > 0 {
                println!(
                    "  {} temporary file(s) of interrupted writes",
                    s.temporaries
                );
            }
        }
        "gc" => {
            anyhow::ensure!(
                args.max_gb.is_none_or(|g| g >= 0.0)
                    && args.older_than_days.is_none_or(|d| d >= 0.0),
                "--max-gb and --older-than-days must be ≥ 0"
            );
            let r = earmark::cache::gc(
                &root,
                args.older_than_days,
                args.max_gb.map(|g| (g * 1e9) as u64),
            );
            println!(
                "removed {} entries ({:.1} MB); kept {} ({:.1} MB) in {}",
                r.removed,
                r.freed_bytes as f64 / 1e6,
                r.kept,
                r.kept_bytes as f64 / 1e6,
                root.display()
            );
        }
        o => anyhow::bail!("earmark cache {o:?}: use stats or gc"),
    }
    Ok(ExitCode::SUCCESS)
}
