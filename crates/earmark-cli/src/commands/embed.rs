//! `earmark embed --model M [--layers …] [--window S --hop S] [--tokens] --out OUT FILES|FOLDER`:
//! frame embeddings with their time axis, per file, as `.npz`.

use anyhow::Context;
use clap::Args;
use earmark::embed::{embed_file, EmbedOptions};
use earmark::models::{load_model, LoadOptions};
use earmark_encoders::LayerSelection;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Args, Debug)]
pub struct EmbedArgs {
    /// Audio files or folders (searched recursively for audio files).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// A registry name (see `earmark models`), a Hugging Face model id, a model folder, a
    /// torchaudio .pth file, or a BEATs .pt checkpoint.
    #[arg(long)]
    pub model: String,
    /// For a .pth that is not a known bundle: the keyword arguments of
    /// torchaudio.models.wav2vec2_model as JSON.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// For such a .pth: torchaudio's waveform normalisation (layer norm over the waveform, eps 1e-5).
    #[arg(long)]
    pub normalize: bool,
    /// all | last | quartiles | I,J,K (hidden-state indices: 0 = input of layer 1, i = output of
    /// layer i). Default: the model's own (quartiles for _ML names, else last).
    #[arg(long)]
    pub layers: Option<String>,
    /// Window length in seconds; 0 embeds the whole file in one pass. Default: whole file up to
    /// 30 s, 10 s windows beyond.
    #[arg(long)]
    pub window: Option<f64>,
    /// Window hop in seconds (default: the window length). Rounded to the encoder's frame hop.
    #[arg(long)]
    pub hop: Option<f64>,
    /// Also write every token of each selected hidden state (tokens_NN) and last_hidden_state.
    #[arg(long)]
    pub tokens: bool,
    /// EAT only: fit each window's log-mel to N frames (zero-pad or truncate; default 1024, the
    /// reference scripts' choice) or `round16` (the window's own length rounded up to a multiple
    /// of 16). It changes every token, so it is part of the embedding cache key.
    #[arg(long)]
    pub eat_frames: Option<earmark_encoders::eat::EatFrames>,
    /// FILE.npz for one input file; otherwise a folder that receives <relative path>.npz per file.
    #[arg(long)]
    pub out: PathBuf,
}

/// Audio files under `inputs`, each with the name its output is derived from.
pub fn collect_audio(inputs: &[PathBuf]) -> anyhow::Result<Vec<(PathBuf, PathBuf)>> {
    const EXT: [&str; 6] = ["wav", "flac", "mp3", "ogg", "oga", "wave"];
    let mut out = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut stack = vec![input.clone()];
            let mut found = Vec::new();
            while let Some(dir) = stack.pop() {
                for entry in std::fs::read_dir(&dir)
                    .with_context(|| format!("{}: reading folder", dir.display()))?
                {
                    let p = entry?.path();
                    if p.is_dir() {
                        stack.push(p);
                    } else if p
                        .extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| EXT.contains(&e.to_ascii_lowercase().as_str()))
                    {
                        let rel = p.strip_prefix(input).unwrap_or(&p).to_path_buf();
                        found.push((p, rel));
                    }
                }
            }
            found.sort();
            out.extend(found);
        } else {
            let name = input
                .file_name()
                .map(PathBuf::from)
                .unwrap_or_else(|| input.clone());
            out.push((input.clone(), name));
        }
    }
    Ok(out)
}

fn out_path(out: &Path, rel: &Path, single: bool) -> PathBuf {
    if single && out.extension().is_some_and(|e| e == "npz") {
        out.to_path_buf()
    } else {
        out.join(rel).with_extension("npz")
    }
}

pub fn run(args: EmbedArgs) -> anyhow::Result<ExitCode> {
    let files = collect_audio(&args.inputs)?;
    anyhow::ensure!(
        !files.is_empty(),
        "no audio files found in {:?}",
        args.inputs
    );
    let load_opts = LoadOptions {
        builder: args.config.clone(),
        normalize: args.normalize,
        eat_frames: args.eat_frames,
        ..LoadOptions::from_env()
    };
    let model = load_model(&args.model, &load_opts)?;
    let layers = match &args.layers {
        Some(s) => s.parse::<LayerSelection>()?,
        None => model.default_layers.clone(),
    };
    let opts = EmbedOptions {
        layers,
        window_secs: args.window,
        hop_secs: args.hop,
        tokens: args.tokens,
    };
    eprintln!(
        "model: {} from {} ({} layers of width {}, hop {} samples at {} Hz)",
        model.spec.map_or(args.model.as_str(), |s| s.name),
        model.source.display(),
        model.encoder.num_layers(),
        model.encoder.dim(),
        model.encoder.grid().hop,
        model.encoder.sample_rate()
    );
    let single = files.len() == 1;
    let bar = ProgressBar::new(files.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} files  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let (mut audio_secs, mut failed) = (0.0f64, 0usize);
    for (path, rel) in &files {
        let result = embed_file(&model, path, &opts)
            .map_err(anyhow::Error::from)
            .and_then(|emb| {
                let dest = out_path(&args.out, rel, single);
                emb.to_npz()
                    .write(&dest)
                    .with_context(|| format!("{}: writing", dest.display()))?;
                Ok((emb, dest))
            });
        match result {
            Ok((emb, dest)) => {
                audio_secs += emb.audio_secs;
                let first = &emb.layers.first().map(|(_, f)| f.shape()).unwrap_or([0, 0]);
                bar.println(format!(
                    "{}: {} frames x {} per layer, {} layer(s), {} window(s) -> {}",
                    path.display(),
                    first[0],
                    first[1],
                    emb.layers.len(),
                    emb.windows,
                    dest.display()
                ));
            }
            Err(e) => {
                failed += 1;
                bar.println(format!("error: {e:#}"));
            }
        }
        let wall = started.elapsed().as_secs_f64();
        bar.set_message(format!(
            "{:.2} h audio, {:.1}x real time",
            audio_secs / 3600.0,
            audio_secs / wall.max(1e-9)
        ));
        bar.inc(1);
    }
    bar.finish_and_clear();
    let wall = started.elapsed().as_secs_f64();
    eprintln!(
        "{} files, {failed} failed, {:.1} s of audio in {:.1} s ({:.1}x real time)",
        files.len(),
        audio_secs,
        wall,
        audio_secs / wall.max(1e-9)
    );
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
