//! earmark-detect's one integration test binary: hand-worked post-processing cases, stitching,
//! long-file arithmetic, properties, and an end-to-end check against earmark-eval.

use earmark_core::{Event, EventList, FrameGrid, Frames, LabelSet};
use earmark_detect::{
    events, frames_to_span, median_filter, DetectError, Hysteresis, Merge, PerClass, PostProcess,
    Scores, Stitcher,
};
use earmark_eval::{EventBasedMetrics, EventBasedOptions};
use proptest::prelude::*;

/// Kaldi-like 100 fps grid at 16 kHz: 25 ms frames every 10 ms, snip edges.
fn fbank() -> FrameGrid {
    FrameGrid::new(16_000, 160, 400, 0)
}

fn one_class(curve: Vec<f32>, grid: FrameGrid) -> (Frames, LabelSet) {
    (Frames::new(curve, 1, grid).unwrap(), LabelSet::new(["x"]))
}

fn spans(ev: &EventList) -> Vec<(f64, f64)> {
    ev.iter().map(|e| (e.onset, e.offset)).collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

// ---------------------------------------------------------------- post-processing, by hand

#[test]
fn short_event_in_long_curve_has_right_boundaries() {
    // 10 s at 100 fps; the true event is 3.0–3.2 s: frames whose centre lies inside it score 0.9.
    let g = fbank();
    let n = 998; // frames of 10 s of audio: (160000 − 400) / 160 + 1
    let curve: Vec<f32> = (0..n)
        .map(|i| {
            let c = g.frame_center(i as u64).0;
            if (3.0..3.2).contains(&c) {
                0.9
            } else {
                0.1
            }
        })
        .collect();
    let (f, l) = one_class(curve, g);
    let ev = events(&f, &l, "a.wav", &PostProcess::default(), Some(160_000)).unwrap();
    assert_eq!(ev.len(), 1);
    let e = &ev.events[0];
    assert_eq!((e.file.as_str(), e.label.as_str()), ("a.wav", "x"));
    // Frames 299..=318 (centres 3.0025..3.1925 s); cells 2.9975..3.1975 s: within one hop.
    assert!(close(e.onset, 2.9975) && close(e.offset, 3.1975), "{e:?}");
    assert!((e.onset - 3.0).abs() <= g.hop_secs().0);
    assert!((e.offset - 3.2).abs() <= g.hop_secs().0);
    assert!(close(e.duration(), 0.2));
}

#[test]
fn hysteresis_bridges_a_dip_that_a_threshold_splits() {
    let g = fbank();
    let mut curve = vec![0.1_f32; 100];
    curve[10..30].fill(0.8);
    curve[18] = 0.4; // the dip
    curve[19] = 0.45;
    let (f, l) = one_class(curve, g);
    let plain = events(&f, &l, "a", &PostProcess::default(), None).unwrap();
    assert_eq!(plain.len(), 2);
    let pp = PostProcess {
        hysteresis: Some(Hysteresis::new(0.6, 0.3).into()),
        ..PostProcess::default()
    };
    let h = events(&f, &l, "a", &pp, None).unwrap();
    // Frames 10..=29, centres 0.1125.. ; cells start 5 ms before the centre.
    assert_eq!(h.len(), 1);
    assert!(close(h.events[0].onset, 0.1075) && close(h.events[0].offset, 0.3075));
}

#[test]
fn hysteresis_starts_at_high_unless_extended_back() {
    let g = FrameGrid::new(100, 1, 1, 0); // 1 frame = 10 ms, cells = [i, i+1) / 100
    let curve = vec![0.0, 0.4, 0.5, 0.9, 0.5, 0.4, 0.0, 0.5, 0.0];
    let (f, l) = one_class(curve, g);
    let mut h = Hysteresis::new(0.8, 0.3);
    let pp = |h| PostProcess {
        hysteresis: Some(PerClass::All(h)),
        ..PostProcess::default()
    };
    // Starts at frame 3 (first >= high), lasts through frame 5; frame 7 never reaches high.
    let fwd = events(&f, &l, "a", &pp(h), None).unwrap();
    assert_eq!(spans(&fwd), vec![(0.03, 0.06)]);
    h.extend_back = true;
    let both = events(&f, &l, "a", &pp(h), None).unwrap();
    assert_eq!(spans(&both), vec![(0.01, 0.06)]);
}

#[test]
fn median_filter_removes_a_one_frame_spike() {
    let g = fbank();
    let mut curve = vec![0.1_f32; 50];
    curve[25] = 0.99;
    curve[30..40].fill(0.9); // a real 10-frame event survives intact
    let (f, l) = one_class(curve, g);
    assert_eq!(
        events(&f, &l, "a", &PostProcess::default(), None)
            .unwrap()
            .len(),
        2
    );
    let pp = PostProcess {
        median_filter_frames: PerClass::All(3),
        ..PostProcess::default()
    };
    let ev = events(&f, &l, "a", &pp, None).unwrap();
    assert_eq!(ev.len(), 1);
    let want = frames_to_span(&g, 30, 39, None).unwrap();
    assert_eq!(spans(&ev), vec![(want.start.0, want.end.0)]);
}

#[test]
fn median_filter_reflects_at_the_edges_like_scipy() {
    // scipy.ndimage.median_filter(mode="reflect"): d c b a | a b c d | d c b a
    assert_eq!(
        median_filter(&[1.0, 5.0, 2.0, 8.0, 3.0], 3),
        vec![1.0, 2.0, 5.0, 3.0, 3.0]
    );
    // Windows wider than the curve reflect again: [3 1 2] padded 2 1 3 | 3 1 2 | 2 1 3.
    assert_eq!(median_filter(&[3.0, 1.0, 2.0], 7), vec![2.0, 2.0, 2.0]);
    assert_eq!(median_filter(&[1.0, 2.0], 5), vec![2.0, 1.0]);
    // An event at the very start is kept (zero padding would erase it).
    assert_eq!(
        median_filter(&[0.9, 0.9, 0.1, 0.1], 3),
        vec![0.9, 0.9, 0.1, 0.1]
    );
    assert_eq!(median_filter(&[], 5), Vec::<f32>::new());
    assert_eq!(median_filter(&[0.3, 0.7], 1), vec![0.3, 0.7]);
}

#[test]
fn min_length_drops_short_blips() {
    let g = FrameGrid::new(100, 1, 1, 0);
    let mut curve = vec![0.0_f32; 100];
    curve[5..7].fill(1.0); // 20 ms
    curve[20..25].fill(1.0); // 50 ms: exactly the minimum, kept
    curve[40..60].fill(1.0); // 200 ms
    let (f, l) = one_class(curve, g);
    let pp = PostProcess {
        min_event_secs: PerClass::All(0.05),
        ..PostProcess::default()
    };
    let ev = events(&f, &l, "a", &pp, None).unwrap();
    assert_eq!(spans(&ev), vec![(0.2, 0.25), (0.4, 0.6)]);
}

#[test]
fn gaps_shorter_than_the_setting_are_filled_before_min_length() {
    let g = FrameGrid::new(100, 1, 1, 0);
    let mut curve = vec![0.0_f32; 100];
    curve[10..13].fill(1.0); // 30 ms, gap of 50 ms, then
    curve[18..21].fill(1.0); // 30 ms: together 110 ms
    curve[50..53].fill(1.0);
    let (f, l) = one_class(curve, g);
    let pp = |gap: f64| PostProcess {
        merge_gap_secs: PerClass::All(gap),
        min_event_secs: PerClass::All(0.1),
        ..PostProcess::default()
    };
    // Gap 50 ms < 60 ms: merged to 110 ms, kept; the lone 30 ms event is dropped.
    assert_eq!(
        spans(&events(&f, &l, "a", &pp(0.06), None).unwrap()),
        vec![(0.1, 0.21)]
    );
    // "Shorter than": a gap of exactly 50 ms is not filled; then both pieces are too short.
    assert!(events(&f, &l, "a", &pp(0.05), None).unwrap().is_empty());
}

#[test]
fn per_class_thresholds_in_each_form() {
    let g = FrameGrid::new(100, 1, 1, 0);
    // Two classes with the same curve, 0.4 on frames 10..20.
    let mut data = vec![0.0_f32; 2 * 40];
    for i in 10..20 {
        data[2 * i] = 0.4;
        data[2 * i + 1] = 0.4;
    }
    let f = Frames::new(data, 2, g).unwrap();
    let l = LabelSet::new(["cough", "gag"]);
    let by_vec = PostProcess {
        thresholds: PerClass::Each(vec![0.3, 0.5]),
        ..PostProcess::default()
    };
    let ev = events(&f, &l, "a", &by_vec, None).unwrap();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev.events[0].label, "cough");
    let by_label: PostProcess =
        serde_json::from_str(r#"{"thresholds": {"gag": 0.3, "cough": 0.5}}"#).unwrap();
    let ev = events(&f, &l, "a", &by_label, None).unwrap();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev.events[0].label, "gag");
    // A missing class, an unknown label and a wrong-length list are errors, not guesses.
    let missing: PostProcess = serde_json::from_str(r#"{"thresholds": {"gag": 0.3}}"#).unwrap();
    assert!(matches!(
        events(&f, &l, "a", &missing, None),
        Err(DetectError::MissingLabel { label, .. }) if label == "cough"
    ));
    let unknown: PostProcess =
        serde_json::from_str(r#"{"thresholds": {"gag": 0.3, "cough": 0.5, "dog": 0.1}}"#).unwrap();
    assert!(matches!(
        events(&f, &l, "a", &unknown, None),
        Err(DetectError::UnknownLabel { label, .. }) if label == "dog"
    ));
    let short = PostProcess {
        thresholds: PerClass::Each(vec![0.3]),
        ..PostProcess::default()
    };
    assert!(matches!(
        events(&f, &l, "a", &short, None),
        Err(DetectError::Shape {
            expected: 2,
            got: 1,
            ..
        })
    ));
}

#[test]
fn options_serde_round_trip_and_invalid_options() {
    let pp = PostProcess {
        thresholds: PerClass::Each(vec![0.3, 0.6]),
        hysteresis: Some(PerClass::All(Hysteresis::new(0.7, 0.2))),
        median_filter_frames: PerClass::All(5),
        min_event_secs: PerClass::All(0.1),
        merge_gap_secs: PerClass::Each(vec![0.05, 0.2]),
    };
    let json = serde_json::to_string(&pp).unwrap();
    assert_eq!(serde_json::from_str::<PostProcess>(&json).unwrap(), pp);
    // Missing fields take the defaults; a bare number means "all classes".
    let short: PostProcess = serde_json::from_str(r#"{"thresholds": 0.4}"#).unwrap();
    assert_eq!(short.thresholds, PerClass::All(0.4));
    assert_eq!(short.median_filter_frames, PerClass::All(1));

    let l = LabelSet::new(["a", "b"]);
    pp.validate(&l).unwrap();
    let bad = [
        PostProcess {
            median_filter_frames: PerClass::All(4),
            ..PostProcess::default()
        },
        PostProcess {
            hysteresis: Some(PerClass::All(Hysteresis::new(0.2, 0.7))),
            ..PostProcess::default()
        },
        PostProcess {
            min_event_secs: PerClass::All(-1.0),
            ..PostProcess::default()
        },
        PostProcess {
            thresholds: PerClass::All(f32::NAN),
            ..PostProcess::default()
        },
    ];
    for b in bad {
        assert!(
            matches!(b.validate(&l), Err(DetectError::Invalid { .. })),
            "{b:?}"
        );
    }
}

#[test]
fn bad_scores_are_errors() {
    let g = fbank();
    let l = LabelSet::new(["a", "b"]);
    let f = Frames::new(vec![0.0; 6], 3, g).unwrap();
    assert!(matches!(
        events(&f, &l, "a", &PostProcess::default(), None),
        Err(DetectError::Shape { .. })
    ));
    let f = Frames::new(vec![0.0, 0.1, f32::NAN, 0.2], 2, g).unwrap();
    assert_eq!(
        Scores::new(f, l.clone()).unwrap_err(),
        DetectError::NonFinite { frame: 1, class: 0 }
    );
    let empty = Frames::new(vec![], 2, g).unwrap();
    assert!(events(&empty, &l, "a", &PostProcess::default(), None)
        .unwrap()
        .is_empty());
}

#[test]
fn events_are_clamped_to_the_audio() {
    // Centred frames: frame 0's cell starts 5 ms before 0; the last cell ends past the audio.
    let g = FrameGrid::new(16_000, 160, 400, -200);
    let (f, l) = one_class(vec![0.9; 11], g); // centres 0, 10, ..., 100 ms
    let s = Scores::new(f.clone(), l.clone()).unwrap();
    let free = s.events("a", &PostProcess::default()).unwrap();
    assert_eq!(spans(&free), vec![(0.0, 0.105)]);
    let clamped = s
        .with_total_samples(1_600)
        .events("a", &PostProcess::default())
        .unwrap();
    assert_eq!(spans(&clamped), vec![(0.0, 0.1)]);
}

#[test]
fn ten_hours_of_frames_give_exact_seconds() {
    // 10 h × 100 fps; centred (offset −win/2) and snip-edge grids, odd windows included.
    let i = 10 * 3600 * 100;
    let centred = FrameGrid::new(16_000, 160, 400, -200);
    let s = frames_to_span(&centred, i, i, None).unwrap();
    assert_eq!((s.start.0, s.end.0), (35_999.995, 36_000.005));
    let snip = FrameGrid::new(16_000, 160, 400, 0);
    // Frame i's centre is at 160·i + 200 samples; cells are centre ± 80.
    let s = frames_to_span(&snip, i - 1, i, None).unwrap();
    assert_eq!((s.start.0, s.end.0), (35_999.997_5, 36_000.017_5));
    // win = 401: centres on half samples, still exact.
    let odd = FrameGrid::new(16_000, 160, 401, -200);
    let s = frames_to_span(&odd, i, i, None).unwrap();
    assert_eq!(s.start.0, (2.0 * 160.0 * i as f64 + 1.0 - 160.0) / 32_000.0);
    // Composed grids too (a patchifying transformer over fbank: 160 ms frames).
    let patches = snip.then(16, 16, 0);
    let k = 10 * 3600 * 100 / 16;
    let s = frames_to_span(&patches, k, k, None).unwrap();
    // hop 2560, win 2800: centre 2560·k + 1400, cell ± 1280 samples; each end exact (their
    // difference is not, as for any two large floats: compare ends, never durations).
    assert_eq!((s.start.0, s.end.0), (36_000.007_5, 36_000.167_5));
}

// ---------------------------------------------------------------- stitching

/// Windows of `w` frames every `h` frames over a whole-file score array `whole` (`dim` columns),
/// each window's scores cut from it (the equal-scores case).
fn windows_of(whole: &Frames, w: usize, h: usize) -> Vec<Frames> {
    let n = whole.n_frames();
    let d = whole.dim;
    let g = whole.grid;
    let mut out = Vec::new();
    let mut s = 0;
    loop {
        let end = (s + w).min(n);
        out.push(
            Frames::new(
                whole.data[s * d..end * d].to_vec(),
                d,
                g.shifted((s as u64 * g.hop) as i64),
            )
            .unwrap(),
        );
        if end == n {
            return out;
        }
        s += h;
    }
}

fn ramp(n: usize, d: usize, g: FrameGrid) -> Frames {
    let data = (0..n * d)
        .map(|k| ((k * 7919) % 1000) as f32 / 1000.0)
        .collect();
    Frames::new(data, d, g).unwrap()
}

#[test]
fn half_overlapping_windows_equal_a_whole_file_pass() {
    let g = fbank();
    let total = 16_000 * 7 + 123; // 7 s and a bit
    let n = ((total - 400) / 160 + 1) as usize;
    let whole = ramp(n, 3, g);
    for merge in [Merge::Mean, Merge::Max] {
        let mut st = Stitcher::new(g, 3, merge).unwrap();
        for w in windows_of(&whole, 200, 100) {
            st.add(&w).unwrap();
        }
        assert_eq!(st.finish(total), whole, "{merge:?}");
    }
}

#[test]
fn draining_gives_the_same_frames_in_pieces() {
    let g = FrameGrid::new(16_000, 320, 400, 0);
    let total = 16_000 * 9;
    let n = ((total - 400) / 320 + 1) as usize;
    let whole = ramp(n, 2, g);
    let wins = windows_of(&whole, 150, 75);
    let mut st = Stitcher::new(g, 2, Merge::Mean).unwrap();
    let mut got: Vec<f32> = Vec::new();
    for (k, w) in wins.iter().enumerate() {
        st.add(w).unwrap();
        let next = wins.get(k + 1).map_or(u64::MAX, |nw| nw.grid.offset as u64);
        if next != u64::MAX {
            let part = st.drain_ready(next);
            // Each piece sits on the file grid where it belongs.
            assert_eq!(part.grid.offset, (got.len() / 2) as i64 * 320, "piece grid");
            got.extend(part.data);
        }
    }
    got.extend(st.finish(total).data);
    assert_eq!(got, whole.data);
}

#[test]
fn mean_and_max_on_disagreeing_overlaps() {
    let g = FrameGrid::new(100, 1, 1, 0);
    let a = Frames::new(vec![0.2, 0.2, 0.2, 0.8], 1, g).unwrap();
    let b = Frames::new(vec![0.6, 0.4, 0.0, 0.0], 1, g.shifted(2)).unwrap();
    let run = |m| {
        let mut st = Stitcher::new(g, 1, m).unwrap();
        st.add(&a).unwrap();
        st.add(&b).unwrap();
        st.finish(6).data
    };
    assert_eq!(run(Merge::Mean), vec![0.2, 0.2, 0.4, 0.6, 0.0, 0.0]);
    assert_eq!(run(Merge::Max), vec![0.2, 0.2, 0.6, 0.8, 0.0, 0.0]);
}

#[test]
fn gaps_between_windows_score_zero_and_padding_frames_are_dropped() {
    let g = FrameGrid::new(100, 1, 1, 0);
    let mut st = Stitcher::new(g, 1, Merge::Max).unwrap();
    st.add(&Frames::new(vec![0.5; 2], 1, g).unwrap()).unwrap();
    st.add(&Frames::new(vec![0.7; 4], 1, g.shifted(4)).unwrap())
        .unwrap();
    // Audio is 6 samples: frames 6 and 7 came from the last window's padding.
    assert_eq!(st.finish(6).data, vec![0.5, 0.5, 0.0, 0.0, 0.7, 0.7]);
}

#[test]
fn draining_keeps_memory_bounded_over_ten_hours() {
    // 10 h at 100 fps, 10 s windows every 5 s: 3.6 M frames stream through a stitcher that
    // never holds more than one window of them.
    let g = fbank();
    let total: u64 = 10 * 3600 * 16_000;
    let win_frames = 998usize; // 10 s of audio
    let hop_samples = 5 * 16_000;
    let (mut start, mut drained, mut peak) = (0u64, 0usize, 0usize);
    let mut st = Stitcher::new(g, 1, Merge::Mean).unwrap();
    let w = vec![0.25_f32; win_frames];
    while start + 10 * 16_000 <= total {
        st.add(&Frames::new(w.clone(), 1, g.shifted(start as i64)).unwrap())
            .unwrap();
        peak = peak.max(st.retained_frames());
        start += hop_samples;
        let part = st.drain_ready(start);
        assert!(part.data.iter().all(|&v| v == 0.25));
        drained += part.n_frames();
    }
    assert!(peak <= win_frames, "peak {peak}");
    let rest = st.finish(total);
    assert_eq!(
        drained + rest.n_frames(),
        ((total - 400) / 160 + 1) as usize
    );
    // The last frame's seconds come out exact from the piece's own grid.
    let last = rest.n_frames() as u64 - 1;
    let s = frames_to_span(&rest.grid, last, last, Some(total)).unwrap();
    // Frame 3 599 997 (the last whose window fits): centre 575 999 720, cell end + 80 samples.
    assert_eq!(last + drained as u64, 3_599_997);
    assert_eq!(s.end.0, 35_999.987_5);
}

#[test]
fn stitcher_refuses_what_it_cannot_place() {
    let g = fbank();
    let mut st = Stitcher::new(g, 1, Merge::Mean).unwrap();
    let w = |grid| Frames::new(vec![0.1; 3], 1, grid).unwrap();
    assert_eq!(
        st.add(&w(g.shifted(100))),
        Err(DetectError::Misaligned {
            shift_samples: 100,
            hop: 160
        })
    );
    assert!(matches!(
        st.add(&w(g.shifted(-160))),
        Err(DetectError::Misaligned { .. })
    ));
    assert!(matches!(
        st.add(&w(FrameGrid::new(16_000, 320, 400, 0))),
        Err(DetectError::GridMismatch { .. })
    ));
    assert!(matches!(
        st.add(&Frames::new(vec![0.1; 4], 2, g).unwrap()),
        Err(DetectError::Shape { .. })
    ));
    assert!(matches!(
        st.add(&Frames::new(vec![f32::INFINITY], 1, g.shifted(320)).unwrap()),
        Err(DetectError::NonFinite { frame: 2, class: 0 })
    ));
    st.add(&w(g)).unwrap();
    assert_eq!(st.drain_ready(320).n_frames(), 2);
    assert_eq!(
        st.add(&w(g.shifted(160))),
        Err(DetectError::AlreadyDrained {
            first_frame: 1,
            drained_up_to: 2
        })
    );
    assert!(Stitcher::new(g, 0, Merge::Max).is_err());
}

// ---------------------------------------------------------------- properties

fn arb_case() -> impl Strategy<Value = (Vec<f32>, usize, PostProcess, u64, i64, u64)> {
    (
        1usize..4,
        proptest::collection::vec(0.0f32..1.0, 1..300),
        0.1f32..0.9,
        proptest::option::of((0.5f32..1.0, 0.0f32..0.5, any::<bool>())),
        0usize..4,
        0.0f64..0.2,
        0.0f64..0.2,
        (1u64..400, 1u64..800, -400i64..400),
    )
        .prop_map(|(dim, v, thr, hyst, med, min, gap, (hop, win, off))| {
            let n = v.len() / dim;
            let data = v[..n * dim].to_vec();
            let pp = PostProcess {
                thresholds: PerClass::All(thr),
                hysteresis: hyst.map(|(high, low, extend_back)| {
                    PerClass::All(Hysteresis {
                        high,
                        low,
                        extend_back,
                    })
                }),
                median_filter_frames: PerClass::All(2 * med + 1),
                min_event_secs: PerClass::All(min),
                merge_gap_secs: PerClass::All(gap),
            };
            (data, dim, pp, hop, off, win)
        })
}

proptest! {
    #[test]
    fn events_never_overlap_within_a_class_and_lie_inside_the_audio(
        (data, dim, pp, hop, off, win) in arb_case(),
        extra in 0u64..2000,
    ) {
        let g = FrameGrid::new(8_000, hop, win, off);
        let n = (data.len() / dim) as u64;
        let total = (n * hop).saturating_add_signed(off).saturating_sub(extra / 4) + extra % 7;
        let labels = LabelSet::new((0..dim).map(|c| format!("c{c}")));
        let f = Frames::new(data, dim, g).unwrap();
        let ev = events(&f, &labels, "f", &pp, Some(total)).unwrap();
        let duration = total as f64 / 8_000.0;
        for e in &ev {
            prop_assert!(e.onset >= 0.0 && e.offset <= duration && e.onset < e.offset, "{e:?}");
        }
        for l in labels.iter() {
            let mine = ev.for_label(l).sorted();
            for p in mine.events.windows(2) {
                prop_assert!(p[0].offset <= p[1].onset, "{:?}", p);
            }
        }
        let onsets: Vec<f64> = ev.iter().map(|e| e.onset).collect();
        prop_assert!(onsets.windows(2).all(|p| p[0] <= p[1]));
    }

    #[test]
    fn any_half_overlap_stitch_equals_the_whole_pass(
        n in 1usize..400, w in 2usize..60, hop in 1u64..500, win in 1u64..900,
        merge in prop_oneof![Just(Merge::Mean), Just(Merge::Max)],
    ) {
        let g = FrameGrid::new(16_000, hop, win, 0);
        let whole = ramp(n, 2, g);
        let mut st = Stitcher::new(g, 2, merge).unwrap();
        let wins = windows_of(&whole, w, w / 2 + w % 2);
        let mut got = Vec::new();
        for (k, x) in wins.iter().enumerate() {
            st.add(x).unwrap();
            if let Some(next) = wins.get(k + 1) {
                got.extend(st.drain_ready(next.grid.offset as u64).data);
            }
        }
        // Audio that ends just after the last frame's centre.
        let total = (n as u64 - 1) * hop + win / 2 + 1;
        got.extend(st.finish(total).data);
        prop_assert_eq!(got, whole.data);
    }
}

// ---------------------------------------------------------------- end to end

#[test]
fn scores_from_a_reference_give_event_f1_of_one() {
    // A reference with short and long events of two classes in a 60 s file, overlapping across
    // classes; scores are 0.9 on frames whose centre is inside an event plus a ripple, 0.1 else.
    let reference = EventList::new(vec![
        Event::new("f.wav", 1.0, 1.2, "cough"),
        Event::new("f.wav", 4.37, 6.0, "cough"),
        Event::new("f.wav", 5.5, 5.75, "gag"),
        Event::new("f.wav", 30.02, 30.3, "gag"),
        Event::new("f.wav", 59.5, 60.0, "cough"),
    ]);
    let labels = LabelSet::new(["cough", "gag"]);
    let g = FrameGrid::new(16_000, 320, 400, 0); // wav2vec2-like, 20 ms
    let total = 60 * 16_000;
    let n = ((total - 400) / 320 + 1) as usize;
    let mut data = vec![0.0_f32; n * 2];
    for i in 0..n {
        let t = g.frame_center(i as u64).0;
        for (c, l) in labels.iter().enumerate() {
            let on = reference
                .iter()
                .any(|e| &e.label == l && e.onset <= t && t < e.offset);
            let ripple = 0.05 * ((i * 31 + c * 7) % 5) as f32 / 5.0;
            data[i * 2 + c] = if on { 0.9 - ripple } else { 0.1 + ripple };
        }
    }
    // Stream the scores through the stitcher in 4 s windows every 2 s, as a scan would.
    let whole = Frames::new(data, 2, g).unwrap();
    let mut st = Stitcher::new(g, 2, Merge::Mean).unwrap();
    let wins = windows_of(&whole, 200, 100);
    let mut merged = Vec::new();
    for (k, w) in wins.iter().enumerate() {
        st.add(w).unwrap();
        if let Some(next) = wins.get(k + 1) {
            merged.extend(st.drain_ready(next.grid.offset as u64).data);
        }
    }
    merged.extend(st.finish(total).data);
    let scores = Scores::new(Frames::new(merged, 2, g).unwrap(), labels.clone())
        .unwrap()
        .with_total_samples(total);
    let pp = PostProcess {
        median_filter_frames: PerClass::All(5),
        hysteresis: Some(PerClass::All(Hysteresis::new(0.6, 0.4))),
        min_event_secs: PerClass::All(0.1),
        merge_gap_secs: PerClass::All(0.1),
        ..PostProcess::default()
    };
    let est = scores.events("f.wav", &pp).unwrap();
    assert_eq!(est.len(), reference.len(), "{est:?}");
    let mut m = EventBasedMetrics::new(labels, EventBasedOptions::default()).unwrap();
    m.evaluate(reference.as_slice(), est.as_slice());
    let r = m.results();
    assert_eq!(r.overall.f_measure.f_measure, 1.0, "{est:?}");
    // And the boundaries are within one hop, far inside the 200 ms collar.
    for (r, e) in reference.sorted().iter().zip(est.sorted().iter()) {
        assert!((r.onset - e.onset).abs() <= 0.02 && (r.offset - e.offset).abs() <= 0.02);
    }
}
