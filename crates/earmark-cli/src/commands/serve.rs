//! `earmark serve`: the local web page over one project folder (see docs/api.md).

use anyhow::Context;
use clap::Args;
use earmark_synth::{write_dataset, Source, SynthOptions};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8765)]
    pub port: u16,
    /// The project folder: any folder of recordings; earmark keeps its files in DIR/.earmark/.
    /// Default: the current folder (with --demo: earmark-demo-project).
    #[arg(long)]
    pub project: Option<PathBuf>,
    /// Listen on this address instead of 127.0.0.1. Anyone who can reach it can read the
    /// project's audio and write its labels: prefer an SSH tunnel to the loopback default.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Synthesise a small demo project (clips with weak and strong labels) into the project
    /// folder first, when it holds no recordings.
    #[arg(long)]
    pub demo: bool,
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let project = args.project.clone().unwrap_or_else(|| {
        PathBuf::from(if args.demo {
            "earmark-demo-project"
        } else {
            "."
        })
    });
    if args.demo {
        std::fs::create_dir_all(&project)
            .with_context(|| format!("creating {}", project.display()))?;
        let has_audio = !earmark::scan::collect(std::slice::from_ref(&project))
            .map_err(anyhow::Error::msg)?
            .is_empty();
        if !has_audio {
            eprintln!("synthesising a demo project into {} …", project.display());
            let opts = SynthOptions {
                n_clips: 48,
                clip_secs: 10.0,
                ..SynthOptions::default()
            };
            let s = write_dataset(&project, &opts, &Source::Procedural)?;
            eprintln!("{} clips, {} events of {:?}", s.clips, s.events, s.classes);
        }
    }
    anyhow::ensure!(
        project.is_dir(),
        "--project {}: not a folder (give a folder of recordings, or --demo)",
        project.display()
    );
    let state = earmark_web::AppState::open(&project)?;
    if !args.host.is_loopback() {
        eprintln!(
            "warning: listening on {} — anyone who reaches this address can read the project's \
             audio and change its labels and detectors; an SSH tunnel to 127.0.0.1 is safer",
            args.host
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the server's runtime")?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(SocketAddr::new(args.host, args.port))
            .await
            .with_context(|| format!("listening on {}:{}", args.host, args.port))?;
        let addr = listener.local_addr()?;
        println!(
            "earmark: serving {} on http://{addr}/ (Ctrl-C stops)",
            state.project.root.display()
        );
        earmark_web::serve(listener, state).await?;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}
