//! earmark's local web page: `router(state) -> Router` over one project folder.
//!
//! The page (three embedded files, no build step, nothing fetched from the network) shows the
//! project's recordings on a timeline — spectrogram, frame scores, events, labels — with a
//! threshold slider that re-thresholds a scan's cached scores, a train dialog and a scan model
//! dropdown. The API it uses is documented in `docs/api.md`.
//!
//! * [`project`]: the folder, its recordings, and the one place request paths become files.
//! * [`labels`]: the project's strong and clip labels, written back atomically.
//! * [`audio`]: decoded recordings, WAV stretches, spectrogram columns.
//! * [`scores`]: a scan's frame scores re-thresholded exactly as `earmark scan` cuts events.
//! * [`jobs`]: training and scanning in the background with progress.
//! * [`routes`]: the handlers; [`error::AppError`] maps failures to status codes.

pub mod audio;
pub mod error;
pub mod jobs;
pub mod labels;
pub mod project;
pub mod routes;
pub mod scores;

pub use error::AppError;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use axum::Router;
use std::path::Path;
use std::sync::Arc;

/// What every handler shares; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub project: Arc<project::Project>,
    pub labels: Arc<labels::Labels>,
    pub audio: Arc<audio::AudioCache>,
    pub scores: Arc<scores::ScoresCache>,
    pub jobs: Arc<jobs::Jobs>,
    /// Serialises read-modify-write of detector manifests (threshold saves).
    pub detector_writes: Arc<tokio::sync::Mutex<()>>,
}

impl AppState {
    /// Opens the project at `dir`: creates `.earmark/`, reads (or first imports) the labels.
    pub fn open(dir: &Path) -> Result<AppState, AppError> {
        let project = project::Project::open(dir)?;
        let names: Vec<String> = project.recordings().into_iter().map(|r| r.path).collect();
        let labels = labels::Labels::open(&project, &names)?;
        Ok(AppState {
            project: Arc::new(project),
            labels: Arc::new(labels),
            audio: Arc::default(),
            scores: Arc::default(),
            jobs: Arc::default(),
            detector_writes: Arc::default(),
        })
    }
}

const INDEX_HTML: &str = include_str!("../assets/index.html");
const APP_JS: &str = include_str!("../assets/app.js");
const STYLE_CSS: &str = include_str!("../assets/style.css");

fn asset(kind: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, kind),
            // The page is served from memory: always the binary's own copy.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}

/// Every route of the page and its API.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/style.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }),
        )
        .route("/api/project", get(routes::project))
        .route("/api/recordings", get(routes::recordings))
        .route("/api/audio", get(routes::audio))
        .route("/api/spectrogram", get(routes::spectrogram))
        .route("/api/scores", get(routes::scores))
        .route("/api/events", get(routes::events))
        .route("/api/summary", get(routes::summary))
        .route(
            "/api/labels",
            get(routes::get_labels).put(routes::put_labels),
        )
        .route("/api/models", get(routes::models))
        .route("/api/detectors", get(routes::detectors))
        .route(
            "/api/detectors/{name}/thresholds",
            put(routes::put_thresholds),
        )
        .route("/api/train", post(routes::train))
        .route("/api/scan", post(routes::scan))
        .route("/api/jobs", get(routes::list_jobs))
        .route("/api/jobs/{id}", get(routes::get_job))
        .fallback(routes::not_found)
        .with_state(state)
}

/// Serves the page on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, state: AppState) -> std::io::Result<()> {
    axum::serve(listener, router(state)).await
}
