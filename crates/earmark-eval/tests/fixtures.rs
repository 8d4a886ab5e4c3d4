//! earmark-eval against the reference libraries' numbers in testdata/fixtures/metrics.

use earmark_core::{parse_strong_tsv, EventList, LabelSet};
use earmark_eval::sed::{Counts, MetricBlock, SedResults};
use earmark_eval::*;
use earmark_testkit::{fixture, read_json};
use serde_json::Value;

const TOL: f64 = 1e-9;

fn events(rel: &str) -> EventList {
    let path = fixture(rel);
    let text = std::fs::read_to_string(&path).unwrap();
    parse_strong_tsv(&text, &path.display().to_string()).unwrap()
}

fn durations(rel: &str) -> Vec<(String, f64)> {
    let text = std::fs::read_to_string(fixture(rel)).unwrap();
    text.lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (f, d) = l.split_once('\t').unwrap();
            (f.to_string(), d.parse().unwrap())
        })
        .collect()
}

struct Diff(f64);

impl Diff {
    fn check(&mut self, what: &str, got: f64, want: &Value) {
        let ok = match want.as_f64() {
            None => got.is_nan(),
            Some(w) => {
                let d = (got - w).abs();
                self.0 = self.0.max(d);
                d <= TOL
            }
        };
        assert!(ok, "{what}: got {got}, want {want}");
    }
}

fn check_block(d: &mut Diff, what: &str, got: &MetricBlock, want: &Value) {
    let f = &want["f_measure"];
    d.check(
        &format!("{what}.f"),
        got.f_measure.f_measure,
        &f["f_measure"],
    );
    d.check(
        &format!("{what}.p"),
        got.f_measure.precision,
        &f["precision"],
    );
    d.check(&format!("{what}.r"), got.f_measure.recall, &f["recall"]);
    let e = &want["error_rate"];
    d.check(
        &format!("{what}.er"),
        got.error_rate.error_rate,
        &e["error_rate"],
    );
    d.check(
        &format!("{what}.dr"),
        got.error_rate.deletion_rate,
        &e["deletion_rate"],
    );
    d.check(
        &format!("{what}.ir"),
        got.error_rate.insertion_rate,
        &e["insertion_rate"],
    );
    match got.error_rate.substitution_rate {
        Some(s) => d.check(&format!("{what}.sr"), s, &e["substitution_rate"]),
        None => assert!(
            e.get("substitution_rate").is_none(),
            "{what}: substitution_rate missing"
        ),
    }
    let a = &want["accuracy"];
    match &got.accuracy {
        Some(acc) => {
            d.check(&format!("{what}.acc"), acc.accuracy, &a["accuracy"]);
            d.check(
                &format!("{what}.bacc"),
                acc.balanced_accuracy,
                &a["balanced_accuracy"],
            );
            d.check(&format!("{what}.sens"), acc.sensitivity, &a["sensitivity"]);
            d.check(&format!("{what}.spec"), acc.specificity, &a["specificity"]);
        }
        None => assert_eq!(
            a.as_object().map(|o| o.len()),
            Some(0),
            "{what}: accuracy expected"
        ),
    }
}

fn check_results(d: &mut Diff, name: &str, got: &SedResults, want: &Value) {
    check_block(
        d,
        &format!("{name}.overall"),
        &got.overall,
        &want["overall"],
    );
    check_block(
        d,
        &format!("{name}.avg"),
        &got.class_wise_average,
        &want["class_wise_average"],
    );
    for c in &got.class_wise {
        let w = &want["class_wise"][&c.label];
        check_block(d, &format!("{name}.{}", c.label), &c.metrics, w);
        assert_eq!(Some(c.n_ref), w["count"]["Nref"].as_f64());
        assert_eq!(Some(c.n_sys), w["count"]["Nsys"].as_f64());
    }
}

fn check_counts(name: &str, got: &Counts, want: &Value, event_based: bool) {
    let map: Vec<(&str, f64)> = if event_based {
        vec![
            ("Nref", got.nref),
            ("Nsys", got.nsys),
            ("Ntp", got.ntp),
            ("Nfp", got.nfp),
            ("Nfn", got.nfn),
            ("Nsubs", got.nsubs),
        ]
    } else {
        vec![
            ("Ntp", got.ntp),
            ("Ntn", got.ntn),
            ("Nfp", got.nfp),
            ("Nfn", got.nfn),
            ("Nref", got.nref),
            ("Nsys", got.nsys),
            ("S", got.s),
            ("D", got.d),
            ("I", got.i),
        ]
    };
    for (k, v) in map {
        if let Some(w) = want.get(k) {
            assert_eq!(Some(v), w.as_f64(), "{name}.{k}");
        }
    }
}

fn classes(j: &Value) -> LabelSet {
    LabelSet::new(
        j["classes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap()),
    )
}

#[test]
fn sed_eval_event_and_segment_based() {
    let j = read_json("metrics/sed_eval.json");
    let labels = classes(&j);
    let reference = events("metrics/events/ref.tsv");
    let estimated = events("metrics/events/est.tsv");
    let durs = durations("metrics/events/durations.tsv");
    let mut d = Diff(0.0);
    let configs = [
        ("event_based", true, false),
        ("event_based_onset_only", false, false),
        ("event_based_greedy", true, true),
    ];
    for (name, offset, greedy) in configs {
        let opts = EventBasedOptions {
            evaluate_offset: offset,
            matching: if greedy {
                Matching::Greedy
            } else {
                Matching::Optimal
            },
            ..Default::default()
        };
        let mut m = EventBasedMetrics::new(labels.clone(), opts).unwrap();
        for (f, _) in &durs {
            m.evaluate(
                reference.for_file(f).as_slice(),
                estimated.for_file(f).as_slice(),
            );
        }
        let want = &j["metrics"][name];
        check_counts(name, &m.overall_counts(), &want["overall_counts"], true);
        for (label, c) in m.class_counts() {
            check_counts(name, &c, &want["class_wise_counts"][&label], true);
        }
        check_results(&mut d, name, &m.results(), &want["results"]);
    }
    let mut m = SegmentBasedMetrics::new(labels.clone(), 1.0).unwrap();
    for (f, dur) in &durs {
        m.evaluate(
            reference.for_file(f).as_slice(),
            estimated.for_file(f).as_slice(),
            Some(*dur),
        )
        .unwrap();
    }
    let want = &j["metrics"]["segment_based_1s"];
    check_counts(
        "segment",
        &m.overall_counts(),
        &want["overall_counts"],
        false,
    );
    for (label, c) in m.class_counts() {
        check_counts("segment", &c, &want["class_wise_counts"][&label], false);
        assert_eq!(
            Some(c.ntn),
            want["class_wise_counts"][&label]["Ntn"].as_f64()
        );
    }
    check_results(&mut d, "segment", &m.results(), &want["results"]);
    eprintln!("sed_eval max abs diff {:e}", d.0);
}

#[test]
fn psds_eval_operating_points_and_scores() {
    let j = read_json("metrics/psds.json");
    let gt = events("metrics/psds/ref.tsv");
    let durs = durations("metrics/psds/durations.tsv");
    let mut d = Diff(0.0);
    for (name, sc) in j["psds_eval"].as_object().unwrap() {
        let p = &sc["parameters"];
        let f = |k: &str| p[k].as_f64().unwrap();
        let params = PsdsParams {
            dtc_threshold: f("dtc_threshold"),
            gtc_threshold: f("gtc_threshold"),
            cttc_threshold: f("cttc_threshold"),
        };
        let mut ev = PsdsEval::new(params, &gt, &durs).unwrap();
        for t in ["0.3", "0.5", "0.7"] {
            let det = events(&format!("metrics/psds/op_{t}.tsv"));
            ev.add_operating_point(det.as_slice(), t.parse().unwrap());
        }
        for (op, w) in ev
            .operating_points()
            .iter()
            .zip(sc["operating_points"].as_array().unwrap())
        {
            assert_eq!(Some(op.threshold), w["threshold"].as_f64());
            for c in 0..3 {
                d.check(&format!("{name} tpr"), op.tpr[c], &w["tpr"][c]);
                d.check(&format!("{name} fpr"), op.fpr[c], &w["fpr"][c]);
                for k in 0..3 {
                    d.check(
                        &format!("{name} ctr[{c}][{k}]"),
                        op.ctr[c][k],
                        &w["ctr"][c][k],
                    );
                }
            }
            for c in 0..4 {
                for k in 0..4 {
                    assert_eq!(
                        Some(op.counts[c][k]),
                        w["counts"][c][k].as_f64(),
                        "{name} counts[{c}][{k}]"
                    );
                }
            }
        }
        let r = ev
            .psds(f("alpha_ct"), f("alpha_st"), Some(f("max_efpr")))
            .unwrap();
        d.check(&format!("{name} psds"), r.value, &sc["psds"]);
        let roc = &sc["psd_roc"];
        for (key, got) in [
            ("xp", &r.roc.xp),
            ("yp", &r.roc.yp),
            ("mean", &r.roc.mean),
            ("std", &r.roc.std),
        ] {
            let want = roc[key].as_array().unwrap();
            assert_eq!(got.len(), want.len(), "{name} {key} length");
            for (g, w) in got.iter().zip(want) {
                d.check(&format!("{name} {key}"), *g, w);
            }
        }
    }
    eprintln!("psds_eval max abs diff {:e}", d.0);
}

use earmark_testkit::read_npy_f64 as npy;

#[test]
fn sklearn_ranking_metrics() {
    let j = read_json("metrics/sklearn.json");
    let m = &j["metrics"];
    let (y, _) = npy("metrics/sklearn/y_true.npy");
    let (s, _) = npy("metrics/sklearn/y_score.npy");
    let y: Vec<bool> = y.iter().map(|&v| v == 1.0).collect();
    let mut d = Diff(0.0);
    d.check(
        "roc_auc",
        roc_auc(&y, &s).unwrap(),
        &m["roc_auc_score"]["value"],
    );
    d.check(
        "ap",
        average_precision(&y, &s).unwrap(),
        &m["average_precision_score"]["value"],
    );
    let roc = roc_curve(&y, &s).unwrap();
    let w = &m["roc_curve"];
    assert_eq!(roc.fpr.len(), w["fpr"].as_array().unwrap().len());
    for k in 0..roc.fpr.len() {
        d.check("fpr", roc.fpr[k], &w["fpr"][k]);
        d.check("tpr", roc.tpr[k], &w["tpr"][k]);
        if k == 0 {
            assert_eq!(w["thresholds"][0], "inf");
            assert!(roc.thresholds[0].is_infinite());
        } else {
            d.check("roc thr", roc.thresholds[k], &w["thresholds"][k]);
        }
    }
    let pr = precision_recall_curve(&y, &s).unwrap();
    let w = &m["precision_recall_curve"];
    assert_eq!(pr.precision.len(), w["precision"].as_array().unwrap().len());
    assert_eq!(
        pr.thresholds.len(),
        w["thresholds"].as_array().unwrap().len()
    );
    for k in 0..pr.precision.len() {
        d.check("prec", pr.precision[k], &w["precision"][k]);
        d.check("rec", pr.recall[k], &w["recall"][k]);
    }
    for k in 0..pr.thresholds.len() {
        d.check("pr thr", pr.thresholds[k], &w["thresholds"][k]);
    }
    let (ym, shape) = npy("metrics/sklearn/ml_y_true.npy");
    let (sm, _) = npy("metrics/sklearn/ml_y_score.npy");
    let ym: Vec<bool> = ym.iter().map(|&v| v == 1.0).collect();
    let n = shape[1];
    let ml = &m["multilabel"];
    d.check(
        "auc macro",
        averaged(&ym, &sm, n, Average::Macro, roc_auc).unwrap(),
        &ml["roc_auc_macro"]["value"],
    );
    d.check(
        "auc micro",
        averaged(&ym, &sm, n, Average::Micro, roc_auc).unwrap(),
        &ml["roc_auc_micro"]["value"],
    );
    for (k, v) in per_class(&ym, &sm, n, roc_auc).unwrap().iter().enumerate() {
        d.check("auc per class", *v, &ml["roc_auc_per_class"]["value"][k]);
    }
    d.check(
        "ap macro",
        averaged(&ym, &sm, n, Average::Macro, average_precision).unwrap(),
        &ml["ap_macro"]["value"],
    );
    d.check(
        "ap micro",
        averaged(&ym, &sm, n, Average::Micro, average_precision).unwrap(),
        &ml["ap_micro"]["value"],
    );
    eprintln!("sklearn max abs diff {:e}", d.0);
}

#[test]
fn boundary_errors_on_fixture_events() {
    let reference = events("metrics/events/ref.tsv");
    let estimated = events("metrics/events/est.tsv");
    let b = boundary_errors(
        reference.as_slice(),
        estimated.as_slice(),
        &EventBasedOptions::default(),
    );
    // f3 has no references (a negative clip): four positive files; class-wise TP = 3 + 5 + 3
    assert_eq!(b.positive_files, 4);
    assert_eq!(b.matched, 11);
}

#[test]
fn sklearn_calibration_metrics() {
    let j = read_json("metrics/sklearn.json");
    let m = &j["metrics"];
    let (y, _) = npy("metrics/sklearn/y_true.npy");
    let (s, _) = npy("metrics/sklearn/y_score.npy");
    let y: Vec<bool> = y.iter().map(|&v| v == 1.0).collect();
    let mut worst = 0.0f64;
    let mut close = |what: &str, got: f64, want: f64| {
        let d = (got - want).abs();
        worst = worst.max(d);
        assert!(d <= 1e-12, "{what}: got {got}, want {want}");
    };
    let brier = brier_score(&y, &s).unwrap();
    close(
        "brier",
        brier,
        m["brier_score_loss"]["value"].as_f64().unwrap(),
    );
    for (key, strategy) in [
        ("calibration_curve", BinStrategy::Uniform),
        ("calibration_curve_quantile", BinStrategy::Quantile),
    ] {
        let c = calibration_curve(&y, &s, 10, strategy).unwrap();
        for (field, got) in [("prob_true", &c.prob_true), ("prob_pred", &c.prob_pred)] {
            let want = m[key][field].as_array().unwrap();
            assert_eq!(got.len(), want.len(), "{key}.{field} length");
            for (g, w) in got.iter().zip(want) {
                close(&format!("{key}.{field}"), *g, w.as_f64().unwrap());
            }
        }
        assert_eq!(c.counts.iter().sum::<usize>(), y.len(), "{key} counts");
    }
    // The .npy copies of the uniform curve agree with the JSON.
    let (pt, _) = npy("metrics/sklearn/calib_prob_true.npy");
    let (pp, _) = npy("metrics/sklearn/calib_prob_pred.npy");
    let c = calibration_curve(&y, &s, 10, BinStrategy::Uniform).unwrap();
    for (g, w) in c
        .prob_true
        .iter()
        .zip(&pt)
        .chain(c.prob_pred.iter().zip(&pp))
    {
        close("calib npy", *g, *w);
    }
    // ECE from the same bins.
    let ece = expected_calibration_error(&y, &s, 10).unwrap();
    let want: f64 = c
        .prob_true
        .iter()
        .zip(&c.prob_pred)
        .zip(&c.counts)
        .map(|((t, p), &n)| n as f64 / y.len() as f64 * (t - p).abs())
        .sum();
    close("ece", ece, want);
    eprintln!("sklearn calibration metrics max abs diff {worst:e}");
}

/// The psds/scores tables with durations.tsv, keyed as sed_scores_eval keys them.
fn score_set() -> ScoreSet {
    let durs = durations("metrics/psds/durations.tsv");
    let mut recs = Vec::new();
    let dir = fixture("metrics/psds/scores");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        let id = name.trim_end_matches(".tsv").to_string();
        let t = ScoreTable::parse_tsv(&std::fs::read_to_string(dir.join(&name)).unwrap()).unwrap();
        let d = durs
            .iter()
            .find(|(f, _)| recording_id(f) == id)
            .map(|(_, d)| *d)
            .unwrap();
        recs.push((id, t, d));
    }
    let gt = events("metrics/psds/ref.tsv");
    ScoreSet::new(recs, gt.as_slice()).unwrap()
}

#[test]
fn sed_scores_eval_threshold_free_psds() {
    let j = read_json("metrics/psds.json");
    let set = score_set();
    assert_eq!(set.classes(), ["clap", "impact", "vocal"]);
    assert_eq!(set.ignored_truth_events(), 0);
    let mut worst = 0.0f64;
    for (name, sc) in j["sed_scores_eval"].as_object().unwrap() {
        // the scenario's parameters, as the call string and psds_eval's parameters give them
        let p = &j["psds_eval"][name]["parameters"];
        let f = |k: &str| p[k].as_f64().unwrap();
        let alpha_ct = f("alpha_ct");
        let params = ScorePsdsParams {
            dtc_threshold: f("dtc_threshold"),
            gtc_threshold: f("gtc_threshold"),
            cttc_threshold: (alpha_ct != 0.0).then(|| f("cttc_threshold")),
            alpha_ct,
            alpha_st: f("alpha_st"),
            max_efpr: f("max_efpr"),
        };
        let call = sc["call"].as_str().unwrap();
        let cttc = params
            .cttc_threshold
            .map_or("None".to_string(), |v| v.to_string());
        assert!(call.contains(&format!("cttc_threshold={cttc}")), "{call}");
        let r = set.psds(&params).unwrap();
        let mut close = |what: &str, got: f64, want: f64| {
            let d = (got - want).abs();
            worst = worst.max(d);
            assert!(d <= 1e-9, "{name} {what}: got {got}, want {want}");
        };
        close("psds", r.value, sc["psds"].as_f64().unwrap());
        for c in &r.classes {
            close(
                &format!("class {}", c.class),
                c.psds,
                sc["class_wise"][&c.class].as_f64().unwrap(),
            );
        }
        assert_eq!(
            Some(r.etpr.len() as u64),
            sc["n_roc_points"].as_u64(),
            "{name} PSD-ROC points"
        );
    }
    // the named scenarios are the fixture's psds1 and psds2
    let s1 = set.psds(&ScorePsdsParams::scenario1()).unwrap().value;
    let s2 = set.psds(&ScorePsdsParams::scenario2()).unwrap().value;
    assert_eq!(s1, set.psds(&ScorePsdsParams::scenario1()).unwrap().value);
    assert!((s1 - j["sed_scores_eval"]["psds1"]["psds"].as_f64().unwrap()).abs() <= 1e-9);
    assert!((s2 - j["sed_scores_eval"]["psds2"]["psds"].as_f64().unwrap()).abs() <= 1e-9);
    eprintln!("sed_scores_eval psds max abs diff {worst:e}");
}

#[test]
fn score_thresholds_agree_with_sed_eval_on_the_events_they_give() {
    // The best collar-based threshold per class, applied to the tables, gives events whose
    // sed_eval class-wise F1 is the F1 the sweep reported. sed_scores_eval compares times rounded
    // to 6 decimals (|5.2 - 5.0| - 0.2 = 1.8e-16 is inside its collar, outside sed_eval's): a
    // collar 4e-7 wider gives sed_eval the same decisions on these 0.1 s grids.
    let set = score_set();
    let gt = events("metrics/psds/ref.tsv");
    let best = set.best_fscores(&CollarOptions::default());
    let dir = fixture("metrics/psds/scores");
    let labels = LabelSet::new(set.classes().iter().map(String::as_str));
    for (c, b) in best.iter().enumerate() {
        let b = b.as_ref().expect("every class has references");
        assert!(b.f1 > 0.0 && b.f1 <= 1.0, "{b:?}");
        let opts = EventBasedOptions {
            t_collar_secs: 0.2 + 4e-7,
            ..Default::default()
        };
        let mut m = EventBasedMetrics::new(labels.clone(), opts).unwrap();
        for id in set.ids() {
            let t = ScoreTable::parse_tsv(
                &std::fs::read_to_string(dir.join(format!("{id}.tsv"))).unwrap(),
            )
            .unwrap();
            let file = format!("{id}.wav");
            let est = t.events(c, b.threshold, &file, &b.class);
            let r = gt.for_file(&file).for_label(&b.class);
            m.evaluate(r.as_slice(), &est);
        }
        let got = m
            .results()
            .class(&b.class)
            .unwrap()
            .metrics
            .f_measure
            .f_measure;
        assert!(
            (got - b.f1).abs() < 1e-12,
            "{}: sed_eval {got} vs sweep {}",
            b.class,
            b.f1
        );
        // the same counts one step either side: no other threshold beats it
        let st = &set.collar_statistics(&CollarOptions::default())[c];
        for i in 0..st.scores.len() {
            let (tp, fp) = (st.tps[i] as f64, st.fps[i] as f64);
            let f = 2.0 * tp / (2.0 * tp + fp + (b.n_ref as f64 - tp));
            assert!(
                f <= b.f1 + 1e-12,
                "{}: {f} at {} beats {}",
                b.class,
                st.scores[i],
                b.f1
            );
        }
    }
}
