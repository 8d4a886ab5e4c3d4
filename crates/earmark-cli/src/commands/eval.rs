//! `earmark eval --pred TSV --truth TSV [--durations TSV] [--scores DIR]`: clip-level,
//! segment-based (1 s) and event-based (0.2 s collars) metrics with boundary errors, class-wise and
//! overall; with `--scores`, a threshold-free PSDS (sed_scores_eval's intersection-based PSDS) and
//! per-class best thresholds (collar-based event F1), optionally written into a detector.
//! Exit code 1 when a score table fails to parse (it is named with the line; the rest is still
//! evaluated), 2 on usage errors.

use anyhow::Context;
use clap::Args;
use earmark::evaluate::{evaluate, write_report, write_thresholds, EvalOptions, ScorePsdsParams};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Predicted events, DCASE/DESED strong TSV (`filename onset offset event_label`).
    #[arg(long)]
    pub pred: PathBuf,
    /// Reference events, same format (rows without a label list files without events).
    #[arg(long)]
    pub truth: PathBuf,
    /// File durations, `filename<TAB>duration` (DESED's durations file). Without it, a file's
    /// duration is the largest offset of its reference or predicted events.
    #[arg(long)]
    pub durations: Option<PathBuf>,
    /// A folder of sed_scores_eval score tables, `<recording id>.tsv` with columns
    /// `onset offset <class>…`: adds clip ROC-AUC/AP, threshold-free PSDS and best thresholds.
    #[arg(long)]
    pub scores: Option<PathBuf>,
    /// DCASE 2023+ PSDS scenario: 1 (dtc 0.7, gtc 0.7, no cttc, alpha_ct 0, alpha_st 1,
    /// max_efpr 100) or 2 (dtc 0.1, gtc 0.1, cttc 0.3, alpha_ct 0.5, alpha_st 1, max_efpr 100).
    /// Default: both, unless a parameter flag is given (then scenario 1 with the overrides).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=2))]
    pub psds_scenario: Option<u8>,
    /// Override the detection tolerance criterion.
    #[arg(long)]
    pub dtc: Option<f64>,
    /// Override the ground-truth intersection criterion.
    #[arg(long)]
    pub gtc: Option<f64>,
    /// Override the cross-trigger tolerance criterion (used only when alpha_ct > 0).
    #[arg(long)]
    pub cttc: Option<f64>,
    /// Override the cross-trigger weight (0 ignores cross-triggers).
    #[arg(long)]
    pub alpha_ct: Option<f64>,
    /// Override the across-class stability weight.
    #[arg(long)]
    pub alpha_st: Option<f64>,
    /// Override the largest eFPR (per hour) the PSD-ROC is integrated to.
    #[arg(long)]
    pub max_efpr: Option<f64>,
    /// Write every number as JSON here (atomically).
    #[arg(long, alias = "out")]
    pub json: Option<PathBuf>,
    /// Write the per-class best thresholds from --scores into DETECTOR_DIR/detector.json.
    #[arg(long, value_name = "DETECTOR_DIR", requires = "scores")]
    pub write_thresholds: Option<PathBuf>,
}

fn psds_sets(a: &EvalArgs) -> anyhow::Result<Vec<(String, ScorePsdsParams)>> {
    let overrides = a.dtc.is_some()
        || a.gtc.is_some()
        || a.cttc.is_some()
        || a.alpha_ct.is_some()
        || a.alpha_st.is_some()
        || a.max_efpr.is_some();
    let base: Vec<u8> = match (a.psds_scenario, overrides) {
        (Some(s), _) => vec![s],
        (None, true) => vec![1],
        (None, false) => vec![1, 2],
    };
    let mut out = Vec::new();
    for s in base {
        let mut p = if s == 1 {
            ScorePsdsParams::scenario1()
        } else {
            ScorePsdsParams::scenario2()
        };
        p.dtc_threshold = a.dtc.unwrap_or(p.dtc_threshold);
        p.gtc_threshold = a.gtc.unwrap_or(p.gtc_threshold);
        p.alpha_ct = a.alpha_ct.unwrap_or(p.alpha_ct);
        p.alpha_st = a.alpha_st.unwrap_or(p.alpha_st);
        p.max_efpr = a.max_efpr.unwrap_or(p.max_efpr);
        p.cttc_threshold = a.cttc.or(p.cttc_threshold);
        if p.alpha_ct == 0.0 {
            // sed_scores_eval: cross-triggers are not counted when they weigh nothing
            p.cttc_threshold = None;
        } else if p.cttc_threshold.is_none() {
            anyhow::bail!("--alpha-ct {} needs --cttc", p.alpha_ct);
        }
        p.validate().context("PSDS parameters")?;
        let name = if overrides {
            format!("psds{s}_custom")
        } else {
            format!("psds{s}")
        };
        out.push((name, p));
    }
    Ok(out)
}

fn num(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.3}")
    } else {
        "-".into()
    }
}

fn opt(x: Option<f64>) -> String {
    x.map_or("-".into(), num)
}

pub fn run(args: EvalArgs) -> anyhow::Result<ExitCode> {
    let mut opts = EvalOptions::new(args.pred.clone(), args.truth.clone());
    opts.durations = args.durations.clone();
    opts.scores = args.scores.clone();
    opts.psds = psds_sets(&args)?;
    if let Some(d) = &args.scores {
        anyhow::ensure!(d.is_dir(), "--scores {}: not a folder", d.display());
    }
    let r = evaluate(&opts)?;

    println!(
        "{} files, {} classes; durations: {}",
        r.files.len(),
        r.classes.len(),
        r.durations_source
    );
    let ev = &r.event_options;
    println!(
        "clip: file positive when it has an event of the class; segment-based: {} s segments; \
         event-based: onset collar {} s, offset collar max({} s, {} × length)",
        r.segment_secs, ev.t_collar_secs, ev.t_collar_secs, ev.percentage_of_length
    );
    let psds_names: Vec<String> = r
        .scores
        .iter()
        .flat_map(|s| s.psds.iter().map(|p| p.name.clone()))
        .collect();
    let mut header = format!(
        "{:<14} {:>6} {:>6} {:>6} {:>7} {:>7} {:>7} {:>6} {:>6} {:>6} {:>8} {:>8}",
        "class",
        "clipP",
        "clipR",
        "clipF1",
        "clipAUC",
        "segF1",
        "segER",
        "evtF1",
        "evtER",
        "match",
        "onset_md",
        "offst_md"
    );
    for n in &psds_names {
        header.push_str(&format!(" {n:>7}"));
    }
    if r.scores.is_some() {
        header.push_str(&format!(" {:>8} {:>6}", "thr", "thrF1"));
    }
    println!("{header}");
    let b = &r.boundary.overall;
    let mut line = format!(
        "{:<14} {:>6} {:>6} {:>6} {:>7} {:>7} {:>7} {:>6} {:>6} {:>6} {:>8} {:>8}",
        "overall",
        num(r.clip.micro.precision),
        num(r.clip.micro.recall),
        num(r.clip.micro.f1),
        opt(r.clip.macro_roc_auc),
        num(r.segment_based.overall.f_measure.f_measure),
        num(r.segment_based.overall.error_rate.error_rate),
        num(r.event_based.overall.f_measure.f_measure),
        num(r.event_based.overall.error_rate.error_rate),
        b.matched,
        opt(b.onset.map(|s| s.median)),
        opt(b.offset.map(|s| s.median)),
    );
    if let Some(s) = &r.scores {
        for p in &s.psds {
            line.push_str(&format!(" {:>7}", num(p.psds.value)));
        }
        line.push_str(&format!(" {:>8} {:>6}", "", ""));
    }
    println!("{line}");
    for (c, name) in r.classes.iter().enumerate() {
        let cl = &r.clip.class_wise[c];
        let seg = r.segment_based.class(name).map(|x| x.metrics);
        let evt = r.event_based.class(name).map(|x| x.metrics);
        let b = &r.boundary.class_wise[name];
        let mut line = format!(
            "{:<14} {:>6} {:>6} {:>6} {:>7} {:>7} {:>7} {:>6} {:>6} {:>6} {:>8} {:>8}",
            name,
            num(cl.prf.precision),
            num(cl.prf.recall),
            num(cl.prf.f1),
            opt(cl.roc_auc),
            opt(seg.map(|m| m.f_measure.f_measure)),
            opt(seg.map(|m| m.error_rate.error_rate)),
            opt(evt.map(|m| m.f_measure.f_measure)),
            opt(evt.map(|m| m.error_rate.error_rate)),
            b.matched,
            opt(b.onset.map(|s| s.median)),
            opt(b.offset.map(|s| s.median)),
        );
        if let Some(s) = &r.scores {
            for p in &s.psds {
                let v = p.psds.classes.iter().find(|x| x.class == *name);
                line.push_str(&format!(" {:>7}", opt(v.map(|x| x.psds))));
            }
            let t = s.thresholds.iter().find(|t| t.class == *name);
            line.push_str(&format!(
                " {:>8} {:>6}",
                opt(t.map(|t| t.threshold_at_or_above)),
                opt(t.map(|t| t.f1))
            ));
        }
        println!("{line}");
    }
    for n in &r.notes {
        println!("note: {n}");
    }

    if let Some(path) = &args.json {
        write_report(path, &r)?;
        println!("wrote {}", path.display());
    }
    let mut code = ExitCode::SUCCESS;
    if let Some(s) = &r.scores {
        println!(
            "scores: {} recordings from {}; PSDS durations: {}",
            s.recordings, s.dir, s.durations_source
        );
        for p in &s.psds {
            let q = &p.psds.params;
            println!(
                "  {}: {:.6} (dtc {}, gtc {}, cttc {}, alpha_ct {}, alpha_st {}, max_efpr {}/h)",
                p.name,
                p.psds.value,
                q.dtc_threshold,
                q.gtc_threshold,
                q.cttc_threshold.map_or("none".into(), |v| v.to_string()),
                q.alpha_ct,
                q.alpha_st,
                q.max_efpr
            );
        }
        println!("  thresholds: {}", s.thresholds_method);
        if s.ignored_truth_events > 0 {
            println!(
                "  note: {} reference event(s) of recordings without a usable score table are \
                 left out of PSDS and thresholds",
                s.ignored_truth_events
            );
        }
        for f in &s.failed {
            eprintln!("error: {}: {}", f.file, f.reason);
        }
        if let Some(e) = &s.error {
            eprintln!("error: scores: {e}");
        }
        if !s.failed.is_empty() || s.error.is_some() {
            eprintln!(
                "{} of {} score files failed",
                s.failed.len(),
                s.failed.len() + s.recordings
            );
            code = ExitCode::from(1);
        }
        if let Some(dir) = &args.write_thresholds {
            let w = write_thresholds(dir, &s.thresholds)?;
            println!(
                "thresholds written to {}: {}",
                dir.join("detector.json").display(),
                if w.written.is_empty() {
                    "none".to_string()
                } else {
                    w.written.join(", ")
                }
            );
            for (c, why) in &w.skipped {
                println!("  {c}: not written ({why})");
            }
        }
    }
    Ok(code)
}
