//! `earmark info FILE...`: one line per file, the error line for a bad file, and the other files
//! still reported.

use clap::Args;
use earmark_audio::AudioInfo;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct InfoArgs {
    /// Audio files (WAV, FLAC, MP3, Ogg Vorbis).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// One JSON object per line instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: InfoArgs) -> anyhow::Result<ExitCode> {
    let mut failed = 0usize;
    for path in &args.files {
        match earmark_audio::info(path) {
            Ok(info) => println!(
                "{}",
                if args.json {
                    json_line(&info)
                } else {
                    text_line(&info)
                }
            ),
            Err(err) => {
                failed += 1;
                if args.json {
                    let v = serde_json::json!({"path": path.display().to_string(), "error": err.to_string()});
                    println!("{v}");
                }
                // The error names the file and the cause on one line.
                eprintln!("error: {err}");
            }
        }
    }
    if failed > 0 {
        eprintln!("{failed} of {} files failed", args.files.len());
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn text_line(i: &AudioInfo) -> String {
    let bits = i
        .bits_per_sample
        .map(|b| format!(", {b}-bit"))
        .unwrap_or_default();
    format!(
        "{}: {} {}{bits}, {} ch, {} Hz, {:.3} s ({} frames)",
        i.path.display(),
        i.format,
        i.codec,
        i.channels,
        i.sample_rate,
        i.duration.0,
        i.frames
    )
}

fn json_line(i: &AudioInfo) -> String {
    serde_json::json!({
        "path": i.path.display().to_string(),
        "format": i.format,
        "codec": i.codec,
        "channels": i.channels,
        "sample_rate": i.sample_rate,
        "frames": i.frames,
        "duration_secs": i.duration.0,
        "bits_per_sample": i.bits_per_sample,
    })
    .to_string()
}
