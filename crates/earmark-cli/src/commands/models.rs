//! `earmark models`: the registry, and where each model's weights are looked for.

use clap::Args;
use earmark::hub::HubOptions;
use earmark::models::registry_status;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct ModelsArgs {
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: ModelsArgs) -> anyhow::Result<ExitCode> {
    let hub = HubOptions::from_env();
    let rows = registry_status(&hub);
    if args.json {
        for r in &rows {
            println!("{}", serde_json::to_string(r)?);
        }
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<18} {:>5} {:>6} {:>9}  {:<26} weights",
        "name", "dim", "rate", "hop", "layers"
    );
    for r in &rows {
        let hop_ms = r.hop_samples as f64 * 1000.0 / r.sample_rate as f64;
        let found = match &r.found {
            Some(p) => format!("found: {p}"),
            None => format!("not found; looked in: {}", r.looked_in.join("; ")),
        };
        println!(
            "{:<18} {:>5} {:>6} {:>6.0} ms  {:<26} {found}",
            r.name, r.dim, r.sample_rate, hop_ms, r.layers
        );
    }
    println!(
        "\nRegistry names resolve to torchaudio's bundle file when present, else the Hugging Face cache ({}){}.",
        hub.hf_cache.display(),
        if hub.offline { "; HF_HUB_OFFLINE is set, so nothing is downloaded" } else { ", downloading when online" }
    );
    Ok(ExitCode::SUCCESS)
}
