//! `BEATsConfig` (microsoft/unilm `beats/BEATs.py`): the `cfg` dict of a released `.pt`
//! checkpoint, with the reference's defaults for every field the dict leaves out.

use serde::{Deserialize, Deserializer, Serialize};

/// The fields of `BEATsConfig`, by their `cfg` names. Defaults are `BEATsConfig.__init__`'s
/// (so a dict that omits a field behaves as the reference does), not the released values: see
/// [`Config::iter3`] for those.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Kernel and stride of the patch convolution; `-1` in the reference's defaults, so a cfg
    /// must set it.
    pub input_patch_size: i64,
    /// Width of the patch embedding.
    pub embed_dim: usize,
    #[serde(deserialize_with = "bool_or_int")]
    pub conv_bias: bool,
    pub encoder_layers: usize,
    pub encoder_embed_dim: usize,
    pub encoder_ffn_embed_dim: usize,
    pub encoder_attention_heads: usize,
    pub activation_fn: String,
    /// Training only (gradient scaling); no effect on the forward pass.
    pub layer_wise_gradient_decay_ratio: f64,
    #[serde(deserialize_with = "bool_or_int")]
    pub layer_norm_first: bool,
    #[serde(deserialize_with = "bool_or_int")]
    pub deep_norm: bool,
    /// Dropouts and layer-drop: inactive at inference, kept so a cfg round-trips.
    pub dropout: f64,
    pub attention_dropout: f64,
    pub activation_dropout: f64,
    pub encoder_layerdrop: f64,
    pub dropout_input: f64,
    /// Kernel of the convolutional positional embedding (over the token axis).
    pub conv_pos: usize,
    pub conv_pos_groups: usize,
    #[serde(deserialize_with = "bool_or_int")]
    pub relative_position_embedding: bool,
    pub num_buckets: usize,
    pub max_distance: usize,
    #[serde(deserialize_with = "bool_or_int")]
    pub gru_rel_pos: bool,
    /// Whether the checkpoint has the `predictor` head.
    #[serde(deserialize_with = "bool_or_int")]
    pub finetuned_model: bool,
    pub predictor_dropout: f64,
    pub predictor_class: usize,
}

impl Default for Config {
    /// `BEATsConfig()` with no cfg.
    fn default() -> Self {
        Config {
            input_patch_size: -1,
            embed_dim: 512,
            conv_bias: false,
            encoder_layers: 12,
            encoder_embed_dim: 768,
            encoder_ffn_embed_dim: 3072,
            encoder_attention_heads: 12,
            activation_fn: "gelu".into(),
            layer_wise_gradient_decay_ratio: 1.0,
            layer_norm_first: false,
            deep_norm: false,
            dropout: 0.1,
            attention_dropout: 0.1,
            activation_dropout: 0.0,
            encoder_layerdrop: 0.0,
            dropout_input: 0.0,
            conv_pos: 128,
            conv_pos_groups: 16,
            relative_position_embedding: false,
            num_buckets: 320,
            max_distance: 1280,
            gru_rel_pos: false,
            finetuned_model: false,
            predictor_dropout: 0.1,
            predictor_class: 527,
        }
    }
}

/// Python code may store flags as `0`/`1`; the reference only tests their truth.
fn bool_or_int<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum B {
        Bool(bool),
        Int(i64),
    }
    Ok(match B::deserialize(d)? {
        B::Bool(b) => b,
        B::Int(i) => i != 0,
    })
}

/// Mel bins of BEATs' fbank (`BEATs.preprocess`).
pub const NUM_MEL_BINS: usize = 128;
/// `BEATs.preprocess` defaults: `(fbank − mean) / (2·std)`.
pub const FBANK_MEAN: f64 = 15.41663;
pub const FBANK_STD: f64 = 6.55582;

impl Config {
    /// `BEATs_iter3` / `BEATs_iter3_plus_AS2M` (pre-trained): the published base model.
    pub fn iter3() -> Self {
        Config {
            input_patch_size: 16,
            embed_dim: 512,
            encoder_layers: 12,
            encoder_embed_dim: 768,
            encoder_ffn_embed_dim: 3072,
            encoder_attention_heads: 12,
            layer_norm_first: false,
            deep_norm: true,
            encoder_layerdrop: 0.05,
            layer_wise_gradient_decay_ratio: 0.6,
            conv_pos: 128,
            conv_pos_groups: 16,
            relative_position_embedding: true,
            num_buckets: 320,
            max_distance: 800,
            gru_rel_pos: true,
            ..Config::default()
        }
    }

    /// `BEATs_iter3_plus_AS2M_finetuned_on_AS2M_cpt*`: [`Config::iter3`] with the AudioSet head.
    pub fn iter3_finetuned() -> Self {
        Config {
            finetuned_model: true,
            predictor_class: 527,
            ..Config::iter3()
        }
    }

    /// The patch size, checked (the reference's default `-1` is not a usable value).
    pub fn patch_size(&self) -> candle_core::Result<usize> {
        match usize::try_from(self.input_patch_size) {
            Ok(p) if (1..=NUM_MEL_BINS).contains(&p) => Ok(p),
            _ => candle_core::bail!(
                "BEATs input_patch_size {} (expected 1..={NUM_MEL_BINS})",
                self.input_patch_size
            ),
        }
    }

    /// Frequency patches per time column: `⌊128 / patch⌋` (8 for the released models).
    pub fn freq_patches(&self) -> candle_core::Result<usize> {
        Ok(NUM_MEL_BINS / self.patch_size()?)
    }

    /// Deep-norm residual scale `α = (2L)^(1/4)`, or 1.
    pub fn deep_norm_alpha(&self) -> f64 {
        if self.deep_norm {
            (2.0 * self.encoder_layers as f64).powf(0.25)
        } else {
            1.0
        }
    }

    /// Everything the forward pass relies on, checked before any tensor is read.
    pub fn validate(&self) -> candle_core::Result<()> {
        self.patch_size()?;
        let (d, h) = (self.encoder_embed_dim, self.encoder_attention_heads);
        if h == 0 || d % h != 0 {
            candle_core::bail!("BEATs encoder_embed_dim {d} does not split into {h} heads");
        }
        if self.conv_pos_groups == 0 || d % self.conv_pos_groups != 0 || self.conv_pos == 0 {
            candle_core::bail!(
                "BEATs positional conv: {d} channels, {} groups, kernel {}",
                self.conv_pos_groups,
                self.conv_pos
            );
        }
        if self.activation_fn != "gelu" {
            candle_core::bail!(
                "BEATs activation_fn {:?} (only exact gelu is implemented)",
                self.activation_fn
            );
        }
        if self.deep_norm && self.layer_norm_first {
            // The reference asserts this too.
            candle_core::bail!("BEATs deep_norm with layer_norm_first");
        }
        if self.relative_position_embedding {
            let me = self.num_buckets / 4;
            if me == 0 || self.max_distance <= me {
                candle_core::bail!(
                    "BEATs relative positions: num_buckets {} and max_distance {} give no \
                     logarithmic range (need num_buckets ≥ 4 and max_distance > num_buckets/4)",
                    self.num_buckets,
                    self.max_distance
                );
            }
        }
        Ok(())
    }
}

/// The bucket of relative distance `r = key − query` (in tokens), as the reference's
/// bidirectional `_relative_positions_bucket`: half the buckets per direction (positive `r`
/// in the upper half), exact below `num_buckets/4`, logarithmic up to `max_distance`, capped.
/// The logarithm is taken in f32 like the reference.
pub fn relative_bucket(r: i64, num_buckets: usize, max_distance: usize) -> usize {
    let nb = num_buckets / 2;
    let offset = if r > 0 { nb } else { 0 };
    let a = r.unsigned_abs() as usize;
    let me = nb / 2;
    if a < me {
        return offset + a;
    }
    let ratio = (max_distance as f64 / me as f64).ln() as f32;
    let x = (a as f32 / me as f32).ln() / ratio * (nb - me) as f32;
    // `.to(torch.long)` truncates toward zero; x ≥ 0 here.
    let large = me + x as usize;
    offset + large.min(nb - 1)
}
