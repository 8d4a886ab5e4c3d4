//! wav2vec2 / HuBERT configuration: transformers' `config.json` names, and the mapping from
//! torchaudio's `wav2vec2_model(**kwargs)` builder arguments onto the same fields.

use serde::{Deserialize, Serialize};

fn default_true() -> bool {
    true
}
fn default_gelu() -> String {
    "gelu".into()
}
fn default_eps() -> f64 {
    1e-5
}

/// transformers' `Wav2Vec2Config` / `HubertConfig` fields that shape the encoder. Unknown
/// fields (CTC, quantizer, adapter, masking) are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    #[serde(default)]
    pub model_type: String,
    pub conv_dim: Vec<usize>,
    pub conv_kernel: Vec<usize>,
    pub conv_stride: Vec<usize>,
    #[serde(default)]
    pub conv_bias: bool,
    /// `"group"` (GroupNorm in conv layer 0 only) or `"layer"` (LayerNorm in every conv layer).
    pub feat_extract_norm: String,
    #[serde(default = "default_gelu")]
    pub feat_extract_activation: String,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub num_conv_pos_embeddings: usize,
    pub num_conv_pos_embedding_groups: usize,
    #[serde(default = "default_gelu")]
    pub hidden_act: String,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// Pre-LN transformer layers plus a final encoder layer norm.
    #[serde(default)]
    pub do_stable_layer_norm: bool,
    /// HuBERT only: whether the feature projection starts with a layer norm (wav2vec2 always).
    #[serde(default = "default_true")]
    pub feat_proj_layer_norm: bool,
    /// HuBERT only: batch-normed positional conv (not implemented).
    #[serde(default)]
    pub conv_pos_batch_norm: bool,
}

impl Config {
    /// The transformers `wav2vec2-base` / `hubert-base-ls960` layout.
    pub fn base(model_type: &str) -> Self {
        Config {
            model_type: model_type.into(),
            conv_dim: vec![512; 7],
            conv_kernel: vec![10, 3, 3, 3, 3, 2, 2],
            conv_stride: vec![5, 2, 2, 2, 2, 2, 2],
            conv_bias: false,
            feat_extract_norm: "group".into(),
            feat_extract_activation: "gelu".into(),
            hidden_size: 768,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            intermediate_size: 3072,
            num_conv_pos_embeddings: 128,
            num_conv_pos_embedding_groups: 16,
            hidden_act: "gelu".into(),
            layer_norm_eps: 1e-5,
            do_stable_layer_norm: false,
            feat_proj_layer_norm: true,
            conv_pos_batch_norm: false,
        }
    }

    /// Whether this is a HuBERT config (`model_type == "hubert"`).
    pub fn is_hubert(&self) -> bool {
        self.model_type == "hubert"
    }

    /// Whether the feature projection has a layer norm (always for wav2vec2).
    pub fn has_proj_layer_norm(&self) -> bool {
        !self.is_hubert() || self.feat_proj_layer_norm
    }

    /// Map torchaudio's `wav2vec2_model` builder kwargs (`builder.json`'s `kwargs`) onto a
    /// config. torchaudio's names: `extractor_mode` (`group_norm`/`layer_norm`),
    /// `extractor_conv_layer_config` (`[(out, kernel, stride)]`), `extractor_conv_bias`,
    /// `encoder_embed_dim`, `encoder_pos_conv_kernel`, `encoder_pos_conv_groups`,
    /// `encoder_num_layers`, `encoder_num_heads`, `encoder_ff_interm_features`,
    /// `encoder_layer_norm_first`. torchaudio always has the projection layer norm.
    pub fn from_torchaudio(b: &TorchaudioBuilder, model_type: &str) -> Result<Self, String> {
        let norm = match b.extractor_mode.as_str() {
            "group_norm" => "group",
            "layer_norm" => "layer",
            other => return Err(format!("extractor_mode {other:?}")),
        };
        let convs = b.extractor_conv_layer_config.clone().unwrap_or_else(|| {
            let mut v = vec![[512, 10, 5]];
            v.extend([[512, 3, 2]; 4]);
            v.extend([[512, 2, 2]; 2]);
            v
        });
        if b.aux_num_out.is_some() {
            return Err("aux_num_out (a CTC head) is not supported; use the bare encoder".into());
        }
        Ok(Config {
            model_type: model_type.into(),
            conv_dim: convs.iter().map(|c| c[0]).collect(),
            conv_kernel: convs.iter().map(|c| c[1]).collect(),
            conv_stride: convs.iter().map(|c| c[2]).collect(),
            conv_bias: b.extractor_conv_bias,
            feat_extract_norm: norm.into(),
            feat_extract_activation: "gelu".into(),
            hidden_size: b.encoder_embed_dim,
            num_hidden_layers: b.encoder_num_layers,
            num_attention_heads: b.encoder_num_heads,
            intermediate_size: b.encoder_ff_interm_features,
            num_conv_pos_embeddings: b.encoder_pos_conv_kernel,
            num_conv_pos_embedding_groups: b.encoder_pos_conv_groups,
            hidden_act: "gelu".into(),
            layer_norm_eps: 1e-5,
            do_stable_layer_norm: b.encoder_layer_norm_first,
            feat_proj_layer_norm: true,
            conv_pos_batch_norm: false,
        })
    }

    /// Check the options this crate implements.
    pub fn validate(&self) -> Result<(), String> {
        let n = self.conv_dim.len();
        if n == 0 || self.conv_kernel.len() != n || self.conv_stride.len() != n {
            return Err("conv_dim, conv_kernel and conv_stride must have the same length".into());
        }
        if self.feat_extract_norm != "group" && self.feat_extract_norm != "layer" {
            return Err(format!("feat_extract_norm {:?}", self.feat_extract_norm));
        }
        for act in [&self.hidden_act, &self.feat_extract_activation] {
            if act != "gelu" {
                return Err(format!("activation {act:?} (only exact gelu)"));
            }
        }
        if self.conv_pos_batch_norm {
            return Err("conv_pos_batch_norm".into());
        }
        if self.hidden_size.checked_rem(self.num_attention_heads) != Some(0) {
            return Err("hidden_size must split evenly into attention heads".into());
        }
        Ok(())
    }
}

/// torchaudio's `wav2vec2_model(**kwargs)` arguments, as in the fixtures' `builder.json`.
/// Dropout and layer-drop arguments are accepted and ignored (inference only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TorchaudioBuilder {
    pub extractor_mode: String,
    pub extractor_conv_layer_config: Option<Vec<[usize; 3]>>,
    pub extractor_conv_bias: bool,
    pub encoder_embed_dim: usize,
    pub encoder_pos_conv_kernel: usize,
    pub encoder_pos_conv_groups: usize,
    pub encoder_num_layers: usize,
    pub encoder_num_heads: usize,
    pub encoder_ff_interm_features: usize,
    pub encoder_layer_norm_first: bool,
    #[serde(default)]
    pub aux_num_out: Option<usize>,
}

impl TorchaudioBuilder {
    fn base(layer_norm_first: bool) -> Self {
        TorchaudioBuilder {
            extractor_mode: "group_norm".into(),
            extractor_conv_layer_config: None,
            extractor_conv_bias: false,
            encoder_embed_dim: 768,
            encoder_pos_conv_kernel: 128,
            encoder_pos_conv_groups: 16,
            encoder_num_layers: 12,
            encoder_num_heads: 12,
            encoder_ff_interm_features: 3072,
            encoder_layer_norm_first: layer_norm_first,
            aux_num_out: None,
        }
    }

    /// `torchaudio.models.wav2vec2_base()` / `hubert_base()` (bundles WAV2VEC2_BASE, HUBERT_BASE).
    pub fn base_bundle() -> Self {
        Self::base(false)
    }

    /// `torchaudio.models.hubert_large()` (bundle HUBERT_LARGE).
    pub fn hubert_large() -> Self {
        TorchaudioBuilder {
            extractor_mode: "layer_norm".into(),
            encoder_embed_dim: 1024,
            encoder_num_layers: 24,
            encoder_num_heads: 16,
            encoder_ff_interm_features: 4096,
            ..Self::base(true)
        }
    }

    /// `torchaudio.models.hubert_xlarge()` (bundle HUBERT_XLARGE).
    pub fn hubert_xlarge() -> Self {
        TorchaudioBuilder {
            encoder_embed_dim: 1280,
            encoder_num_layers: 48,
            encoder_num_heads: 16,
            encoder_ff_interm_features: 5120,
            ..Self::hubert_large()
        }
    }
}
