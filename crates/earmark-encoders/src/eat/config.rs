//! EAT configuration: the `EATConfig` fields of the Hugging Face remote code
//! (`configuration_eat.py`), with its defaults, and the frame-fitting policy [`EatFrames`].

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// Whether the checkpoint carries the AudioSet classifier (`fc_norm` + `head`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelVariant {
    /// Encoder only (`EAT.forward` returns the tokens).
    #[default]
    Pretrain,
    /// Encoder plus `fc_norm` and `head` on the CLS token.
    Finetune,
}

fn d_embed_dim() -> usize {
    768
}
fn d_depth() -> usize {
    12
}
fn d_num_heads() -> usize {
    12
}
fn d_patch() -> usize {
    16
}
fn d_in_chans() -> usize {
    1
}
fn d_mel_bins() -> usize {
    128
}
fn d_max_length() -> usize {
    768
}
fn d_num_classes() -> usize {
    527
}
fn d_mlp_ratio() -> f64 {
    4.0
}
fn d_true() -> bool {
    true
}
fn d_norm_eps() -> f64 {
    1e-6
}

/// `EATConfig` (`configuration_eat.py`): every field with the remote code's default. The
/// transformers bookkeeping (`architectures`, `auto_map`, `torch_dtype`, …) and the dropout and
/// drop-path rates (inactive at inference) are read but do not change the computation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// `"eat"` in the Hub folder; checked when present so that another family's folder is not
    /// read as EAT.
    #[serde(default)]
    pub model_type: Option<String>,
    #[serde(default = "d_embed_dim")]
    pub embed_dim: usize,
    #[serde(default = "d_depth")]
    pub depth: usize,
    #[serde(default = "d_num_heads")]
    pub num_heads: usize,
    #[serde(default = "d_patch")]
    pub patch_size: usize,
    #[serde(default = "d_patch")]
    pub stride: usize,
    #[serde(default = "d_in_chans")]
    pub in_chans: usize,
    #[serde(default = "d_mel_bins")]
    pub mel_bins: usize,
    /// Time columns in the positional table (the longest input is `16 · max_length` frames).
    #[serde(default = "d_max_length")]
    pub max_length: usize,
    #[serde(default = "d_num_classes")]
    pub num_classes: usize,
    #[serde(default)]
    pub model_variant: ModelVariant,
    #[serde(default = "d_mlp_ratio")]
    pub mlp_ratio: f64,
    #[serde(default = "d_true")]
    pub qkv_bias: bool,
    #[serde(default)]
    pub drop_rate: f64,
    #[serde(default)]
    pub attn_drop_rate: f64,
    #[serde(default)]
    pub activation_dropout: f64,
    #[serde(default)]
    pub post_mlp_drop: f64,
    #[serde(default)]
    pub start_drop_path_rate: f64,
    #[serde(default)]
    pub end_drop_path_rate: f64,
    /// `false` (post-norm blocks) in every released checkpoint; the only supported value.
    #[serde(default)]
    pub layer_norm_first: bool,
    #[serde(default = "d_norm_eps")]
    pub norm_eps: f64,
    /// Affine block norms; the only supported value.
    #[serde(default = "d_true")]
    pub norm_affine: bool,
    /// Fixed 2-D sin-cos positions (`true` in every released checkpoint); `false` adds none.
    #[serde(default = "d_true")]
    pub fixed_positions: bool,
    /// Stored by the reference but unused by its computation.
    #[serde(default)]
    pub img_size: Option<serde_json::Value>,
    /// Class names, when the folder's config carries them (transformers' `id2label`).
    #[serde(default)]
    pub id2label: Option<BTreeMap<String, String>>,
}

impl Default for Config {
    /// `EATConfig()`: EAT-base, pre-trained.
    fn default() -> Self {
        Config {
            model_type: Some("eat".into()),
            embed_dim: 768,
            depth: 12,
            num_heads: 12,
            patch_size: 16,
            stride: 16,
            in_chans: 1,
            mel_bins: 128,
            max_length: 768,
            num_classes: 527,
            model_variant: ModelVariant::Pretrain,
            mlp_ratio: 4.0,
            qkv_bias: true,
            drop_rate: 0.0,
            attn_drop_rate: 0.0,
            activation_dropout: 0.0,
            post_mlp_drop: 0.0,
            start_drop_path_rate: 0.0,
            end_drop_path_rate: 0.0,
            layer_norm_first: false,
            norm_eps: 1e-6,
            norm_affine: true,
            fixed_positions: true,
            img_size: None,
            id2label: None,
        }
    }
}

impl Config {
    /// EAT-base fine-tuned on AS-2M (`worstchan/EAT-base_epoch30_finetune_AS2M`): 768 wide,
    /// 12 layers, 12 heads, MLP 3072, 527 classes.
    pub fn base_finetuned() -> Self {
        Config {
            model_variant: ModelVariant::Finetune,
            ..Config::default()
        }
    }

    /// Width of the MLP: `int(embed_dim · mlp_ratio)` as the reference computes it.
    pub fn mlp_hidden(&self) -> usize {
        (self.embed_dim as f64 * self.mlp_ratio) as usize
    }

    /// Frequency patches per time column: `(mel_bins − patch) / stride + 1` (8 for EAT).
    pub fn freq_patches(&self) -> usize {
        self.mel_bins.saturating_sub(self.patch_size) / self.stride.max(1) + 1
    }

    /// Columns of the positional table's time axis times its row width: the table has
    /// `max_length · (mel_bins / patch_size)` rows (`EAT.build_sincos_pos_embed`).
    pub fn position_rows(&self) -> usize {
        self.max_length * (self.mel_bins / self.patch_size.max(1))
    }

    /// Time columns the conv makes of `frames` fbank rows: `(frames − patch) / stride + 1`.
    pub fn time_columns(&self, frames: usize) -> usize {
        if frames < self.patch_size {
            0
        } else {
            (frames - self.patch_size) / self.stride.max(1) + 1
        }
    }

    /// The longest input in fbank frames: beyond it the positional table is too short (the
    /// reference fails there as well).
    pub fn max_frames(&self) -> usize {
        let cols_fit = self.position_rows() / self.freq_patches().max(1);
        // The last column that still has all its positions starts at (cols_fit − 1)·stride.
        cols_fit.saturating_sub(1) * self.stride + self.patch_size
    }

    /// Class names ordered by id, when the config has `id2label`.
    pub fn labels(&self) -> Option<Vec<String>> {
        let m = self.id2label.as_ref()?;
        let mut v: Vec<(usize, String)> = m
            .iter()
            .filter_map(|(k, v)| k.parse().ok().map(|k| (k, v.clone())))
            .collect();
        v.sort();
        Some(v.into_iter().map(|(_, s)| s).collect())
    }

    /// Why this config cannot be run, if it cannot (a sentence for the error message).
    pub fn check(&self) -> Result<(), String> {
        if let Some(t) = &self.model_type {
            if t != "eat" {
                return Err(format!("model_type {t:?} is not an EAT config (\"eat\")"));
            }
        }
        let nonzero = [
            ("embed_dim", self.embed_dim),
            ("depth", self.depth),
            ("num_heads", self.num_heads),
            ("patch_size", self.patch_size),
            ("stride", self.stride),
            ("mel_bins", self.mel_bins),
            ("max_length", self.max_length),
        ];
        if let Some((k, _)) = nonzero.iter().find(|(_, v)| *v == 0) {
            return Err(format!("{k} must be positive"));
        }
        if !self.embed_dim.is_multiple_of(self.num_heads) {
            return Err(format!(
                "embed_dim {} is not divisible by num_heads {}",
                self.embed_dim, self.num_heads
            ));
        }
        if self.fixed_positions && !self.embed_dim.is_multiple_of(4) {
            return Err(format!(
                "embed_dim {} must be a multiple of 4 for the 2-D sin-cos positions",
                self.embed_dim
            ));
        }
        if self.in_chans != 1 {
            return Err(format!(
                "in_chans {} (EAT reads one log-mel channel)",
                self.in_chans
            ));
        }
        if self.mel_bins < self.patch_size {
            return Err(format!(
                "mel_bins {} is smaller than patch_size {}",
                self.mel_bins, self.patch_size
            ));
        }
        if self.layer_norm_first {
            return Err(
                "layer_norm_first = true (pre-norm blocks) is not supported; every \
                 released EAT checkpoint is post-norm"
                    .into(),
            );
        }
        if !self.norm_affine {
            return Err("norm_affine = false is not supported".into());
        }
        if !(self.mlp_ratio > 0.0 && self.mlp_ratio.is_finite()) || self.mlp_hidden() == 0 {
            return Err(format!("mlp_ratio {} gives no MLP width", self.mlp_ratio));
        }
        if self.model_variant == ModelVariant::Finetune && self.num_classes == 0 {
            return Err("model_variant \"finetune\" with num_classes 0".into());
        }
        Ok(())
    }
}

/// How a window's log-mel frames are fitted before the model sees them. EAT has no padding
/// mask, so the choice changes every token (the spec measures 26 % on a 1 s clip padded to 1024
/// against the same clip at 112 frames); it is preprocessing policy and belongs in the cache key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EatFrames {
    /// Zero-pad or truncate the log-mel to this many frames, before normalising. 1024 (10.24 s)
    /// is the reference scripts' default and the AS-2M fine-tuning condition.
    Fixed(usize),
    /// Round the window's own frame count up to a multiple of 16 (`feature_extract/readme.md`'s
    /// variable-length recipe), so that no frame is dropped by the strided patch conv.
    Round16,
}

impl Default for EatFrames {
    fn default() -> Self {
        EatFrames::Fixed(1024)
    }
}

impl EatFrames {
    /// The model's input length for a window of `frames` fbank frames.
    pub fn target(&self, frames: usize) -> usize {
        match *self {
            EatFrames::Fixed(n) => n,
            EatFrames::Round16 => frames.div_ceil(16) * 16,
        }
    }

    /// A stable identity for embedding cache keys: `eat-frames=1024`, `eat-frames=round16`.
    pub fn cache_key(&self) -> String {
        format!("eat-frames={self}")
    }
}

impl fmt::Display for EatFrames {
    /// The CLI spelling: `1024` or `round16`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EatFrames::Fixed(n) => write!(f, "{n}"),
            EatFrames::Round16 => write!(f, "round16"),
        }
    }
}

/// A `--eat-frames` value that is neither a positive frame count nor `round16`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad EAT frame policy {given:?}: expected a frame count such as 1024, or round16")]
pub struct ParseEatFramesError {
    pub given: String,
}

impl FromStr for EatFrames {
    type Err = ParseEatFramesError;

    /// `N` (a positive number of fbank frames, e.g. `1024`) or `round16`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase();
        if t == "round16" {
            return Ok(EatFrames::Round16);
        }
        match t.parse::<usize>() {
            Ok(n) if n > 0 => Ok(EatFrames::Fixed(n)),
            _ => Err(ParseEatFramesError {
                given: s.to_string(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_policy_round_trips() {
        for s in ["1024", "round16", "336"] {
            let p: EatFrames = s.parse().unwrap();
            assert_eq!(p.to_string(), s);
        }
        assert_eq!("ROUND16".parse::<EatFrames>(), Ok(EatFrames::Round16));
        assert!("0".parse::<EatFrames>().is_err());
        assert!("round8".parse::<EatFrames>().is_err());
        assert_eq!(EatFrames::default().cache_key(), "eat-frames=1024");
        assert_eq!(EatFrames::Round16.target(328), 336);
        assert_eq!(EatFrames::Round16.target(336), 336);
        assert_eq!(EatFrames::Fixed(1024).target(98), 1024);
    }

    #[test]
    fn base_limits() {
        let c = Config::default();
        assert_eq!(c.freq_patches(), 8);
        assert_eq!(c.position_rows(), 6144);
        assert_eq!(c.max_frames(), 12288);
        assert_eq!(c.mlp_hidden(), 3072);
        assert_eq!(c.time_columns(1024), 64);
        assert!(c.check().is_ok());
    }
}
