//! Every endpoint through `router(state)` with `oneshot` (no sockets): answers, refused paths,
//! malformed requests, and the page's events against what `earmark scan` itself wrote.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use earmark_web::{router, AppState};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use std::path::Path;
use tower::ServiceExt;

struct Answer {
    status: StatusCode,
    bytes: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {}",
                String::from_utf8_lossy(&self.bytes[..self.bytes.len().min(300)])
            )
        })
    }
}

async fn call(state: &AppState, method: &str, uri: &str, body: Option<Value>) -> Answer {
    let mut req = Request::builder().method(method).uri(uri);
    let body = match body {
        Some(v) => {
            req = req.header("content-type", "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    let resp = router(state.clone())
        .oneshot(req.body(body).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Answer { status, bytes }
}

async fn get(state: &AppState, uri: &str) -> Answer {
    call(state, "GET", uri, None).await
}

/// A 4xx JSON error whose message mentions `needle`.
fn refused(a: &Answer, status: u16, needle: &str) {
    assert_eq!(
        a.status.as_u16(),
        status,
        "{}",
        String::from_utf8_lossy(&a.bytes)
    );
    let msg = a.json()["error"].as_str().unwrap_or_default().to_string();
    assert!(
        msg.contains(needle),
        "error {msg:?} should mention {needle:?}"
    );
}

/// 6 s of silence with a 1 kHz tone from 2 s to 3 s, at 16 kHz.
fn tone_file(path: &Path) {
    let rate = 16_000usize;
    let s: Vec<f32> = (0..6 * rate)
        .map(|i| {
            if (2 * rate..3 * rate).contains(&i) {
                0.5 * (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / rate as f32).sin()
            } else {
                0.0
            }
        })
        .collect();
    earmark_audio::write_wav_pcm16(path, &s, rate as u32, 1).unwrap();
}

fn synth_project(dir: &Path) {
    let opts = earmark_synth::SynthOptions {
        n_clips: 24,
        clip_secs: 5.0,
        seed: 7,
        ..Default::default()
    };
    earmark_synth::write_dataset(dir, &opts, &earmark_synth::Source::Procedural).unwrap();
    tone_file(&dir.join("tone.wav"));
}

async fn wait_job(state: &AppState, id: &str) -> Value {
    for _ in 0..1200 {
        let j = get(state, &format!("/api/jobs/{id}")).await.json();
        if j["state"] != "running" {
            return j;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("job {id} did not finish in 120 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn project_recordings_and_imported_labels() {
    let dir = tempfile::tempdir().unwrap();
    synth_project(dir.path());
    let st = AppState::open(dir.path()).unwrap();
    let p = get(&st, "/api/project").await;
    assert_eq!(p.status, StatusCode::OK);
    let p = p.json();
    assert_eq!(p["recordings"], 25);
    assert_eq!(p["labels"]["weak"], 24, "{p}");
    let recs = get(&st, "/api/recordings").await.json();
    let recs = recs.as_array().unwrap();
    assert_eq!(recs.len(), 25);
    assert_eq!(recs[0]["path"], "audio/synth_0000.wav");
    assert_eq!(recs[0]["duration"], 5.0);
    assert!(recs.iter().all(|r| r["detections"].is_null()));
    // The synthesiser's strong.tsv names files relative to audio/; the import maps them.
    let strong = std::fs::read_to_string(dir.path().join("strong.tsv")).unwrap();
    let first = strong.lines().nth(1).unwrap();
    let name = first.split('\t').next().unwrap();
    let l = get(&st, &format!("/api/labels?path=audio/{name}"))
        .await
        .json();
    assert!(!l["strong"].as_array().unwrap().is_empty(), "{l}");
    assert!(dir.path().join(".earmark/labels/strong.tsv").is_file());
    // The page's own folder is not a recording, and hidden files are not listed.
    assert!(recs
        .iter()
        .all(|r| !r["path"].as_str().unwrap().starts_with('.')));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_outside_the_project_are_refused() {
    let outside = tempfile::tempdir().unwrap();
    tone_file(&outside.path().join("secret.wav"));
    let dir = tempfile::tempdir().unwrap();
    tone_file(&dir.path().join("a.wav"));
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("secret.wav"),
        dir.path().join("sub/link.wav"),
    )
    .unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("out")).unwrap();
    let st = AppState::open(dir.path()).unwrap();
    let recs = get(&st, "/api/recordings").await.json();
    assert_eq!(
        recs.as_array().unwrap().len(),
        1,
        "symlinks out are not listed: {recs}"
    );
    let secret = outside.path().join("secret.wav");
    for (uri, status, needle) in [
        ("/api/audio?path=../secret.wav".to_string(), 403, "'..'"),
        ("/api/audio?path=sub/../../secret.wav".into(), 403, "'..'"),
        (
            format!("/api/audio?path={}", secret.display()),
            403,
            "absolute",
        ),
        ("/api/audio?path=sub/link.wav".into(), 403, "outside"),
        ("/api/audio?path=out/secret.wav".into(), 403, "outside"),
        (
            "/api/labels?path=.earmark/labels/strong.tsv".into(),
            403,
            ".earmark",
        ),
        (
            "/api/spectrogram?path=nothing.wav".into(),
            404,
            "no such file",
        ),
        ("/api/audio?path=".into(), 400, "empty"),
        ("/api/audio".into(), 400, "path"),
        ("/api/audio?path=a.wav&start=abc".into(), 400, "start"),
        ("/api/audio?path=a.wav&start=3&end=2".into(), 400, "before"),
        (
            "/api/audio?path=a.wav&start=10&end=20".into(),
            400,
            "outside the recording",
        ),
        ("/api/spectrogram?path=a.wav&cols=0".into(), 400, "cols"),
        ("/api/audio?path=a.wav&bogus=1".into(), 400, "bogus"),
        ("/api/nope".into(), 404, "endpoint"),
        (
            "/api/scores?path=a.wav&detector=none".into(),
            404,
            "no detector",
        ),
        (
            "/api/scores?path=a.wav&detector=../x".into(),
            400,
            "detector name",
        ),
        ("/api/jobs/999".into(), 404, "no job"),
    ] {
        let a = get(&st, &uri).await;
        refused(&a, status, needle);
    }
    // Percent-encoded traversal decodes to the same refused path.
    refused(
        &get(&st, "/api/audio?path=%2E%2E%2Fsecret.wav").await,
        403,
        "'..'",
    );
    // Writes refused the same way, and nothing is written outside.
    let a = call(
        &st,
        "PUT",
        "/api/labels?path=../secret.wav",
        Some(json!({"strong": [], "weak": null})),
    )
    .await;
    refused(&a, 403, "'..'");
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_stretches_and_spectrogram() {
    let dir = tempfile::tempdir().unwrap();
    tone_file(&dir.path().join("tone.wav"));
    let st = AppState::open(dir.path()).unwrap();
    let a = get(&st, "/api/audio?path=tone.wav&start=1.5&end=2.5").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(&a.bytes[..4], b"RIFF");
    assert_eq!(&a.bytes[8..16], b"WAVEfmt ");
    let rate = u32::from_le_bytes(a.bytes[24..28].try_into().unwrap());
    assert_eq!(rate, 16_000);
    let data_len = u32::from_le_bytes(a.bytes[40..44].try_into().unwrap()) as usize;
    assert_eq!(data_len, 16_000 * 2, "one second of 16-bit samples");
    // The first half second is silence, the second the tone.
    let pcm: Vec<i16> = a.bytes[44..]
        .chunks(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect();
    assert!(pcm[..8000].iter().all(|&v| v == 0));
    let peak = pcm[8000..].iter().map(|v| v.unsigned_abs()).max().unwrap();
    assert!((16000..=16384).contains(&peak), "tone at 0.5: peak {peak}");

    let s = get(&st, "/api/spectrogram?path=tone.wav&cols=60&bins=32")
        .await
        .json();
    assert_eq!(s["cols"], 60);
    assert_eq!(s["bins"], 32);
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s["data"].as_str().unwrap())
        .unwrap();
    assert_eq!(bytes.len(), 60 * 32);
    // 0.1 s per column: the tone (2–3 s) is in columns 20..30, loud in the 1 kHz band only.
    let col_energy = |c: usize| {
        bytes[c * 32..(c + 1) * 32]
            .iter()
            .map(|&b| b as u32)
            .sum::<u32>()
    };
    let loud = col_energy(25);
    assert!(
        loud > 0 && col_energy(5) == 0 && col_energy(45) == 0,
        "{loud}"
    );
    let band = (0..32).max_by_key(|&b| bytes[25 * 32 + b]).unwrap();
    // 1 kHz on a 0–8 kHz HTK mel axis with 32 bands lies in the lower third.
    assert!((6..14).contains(&band), "loudest band {band}");
    // A one-column overview and a zoom both work; the zoom's range is the one asked for.
    let z = get(
        &st,
        "/api/spectrogram?path=tone.wav&start=2&end=2.5&cols=5&bins=16",
    )
    .await
    .json();
    assert_eq!(z["start"], 2.0);
    assert_eq!(z["end"], 2.5);
    assert!((z["col_secs"].as_f64().unwrap() - 0.1).abs() < 1e-9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_are_checked_and_written_atomically() {
    let dir = tempfile::tempdir().unwrap();
    tone_file(&dir.path().join("tone.wav"));
    let st = AppState::open(dir.path()).unwrap();
    let put = |b: Value| call(&st, "PUT", "/api/labels?path=tone.wav", Some(b));
    let ok =
        put(json!({"strong": [{"onset": 2.0, "offset": 3.0, "label": "beep"}], "weak": ["beep"]}))
            .await;
    assert_eq!(
        ok.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&ok.bytes)
    );
    let strong = std::fs::read_to_string(dir.path().join(".earmark/labels/strong.tsv")).unwrap();
    assert!(strong.contains("tone.wav\t2.0\t3.0\tbeep"), "{strong}");
    let weak = std::fs::read_to_string(dir.path().join(".earmark/labels/weak.tsv")).unwrap();
    assert!(weak.contains("tone.wav\tbeep"), "{weak}");
    for (b, status, needle) in [
        (
            json!({"strong": [{"onset": 3.0, "offset": 2.0, "label": "x"}]}),
            422,
            "before",
        ),
        (
            json!({"strong": [{"onset": 1.0, "offset": 9.0, "label": "x"}]}),
            422,
            "past",
        ),
        (
            json!({"strong": [{"onset": 1.0, "offset": 2.0, "label": ""}]}),
            422,
            "empty",
        ),
        (
            json!({"strong": [{"onset": 1.0, "offset": 2.0, "label": "a\tb"}]}),
            422,
            "tab",
        ),
        (json!({"weak": ["a,b"]}), 422, ","),
        (json!({"strong": [{"onset": "x"}]}), 400, "body"),
        (json!({"stronk": []}), 400, "body"),
    ] {
        refused(&put(b).await, status, needle);
    }
    // Refused writes changed nothing.
    let again = get(&st, "/api/labels?path=tone.wav").await.json();
    assert_eq!(again["strong"][0]["label"], "beep");
    assert_eq!(again["weak"], json!(["beep"]));
    // Not JSON at all.
    let req = Request::builder()
        .method("PUT")
        .uri("/api/labels?path=tone.wav")
        .header("content-type", "application/json")
        .body(Body::from("{not json"))
        .unwrap();
    let resp = router(st.clone()).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    // A reopened project reads what was written.
    let st2 = AppState::open(dir.path()).unwrap();
    let l = get(&st2, "/api/labels?path=tone.wav").await.json();
    assert_eq!(l["strong"][0]["onset"], 2.0);
    // Clearing the clip label: weak null.
    let ok = put(json!({"strong": [], "weak": null})).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert!(get(&st, "/api/labels?path=tone.wav").await.json()["weak"].is_null());
}

/// Events of one recording from the scan's own `events.tsv`.
fn scan_events(dir: &Path, name: &str, file: &str) -> Vec<(f64, f64, String)> {
    let text =
        std::fs::read_to_string(dir.join(format!(".earmark/scans/{name}/events.tsv"))).unwrap();
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            (c[0] == file).then(|| {
                (
                    c[1].parse().unwrap(),
                    c[2].parse().unwrap(),
                    c[3].to_string(),
                )
            })
        })
        .collect()
}

/// Asserts that the page's events of every recording at detector `name`'s own thresholds are
/// exactly those of the scan's `events.tsv`, and that the recordings list counts them; returns
/// their total.
async fn page_events_are_the_scans(st: &AppState, dir: &Path, name: &str) -> usize {
    let recs = get(st, &format!("/api/recordings?detector={name}"))
        .await
        .json();
    let mut total = 0;
    for r in recs.as_array().unwrap() {
        let path = r["path"].as_str().unwrap();
        let e = get(st, &format!("/api/events?path={path}&detector={name}"))
            .await
            .json();
        let ours: Vec<(f64, f64, String)> = e["events"]
            .as_array()
            .unwrap_or_else(|| panic!("{path}: {e}"))
            .iter()
            .map(|v| {
                (
                    v["onset"].as_f64().unwrap(),
                    v["offset"].as_f64().unwrap(),
                    v["label"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let theirs = scan_events(dir, name, path);
        assert_eq!(ours.len(), theirs.len(), "{path}: {ours:?} vs {theirs:?}");
        for (a, b) in ours.iter().zip(&theirs) {
            assert!(
                (a.0 - b.0).abs() < 1e-3 && (a.1 - b.1).abs() < 1e-3 && a.2 == b.2,
                "{path}: {a:?} vs {b:?}"
            );
        }
        assert_eq!(r["detections"], ours.len());
        total += ours.len();
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn train_scan_rethreshold_and_save() {
    let dir = tempfile::tempdir().unwrap();
    synth_project(dir.path());
    let st = AppState::open(dir.path()).unwrap();

    // The dialog's choices are checked before a job starts.
    for (b, needle) in [
        (json!({"name": "../x"}), "detector name"),
        (json!({"name": "d", "head": "forest"}), "head"),
        (json!({"name": "d", "calibration": "magic"}), "calibration"),
        (json!({"name": "d", "layers": "x,y"}), "layers"),
        (json!({"name": "d", "labels": "both"}), "labels"),
        (
            json!({"name": "d", "head": "logistic", "pooling": "median"}),
            "pooling",
        ),
        (json!({"name": "d", "colour": "red"}), "body"),
        (
            json!({"name": "d", "encoder": "/etc/model"}),
            "registry encoder",
        ),
    ] {
        refused(&call(&st, "POST", "/api/train", Some(b)).await, 400, needle);
    }
    let models = get(&st, "/api/models").await.json();
    let scratch = models
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "scratch")
        .unwrap();
    assert_eq!(scratch["available"], true);

    let t = call(
        &st,
        "POST",
        "/api/train",
        Some(json!({"name": "d1", "head": "logistic", "pooling": "max", "labels": "strong", "window": 1.0})),
    )
    .await;
    assert_eq!(t.status, StatusCode::ACCEPTED);
    let job = wait_job(&st, t.json()["job"].as_str().unwrap()).await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["kind"], "train");
    assert!(
        job["result"]["validation"]["classes"]
            .as_object()
            .unwrap()
            .len()
            >= 2,
        "{job}"
    );
    let dets = get(&st, "/api/detectors").await.json();
    assert_eq!(dets[0]["name"], "d1");
    assert_eq!(dets[0]["scanned"], false);

    refused(
        &get(&st, "/api/scores?path=tone.wav&detector=d1").await,
        404,
        "not been scanned",
    );
    refused(
        &call(&st, "POST", "/api/scan", Some(json!({"detector": "zz"}))).await,
        404,
        "no detector",
    );
    let s = call(&st, "POST", "/api/scan", Some(json!({"detector": "d1"}))).await;
    assert_eq!(s.status, StatusCode::ACCEPTED);
    let job = wait_job(&st, s.json()["job"].as_str().unwrap()).await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["result"]["files_done"], 25);

    // The page's events at the detector's thresholds are exactly the scan's.
    let total = page_events_are_the_scans(&st, dir.path(), "d1").await;
    let sum = get(&st, "/api/summary?detector=d1").await.json();
    assert_eq!(sum["count"], total);
    assert_eq!(sum["recordings"], 25);

    // Scores: one value per cell, cells contiguous and inside the audio.
    let path = "audio/synth_0001.wav";
    let sc = get(&st, &format!("/api/scores?path={path}&detector=d1"))
        .await
        .json();
    let on = sc["onsets"].as_array().unwrap();
    let off = sc["offsets"].as_array().unwrap();
    assert_eq!(on.len(), 10, "5 s at the 0.5 s hop");
    assert_eq!(off.last().unwrap().as_f64().unwrap(), 5.0);
    for c in sc["classes"].as_array().unwrap() {
        assert_eq!(
            sc["scores"][c.as_str().unwrap()].as_array().unwrap().len(),
            on.len()
        );
    }

    // The slider: a lower threshold never finds fewer events; 0 finds one per class with any
    // score, 1 finds none unless a score is exactly 1.
    let count = |t: f64| {
        let st = st.clone();
        async move {
            get(&st, &format!("/api/summary?detector=d1&threshold={t}"))
                .await
                .json()["count"]
                .as_u64()
                .unwrap()
        }
    };
    let (lo, mid, hi) = (count(0.0).await, count(0.5).await, count(1.0).await);
    assert!(lo >= mid && mid >= hi && lo > hi, "{lo} {mid} {hi}");
    refused(
        &get(&st, "/api/events?path=tone.wav&detector=d1&threshold=2").await,
        400,
        "[0, 1]",
    );
    refused(
        &get(&st, "/api/events?path=tone.wav&detector=d1&class=nope").await,
        400,
        "classes",
    );

    // Metrics: labels equal to the detections score 1.
    let e = get(&st, "/api/events?path=tone.wav&detector=d1&threshold=0")
        .await
        .json();
    let spans: Vec<Value> = e["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| json!({"onset": v["onset"], "offset": v["offset"], "label": v["label"]}))
        .collect();
    assert!(!spans.is_empty());
    let ok = call(
        &st,
        "PUT",
        "/api/labels?path=tone.wav",
        Some(json!({"strong": spans, "weak": null})),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK);
    let e = get(&st, "/api/events?path=tone.wav&detector=d1&threshold=0")
        .await
        .json();
    assert_eq!(e["metrics"]["precision"], 1.0, "{e}");
    assert_eq!(e["metrics"]["recall"], 1.0);
    assert_eq!(e["metrics"]["fp"], 0);
    let e1 = get(&st, "/api/events?path=tone.wav&detector=d1&threshold=1")
        .await
        .json();
    assert_eq!(
        e1["metrics"]["recall"],
        if e1["count"] == e["count"] { 1.0 } else { 0.0 }
    );

    // Saving a threshold writes detector.json; the page's default events follow it.
    let class = sc["classes"][0].as_str().unwrap().to_string();
    for (b, status, needle) in [
        (json!({"nope": 0.5}), 422, "classes"),
        (json!({class.clone(): 1.5}), 422, "[0, 1]"),
        (json!({}), 400, "at least one"),
        (json!([1, 2]), 400, "body"),
    ] {
        refused(
            &call(&st, "PUT", "/api/detectors/d1/thresholds", Some(b)).await,
            status,
            needle,
        );
    }
    let a = call(
        &st,
        "PUT",
        "/api/detectors/d1/thresholds",
        Some(json!({class.clone(): 0.0})),
    )
    .await;
    assert_eq!(
        a.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&a.bytes)
    );
    assert_eq!(a.json()["thresholds"][&class], 0.0);
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join(".earmark/detectors/d1/detector.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["thresholds"][&class]["value"], 0.0);
    assert_eq!(manifest["thresholds"][&class]["rule"], "manual");
    let d = get(
        &st,
        &format!("/api/events?path={path}&detector=d1&class={class}"),
    )
    .await
    .json();
    let z = get(
        &st,
        &format!("/api/events?path={path}&detector=d1&class={class}&threshold=0"),
    )
    .await
    .json();
    assert_eq!(d["count"], z["count"]);
    let jobs = get(&st, "/api/jobs").await.json();
    assert_eq!(jobs.as_array().unwrap().len(), 2);
}

/// The body the dialog sends with its defaults (every field filled in, head `crnn`, pooling
/// `max`) plans the same training as a body naming nothing, which is
/// `earmark train --audio DIR --weak TSV`'s; other encoders and strong labels keep gbt.
#[test]
fn the_dialogs_defaults_plan_the_clis_crnn() {
    use earmark::detector::crnn::CrnnOptions;
    use earmark::detector::HeadKindArg;
    use earmark_web::jobs::TrainRequest;
    let plan = |b: Value| {
        serde_json::from_value::<TrainRequest>(b)
            .unwrap()
            .plan()
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let dialog = plan(json!({
        "name": "detector-1", "encoder": "scratch", "layers": "last", "pooling": "max",
        "head": "crnn", "calibration": "isotonic", "labels": "weak"
    }));
    let bare = plan(json!({"name": "detector-1"}));
    for p in [&dialog, &bare] {
        assert_eq!(p.settings.head, HeadKindArg::Crnn);
        assert_eq!(p.crnn.as_ref(), Some(&CrnnOptions::default()));
    }
    // `earmark train --head mil` with the built-in encoder and weak labels means the CRNN too.
    let mil = plan(json!({"name": "m", "head": "mil", "pooling": "attention"}));
    assert_eq!(mil.settings.head, HeadKindArg::Crnn);
    assert_eq!(mil.crnn.unwrap().pooling, earmark_heads::Pooling::Attention);
    let strong = plan(json!({"name": "s", "labels": "strong"}));
    assert_eq!(strong.settings.head, HeadKindArg::Gbt);
    assert!(strong.crnn.is_none());
    let other = earmark_encoders::registry::MODELS
        .iter()
        .find(|m| m.name != "scratch")
        .unwrap()
        .name;
    let pretrained = plan(json!({"name": "p", "encoder": other}));
    assert_eq!(pretrained.settings.head, HeadKindArg::Gbt);
    assert!(pretrained.crnn.is_none());
}

/// The dialog's defaults (the built-in encoder, weak labels, no head named) train what
/// `earmark train --audio DIR --weak TSV` trains: the CRNN with `CrnnOptions::default()` (here
/// with 2 epochs), and a scan with it gives the page the scan's own events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_train_is_the_crnn_and_scans() {
    let dir = tempfile::tempdir().unwrap();
    let opts = earmark_synth::SynthOptions {
        n_clips: 16,
        clip_secs: 4.0,
        positive_fraction: 0.8,
        seed: 11,
        ..Default::default()
    };
    earmark_synth::write_dataset(dir.path(), &opts, &earmark_synth::Source::Procedural).unwrap();
    let st = AppState::open(dir.path()).unwrap();

    // What the CRNN refuses, in the page's words; a pooling it does not know.
    let other = earmark_encoders::registry::MODELS
        .iter()
        .find(|m| m.name != "scratch")
        .unwrap()
        .name;
    for (b, needle) in [
        (
            json!({"name": "c", "head": "crnn", "labels": "strong"}),
            "clip labels",
        ),
        (
            json!({"name": "c", "head": "crnn", "encoder": other}),
            "built-in encoder",
        ),
        (json!({"name": "c", "pooling": "mean_max"}), "pooling"),
        (json!({"name": "c", "epochs": 0}), "epochs"),
    ] {
        refused(&call(&st, "POST", "/api/train", Some(b)).await, 400, needle);
    }

    let t = call(
        &st,
        "POST",
        "/api/train",
        Some(json!({"name": "c1", "epochs": 2})),
    )
    .await;
    assert_eq!(
        t.status,
        StatusCode::ACCEPTED,
        "{}",
        String::from_utf8_lossy(&t.bytes)
    );
    let job = wait_job(&st, t.json()["job"].as_str().unwrap()).await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["result"]["head"], "crnn", "{job}");
    assert!(job["result"]["warnings"].is_array(), "{job}");

    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join(".earmark/detectors/c1/detector.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["head"]["kind"], "crnn");
    assert_eq!(manifest["input"]["encoder"]["name"], "crnn");
    assert_eq!(manifest["input"]["labels"], "weak");
    assert!(!manifest["post"].as_object().unwrap().is_empty());
    // Exactly the CLI's options: the defaults, with --epochs 2 capping the minimum too.
    let mut want = earmark::detector::crnn::CrnnOptions::default();
    want.train.max_epochs = 2;
    want.train.min_epochs = 2;
    assert_eq!(
        manifest["head"]["options"]["crnn"],
        serde_json::to_value(&want).unwrap()
    );
    assert!(manifest["head"]["options"]["epochs_run"].as_u64().unwrap() <= 2);
    assert!(dir.path().join(".earmark/detectors/c1/encoder").is_dir());

    let dets = get(&st, "/api/detectors").await.json();
    let c1 = dets
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "c1")
        .unwrap();
    assert_eq!(c1["head"], "crnn");
    assert_eq!(c1["encoder"], "crnn");

    // The scan job loads the detector's own encoder.
    let s = call(&st, "POST", "/api/scan", Some(json!({"detector": "c1"}))).await;
    assert_eq!(s.status, StatusCode::ACCEPTED);
    let job = wait_job(&st, s.json()["job"].as_str().unwrap()).await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["result"]["files_done"], 16);
    assert_eq!(job["result"]["files_failed"], 0, "{job}");

    let total = page_events_are_the_scans(&st, dir.path(), "c1").await;
    let sum = get(&st, "/api/summary?detector=c1").await.json();
    assert_eq!(sum["count"], total);
    assert_eq!(sum["recordings"], 16);
    // Frame scores on the encoder's grid: many cells per second, one curve per class.
    let sc = get(&st, "/api/scores?path=audio/synth_0000.wav&detector=c1")
        .await
        .json();
    let on = sc["onsets"].as_array().unwrap();
    assert!(on.len() > 8, "{} cells over 4 s", on.len());
    assert_eq!(sc["classes"].as_array().unwrap().len(), 3);
    // The slider still cuts the cached scores: a lower threshold never finds fewer events.
    let count = |t: f64| {
        let st = st.clone();
        async move {
            get(&st, &format!("/api/summary?detector=c1&threshold={t}"))
                .await
                .json()["count"]
                .as_u64()
                .unwrap()
        }
    };
    let (lo, hi) = (count(0.05).await, count(0.95).await);
    assert!(lo >= hi, "{lo} {hi}");
}
