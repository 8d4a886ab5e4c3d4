//! Turning what the user gives `earmark train` into a [`TrainInput`]: an embeddings `.npz`
//! (`X` `[rows, dim]`, `y` `[rows]` class ids or names or `[rows, classes]` 0/1, optional
//! `classes`), or a folder of audio with DESED labels and an encoder.

use super::rows::{audio_rows, EmbeddingPooling, LabelKind};
use super::train::TrainInput;
use super::{DetectorError, EncoderSpec};
use crate::cache::{encoder_id, EmbeddingCache};
use crate::models::{load_model, LoadOptions};
use crate::npy::{read_npz, NpyData};
use earmark_encoders::LayerSelection;
use earmark_heads::Targets;
use std::path::Path;

/// Reads `X`, `y` and `classes` from an `.npz`.
pub fn embeddings_input(path: &Path) -> Result<TrainInput, DetectorError> {
    let name = path.display().to_string();
    let bad = |what: String| DetectorError::data(format!("{name}: {what}"));
    let m = read_npz(path).map_err(|e| DetectorError::data(e.to_string()))?;
    let keys = || m.keys().cloned().collect::<Vec<_>>().join(", ");
    let x = m
        .get("X")
        .ok_or_else(|| bad(format!("no array X (it holds: {})", keys())))?;
    let [rows, dim] = x.shape[..] else {
        return Err(bad(format!(
            "X has shape {:?}; it must be [rows, dim] (pool frames into rows first)",
            x.shape
        )));
    };
    let NpyData::Float(xv) = &x.data else {
        return Err(bad("X must be a float array".into()));
    };
    let xs: Vec<f32> = xv.iter().map(|&v| v as f32).collect();
    let y = m
        .get("y")
        .ok_or_else(|| bad(format!("no array y (it holds: {})", keys())))?;
    if y.shape.first() != Some(&rows) {
        return Err(bad(format!("y has shape {:?}; X has {rows} rows", y.shape)));
    }
    let given: Option<Vec<String>> = match m.get("classes").map(|c| &c.data) {
        Some(NpyData::Str(v)) => Some(v.clone()),
        Some(NpyData::Int(v)) => Some(v.iter().map(|i| i.to_string()).collect()),
        Some(NpyData::Float(_)) => return Err(bad("classes must be strings or integers".into())),
        None => None,
    };
    let as_ints = |d: &NpyData| -> Result<Vec<i64>, DetectorError> {
        match d {
            NpyData::Int(v) => Ok(v.clone()),
            NpyData::Float(v) => v
                .iter()
                .enumerate()
                .map(|(i, &f)| {
                    if f.fract() == 0.0 && f.is_finite() {
                        Ok(f as i64)
                    } else {
                        Err(bad(format!("y[{i}] = {f} is not a whole number")))
                    }
                })
                .collect(),
            NpyData::Str(_) => unreachable!(),
        }
    };
    let (targets, classes) = match (y.shape.len(), &y.data) {
        (1, NpyData::Str(names)) => {
            let mut classes = given.unwrap_or_else(|| {
                let mut c = names.clone();
                c.sort();
                c.dedup();
                c
            });
            if classes.is_empty() {
                classes = vec![String::new()];
            }
            let ids = names
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    classes
                        .iter()
                        .position(|c| c == n)
                        .map(|p| p as u32)
                        .ok_or_else(|| bad(format!("y[{i}] = {n:?} is not in classes {classes:?}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            (Targets::classes(ids, classes.len())?, classes)
        }
        (1, d) => {
            let ids = as_ints(d)?;
            if let Some((i, v)) = ids.iter().enumerate().find(|(_, &v)| v < 0) {
                return Err(bad(format!("y[{i}] = {v}: class ids start at 0")));
            }
            let k = ids.iter().copied().max().unwrap_or(0) as usize + 1;
            let classes = match given {
                Some(c) if c.len() >= k => c,
                // A binary task named by its positive class only.
                Some(c) if c.len() == 1 && k <= 2 => vec![format!("not {}", c[0]), c[0].clone()],
                Some(c) => {
                    return Err(bad(format!(
                        "y has class id {} but classes names only {}",
                        k - 1,
                        c.len()
                    )))
                }
                None => (0..k.max(2)).map(|i| i.to_string()).collect(),
            };
            let ids = ids.into_iter().map(|v| v as u32).collect();
            (Targets::classes(ids, classes.len())?, classes)
        }
        (2, d) => {
            let c = y.shape[1];
            let v = as_ints(d)?;
            if let Some(i) = v.iter().position(|&b| b != 0 && b != 1) {
                return Err(bad(format!(
                    "multi-label y[{}, {}] = {}: must be 0 or 1",
                    i / c,
                    i % c,
                    v[i]
                )));
            }
            let classes = match given {
                Some(g) if g.len() == c => g,
                Some(g) => return Err(bad(format!("y has {c} columns, classes {}", g.len()))),
                None => (0..c).map(|i| i.to_string()).collect(),
            };
            (
                Targets::multi_label(v.into_iter().map(|b| b as u32).collect(), c)?,
                classes,
            )
        }
        _ => {
            return Err(bad(format!(
                "y has shape {:?}: use [rows] or [rows, classes]",
                y.shape
            )))
        }
    };
    Ok(TrainInput::Embeddings {
        x: xs,
        dim,
        targets,
        classes,
        source: name,
    })
}

/// Loads the encoder and builds rows from audio and labels (progress: done, total, file).
#[allow(clippy::too_many_arguments)] // the seam the CLI and the page both call; each argument is a user choice
pub fn audio_input(
    audio_dir: &Path,
    labels: LabelKind,
    encoder: &str,
    layers: Option<&LayerSelection>,
    pooling: EmbeddingPooling,
    cache: &EmbeddingCache,
    load: &LoadOptions,
    progress: &dyn Fn(usize, usize, &str),
) -> Result<TrainInput, DetectorError> {
    let model = load_model(encoder, load)
        .map_err(|e| DetectorError::data(format!("--encoder {encoder}: {e}")))?;
    let layers = layers
        .cloned()
        .unwrap_or_else(|| model.default_layers.clone());
    let key = encoder_id(&model, encoder);
    let rows = audio_rows(
        &model, &key, &layers, cache, audio_dir, &labels, pooling, progress,
    )?;
    let enc = model.encoder.as_ref();
    let spec = EncoderSpec {
        name: encoder.to_string(),
        // Absolute, so a scan from another folder can find a checkpoint given by relative path.
        source: std::fs::canonicalize(&model.source)
            .unwrap_or_else(|_| model.source.clone())
            .display()
            .to_string(),
        checkpoint_id: key,
        layers: layers.to_string(),
        sample_rate: enc.sample_rate(),
        hop_samples: enc.grid().hop as usize,
        eat_frames: load.eat_frames.map(|f| f.to_string()),
    };
    Ok(TrainInput::Audio {
        rows: Box::new(rows),
        encoder: spec,
        labels,
        pooling,
    })
}
