//! Pretrained audio encoders in candle that return **frames for every layer**, each with the
//! [`FrameGrid`](earmark_core::FrameGrid) composed from the model's own kernels and strides.
//!
//! - [`Encoder`]: waveform in, `(layer, Frames)` out; [`LayerSelection`] picks hidden states
//!   (`0` = input of the first transformer layer, `i` = output of layer `i`).
//! - [`wav2vec2`]: wav2vec 2.0 and HuBERT from transformers folders (safetensors, legacy
//!   safetensors, `pytorch_model.bin`) or torchaudio `.pth` state dicts.
//! - [`ast`]: the Audio Spectrogram Transformer (`ASTModel`, `ASTForAudioClassification`).
//! - [`builtin`]: the built-in scratch CNN over log-mel frames ([`ScratchEncoder`]), trainable
//!   end to end and needing no download.
//! - [`adapt`]: light adaptation — the top 1–2 layers of a wav2vec2/HuBERT or AST encoder (or
//!   LoRA adapters on them) made trainable over cached lower-layer outputs.
//! - [`registry`]: named models (`HUBERT_LARGE_ML`, …) with their checkpoints and layers.
//!
//! Checkpoints are read **from paths** only; downloading lives in the `earmark` facade.
//!
//! ```
//! use earmark_encoders::{concat_layers, LayerSelection};
//! use earmark_core::{FrameGrid, Frames};
//!
//! // HuBERT-large has 24 layers: the quartile selection is 6, 12, 18, 24.
//! let sel: LayerSelection = "quartiles".parse().unwrap();
//! assert_eq!(sel.indices(24).unwrap(), vec![6, 12, 18, 24]);
//!
//! // `_ML` embeddings concatenate the selected layers' frames along the feature axis.
//! let grid = FrameGrid::new(16_000, 320, 400, 0);
//! let a = Frames::new(vec![1.0, 2.0, 3.0, 4.0], 2, grid).unwrap();
//! let b = Frames::new(vec![5.0, 6.0], 1, grid).unwrap();
//! let ml = concat_layers(&[&a, &b]).unwrap();
//! assert_eq!(ml.row(1), &[3.0, 4.0, 6.0]);
//! ```

pub mod adapt;
pub mod ast;
pub mod beats;
pub mod builtin;
pub mod checkpoint;
mod cpu;
pub mod eat;
mod encoder;
mod error;
pub mod nn;
pub mod registry;
pub mod wav2vec2;

pub use adapt::{AdaptOptions, Adaptable, LoraOptions, Lower, TrainableTop};
pub use builtin::{ScratchCnn, ScratchConfig, ScratchEncoder};
/// The device models run on (CPU by default), re-exported so callers need no candle dependency.
pub use candle_core::Device;
pub use encoder::{concat_layers, Encoder, EncoderOutput, LayerSelection, Tokens};
pub use error::EncoderError;
