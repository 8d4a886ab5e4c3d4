//! `earmark demo`: one short event in a long clip — what mean and max pooling say, and where the
//! frame view puts it.

use clap::Args;
use earmark::demo::{run as run_demo, DemoOptions};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Output folder (data, demo.html, demo.json).
    #[arg(long, default_value = "earmark-demo")]
    pub out: PathBuf,
    /// Clips to synthesise.
    #[arg(long, default_value_t = 80)]
    pub clips: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.clips >= 12, "--clips must be at least 12");
    let r = run_demo(
        &DemoOptions {
            out: args.out,
            clips: args.clips,
            seed: args.seed,
        },
        &mut |m| eprintln!("{m}"),
    )?;
    println!(
        "{:<16} {:<28} {:>11} {:>10}  {:<22} detected",
        "clip", "truth", "mean-pooled", "max-pooled", "frame peak"
    );
    for row in &r.rows {
        let peak = match row.peak_inside {
            Some(true) => format!("{:.2} s (inside)", row.peak_secs),
            Some(false) => format!("{:.2} s (outside)", row.peak_secs),
            None => format!("{:.2} s", row.peak_secs),
        };
        println!(
            "{:<16} {:<28} {:>11.3} {:>10.3}  {:<22} {}",
            row.clip, row.truth, row.mean_pooled, row.max_pooled, peak, row.detected
        );
    }
    println!(
        "\nmean pooling: clip AUC {:.3}, positive − negative score {:.3}\nmax pooling:  clip AUC {:.3}, positive − negative score {:.3}\nfigures: {}",
        r.mean_pooling_auc, r.mean_pooled_gap, r.max_pooling_auc, r.max_pooled_gap,
        r.report.display()
    );
    Ok(ExitCode::SUCCESS)
}
