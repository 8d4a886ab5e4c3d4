//! Multiple-instance learning: training any frame model from clip-level labels. The model says
//! what happens per frame; the pooling rule it names turns that into a clip probability, and the
//! loss only ever sees clip probabilities.

use candle_core::{Result, Tensor};

use crate::pool::Pooling;

pub use crate::train::{
    class_pos_weights, clip_bce, clip_loss, clip_probs, predict, train, train_augmented,
    Prediction, TrainHooks, TrainOptions, TrainReport,
};

/// What a [`MilModel`] returns for a padded batch.
#[derive(Debug, Clone)]
pub struct MilOutput {
    /// `[B,T',C]` frame logits on the model's own frame grid.
    pub frame_logits: Tensor,
    /// `[B,T',C]` attention logits, present when the pooling needs them.
    pub att_logits: Option<Tensor>,
    /// `[B,T']` f32, 1 for real output frames and 0 for padding.
    pub mask: Tensor,
}

/// Anything that maps a padded batch of inputs `[B,T,D]` with mask `[B,T]` to frame logits on
/// ITS frame grid (T' may differ from T, e.g. a CNN trunk that pools time; it then downsamples
/// the mask itself).
pub trait MilModel {
    fn forward(&self, x: &Tensor, mask: &Tensor, train: bool) -> Result<MilOutput>;
    fn pooling(&self) -> Pooling;
    fn alpha(&self) -> Option<Tensor>;
    /// Reseeds any training-time randomness (dropout); [`train`] calls it with `opts.seed`.
    fn set_seed(&self, _seed: u64) {}
    /// Input dims per frame, when known, so bad data is refused with a clear error.
    fn in_dim(&self) -> Option<usize> {
        None
    }
    /// Number of classes, when known.
    fn n_classes(&self) -> Option<usize> {
        None
    }
}

/// One clip: frames `[n_frames, dim]` row-major, clip-level multi-hot targets `[n_classes]` (0/1).
#[derive(Debug, Clone)]
pub struct Example {
    pub x: Vec<f32>,
    pub n_frames: usize,
    pub dim: usize,
    pub targets: Vec<f32>,
}
