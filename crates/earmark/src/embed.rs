//! `earmark embed`: frame embeddings of a recording with their time axis, whole-file or in windows
//! stitched on the encoder's frame grid.
//!
//! **Stitching.** Windows start at multiples of the encoder's hop (the window hop is rounded to
//! one), so every window's frames land on one global grid: local frame `i` of a window starting at
//! sample `s` is global frame `s/hop + i`. Where windows overlap, a global frame takes its values
//! from the window in which it sits most centrally (largest distance, in frames, to that window's
//! first or last frame; the earlier window on ties) — the frame with the most context on both
//! sides, as a whole-file pass would have. Frames that reach past the end of the audio are
//! dropped, as in a whole-file pass.

use crate::models::LoadedModel;
use crate::npz::Npz;
use earmark_audio::{AudioError, LastWindow, WindowOptions, Windows};
use earmark_core::{FrameGrid, Frames};
use earmark_encoders::{EncoderError, EncoderOutput, LayerSelection, Tokens};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error(transparent)]
    Audio(#[from] AudioError),
    #[error("{path}: {source}")]
    Encoder { path: String, source: EncoderError },
    #[error("{path}: {reason}")]
    Empty { path: String, reason: String },
    #[error("invalid window: {0}")]
    Window(String),
}

/// How to cut and what to return.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbedOptions {
    pub layers: LayerSelection,
    /// `Some(0.0)`: the whole file in one pass; `Some(w)`: windows of `w` s; `None`: whole file
    /// up to [`AUTO_WHOLE_SECS`] (or the model's own input length), windows of 10 s beyond.
    pub window_secs: Option<f64>,
    /// Window hop in seconds (default: the window length, no overlap).
    pub hop_secs: Option<f64>,
    /// Keep every token of each selected hidden state (`tokens_NN`) and `last_hidden_state`.
    pub tokens: bool,
}

impl Default for EmbedOptions {
    fn default() -> Self {
        EmbedOptions {
            layers: LayerSelection::Last,
            window_secs: None,
            hop_secs: None,
            tokens: false,
        }
    }
}

/// Files up to this long are embedded in one pass when no window is given.
pub const AUTO_WHOLE_SECS: f64 = 30.0;

/// What `earmark embed` writes for one recording.
#[derive(Debug, Clone)]
pub struct Embedding {
    pub layers: Vec<(usize, Frames)>,
    /// `_ML` models: the selected layers concatenated along the feature axis.
    pub features: Option<Frames>,
    pub extract_features: Option<Frames>,
    pub tokens: Vec<(usize, Tokens)>,
    pub last_hidden_state: Option<Frames>,
    /// Classifier logits (the mean over windows when there are several).
    pub logits: Option<Vec<f32>>,
    pub classes: Option<Vec<String>>,
    /// Per-frame classifier logits `[frames, classes]` (BEATs' per-token head), stitched like
    /// the layers.
    pub frame_logits: Option<Frames>,
    /// The model's own clip summary per selected hidden state, one row per window
    /// (`(index, rows × dim)`): EAT's CLS token, BEATs' mean token.
    pub cls: Vec<(usize, Vec<f32>)>,
    /// BEATs/EAT with `--tokens`: the reference's final `extract_features` output, every token
    /// (written as `last_hidden_state` instead of the frame view).
    pub final_tokens: Option<Tokens>,
    pub grid: FrameGrid,
    /// How many encoder passes it took.
    pub windows: usize,
    /// Audio seconds embedded.
    pub audio_secs: f64,
}

fn enc_err(path: &Path) -> impl Fn(EncoderError) -> EmbedError + '_ {
    move |source| EmbedError::Encoder {
        path: path.display().to_string(),
        source,
    }
}

/// Embed one recording.
pub fn embed_file(
    model: &LoadedModel,
    path: &Path,
    opts: &EmbedOptions,
) -> Result<Embedding, EmbedError> {
    let enc = model.encoder.as_ref();
    let rate = enc.sample_rate();
    let window = match opts.window_secs {
        Some(w) if w < 0.0 || !w.is_finite() => {
            return Err(EmbedError::Window(format!("--window {w}")))
        }
        Some(w) => w,
        None => {
            let windows = Windows::open(
                path,
                &WindowOptions {
                    target_rate: Some(rate),
                    ..WindowOptions::default()
                },
            )?;
            let secs = windows.info().duration.0;
            if windows.info().frames > 0 && secs <= AUTO_WHOLE_SECS {
                0.0
            } else {
                10.0
            }
        }
    };
    if window == 0.0 {
        let wave = earmark_audio::load_mono(path, Some(rate))?;
        let (out, final_tokens) =
            encode_with_final(enc, &wave.samples, opts).map_err(enc_err(path))?;
        let mut e = whole(model, out, opts, wave.samples.len() as f64 / rate as f64);
        e.final_tokens = final_tokens;
        return Ok(e);
    }
    windowed(model, path, window, opts.hop_secs.unwrap_or(window), opts)
}

/// Encoders whose reference `extract_features` returns the raw final tokens (BEATs, EAT).
fn final_is_tokens(enc: &dyn earmark_encoders::Encoder) -> bool {
    matches!(enc.name(), "beats" | "eat")
}

/// Encodes with the selection of `opts`; for BEATs/EAT with `--tokens`, also runs the last
/// hidden state when it is not selected, to return the final tokens, and leaves it out of the
/// layers and tokens otherwise returned.
fn encode_with_final(
    enc: &dyn earmark_encoders::Encoder,
    samples: &[f32],
    opts: &EmbedOptions,
) -> Result<(EncoderOutput, Option<Tokens>), EncoderError> {
    if !(opts.tokens && final_is_tokens(enc)) {
        return Ok((enc.encode(samples, &opts.layers)?, None));
    }
    let l = enc.num_layers();
    let mut idx = opts.layers.indices(l)?;
    let extra = !idx.contains(&l);
    if extra {
        idx.push(l);
    }
    let mut out = enc.encode(samples, &LayerSelection::List(idx))?;
    let final_tokens = out
        .tokens
        .as_ref()
        .and_then(|t| t.iter().find(|(i, _)| *i == l).map(|(_, t)| t.clone()));
    if extra {
        out.layers.retain(|(i, _)| *i != l);
        if let Some(t) = out.tokens.as_mut() {
            t.retain(|(i, _)| *i != l);
        }
        if let Some(c) = out.cls.as_mut() {
            c.retain(|(i, _)| *i != l);
        }
    }
    Ok((out, final_tokens))
}

fn whole(
    model: &LoadedModel,
    out: EncoderOutput,
    opts: &EmbedOptions,
    audio_secs: f64,
) -> Embedding {
    let grid = out
        .layers
        .first()
        .map(|(_, f)| f.grid)
        .unwrap_or_else(|| model.encoder.grid());
    let features = if model.multi_layer {
        out.concat().ok()
    } else {
        None
    };
    let tokens = if opts.tokens {
        out.tokens.clone().unwrap_or_else(|| {
            // wav2vec2/HuBERT: the tokens are the frames.
            out.layers
                .iter()
                .map(|(i, f)| {
                    (
                        *i,
                        Tokens {
                            data: f.data.clone(),
                            shape: f.shape(),
                        },
                    )
                })
                .collect()
        })
    } else {
        Vec::new()
    };
    Embedding {
        features,
        extract_features: out.extract_features,
        tokens,
        last_hidden_state: if opts.tokens {
            out.last_hidden_state
        } else {
            None
        },
        logits: out.logits,
        classes: out.classes,
        frame_logits: out.frame_logits,
        cls: out.cls.unwrap_or_default(),
        final_tokens: None,
        grid,
        layers: out.layers,
        windows: 1,
        audio_secs,
    }
}

/// One stitched array on the global grid: per frame, the rows of the window in which it sat most
/// centrally so far (`best` = that centrality, −1 where no window reached).
struct Slot {
    dim: usize,
    rows: Vec<f32>,
    best: Vec<i64>,
}

impl Slot {
    fn new(dim: usize) -> Self {
        Slot {
            dim,
            rows: Vec::new(),
            best: Vec::new(),
        }
    }

    /// Offer a window's frames, whose frame 0 is global frame `first`.
    fn offer(&mut self, first: usize, f: &Frames) {
        let (n, d) = (f.n_frames(), self.dim);
        for i in 0..n {
            let j = first + i;
            let centrality = i.min(n - 1 - i) as i64;
            if self.best.len() <= j {
                self.best.resize(j + 1, -1);
                self.rows.resize((j + 1) * d, 0.0);
            }
            if centrality > self.best[j] {
                self.best[j] = centrality;
                self.rows[j * d..(j + 1) * d].copy_from_slice(f.row(i));
            }
        }
    }

    /// Frames covered by some window, at most `keep` of them.
    fn into_frames(mut self, keep: usize, grid: FrameGrid) -> Result<Frames, EmbedError> {
        let n = self.best.iter().take_while(|b| **b >= 0).count().min(keep);
        self.rows.truncate(n * self.dim);
        Frames::new(self.rows, self.dim, grid).map_err(|e| EmbedError::Window(e.to_string()))
    }
}

fn windowed(
    model: &LoadedModel,
    path: &Path,
    window: f64,
    hop: f64,
    opts: &EmbedOptions,
) -> Result<Embedding, EmbedError> {
    let enc = model.encoder.as_ref();
    let rate = enc.sample_rate();
    let g = enc.grid();
    if hop.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) || !hop.is_finite() {
        return Err(EmbedError::Window(format!("--hop {hop} must be positive")));
    }
    // Round the hop to whole encoder hops so all windows share one frame grid.
    let hop_samples = ((hop * rate as f64 / g.hop as f64).round().max(1.0) as u64) * g.hop;
    let wopts = WindowOptions {
        window_secs: window,
        hop_secs: hop_samples as f64 / rate as f64,
        target_rate: Some(rate),
        last: LastWindow::Pad,
    };
    let windows = Windows::open(path, &wopts)?;
    let mut layers: Vec<(usize, Slot)> = Vec::new();
    let mut ef: Option<Slot> = None;
    let mut logits_sum: Option<Vec<f32>> = None;
    let mut classes = None;
    let mut fl: Option<Slot> = None;
    let mut cls: Vec<(usize, Vec<f32>)> = Vec::new();
    let (mut n_windows, mut end_sample) = (0usize, 0u64);
    for w in windows {
        let w = w?;
        n_windows += 1;
        end_sample = end_sample.max(w.start_sample + w.valid as u64);
        let out = enc
            .encode(&w.samples, &opts.layers)
            .map_err(enc_err(path))?;
        let first = (w.start_sample / g.hop) as usize;
        if layers.is_empty() {
            layers = out
                .layers
                .iter()
                .map(|(i, f)| (*i, Slot::new(f.dim)))
                .collect();
        }
        for ((_, slot), (_, f)) in layers.iter_mut().zip(&out.layers) {
            slot.offer(first, f);
        }
        if let Some(f) = &out.extract_features {
            ef.get_or_insert_with(|| Slot::new(f.dim)).offer(first, f);
        }
        if let Some(f) = &out.frame_logits {
            fl.get_or_insert_with(|| Slot::new(f.dim)).offer(first, f);
        }
        for (i, v) in out.cls.unwrap_or_default() {
            match cls.iter_mut().find(|(j, _)| *j == i) {
                Some((_, rows)) => rows.extend_from_slice(&v),
                None => cls.push((i, v)),
            }
        }
        if let Some(l) = out.logits {
            let s = logits_sum.get_or_insert_with(|| vec![0.0; l.len()]);
            s.iter_mut().zip(&l).for_each(|(a, b)| *a += b);
            classes = out.classes;
        }
    }
    if n_windows == 0 || layers.is_empty() {
        return Err(EmbedError::Empty {
            path: path.display().to_string(),
            reason: "no audio to embed".into(),
        });
    }
    // Keep the frames that lie wholly inside the audio, as a whole-file pass would.
    let keep = (0..layers[0].1.best.len())
        .take_while(|&j| g.start_sample(j as u64) + g.win as i64 <= end_sample as i64)
        .count();
    let layers = layers
        .into_iter()
        .map(|(i, slot)| Ok((i, slot.into_frames(keep, g)?)))
        .collect::<Result<Vec<_>, EmbedError>>()?;
    let features = if model.multi_layer {
        let refs: Vec<&Frames> = layers.iter().map(|(_, f)| f).collect();
        earmark_encoders::concat_layers(&refs).ok()
    } else {
        None
    };
    let extract_features = ef.map(|slot| slot.into_frames(keep, g)).transpose()?;
    let frame_logits = fl.map(|slot| slot.into_frames(keep, g)).transpose()?;
    let logits = logits_sum.map(|s| s.into_iter().map(|v| v / n_windows as f32).collect());
    Ok(Embedding {
        layers,
        features,
        extract_features,
        tokens: Vec::new(),
        last_hidden_state: None,
        logits,
        classes,
        frame_logits,
        cls,
        final_tokens: None,
        grid: g,
        windows: n_windows,
        audio_secs: end_sample as f64 / rate as f64,
    })
}

impl Embedding {
    /// The `earmark embed` npz contract: `layer_NN`, `features` (`_ML`), `extract_features`,
    /// `tokens_NN` + `last_hidden_state` (with `--tokens`), `logits` + `classes`, `frame_logits`
    /// (BEATs), `cls_NN` (`[windows, dim]`: EAT's CLS token, BEATs' mean token), and the grid as
    /// int64 scalars `sample_rate`, `hop_samples`, `win_samples`, `offset_samples`.
    pub fn to_npz(&self) -> Npz {
        let mut npz = Npz::new();
        for (i, f) in &self.layers {
            npz.add_f32(&format!("layer_{i:02}"), &f.shape(), &f.data);
        }
        if let Some(f) = &self.features {
            npz.add_f32("features", &f.shape(), &f.data);
        }
        if let Some(f) = &self.extract_features {
            npz.add_f32("extract_features", &f.shape(), &f.data);
        }
        for (i, t) in &self.tokens {
            npz.add_f32(&format!("tokens_{i:02}"), &t.shape, &t.data);
        }
        if let Some(t) = &self.final_tokens {
            npz.add_f32("last_hidden_state", &t.shape, &t.data);
        } else if let Some(f) = &self.last_hidden_state {
            npz.add_f32("last_hidden_state", &f.shape(), &f.data);
        }
        if let Some(f) = &self.frame_logits {
            npz.add_f32("frame_logits", &f.shape(), &f.data);
        }
        for (i, rows) in &self.cls {
            let dim = self
                .layers
                .first()
                .map_or(rows.len(), |(_, f)| f.dim)
                .max(1);
            npz.add_f32(&format!("cls_{i:02}"), &[rows.len() / dim, dim], rows);
        }
        if let Some(l) = &self.logits {
            npz.add_f32("logits", &[l.len()], l);
        }
        if let Some(c) = &self.classes {
            npz.add_strings("classes", c);
        }
        npz.add_i64("sample_rate", self.grid.rate as i64);
        npz.add_i64("hop_samples", self.grid.hop as i64);
        npz.add_i64("win_samples", self.grid.win as i64);
        npz.add_i64("offset_samples", self.grid.offset);
        npz
    }
}
