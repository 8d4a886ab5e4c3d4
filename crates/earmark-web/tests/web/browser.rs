//! End-to-end: a real headless Chromium (Debian's `chromium` + `chromium-driver`) drives the page
//! through chromedriver at a 1400×1000 viewport: check the train dialog's defaults (those of
//! `earmark train --audio DIR --weak TSV`) and that it fits its box, train a small detector from
//! the dialog on synthesised data, scan with it, open a recording, move the threshold slider,
//! play an event, make a label.
//!
//! One browser session for the whole story keeps the test well under a minute. Waits poll a
//! condition in the page (the page exposes `data-state` on its progress bars and
//! `data-threshold` on the detection count for this) instead of sleeping.
//!
//! The WebDriver client is the few W3C commands the story needs, over plain HTTP to the local
//! chromedriver (`Wd` below). fantoccini was the plan, but its only TLS-free constructor wants
//! hyper-util types, and its rustls one panics in this workspace: `ureq` turns on rustls' `ring`
//! and `hyper-rustls` its `aws-lc-rs`, so rustls cannot pick a process-wide crypto provider.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use earmark_synth::{Source, SynthOptions};
use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver as a child process, killed when the test ends (passing or not).
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `target/` (the parent of Cargo's per-target scratch folder), where the screenshots go.
fn target_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).to_path_buf()
}

/// Whether the browser tools are installed; without them the test fails under CI and is skipped
/// (loudly) on a developer machine.
fn browser_available() -> bool {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{missing:?} not installed: .ci/run installs chromium and chromium-driver");
    }
    eprintln!(
        "\n*** browser test skipped: install chromium chromium-driver ({missing:?} missing) ***\n"
    );
    false
}

async fn start_chromedriver() -> (Driver, String) {
    // A free port from the OS; the tiny race until chromedriver binds it is acceptable here.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting chromedriver");
    let driver = Driver(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not listen on {port}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (driver, format!("http://127.0.0.1:{port}"))
}

/// A W3C WebDriver session on the local chromedriver: one blocking HTTP/1.1 request per command
/// (run off the async workers, which serve the page meanwhile).
struct Wd {
    addr: String,
    session: String,
}

/// The W3C key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn http(addr: &str, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
    use std::io::{Read, Write};
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut tcp = std::net::TcpStream::connect(addr).map_err(|e| format!("{addr}: {e}"))?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    // chromedriver says `Connection: close` but keeps the socket open: read the header, then
    // exactly Content-Length bytes.
    let mut raw = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    let header_end = loop {
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = tcp.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err(format!(
                "{method} {path}: connection closed before the header"
            ));
        }
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..header_end]).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("{method} {path}: no Content-Length in {head:?}"))?;
    while raw.len() < header_end + len {
        let n = tcp.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    let json_text = String::from_utf8_lossy(&raw[header_end..]).to_string();
    let v: Value = serde_json::from_str(&json_text)
        .map_err(|e| format!("{method} {path}: {e}: {json_text:.300}"))?;
    match v["value"].get("error") {
        Some(err) => Err(format!(
            "{method} {path}: {err}: {}",
            v["value"]["message"].as_str().unwrap_or("")
        )),
        None => Ok(v["value"].clone()),
    }
}

impl Wd {
    async fn new_session(webdriver: &str, profile: &Path) -> Result<Wd, String> {
        let caps = json!({"capabilities": {"alwaysMatch": {
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                // The background-networking flags matter: the test machines have no network.
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    format!("--user-data-dir={}", profile.display()),
                    "--window-size=1400,1000",
                ]
            }
        }}});
        let addr = webdriver.trim_start_matches("http://").to_string();
        let a = addr.clone();
        let v = tokio::task::spawn_blocking(move || http(&a, "POST", "/session", Some(&caps)))
            .await
            .map_err(|e| e.to_string())??;
        let session = v["sessionId"].as_str().ok_or("no sessionId")?.to_string();
        Ok(Wd { addr, session })
    }

    async fn cmd(
        &self,
        method: &'static str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let (addr, path) = (
            self.addr.clone(),
            format!("/session/{}{path}", self.session),
        );
        tokio::task::spawn_blocking(move || http(&addr, method, &path, body.as_ref()))
            .await
            .map_err(|e| e.to_string())?
    }

    async fn goto(&self, url: &str) -> Result<Value, String> {
        self.cmd("POST", "/url", Some(json!({ "url": url }))).await
    }

    async fn execute(&self, script: &str, args: Vec<Value>) -> Result<Value, String> {
        let body = json!({ "script": script, "args": args });
        self.cmd("POST", "/execute/sync", Some(body)).await
    }

    /// `script` gets a callback as its last argument and answers by calling it.
    async fn execute_async(&self, script: &str, args: Vec<Value>) -> Result<Value, String> {
        let body = json!({ "script": script, "args": args });
        self.cmd("POST", "/execute/async", Some(body)).await
    }

    /// The element reference (`{ELEMENT: id}`) of the first match of a CSS selector.
    async fn find(&self, css: &str) -> Result<Value, String> {
        let body = json!({ "using": "css selector", "value": css });
        self.cmd("POST", "/element", Some(body)).await
    }

    async fn click(&self, element: &Value) -> Result<Value, String> {
        let id = element[ELEMENT].as_str().ok_or("not an element")?;
        self.cmd("POST", &format!("/element/{id}/click"), Some(json!({})))
            .await
    }

    async fn send_keys(&self, element: &Value, text: &str) -> Result<Value, String> {
        let id = element[ELEMENT].as_str().ok_or("not an element")?;
        let body = json!({ "text": text });
        self.cmd("POST", &format!("/element/{id}/value"), Some(body))
            .await
    }

    /// A mouse drag with the left button between two offsets from `element`'s centre.
    async fn drag(
        &self,
        element: &Value,
        from: (f64, f64),
        to: (f64, f64),
    ) -> Result<Value, String> {
        let body = json!({ "actions": [{
            "type": "pointer", "id": "mouse", "parameters": { "pointerType": "mouse" },
            "actions": [
                { "type": "pointerMove", "origin": element, "x": from.0, "y": from.1, "duration": 0 },
                { "type": "pointerDown", "button": 0 },
                { "type": "pointerMove", "origin": element, "x": to.0, "y": to.1, "duration": 150 },
                { "type": "pointerUp", "button": 0 },
            ]
        }]});
        self.cmd("POST", "/actions", Some(body)).await
    }

    /// Resizes the window so that the page's viewport is `width`×`height` CSS pixels (the
    /// window size counts the browser's own bars too, even headless).
    async fn set_viewport(&self, width: u64, height: u64) -> Result<Value, String> {
        let bars = self
            .execute(
                "return [outerWidth - innerWidth, outerHeight - innerHeight]",
                vec![],
            )
            .await?;
        let (dw, dh) = (bars[0].as_u64().unwrap_or(0), bars[1].as_u64().unwrap_or(0));
        let body = json!({ "width": width + dw, "height": height + dh });
        self.cmd("POST", "/window/rect", Some(body)).await
    }

    async fn screenshot(&self) -> Result<Vec<u8>, String> {
        let v = self.cmd("GET", "/screenshot", None).await?;
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().ok_or("no image")?)
            .map_err(|e| e.to_string())
    }

    async fn close(&self) -> Result<Value, String> {
        self.cmd("DELETE", "", None).await
    }
}

/// Fails the test with the page's state: `fail!(page, "format", args..)` (async context).
macro_rules! fail {
    ($page:expr, $($arg:tt)*) => {
        panic!("{}", $page.diagnose(&format!($($arg)*)).await)
    };
}

/// The browser session with the helpers the story needs; every failure message carries the
/// page's #message text and a screenshot path.
struct Page {
    c: Wd,
}

impl Page {
    async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        match self.c.execute(script, args).await {
            Ok(v) => v,
            Err(e) => fail!(self, "script {script:?}: {e}"),
        }
    }

    /// Polls `script` until it returns something truthy, and returns that.
    async fn wait(&self, what: &str, secs: u64, script: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let v = self.js(script, vec![]).await;
            let truthy =
                !matches!(&v, Value::Null | Value::Bool(false)) && v != json!("") && v != json!(0);
            if truthy {
                return v;
            }
            if Instant::now() > deadline {
                fail!(self, "timed out after {secs} s waiting for {what}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn click(&self, css: &str) {
        let found = self.c.find(css).await;
        match found {
            Ok(e) => {
                if let Err(err) = self.c.click(&e).await {
                    fail!(self, "clicking {css}: {err}")
                }
            }
            Err(err) => fail!(self, "finding {css}: {err}"),
        }
    }

    async fn screenshot(&self, name: &str) -> PathBuf {
        let path = target_dir().join(name);
        match self.c.screenshot().await {
            Ok(png) => {
                if let Err(e) = std::fs::write(&path, png) {
                    eprintln!("could not write {}: {e}", path.display());
                }
            }
            Err(e) => eprintln!("could not take a screenshot: {e}"),
        }
        path
    }

    /// The failure message: what went wrong, the page's message area, a screenshot path.
    async fn diagnose(&self, what: &str) -> String {
        let message = self
            .c
            .execute(
                "return document.getElementById('message').innerText",
                vec![],
            )
            .await
            .unwrap_or(Value::Null);
        let shot = self.screenshot("earmark-web-failure.png").await;
        format!(
            "{what}\n  page #message: {message}\n  screenshot: {}",
            shot.display()
        )
    }

    /// Sets the threshold slider as a user would (value + `input` event) and returns the
    /// detection count once the page shows it for that threshold, with the milliseconds the
    /// page took (input event to count on screen).
    async fn threshold(&self, t: &str) -> (u64, f64) {
        let script = r#"
            const [t, done] = arguments;
            const s = document.getElementById('threshold'), d = document.getElementById('detection-count');
            const t0 = performance.now();
            s.value = t;
            s.dispatchEvent(new Event('input', { bubbles: true }));
            const until = t0 + 20000;
            (function poll() {
                if (d.dataset.threshold === t) return done([Number(d.textContent), performance.now() - t0]);
                if (performance.now() > until) return done(null);
                requestAnimationFrame(poll);
            })();
        "#;
        let v = match self.c.execute_async(script, vec![json!(t)]).await {
            Ok(v) => v,
            Err(e) => fail!(self, "moving the slider to {t}: {e}"),
        };
        match (v[0].as_u64(), v[1].as_f64()) {
            (Some(n), Some(ms)) => (n, ms),
            _ => {
                fail!(self, "the detection count never showed threshold {t}")
            }
        }
    }

    /// GET an API path from inside the page (same origin), as JSON.
    async fn get(&self, url: &str) -> Value {
        let script = r#"
            const [url, done] = arguments;
            fetch(url).then((r) => r.json()).then(done, (e) => done({ error: String(e) }));
        "#;
        match self.c.execute_async(script, vec![json!(url)]).await {
            Ok(v) => v,
            Err(e) => fail!(self, "GET {url}: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn train_scan_threshold_and_label_in_a_real_browser() {
    if !browser_available() {
        return;
    }
    let t_all = Instant::now();
    let project = tempfile::tempdir().expect("temp dir");
    let opts = SynthOptions {
        n_clips: 24,
        clip_secs: 5.0,
        ..Default::default()
    };
    earmark_synth::write_dataset(project.path(), &opts, &Source::Procedural).expect("synth data");

    let state = earmark_web::AppState::open(project.path()).expect("open the project");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(earmark_web::serve(listener, state));
    let base = format!("http://{addr}");

    let profile = tempfile::tempdir().expect("profile dir");
    let (_driver, webdriver) = start_chromedriver().await;
    let page = Page {
        c: Wd::new_session(&webdriver, profile.path())
            .await
            .expect("a chromium session through chromedriver"),
    };

    // Page load: until the recordings list is filled.
    let t = Instant::now();
    if let Err(e) = page.c.goto(&format!("{base}/")).await {
        fail!(page, "opening {base}/: {e}");
    }
    if let Err(e) = page.c.set_viewport(1400, 1000).await {
        fail!(page, "sizing the window to a 1400×1000 viewport: {e}");
    }
    let rows = page
        .wait(
            "the recordings list",
            20,
            "return document.querySelectorAll('#recordings tr[data-path]').length",
        )
        .await;
    assert_eq!(rows, json!(24), "one row per synthesised clip");
    eprintln!("page load: {:?}", t.elapsed());

    // The train dialog: the encoder list comes from the registry, `scratch` always usable,
    // unusable models present but disabled with their reason.
    page.click("#train-open").await;
    let options = page
        .wait(
            "the encoder dropdown",
            20,
            "const o = [...document.querySelectorAll('#train-encoder option')];
             return o.length ? o.map((x) => ({ value: x.value, disabled: x.disabled, title: x.title, text: x.textContent })) : null;",
        )
        .await;
    let options = options.as_array().expect("an array");
    assert!(
        options
            .iter()
            .any(|o| o["value"] == "scratch" && o["disabled"] == false),
        "scratch is offered and enabled: {options:?}"
    );
    for o in options.iter().filter(|o| o["disabled"] == true) {
        let reason = o["title"].as_str().unwrap_or("");
        assert!(
            !reason.is_empty() && o["text"].as_str().unwrap_or("").contains("unavailable"),
            "a disabled encoder says why: {o}"
        );
    }
    eprintln!(
        "encoders: {} offered, {} disabled",
        options.len(),
        options.iter().filter(|o| o["disabled"] == true).count()
    );

    // The dialog's defaults are `earmark train --audio DIR --weak TSV`'s: the built-in encoder,
    // clip labels, the CRNN with max pooling; a pretrained encoder switches the head
    // to gbt (its CLI default), as clip labels → strong ones do, and back.
    let defaults = page
        .js(
            "const v = (id) => document.getElementById(id).value;
             const set = (id, x) => { const e = document.getElementById(id); e.value = x; e.dispatchEvent(new Event('change')); };
             const first = { encoder: v('train-encoder'), labels: v('train-labels'), head: v('train-head'), pooling: v('train-pooling') };
             const other = [...document.querySelectorAll('#train-encoder option')].find((o) => o.value !== 'scratch');
             let pretrained = null;
             if (other) { set('train-encoder', other.value); pretrained = { head: v('train-head'), pooling: v('train-pooling') }; set('train-encoder', 'scratch'); }
             set('train-labels', 'strong'); const strong = v('train-head'); set('train-labels', 'weak');
             return { first, pretrained, strong, back: { head: v('train-head'), pooling: v('train-pooling') } };",
            vec![],
        )
        .await;
    assert_eq!(
        defaults["first"],
        json!({"encoder": "scratch", "labels": "weak", "head": "crnn", "pooling": "max"}),
        "{defaults}"
    );
    if !defaults["pretrained"].is_null() {
        assert_eq!(defaults["pretrained"]["head"], "gbt", "{defaults}");
    }
    assert_eq!(defaults["strong"], "gbt", "{defaults}");
    assert_eq!(
        defaults["back"],
        json!({"head": "crnn", "pooling": "max"}),
        "{defaults}"
    );

    // At 1400×1000 the dialog fits its box (its longest encoder option names whole cache paths):
    // no horizontal scrollbar, no field past its edge, with the extra options open too.
    let fit = page
        .js(
            "const d = document.getElementById('train-dialog');
             d.querySelector('details').open = true;
             const box = d.getBoundingClientRect();
             const out = [...d.querySelectorAll('select, input, button, progress, table')].filter((e) => {
               const r = e.getBoundingClientRect();
               return r.width > 0 && (r.left < box.left - 0.5 || r.right > box.right + 0.5);
             }).map((e) => e.id || e.tagName);
             return { viewport: [innerWidth, innerHeight], dialog: [d.scrollWidth, d.clientWidth],
                      page: [document.documentElement.scrollWidth, document.documentElement.clientWidth], out };",
            vec![],
        )
        .await;
    eprintln!("train dialog at {}: {fit}", fit["viewport"]);
    assert_eq!(fit["viewport"], json!([1400, 1000]), "{fit}");
    let (sw, cw) = (fit["dialog"][0].as_u64(), fit["dialog"][1].as_u64());
    if !(sw <= cw && fit["out"] == json!([])) {
        fail!(page, "the train dialog overflows its box: {fit}");
    }
    if fit["page"][0].as_u64() > fit["page"][1].as_u64() {
        fail!(
            page,
            "the page scrolls sideways with the dialog open: {fit}"
        );
    }
    let shot = page.screenshot("earmark-web-train-dialog.png").await;
    eprintln!("train dialog screenshot: {}", shot.display());
    page.js(
        "document.querySelector('#train-dialog details').open = false",
        vec![],
    )
    .await;

    // Train a small detector: scratch encoder, logistic head on max-pooled 1 s windows of the
    // strong labels (scores that change over time, so the slider has something to cut).
    let t = Instant::now();
    page.js(
        "const set = (id, v) => { const e = document.getElementById(id); e.value = v; e.dispatchEvent(new Event('change')); };
         set('train-name', 'e2e'); set('train-encoder', 'scratch'); set('train-head', 'logistic');
         set('train-pooling', 'max'); set('train-calibration', 'isotonic'); set('train-labels', 'strong');
         set('train-layers', 'last');",
        vec![],
    )
    .await;
    page.click("#train-submit").await;
    let state = page
        .wait(
            "the training job to end",
            240,
            "const s = document.getElementById('train-progress').dataset.state;
             return s === 'done' || s === 'failed' ? s : null;",
        )
        .await;
    if state != "done" {
        fail!(page, "training failed");
    }
    let metrics = page
        .wait(
            "the validation metrics",
            10,
            "return document.getElementById('train-metrics').innerText",
        )
        .await;
    eprintln!(
        "training: {:?}; metrics shown: {}",
        t.elapsed(),
        metrics.as_str().unwrap_or("").replace('\n', " | ")
    );
    page.wait(
        "e2e in the scan dropdown",
        10,
        "return [...document.querySelectorAll('#scan-detector option')].some((o) => o.value === 'e2e')",
    )
    .await;
    page.click("#train-close").await;

    // Select it in the scan dropdown (as a user would) and scan.
    page.js(
        "const s = document.getElementById('scan-detector'); s.value = 'e2e'; s.dispatchEvent(new Event('change'));",
        vec![],
    )
    .await;
    let t = Instant::now();
    page.click("#scan-start").await;
    let state = page
        .wait(
            "the scan job to end",
            240,
            "const s = document.getElementById('scan-progress').dataset.state;
             return s === 'done' || s === 'failed' ? s : null;",
        )
        .await;
    if state != "done" {
        fail!(page, "the scan failed");
    }
    // The list refreshes with detection counts once the scan is done.
    page.wait(
        "detection counts in the recordings list",
        20,
        "return [...document.querySelectorAll('#recordings tr[data-path] td:last-child')].every((td) => /^\\d+$/.test(td.textContent))",
    )
    .await;
    eprintln!("scan: {:?}", t.elapsed());

    // Open the first labelled recording: there the metrics have something to say.
    let path = page
        .js(
            "const r = [...document.querySelectorAll('#recordings tr[data-path]')]
                 .find((tr) => Number(tr.cells[2].textContent) > 0) || document.querySelector('#recordings tr[data-path]');
             return r.dataset.path;",
            vec![],
        )
        .await;
    let path = path.as_str().expect("a path").to_string();
    page.click(&format!("#recordings tr[data-path='{path}'] button"))
        .await;
    page.wait(
        "the recording to open with scores",
        20,
        "return document.getElementById('detection-count').dataset.threshold === 'default' && !document.getElementById('timeline-note').textContent",
    )
    .await;

    // The slider: a low threshold must find strictly more than a high one.
    let (low, ms_low) = page.threshold("0.01").await;
    let (high, ms_high) = page.threshold("0.99").await;
    eprintln!(
        "slider: {low} detections at 0.01 ({ms_low:.0} ms), {high} at 0.99 ({ms_high:.0} ms)"
    );
    if high >= low {
        fail!(
            page,
            "{path}: {high} detections at 0.99, not fewer than {low} at 0.01"
        );
    }
    let (_, ms_mid) = page.threshold("0.50").await;
    eprintln!("slider response at 0.50: {ms_mid:.0} ms");

    // Click an event box: the player gets that stretch.
    page.threshold("0.01").await;
    page.wait(
        "an event box",
        10,
        "return document.querySelectorAll('#event-lane .event-box').length",
    )
    .await;
    page.click("#event-lane .event-box").await;
    let src = page
        .js("return document.getElementById('player').src", vec![])
        .await;
    let src = src.as_str().unwrap_or("").to_string();
    if !(src.contains("/api/audio?") && src.contains("start=") && src.contains("end=")) {
        fail!(page, "the player's src is {src:?}");
    }

    // Label by the UI: label mode, drag across the timeline, name the class, add.
    page.click("#label-mode").await;
    let canvas = match page.c.find("#timeline-canvas").await {
        Ok(e) => e,
        Err(e) => fail!(page, "finding the canvas: {e}"),
    };
    // From left of centre to right of centre, a little above the middle: the spectrogram and
    // score bands, where no event or label box would catch the pointer.
    if let Err(e) = page.c.drag(&canvas, (-200.0, -30.0), (100.0, -30.0)).await {
        fail!(page, "dragging on the timeline: {e}");
    }
    let onset = page
        .wait(
            "the selection in the label form",
            5,
            "return document.getElementById('label-onset').value",
        )
        .await;
    let onset: f64 = onset.as_str().unwrap_or("").parse().expect("a number");
    match page.c.find("#label-class").await {
        Ok(e) => {
            if let Err(err) = page.c.send_keys(&e, "e2e-mark").await {
                fail!(page, "typing the class: {err}");
            }
        }
        Err(e) => fail!(page, "finding #label-class: {e}"),
    }
    page.click("#label-add").await;
    page.wait(
        "the new label's box",
        10,
        "return [...document.querySelectorAll('#label-lane .label-box')].some((b) => b.dataset.label === 'e2e-mark')",
    )
    .await;
    let labels = page
        .get(&format!("/api/labels?path={}", path.replace('/', "%2F")))
        .await;
    let found = labels["strong"].as_array().is_some_and(|s| {
        s.iter().any(|l| {
            l["label"] == "e2e-mark" && (l["onset"].as_f64().unwrap_or(-1.0) - onset).abs() < 0.01
        })
    });
    if !found {
        fail!(page, "GET /api/labels has no e2e-mark at {onset}: {labels}");
    }

    // Back to the detector's own thresholds for a representative screenshot.
    page.click("#label-mode").await;
    page.click("#threshold-reset").await;
    page.wait(
        "the count at the detector's thresholds",
        10,
        "return document.getElementById('detection-count').dataset.threshold === 'default'",
    )
    .await;
    let shot = page.screenshot("earmark-web-screenshot.png").await;
    eprintln!("screenshot: {}", shot.display());
    eprintln!("browser test total: {:?}", t_all.elapsed());
    let _ = page.c.close().await;
}
