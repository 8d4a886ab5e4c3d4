//! The `Encoder` trait, its output, layer selections and the multi-layer (`_ML`) concatenation.

use crate::error::EncoderError;
use earmark_core::{FrameGrid, Frames, Waveform};
use std::str::FromStr;

/// Which hidden states to return. Indices are hidden-state indices as transformers counts them:
/// `0` is the input of the first transformer layer (after the positional conv / embeddings),
/// `i` is the output of layer `i`, up to `L` = [`Encoder::num_layers`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum LayerSelection {
    /// Every hidden state, `0..=L`.
    All,
    /// Only `L`.
    #[default]
    Last,
    /// `[ceil(L/4), ceil(L/2), ceil(3L/4), L]`, duplicates removed (they occur only for
    /// `L < 4`). L = 12 → 3, 6, 9, 12; L = 24 → 6, 12, 18, 24; L = 48 → 12, 24, 36, 48.
    Quartiles,
    /// These indices, in this order.
    List(Vec<usize>),
}

impl LayerSelection {
    /// The hidden-state indices this selection names for an encoder with `num_layers` layers.
    pub fn indices(&self, num_layers: usize) -> Result<Vec<usize>, EncoderError> {
        let l = num_layers;
        let idx = match self {
            LayerSelection::All => (0..=l).collect(),
            LayerSelection::Last => vec![l],
            LayerSelection::Quartiles => {
                let mut v = vec![l.div_ceil(4), l.div_ceil(2), (3 * l).div_ceil(4), l];
                v.dedup();
                v
            }
            LayerSelection::List(v) => v.clone(),
        };
        if let Some(&bad) = idx.iter().find(|&&i| i > l) {
            return Err(EncoderError::Layer {
                requested: bad,
                max: l,
            });
        }
        Ok(idx)
    }
}

impl FromStr for LayerSelection {
    type Err = EncoderError;

    /// `all`, `last`, `quartiles` or a comma-separated list such as `1,6,12`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase();
        match t.as_str() {
            "all" => Ok(LayerSelection::All),
            "last" => Ok(LayerSelection::Last),
            "quartiles" | "ml" => Ok(LayerSelection::Quartiles),
            _ => {
                let v: Result<Vec<usize>, _> =
                    t.split(',').map(|p| p.trim().parse::<usize>()).collect();
                match v {
                    Ok(v) if !v.is_empty() => Ok(LayerSelection::List(v)),
                    _ => Err(EncoderError::LayerSelection {
                        given: s.to_string(),
                    }),
                }
            }
        }
    }
}

impl std::fmt::Display for LayerSelection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LayerSelection::All => write!(f, "all"),
            LayerSelection::Last => write!(f, "last"),
            LayerSelection::Quartiles => write!(f, "quartiles"),
            LayerSelection::List(v) => {
                let s: Vec<String> = v.iter().map(|i| i.to_string()).collect();
                write!(f, "{}", s.join(","))
            }
        }
    }
}

/// A token sequence `[n_tokens, dim]`, row-major, for encoders whose tokens are not frames
/// (AST: CLS, distillation, then frequency-major patches).
#[derive(Debug, Clone, PartialEq)]
pub struct Tokens {
    pub data: Vec<f32>,
    pub shape: [usize; 2],
}

/// What an encoder returns for one waveform.
#[derive(Debug, Clone, Default)]
pub struct EncoderOutput {
    /// `(hidden-state index, frames)` in the order of the [`LayerSelection`].
    pub layers: Vec<(usize, Frames)>,
    /// wav2vec2/HuBERT: the layer-normed conv features (transformers' `extract_features`).
    pub extract_features: Option<Frames>,
    /// AST: the raw tokens of each selected hidden state.
    pub tokens: Option<Vec<(usize, Tokens)>>,
    /// The final output: for pre-LN models the final layer norm of hidden state `L` (which
    /// differs from `layers`' `L`); for post-LN models equal to hidden state `L`. AST: the
    /// frame view of the normalised tokens.
    pub last_hidden_state: Option<Frames>,
    /// Classifier logits, when the checkpoint has a head.
    pub logits: Option<Vec<f32>>,
    /// Class names for `logits` (from the config's `id2label`).
    pub classes: Option<Vec<String>>,
    /// The model's own clip summary at each selected hidden state (EAT: the CLS token, row 0 of
    /// the tokens), `(hidden-state index, [dim])`; hidden state `L` is included whenever it was
    /// computed. A named pooling choice, never a frame.
    pub cls: Option<Vec<(usize, Vec<f32>)>>,
    /// Classifier logits per frame, `[frames, classes]` on the layers' grid, before any
    /// sigmoid: for heads applied to every token (BEATs), whose clip `logits` are their mean.
    pub frame_logits: Option<Frames>,
}

/// A pretrained audio encoder: waveform in, frames per layer out, each with its grid.
pub trait Encoder {
    /// A short name (`"hubert"`, `"wav2vec2"`, `"ast"`).
    fn name(&self) -> &str;
    /// The sample rate the encoder expects, in Hz.
    fn sample_rate(&self) -> u32;
    /// The width of one frame of one layer.
    fn dim(&self) -> usize;
    /// Number of transformer layers `L`; hidden states are `0..=L`.
    fn num_layers(&self) -> usize;
    /// The frame grid of the outputs, composed from the front end's kernels and strides.
    fn grid(&self) -> FrameGrid;
    /// Encode one mono waveform at [`Encoder::sample_rate`] (a batch of one).
    fn encode(&self, wave: &[f32], layers: &LayerSelection) -> Result<EncoderOutput, EncoderError> {
        let mut v = self.encode_batch(&[wave], layers)?;
        v.pop().ok_or_else(|| EncoderError::Shape {
            expected: "one output".into(),
            got: "none".into(),
        })
    }

    /// Encode a [`Waveform`], checking its rate.
    fn encode_waveform(
        &self,
        wave: &Waveform,
        layers: &LayerSelection,
    ) -> Result<EncoderOutput, EncoderError> {
        if wave.rate.0 != self.sample_rate() {
            return Err(EncoderError::Shape {
                expected: format!("{} Hz audio", self.sample_rate()),
                got: format!("{} Hz (resample first)", wave.rate.0),
            });
        }
        self.encode(&wave.samples, layers)
    }

    /// The fine-tuning interface ([`crate::adapt::Adaptable`]) of encoders whose top layers can
    /// be adapted (wav2vec2/HuBERT, AST); `None` for the others.
    fn as_adaptable(&self) -> Option<&dyn crate::adapt::Adaptable> {
        None
    }

    /// Encode equal-length windows as one batch.
    fn encode_batch(
        &self,
        waves: &[&[f32]],
        layers: &LayerSelection,
    ) -> Result<Vec<EncoderOutput>, EncoderError>;
}

/// Concatenate several layers' frames along the feature axis (the `_ML` embeddings): frame `t`
/// of the result is `[layer_a[t] | layer_b[t] | …]`. All inputs must share frame count and grid.
pub fn concat_layers(frames: &[&Frames]) -> Result<Frames, EncoderError> {
    let first = frames.first().ok_or_else(|| EncoderError::Shape {
        expected: "at least one layer".into(),
        got: "none".into(),
    })?;
    let n = first.n_frames();
    for f in frames {
        if f.n_frames() != n || f.grid != first.grid {
            return Err(EncoderError::Shape {
                expected: format!("{n} frames on {:?}", first.grid),
                got: format!("{} frames on {:?}", f.n_frames(), f.grid),
            });
        }
    }
    let dim: usize = frames.iter().map(|f| f.dim).sum();
    let mut data = Vec::with_capacity(n * dim);
    for t in 0..n {
        for f in frames {
            data.extend_from_slice(f.row(t));
        }
    }
    Frames::new(data, dim, first.grid).map_err(|e| EncoderError::Shape {
        expected: "rows of the summed width".into(),
        got: e.to_string(),
    })
}

impl EncoderOutput {
    /// The selected layers concatenated along the feature axis (see [`concat_layers`]).
    pub fn concat(&self) -> Result<Frames, EncoderError> {
        let v: Vec<&Frames> = self.layers.iter().map(|(_, f)| f).collect();
        concat_layers(&v)
    }

    /// The frames of hidden state `i`, if it was selected.
    pub fn layer(&self, i: usize) -> Option<&Frames> {
        self.layers.iter().find(|(j, _)| *j == i).map(|(_, f)| f)
    }
}
