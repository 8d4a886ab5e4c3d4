//! `earmark train`: audio + weak or strong labels (or an embeddings `.npz`) → pooled embeddings →
//! head → calibration → a detector directory with per-class thresholds and validation metrics.

use anyhow::Context;
use clap::Args;
use earmark::cache::{default_dir, EmbeddingCache};
use earmark::detector::crnn::{crnn_detector, log_mel_clips, CrnnOptions};
use earmark::detector::{
    audio_input, embeddings_input, resolve_head, save_detector, train_detector, EmbeddingPooling,
    HeadKindArg, LabelKind, Manifest, ThresholdRule, TrainSettings,
};
use earmark_encoders::LayerSelection;
use earmark_heads::{AugmentOptions, Calibration, HeadKind, Pooling};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Folder of recordings (names as in the label file).
    #[arg(
        long,
        required_unless_present = "embeddings",
        conflicts_with = "embeddings"
    )]
    pub audio: Option<PathBuf>,
    /// Weak labels, DESED TSV: `filename<TAB>event_labels` (comma-separated): one row per file.
    #[arg(long, conflicts_with = "strong")]
    pub weak: Option<PathBuf>,
    /// Strong labels, DESED TSV: `filename onset offset event_label`: every audio file of
    /// --audio is cut into windows; files without events are negatives.
    #[arg(long)]
    pub strong: Option<PathBuf>,
    /// Train on embeddings you already have: X [rows, dim] float, y [rows] class ids or
    /// [rows, classes] 0/1, optional classes (names).
    #[arg(long)]
    pub embeddings: Option<PathBuf>,
    /// Encoder: a registry name (see `earmark models`), a model folder or .pth, or
    /// `scratch[:FILE.safetensors]` (the built-in encoder, no download).
    #[arg(long, default_value = "scratch")]
    pub encoder: String,
    /// Layers: last, all, 3, 4-8, 1,5,9 (default: the encoder's own, all for _ML names).
    #[arg(long)]
    pub layers: Option<String>,
    /// Pooled heads: mean, max or mean_max over the frames of a clip/window (default mean).
    /// --head mil: the MIL pooling rule (max, mean, linear_softmax, attention, auto_pool;
    /// default max).
    #[arg(long)]
    pub pooling: Option<String>,
    /// crnn (the built-in CRNN trained end to end from clip labels: the default for the
    /// built-in encoder with --weak), gbt (histogram gradient-boosted trees on pooled
    /// embeddings: the default for pretrained encoders), logistic, mlp, or mil (a frame head on
    /// frozen frames; with the built-in encoder it means crnn).
    #[arg(long)]
    pub head: Option<HeadKindArg>,
    /// none, sigmoid or isotonic.
    #[arg(long, default_value = "isotonic")]
    pub calibration: Calibration,
    /// Cross-validation folds for calibration and the held-out metrics.
    #[arg(long, default_value_t = 3)]
    pub cv: usize,
    /// Per-class threshold rule: best-f1, precision:P or recall:R.
    #[arg(long, default_value = "best-f1")]
    pub threshold: ThresholdRule,
    /// Strong labels: window length in seconds.
    #[arg(long, default_value_t = 1.0)]
    pub window: f64,
    /// Strong labels: window hop in seconds (default: half the window).
    #[arg(long)]
    pub hop: Option<f64>,
    /// Strong labels: a window is positive when it covers this fraction of an event (of the
    /// window, for events longer than it).
    #[arg(long, default_value_t = 0.5)]
    pub overlap: f64,
    /// Embedding cache folder (default: $EARMARK_CACHE or ~/.cache/earmark/embeddings).
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Do not read or write the embedding cache.
    #[arg(long)]
    pub no_cache: bool,
    /// EAT only: how each window's log-mel is fitted to the model (N frames or `round16`); kept
    /// in the detector so a scan embeds the same way.
    #[arg(long)]
    pub eat_frames: Option<earmark_encoders::eat::EatFrames>,
    /// Gradient-boosting iterations (trees per class).
    #[arg(long)]
    pub max_iter: Option<usize>,
    /// --head mil: the frame head — linear (a logistic probe per frame), mlp (an MLP probe per
    /// frame) or conv (a temporal conv over 5 frames).
    #[arg(long, default_value = "conv")]
    pub frame_head: String,
    /// --head mil/crnn: maximum training epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// --head crnn: models trained from consecutive seeds; the lowest held-out loss is kept.
    #[arg(long, default_value_t = 1)]
    pub seeds: usize,
    /// --head crnn: train without augmentation (for comparisons).
    #[arg(long)]
    pub no_augment: bool,
    /// --head crnn: every training setting as JSON (a file, or the text itself), fields as in
    /// the detector's `head.options.crnn` (model config, pooling, augment, train, seeds,
    /// val_fraction); unnamed fields keep their defaults, flags above still apply on top.
    #[arg(long, value_name = "JSON")]
    pub crnn_options: Option<String>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The detector directory to write.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: TrainArgs) -> anyhow::Result<ExitCode> {
    let start = Instant::now();
    // The CRNN learns from audio with clip labels; an embeddings matrix has neither.
    let from_audio_weak = args.weak.is_some() && args.embeddings.is_none();
    let head =
        resolve_head(&args.encoder, from_audio_weak, args.head).map_err(|e| anyhow::anyhow!(e))?;
    if head == HeadKindArg::Crnn {
        return run_crnn(&args, start);
    }
    if args.encoder == "scratch" {
        eprintln!(
            "note: the built-in encoder's weights are random until trained; {head} on its frozen \
             frames only learns a head (the default with --weak, --head crnn, trains it end to end)"
        );
    }
    let mut settings = TrainSettings {
        head,
        calibration: args.calibration,
        cv: args.cv,
        threshold_rule: args.threshold,
        seed: args.seed,
        ..TrainSettings::default()
    };
    if let Some(m) = args.max_iter {
        anyhow::ensure!(m > 0, "--max-iter must be at least 1");
        settings.gbt.max_iter = m;
    }
    if let Some(e) = args.epochs {
        anyhow::ensure!(e > 0, "--epochs must be at least 1");
        settings.mil.max_epochs = e;
    }
    settings.mil_head = match args.frame_head.as_str() {
        "linear" => HeadKind::Linear,
        "mlp" => HeadKind::Mlp { hidden: 64 },
        "conv" => HeadKind::Conv {
            hidden: 64,
            kernel: 5,
        },
        o => anyhow::bail!("--frame-head {o:?}: use linear, mlp or conv"),
    };
    let mut pooling = EmbeddingPooling::Mean;
    if let Some(p) = &args.pooling {
        if head == HeadKindArg::Mil {
            settings.mil_pooling = p
                .parse::<Pooling>()
                .map_err(|e| anyhow::anyhow!("--pooling {p}: {e}"))?;
        } else {
            pooling = p.parse().map_err(|e| anyhow::anyhow!("--pooling: {e}"))?;
        }
    }
    let input = if let Some(npz) = &args.embeddings {
        anyhow::ensure!(
            args.weak.is_none() && args.strong.is_none(),
            "--embeddings carries its own labels (y); drop --weak/--strong"
        );
        embeddings_input(npz)?
    } else {
        let audio = args.audio.clone().expect("clap requires --audio");
        let labels = match (&args.weak, &args.strong) {
            (Some(w), None) => LabelKind::Weak(w.clone()),
            (None, Some(s)) => {
                anyhow::ensure!(
                    args.window > 0.0 && args.window.is_finite(),
                    "--window must be positive"
                );
                let hop = args.hop.unwrap_or(args.window / 2.0);
                anyhow::ensure!(hop > 0.0 && hop.is_finite(), "--hop must be positive");
                anyhow::ensure!(
                    args.overlap > 0.0 && args.overlap <= 1.0,
                    "--overlap must be in (0, 1]"
                );
                LabelKind::Strong {
                    path: s.clone(),
                    window_secs: args.window,
                    hop_secs: hop,
                    overlap_fraction: args.overlap,
                }
            }
            _ => anyhow::bail!("give the labels: --weak TSV or --strong TSV"),
        };
        let layers = args
            .layers
            .as_deref()
            .map(|l| l.parse::<LayerSelection>())
            .transpose()
            .map_err(|e| anyhow::anyhow!("--layers: {e}"))?;
        let cache = EmbeddingCache::new(if args.no_cache {
            None
        } else {
            Some(args.cache.clone().unwrap_or_else(default_dir))
        });
        let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let progress = |done: usize, total: usize, file: &str| {
            if done < total && tty {
                eprint!("\rembedding {}/{total} {file:<40.40}", done + 1);
            } else if done == total {
                eprintln!("\rembedded {total} recordings{:<50}", "");
            }
        };
        audio_input(
            &audio,
            labels,
            &args.encoder,
            layers.as_ref(),
            pooling,
            &cache,
            &earmark::models::LoadOptions {
                eat_frames: args.eat_frames,
                ..earmark::models::LoadOptions::from_env()
            },
            &progress,
        )?
    };
    eprintln!(
        "training {} (calibration {}, {}-fold)…",
        settings.head, settings.calibration, settings.cv
    );
    let trained = train_detector(input, &settings)?;
    save_detector(
        &args.out,
        &trained.manifest,
        &trained.model,
        Some(&trained.reliability_svg),
    )
    .with_context(|| format!("writing {}", args.out.display()))?;
    report(&trained.manifest, &args.out, start)
}

/// Trains the built-in CRNN end to end from the weak labels.
fn run_crnn(args: &TrainArgs, start: Instant) -> anyhow::Result<ExitCode> {
    let audio = args.audio.clone().expect("clap requires --audio");
    let weak = args.weak.clone().expect("resolve_head requires --weak");
    let mut opts = match &args.crnn_options {
        Some(j) => {
            let text = if std::path::Path::new(j).is_file() {
                std::fs::read_to_string(j).with_context(|| format!("reading {j}"))?
            } else {
                j.clone()
            };
            serde_json::from_str::<CrnnOptions>(&text)
                .map_err(|e| anyhow::anyhow!("--crnn-options: {e}"))?
        }
        None => CrnnOptions::default(),
    };
    if args.seeds > 1 {
        opts.seeds = args.seeds;
    }
    opts.config
        .validate()
        .map_err(|e| anyhow::anyhow!("--crnn-options config: {e}"))?;
    opts.train.seed = args.seed;
    if let Some(e) = args.epochs {
        anyhow::ensure!(e > 0, "--epochs must be at least 1");
        opts.train.max_epochs = e;
        opts.train.min_epochs = opts.train.min_epochs.min(e);
    }
    if let Some(p) = &args.pooling {
        opts.pooling = p
            .parse::<Pooling>()
            .map_err(|e| anyhow::anyhow!("--pooling {p}: {e}"))?;
    }
    if args.no_augment {
        opts.augment = AugmentOptions::none();
    }
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let progress = |done: usize, total: usize, file: &str| {
        if done < total && tty {
            eprint!("\rreading {}/{total} {file:<40.40}", done + 1);
        } else if done == total {
            eprintln!("\rread {total} recordings{:<50}", "");
        }
    };
    let clips = log_mel_clips(&audio, &weak, &opts.config, &progress)?;
    let trained = crnn_detector(&clips, &opts, args.threshold, &|msg| eprintln!("{msg}"))?;
    save_detector(&args.out, &trained.manifest, &trained.model, None)
        .with_context(|| format!("writing {}", args.out.display()))?;
    for (name, p) in &trained.manifest.post {
        if let Some(problem) = &p.problem {
            eprintln!("warning: class {name}: {problem}");
        }
    }
    report(&trained.manifest, &args.out, start)
}

/// Prints what was trained and how it did on held-out data.
fn report(m: &Manifest, out: &std::path::Path, start: Instant) -> anyhow::Result<ExitCode> {
    println!(
        "{} rows, {} classes; held-out: {}",
        m.training.rows,
        m.classes.len(),
        m.validation.protocol
    );
    println!(
        "{:<20} {:>6} {:>7} {:>7} {:>15} {:>15} {:>9} {:>6} {:>6} {:>6}",
        "class", "pos", "AUC", "AP", "Brier raw→cal", "ECE raw→cal", "threshold", "P", "R", "F1"
    );
    let f = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.3}"));
    for (name, c) in &m.validation.classes {
        let t = &c.threshold;
        println!(
            "{:<20} {:>6} {:>7} {:>7} {:>15} {:>15} {:>9.3} {:>6.3} {:>6.3} {:>6.3}{}",
            name,
            c.positives,
            f(c.roc_auc),
            f(c.average_precision),
            format!("{:.3}→{:.3}", c.brier_uncalibrated, c.brier_calibrated),
            format!("{:.3}→{:.3}", c.ece_uncalibrated, c.ece_calibrated),
            t.value,
            t.precision,
            t.recall,
            t.f1,
            if t.target_met {
                ""
            } else {
                "  (target not reached)"
            }
        );
    }
    let failed = &m.training.failed_files;
    for ff in failed {
        eprintln!("skipped {}: {}", ff.file, ff.reason);
    }
    println!(
        "wrote {} ({:.1} s){}",
        out.display(),
        start.elapsed().as_secs_f64(),
        if failed.is_empty() {
            String::new()
        } else {
            format!("; {} file(s) failed and were left out", failed.len())
        }
    );
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
