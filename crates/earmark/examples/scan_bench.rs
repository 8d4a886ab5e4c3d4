//! Scanning speed: a long synthetic recording through a detector with the built-in encoder or a
//! full-size random-weight HuBERT-base (transformers' `HubertConfig()` defaults, written as a
//! Hugging Face folder so it loads through the same path as a downloaded checkpoint).
//!
//! Prints JSON lines: the real-time factor of a full scan, the share of time in decode, front
//! end, encoder (after the front end) and head + stitching + events, and the real-time factor of
//! a first (cache-filling) and second (cache-reading) run.
//!
//! ```text
//! cargo run --release -p earmark --example scan_bench -- --encoder scratch --hours 1
//! cargo run --release -p earmark --example scan_bench -- --encoder hubert_base --hours 0.25
//! ```
//! The detector uses windows as long as its training clips (5 s) without overlap (`hop = window`).

use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder};
use earmark::detector::{audio_input, save_detector, train_detector, Detector, EmbeddingPooling};
use earmark::detector::{HeadKindArg, LabelKind, TrainSettings};
use earmark::scan::{ScanSettings, Scanner};
use earmark_audio::{LastWindow, WindowOptions, Windows};
use earmark_core::SplitMix64;
use earmark_encoders::wav2vec2::{Config, Wav2Vec2Model};
use earmark_heads::Calibration;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// Random N(0, 0.02²) tensors (layer norms around 1), keeping every name and shape asked for.
struct Recording(Arc<Mutex<HashMap<String, Tensor>>>);

impl SimpleBackend for Recording {
    fn get(
        &self,
        s: Shape,
        name: &str,
        _: Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let mean = if name.ends_with("norm.weight") || name.ends_with("weight_g") {
            1.0
        } else {
            0.0
        };
        let t = Tensor::randn(mean, 0.02f32, s, dev)?.to_dtype(dtype)?;
        let mut m = self
            .0
            .lock()
            .map_err(|_| candle_core::Error::Msg("lock".into()))?;
        m.insert(name.to_string(), t.clone());
        Ok(t)
    }
    fn get_unchecked(&self, name: &str, _: DType, _: &Device) -> candle_core::Result<Tensor> {
        candle_core::bail!("random weights need a shape for {name}")
    }
    fn contains_tensor(&self, _: &str) -> bool {
        true
    }
}

/// A Hugging Face HuBERT-base folder with random weights.
fn hubert_folder(dir: &Path) -> Res<PathBuf> {
    let out = dir.join("hubert-base-random");
    if out.join("model.safetensors").is_file() {
        return Ok(out);
    }
    std::fs::create_dir_all(&out)?;
    let cfg = Config::base("hubert");
    let seen = Arc::new(Mutex::new(HashMap::new()));
    let vb = VarBuilder::from_backend(Box::new(Recording(seen.clone())), DType::F32, Device::Cpu);
    Wav2Vec2Model::new(&cfg, vb)?;
    let tensors = seen.lock().map_err(|_| "lock")?.clone();
    candle_core::safetensors::save(&tensors, out.join("model.safetensors"))?;
    std::fs::write(out.join("config.json"), serde_json::to_string_pretty(&cfg)?)?;
    Ok(out)
}

/// `hours` of 16 kHz noise with a 100 ms impact every 5–35 s.
fn long_recording(dir: &Path, hours: f64) -> Res<PathBuf> {
    let p = dir.join(format!("long-{hours}h.wav"));
    if p.is_file() {
        return Ok(p);
    }
    let rate = 16_000usize;
    let n = (hours * 3600.0 * rate as f64) as usize;
    let mut rng = SplitMix64::new(1);
    let mut x: Vec<f32> = (0..n).map(|_| 0.02 * rng.normal() as f32).collect();
    let mut t = rng.range(1.0, 20.0);
    while ((t + 0.2) * rate as f64) < n as f64 {
        let s = (t * rate as f64) as usize;
        for k in 0..rate / 10 {
            let tt = k as f32 / rate as f32;
            x[s + k] += 0.6 * (-tt * 30.0).exp() * (2.0 * std::f32::consts::PI * 900.0 * tt).sin();
        }
        t += rng.range(5.0, 35.0);
    }
    earmark_audio::write_wav_pcm16(&p, &x, rate as u32, 1)?;
    Ok(p)
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |k: &str| {
        args.iter()
            .position(|a| a == k)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let encoder = arg("--encoder").unwrap_or_else(|| "scratch".into());
    let hours: f64 = arg("--hours")
        .map(|v| v.parse())
        .transpose()?
        .unwrap_or(1.0);
    let dir = arg("--dir")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("earmark-scan-bench"));
    std::fs::create_dir_all(&dir)?;
    let enc_name = match encoder.as_str() {
        "scratch" => "scratch".to_string(),
        "hubert_base" => hubert_folder(&dir)?.display().to_string(),
        o => return Err(format!("--encoder {o}: scratch or hubert_base").into()),
    };
    // A detector trained on 40 synthesised 5 s clips (impacts), logistic head.
    let data = dir.join("train-data");
    if !data.join("weak.tsv").is_file() {
        let o = earmark_synth::SynthOptions {
            n_clips: 40,
            clip_secs: 5.0,
            classes: vec![earmark_synth::procedural_class("impact").ok_or("impact class")?],
            ..earmark_synth::SynthOptions::default()
        };
        earmark_synth::write_dataset(&data, &o, &earmark_synth::Source::Procedural)?;
    }
    let input = audio_input(
        &data.join("audio"),
        LabelKind::Weak(data.join("weak.tsv")),
        &enc_name,
        None,
        EmbeddingPooling::Mean,
        &earmark::cache::EmbeddingCache::new(None),
        &earmark::models::LoadOptions::from_env(),
        &|_, _, _| {},
    )?;
    let settings = TrainSettings {
        head: HeadKindArg::Logistic,
        calibration: Calibration::Sigmoid,
        cv: 2,
        ..TrainSettings::default()
    };
    let trained = train_detector(input, &settings)?;
    let det_dir = dir.join(format!("det-{encoder}"));
    save_detector(&det_dir, &trained.manifest, &trained.model, None)?;
    let window = trained.manifest.input.window_secs.unwrap_or(5.0);
    let wav = long_recording(&dir, hours)?;
    let scan_settings = ScanSettings {
        hop_secs: Some(window),
        ..ScanSettings::default()
    };
    let scanner = Scanner::new(Detector::load(&det_dir)?, &scan_settings)?;
    let audio_secs = hours * 3600.0;

    // Decode only (windows kept for the passes below).
    let wopts = WindowOptions {
        window_secs: scanner.window_secs(),
        hop_secs: scanner.hop_secs(),
        target_rate: Some(16_000),
        last: LastWindow::Pad,
    };
    let t = Instant::now();
    let mut windows = Vec::new();
    for w in Windows::open(&wav, &wopts)? {
        windows.push(w?);
    }
    let decode = t.elapsed().as_secs_f64();
    // Front end only: log-mel for the built-in encoder, the conv feature extractor for HuBERT.
    let front = if encoder == "scratch" {
        let opts = earmark_encoders::builtin::ScratchConfig::default().mel_options();
        let t = Instant::now();
        for w in &windows {
            earmark_features::log_mel(&w.samples[..w.valid], &opts)?;
        }
        t.elapsed().as_secs_f64()
    } else {
        let weights = candle_core::safetensors::load(
            Path::new(&enc_name).join("model.safetensors"),
            &Device::Cpu,
        )?;
        let vb = VarBuilder::from_tensors(weights, DType::F32, &Device::Cpu);
        let model = Wav2Vec2Model::new(&Config::base("hubert"), vb)?;
        let t = Instant::now();
        for w in &windows {
            let x = Tensor::from_slice(&w.samples[..w.valid], (1, w.valid), &Device::Cpu)?;
            model.feature_extractor.forward(&x)?;
        }
        t.elapsed().as_secs_f64()
    };
    // Encoder (front end included), no head.
    let model = earmark::models::load_model(&enc_name, &earmark::models::LoadOptions::from_env())?;
    let layers: earmark_encoders::LayerSelection = trained
        .manifest
        .input
        .encoder
        .as_ref()
        .map(|e| e.layers.parse())
        .transpose()?
        .unwrap_or(earmark_encoders::LayerSelection::Last);
    let t = Instant::now();
    for w in &windows {
        model.encoder.encode(&w.samples[..w.valid], &layers)?;
    }
    let encode = t.elapsed().as_secs_f64();
    drop(windows);
    // The full scan, no cache.
    let t = Instant::now();
    let r = scanner.scan(&wav, "long", false)?;
    let full = t.elapsed().as_secs_f64();
    let rest = (full - decode - encode).max(0.0);
    // Shares of the summed component times (the separate passes do not add up exactly to the
    // full scan's wall time).
    let total = decode + encode + rest;
    println!(
        "{}",
        serde_json::json!({
            "what": format!("scan {hours} h, encoder {encoder}, window {window} s, hop {window} s"),
            "wall_s": full,
            "real_time_factor": audio_secs / full,
            "events": r.events.len(),
            "share": {
                "decode": decode / total,
                "front_end": front / total,
                "encoder_after_front_end": (encode - front).max(0.0) / total,
                "head_stitch_events": rest / total,
            },
            "seconds": {
                "decode": decode, "front_end": front,
                "encoder_incl_front_end": encode, "head_stitch_events": rest,
            },
        })
    );
    // With the cache: a first run fills it, a second reads it.
    let cache_dir = dir.join(format!("cache-{encoder}"));
    let _ = std::fs::remove_dir_all(&cache_dir);
    let cached =
        Scanner::new(Detector::load(&det_dir)?, &scan_settings)?.with_cache(Some(cache_dir));
    let t = Instant::now();
    cached.scan(&wav, "long", false)?;
    let first = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let again = cached.scan(&wav, "long", false)?;
    let second = t.elapsed().as_secs_f64();
    if again.events != r.events {
        return Err("the cached scan's events differ from the uncached scan's".into());
    }
    println!(
        "{}",
        serde_json::json!({
            "what": format!("cache, {encoder}"),
            "first_run_rtf": audio_secs / first,
            "second_run_rtf": audio_secs / second,
            "first_s": first, "second_s": second,
        })
    );
    Ok(())
}
