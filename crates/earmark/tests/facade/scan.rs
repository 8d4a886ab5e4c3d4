//! Timestamps that are right under any settings: clicks planted at known sample positions in
//! long recordings must come back at those positions — within one score frame — through the real
//! streaming loop (decode, resample, windows, stitching on the frame grid, events), for many
//! window lengths, hops (overlaps), merge rules and file sample rates.

use earmark::scan::scanner::{scan_stream, ScanPlan, WindowScorer};
use earmark_core::{FrameGrid, LabelSet, SplitMix64};
use earmark_detect::{Merge, PerClass, PostProcess};
use std::path::Path;

/// A scorer whose answer is known: per 10 ms frame (25 ms window, centred), 1 when the frame's
/// peak amplitude is above 0.5, else 0. The background stays below 0.1.
struct Energy;

const RATE: u32 = 16_000;
const HOP: u64 = 160;
const WIN: u64 = 400;

impl WindowScorer for Energy {
    fn sample_rate(&self) -> u32 {
        RATE
    }
    fn window_grid(&self) -> FrameGrid {
        // Frame i covers samples [i·hop − win/2, i·hop + win/2): centred like torch.stft.
        FrameGrid::new(RATE, HOP, WIN, -(WIN as i64) / 2)
    }
    fn file_grid(&self) -> FrameGrid {
        self.window_grid()
    }
    fn n_classes(&self) -> usize {
        1
    }
    fn min_samples(&self) -> usize {
        1
    }
    fn score(&self, s: &[f32], _: &Path) -> Result<Vec<f32>, String> {
        let n = s.len().div_ceil(HOP as usize);
        Ok((0..n)
            .map(|i| {
                let c = i as i64 * HOP as i64;
                let (a, b) = ((c - 80).max(0) as usize, ((c + 80) as usize).min(s.len()));
                let peak = s[a..b].iter().fold(0f32, |m, v| m.max(v.abs()));
                (peak > 0.5) as u8 as f32
            })
            .collect())
    }
}

#[test]
fn planted_clicks_come_back_where_they_were_under_any_window_hop_and_rate() {
    let dir = tempfile::tempdir().unwrap();
    let labels = LabelSet::new(["click"]);
    let post = PostProcess {
        thresholds: PerClass::All(0.5),
        merge_gap_secs: PerClass::All(0.05),
        ..PostProcess::default()
    };
    let mut rng = SplitMix64::new(11);
    let mut checked = 0;
    for (case, &file_rate) in [16_000u32, 8_000, 22_050, 44_100, 48_000]
        .iter()
        .enumerate()
    {
        // A 2-minute recording, low noise, 12 clicks (20 ms of full-scale tone) at random
        // positions at least 2 s apart (12 fit easily).
        let secs = 120.0;
        let n = (secs * file_rate as f64) as usize;
        let mut x: Vec<f32> = (0..n).map(|_| 0.02 * rng.normal() as f32).collect();
        let mut clicks: Vec<f64> = Vec::new();
        while clicks.len() < 12 {
            let t = rng.range(0.5, secs - 1.0);
            if clicks.iter().all(|c| (c - t).abs() > 2.0) {
                clicks.push(t);
            }
        }
        clicks.sort_by(f64::total_cmp);
        let len = (0.02 * file_rate as f64) as usize;
        for &t in &clicks {
            let s = (t * file_rate as f64).round() as usize;
            for (k, v) in x[s..s + len].iter_mut().enumerate() {
                *v =
                    0.9 * (2.0 * std::f32::consts::PI * 1000.0 * k as f32 / file_rate as f32).sin();
            }
        }
        let path = dir.path().join(format!("rec{case}.wav"));
        earmark_audio::write_wav_pcm16(&path, &x, file_rate, 1).unwrap();
        for (window_secs, hop_frames) in
            [(0.5, 50u64), (1.0, 37), (2.5, 250), (4.0, 101), (3.0, 300)]
        {
            for merge in [Merge::Mean, Merge::Max] {
                let plan = ScanPlan {
                    window_samples: (window_secs * RATE as f64) as usize,
                    hop_samples: hop_frames * HOP,
                    merge,
                    labels: &labels,
                    post: &post,
                };
                let r = scan_stream(&Energy, &plan, &path, "rec", false).unwrap();
                let onsets: Vec<f64> = r.events.events.iter().map(|e| e.onset).collect();
                assert_eq!(
                    onsets.len(),
                    clicks.len(),
                    "rate {file_rate}, window {window_secs}, hop {hop_frames} frames, {merge:?}: {onsets:?} vs {clicks:?}"
                );
                for (o, t) in onsets.iter().zip(&clicks) {
                    // Within one frame (10 ms) of the true onset, whatever the settings.
                    assert!(
                        (o - t).abs() <= 0.010 + 1e-9,
                        "rate {file_rate}, window {window_secs}, hop {hop_frames}: onset {o} for a click at {t}"
                    );
                    checked += 1;
                }
                for (e, t) in r.events.events.iter().zip(&clicks) {
                    assert!(
                        (e.offset - (t + 0.02)).abs() <= 0.010 + 1e-9,
                        "offset {} for {t}",
                        e.offset
                    );
                }
            }
        }
    }
    assert_eq!(checked, 5 * 5 * 2 * 12);
}
