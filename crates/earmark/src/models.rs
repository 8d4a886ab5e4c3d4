//! `--model` resolution: a registry name (`HUBERT_BASE`, `AST_ML`…), a model folder, a torchaudio
//! `.pth` file, or a Hugging Face model id — turned into a loaded [`Encoder`].
//!
//! Registry names look for torchaudio's bundle file first (the format the pipelines earmark
//! replaces used, normalised exactly as torchaudio's bundle does), then the Hugging Face snapshot
//! of the entry's model id in the cache, then (online only) download it.

use crate::hub::{cached_hf_model, cached_torchaudio, resolve_hf_model, HubError, HubOptions};
use earmark_encoders::ast::AstEncoder;
use earmark_encoders::beats::BeatsEncoder;
use earmark_encoders::eat::{EatEncoder, EatFrames};
use earmark_encoders::registry::{self, Family, ModelSpec};
use earmark_encoders::wav2vec2::{Wav2Vec2Encoder, WaveformNorm};
use earmark_encoders::{Device, Encoder, EncoderError, LayerSelection};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Hub(#[from] HubError),
    #[error(transparent)]
    Encoder(#[from] EncoderError),
    #[error(
        "{path}: a torchaudio checkpoint that is not a known bundle needs --config BUILDER.json \
         (the keyword arguments of torchaudio.models.wav2vec2_model)"
    )]
    NeedsBuilder { path: String },
    #[error("{path}: config.json has model_type {model_type:?}; earmark reads wav2vec2, hubert, audio-spectrogram-transformer and eat folders")]
    UnknownFolder { path: String, model_type: String },
    #[error(
        "{name}: the BEATs checkpoint {file} is not in {looked_in}; download it from the table in \
         https://github.com/microsoft/unilm/tree/master/beats (README, \"Pre-Trained and Fine-Tuned \
         Tokenizers and Models\") and put it there, or give the .pt file's path"
    )]
    MissingPt {
        name: String,
        file: String,
        looked_in: String,
    },
    #[error("--eat-frames applies to EAT models only; {given:?} is a {family} model")]
    NotEat { given: String, family: String },
    #[error("{given:?} is not a registry name ({names}), an existing folder or .pth/.pt file, nor a Hugging Face id (org/name)")]
    Unknown { given: String, names: String },
}

/// How to load: where to look and the torchaudio-specific switches of `earmark embed`.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub hub: HubOptions,
    /// Builder kwargs JSON for a `.pth` that is not a known bundle.
    pub builder: Option<PathBuf>,
    /// torchaudio's waveform layer norm for such a `.pth` (`--normalize`).
    pub normalize: bool,
    /// EAT: how a window's log-mel is fitted to the model's input (`--eat-frames`; default
    /// 1024 frames, the reference scripts' choice).
    pub eat_frames: Option<EatFrames>,
}

impl LoadOptions {
    pub fn from_env() -> Self {
        LoadOptions {
            hub: HubOptions::from_env(),
            builder: None,
            normalize: false,
            eat_frames: None,
        }
    }
}

/// A loaded encoder and what it is.
pub struct LoadedModel {
    pub encoder: Box<dyn Encoder>,
    /// The registry entry, when the model was named by one.
    pub spec: Option<&'static ModelSpec>,
    /// Where the weights came from.
    pub source: PathBuf,
    /// The layers `earmark embed` returns unless `--layers` says otherwise.
    pub default_layers: LayerSelection,
    /// Whether outputs concatenate the layers (`_ML` names): written as `features`.
    pub multi_layer: bool,
    /// Preprocessing choices that change the outputs of the same weights (EAT's
    /// `eat-frames=…`), part of the encoder's identity in cache keys; empty when none.
    pub options_key: String,
}

fn loaded(
    encoder: Box<dyn Encoder>,
    source: &Path,
    spec: Option<&'static ModelSpec>,
) -> LoadedModel {
    LoadedModel {
        encoder,
        spec,
        source: source.to_path_buf(),
        default_layers: spec.map(|s| s.layers()).unwrap_or(LayerSelection::Last),
        multi_layer: spec.is_some_and(|s| s.multi_layer),
        options_key: String::new(),
    }
}

/// An EAT folder with its frame policy; the policy goes into the identity.
fn eat_model(
    dir: &Path,
    spec: Option<&'static ModelSpec>,
    frames: EatFrames,
    device: &Device,
) -> Result<LoadedModel, ModelError> {
    let enc = EatEncoder::from_hf_dir(dir, device)?.with_frames(frames)?;
    if let Some(s) = spec {
        s.check(&enc)?;
    }
    let key = enc.cache_key();
    let mut m = loaded(Box::new(enc), dir, spec);
    m.options_key = key;
    Ok(m)
}

fn folder_model_type(dir: &Path) -> Result<String, ModelError> {
    let cfg_path = dir.join("config.json");
    let text = std::fs::read_to_string(&cfg_path).map_err(|source| EncoderError::Io {
        path: cfg_path.clone(),
        source,
    })?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| EncoderError::Format {
        path: cfg_path.clone(),
        reason: e.to_string(),
    })?;
    Ok(v.get("model_type")
        .and_then(|m| m.as_str())
        .unwrap_or("")
        .to_string())
}

fn folder_model_with_spec(
    dir: &Path,
    spec: &'static ModelSpec,
    opts: &LoadOptions,
) -> Result<LoadedModel, ModelError> {
    folder_model(dir, Some(spec), opts)
}

/// A folder loaded by its `config.json`'s `model_type`, EAT with the frame policy of `opts`.
fn folder_model(
    dir: &Path,
    spec: Option<&'static ModelSpec>,
    opts: &LoadOptions,
) -> Result<LoadedModel, ModelError> {
    let device = Device::Cpu;
    if folder_model_type(dir)? == "eat" {
        return eat_model(dir, spec, opts.eat_frames.unwrap_or_default(), &device);
    }
    if opts.eat_frames.is_some() {
        return Err(ModelError::NotEat {
            given: dir.display().to_string(),
            family: folder_model_type(dir)?,
        });
    }
    let enc = load_folder(dir)?;
    if let Some(s) = spec {
        s.check(enc.as_ref())?;
    }
    Ok(loaded(enc, dir, spec))
}

/// Load a transformers folder by its `config.json`'s `model_type`.
pub fn load_folder(dir: &Path) -> Result<Box<dyn Encoder>, ModelError> {
    let model_type = folder_model_type(dir)?;
    let device = Device::Cpu;
    Ok(match model_type.as_str() {
        "wav2vec2" | "hubert" => Box::new(Wav2Vec2Encoder::from_hf_dir(dir, &device)?),
        "audio-spectrogram-transformer" => Box::new(AstEncoder::from_hf_dir(dir, &device)?),
        "eat" => Box::new(EatEncoder::from_hf_dir(dir, &device)?),
        _ => {
            return Err(ModelError::UnknownFolder {
                path: dir.display().to_string(),
                model_type,
            })
        }
    })
}

/// The registry entry whose torchaudio bundle file has this name.
fn bundle_for_file(path: &Path) -> Option<&'static ModelSpec> {
    let name = path.file_name()?.to_str()?;
    registry::MODELS
        .iter()
        .find(|m| !m.multi_layer && m.torchaudio_file == Some(name))
}

/// Resolve and load `--model`. Built-in models (`scratch`) need no file: the name alone gives
/// seeded random weights, `scratch:FILE.safetensors` loads saved ones.
pub fn load_model(given: &str, opts: &LoadOptions) -> Result<LoadedModel, ModelError> {
    let device = Device::Cpu;
    let builtin = |name: &str| registry::find(name).filter(|s| s.is_builtin());
    if let Some((spec, file)) = given
        .split_once(':')
        .and_then(|(n, f)| builtin(n).map(|s| (s, Path::new(f))))
    {
        return Ok(loaded(
            spec.load_builtin(Some(file), &device)?,
            file,
            Some(spec),
        ));
    }
    if let Some(spec) = builtin(given) {
        let enc = spec.load_builtin(None, &device)?;
        return Ok(loaded(
            enc,
            Path::new("<built in: seeded weights>"),
            Some(spec),
        ));
    }
    if let Some(spec) = registry::find(given) {
        if opts.eat_frames.is_some() && spec.family != Family::Eat {
            return Err(ModelError::NotEat {
                given: given.into(),
                family: format!("{:?}", spec.family),
            });
        }
        if spec.family == Family::Beats {
            let file = spec.torchaudio_file.unwrap_or_default();
            let pt = cached_torchaudio(file, &opts.hub).ok_or_else(|| ModelError::MissingPt {
                name: spec.name.into(),
                file: file.into(),
                looked_in: opts.hub.torch_checkpoints.display().to_string(),
            })?;
            return Ok(loaded(spec.load_pt(&pt, &device)?, &pt, Some(spec)));
        }
        if spec.family == Family::Eat {
            let dir = resolve_hf_model(spec.hf_id, &opts.hub)?;
            return folder_model_with_spec(&dir, spec, opts);
        }
        if let Some(pth) = spec
            .torchaudio_file
            .and_then(|f| cached_torchaudio(f, &opts.hub))
        {
            return Ok(loaded(
                spec.load_torchaudio(&pth, &device)?,
                &pth,
                Some(spec),
            ));
        }
        let dir = resolve_hf_model(spec.hf_id, &opts.hub)?;
        return Ok(loaded(spec.load_hf_dir(&dir, &device)?, &dir, Some(spec)));
    }
    let path = Path::new(given);
    if path.is_dir() {
        return folder_model(path, None, opts);
    }
    if path.is_file()
        && path
            .extension()
            .is_some_and(|x| x.eq_ignore_ascii_case("pt"))
    {
        // Microsoft's BEATs checkpoints ({'cfg', 'model'[, 'label_dict']}); torchaudio's are .pth.
        if opts.eat_frames.is_some() {
            return Err(ModelError::NotEat {
                given: given.into(),
                family: "BEATs".into(),
            });
        }
        let enc = BeatsEncoder::from_pt(path, &device)?;
        return Ok(loaded(Box::new(enc), path, None));
    }
    if path.is_file() {
        if let Some(spec) = bundle_for_file(path).filter(|_| opts.builder.is_none()) {
            return Ok(loaded(
                spec.load_torchaudio(path, &device)?,
                path,
                Some(spec),
            ));
        }
        let builder = opts
            .builder
            .as_ref()
            .ok_or_else(|| ModelError::NeedsBuilder {
                path: path.display().to_string(),
            })?;
        let norm = if opts.normalize {
            WaveformNorm::LayerNorm
        } else {
            WaveformNorm::None
        };
        let lower = given.to_ascii_lowercase();
        let model_type = if lower.contains("hubert") {
            "hubert"
        } else {
            "wav2vec2"
        };
        let enc = Wav2Vec2Encoder::from_torchaudio_files(path, builder, model_type, norm, &device)?;
        return Ok(loaded(Box::new(enc), path, None));
    }
    if given.contains('/') && !given.starts_with(['.', '/']) && given.split('/').count() == 2 {
        let dir = resolve_hf_model(given, &opts.hub)?;
        return folder_model(&dir, None, opts);
    }
    Err(ModelError::Unknown {
        given: given.into(),
        names: registry::MODELS
            .iter()
            .map(|m| m.name)
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// One line of `earmark models`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RegistryRow {
    pub name: &'static str,
    pub dim: usize,
    pub sample_rate: u32,
    pub hop_samples: u64,
    pub layers: String,
    /// Where the weights were found, if anywhere.
    pub found: Option<String>,
    /// Where they are looked for, in order.
    pub looked_in: Vec<String>,
}

/// The registry with, for each entry, where its weights are looked for and whether they are there.
pub fn registry_status(hub: &HubOptions) -> Vec<RegistryRow> {
    registry::MODELS
        .iter()
        .map(|m| {
            let mut looked_in = Vec::new();
            let mut found = None;
            if m.is_builtin() {
                found = Some(format!(
                    "built in (seeded weights; {}:FILE.safetensors loads trained ones)",
                    m.name
                ));
            }
            if let Some(f) = m.torchaudio_file {
                looked_in.push(hub.torch_checkpoints.join(f).display().to_string());
                found = cached_torchaudio(f, hub).map(|p| p.display().to_string());
            }
            if m.family == Family::Beats {
                looked_in.push(
                    "https://github.com/microsoft/unilm/tree/master/beats (download table)".into(),
                );
            } else if !m.is_builtin() {
                looked_in.push(format!(
                    "{} (Hugging Face cache: {})",
                    m.hf_id,
                    hub.hf_cache.display()
                ));
            }
            if found.is_none() && !m.hf_id.is_empty() {
                found = cached_hf_model(m.hf_id, hub).map(|p| p.display().to_string());
            }
            // Hops from the architectures: the wav2vec2 conv stack's strides multiply to 320
            // samples; AST's time stride of 10 fbank frames of 160 samples is 1600.
            let hop_samples = match m.family {
                Family::Wav2Vec2 | Family::Hubert => 320,
                Family::Ast => 1600,
                // 16 fbank frames of 160 samples per time column of patches.
                Family::Beats | Family::Eat => 2560,
                Family::Builtin => {
                    earmark_encoders::ScratchConfig::default().frame_hop_samples() as u64
                }
            };
            RegistryRow {
                name: m.name,
                dim: m.dim,
                sample_rate: 16_000,
                hop_samples,
                layers: match m.layers() {
                    LayerSelection::Quartiles => {
                        let idx = LayerSelection::Quartiles
                            .indices(m.num_layers)
                            .unwrap_or_default();
                        format!("quartiles {idx:?} of {}", m.num_layers)
                    }
                    _ => format!("last ({})", m.num_layers),
                },
                found,
                looked_in,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_and_missing_models_say_why() {
        let dir = tempfile::tempdir().unwrap();
        let opts = LoadOptions {
            hub: HubOptions {
                hf_cache: dir.path().join("hub"),
                torch_checkpoints: dir.path().join("ckpt"),
                offline: true,
                revision: "main".into(),
            },
            builder: None,
            normalize: false,
            eat_frames: None,
        };
        let err = load_model("NOT_A_MODEL", &opts).err().unwrap().to_string();
        assert!(
            err.contains("HUBERT_BASE") && err.contains("NOT_A_MODEL"),
            "{err}"
        );
        let err = load_model("HUBERT_BASE", &opts).err().unwrap().to_string();
        assert!(
            err.contains("facebook/hubert-base-ls960") && err.contains("HF_HUB_OFFLINE"),
            "{err}"
        );
        let rows = registry_status(&opts.hub);
        assert_eq!(rows.len(), registry::MODELS.len());
        assert!(rows
            .iter()
            .all(|r| r.found.is_none() == (r.name != "scratch")));
        let hb = rows.iter().find(|r| r.name == "HUBERT_XLARGE_ML").unwrap();
        assert_eq!(hb.dim, 5120);
        assert!(hb.looked_in[0].ends_with("hubert_fairseq_xlarge_ll60k.pth"));
    }
}
