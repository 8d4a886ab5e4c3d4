//! Pooling, weak-label (MIL) frame heads and their training, on frame embeddings.
//!
//! The time axis stays visible: a [`FrameHead`] gives one logit per frame and class, and the
//! [`Pooling`] rule that turns frame probabilities into a clip probability is a named, separate
//! step ([`pool`]) — the same code path in training and in inspection. [`train`] fits any
//! [`MilModel`] from clip-level labels only; [`predict`] returns frame and clip probabilities.
//!
//! Everything is reproducible from a seed on the CPU: initialisation ([`init_varmap`]),
//! shuffling, dropout and splits ([`stratified_split`]) use the crate's own SplitMix64.
//!
//! ```
//! use candle_core::Device;
//! use earmark_heads::{predict, seeded_head, train, Example, HeadConfig, Pooling, TrainOptions};
//!
//! // Two-frame clips with 1-dim embeddings: a clip is positive when any frame is high.
//! let clip = |a: f32, b: f32| Example {
//!     x: vec![a, b], n_frames: 2, dim: 1,
//!     targets: vec![if a.max(b) > 0.5 { 1.0 } else { 0.0 }],
//! };
//! let data: Vec<Example> = (0..32).map(|i| match i % 4 {
//!     0 => clip(1.0, 0.0), 1 => clip(0.0, 1.0), _ => clip(0.0, 0.0),
//! }).collect();
//! let cfg = HeadConfig::linear(1, 1, Pooling::Max);
//! let (head, varmap) = seeded_head(cfg, 0, &Device::Cpu)?;
//! let opts = TrainOptions { max_epochs: 60, learning_rate: 0.05, ..TrainOptions::default() };
//! let report = train(&head, &varmap, &data, &[], &opts, &Device::Cpu)?;
//! assert_eq!(report.epochs_run, 60);
//! let pred = predict(&head, &data[..2], 8, &Device::Cpu)?;
//! // The positive frame of clip 0 is the first one; of clip 1, the second.
//! assert!(pred[0].frame_probs[0] > pred[0].frame_probs[1]);
//! assert!(pred[1].frame_probs[1] > pred[1].frame_probs[0]);
//! # Ok::<(), earmark_heads::HeadError>(())
//! ```

pub mod augment;
pub mod calibrate;
pub mod classifier;
mod error;
pub mod gbt;
pub mod head;
mod init;
pub mod io;
pub mod mil;
pub mod pool;
pub mod probe;
mod rng;
mod split;
mod train;

pub use augment::{Augment, AugmentOptions, LogMelAugment};
pub use calibrate::{
    fit_calibrated, stratified_kfold, Calibrated, CalibratedFold, Calibration, Calibrator,
    FittedCalibrator, Isotonic, OutOfFold, Sigmoid,
};
pub use classifier::{raw_proba, sigmoid, Classifier, Learner, Rows, Targets, Task};
pub use error::HeadError;
pub use gbt::{Gbt, GbtModel, GbtOptions};
pub use head::{fit_standardizer, FrameHead, HeadConfig, HeadKind};
pub use init::{init_varmap, seeded_head};
pub use io::{load_head, save_head};
pub use mil::{
    class_pos_weights, clip_bce, clip_loss, clip_probs, predict, train, train_augmented, Example,
    MilModel, MilOutput, Prediction, TrainHooks, TrainOptions, TrainReport,
};
pub use pool::{pool, pool_scores, Pooling};
pub use probe::{
    Logistic, LogisticModel, LogisticOptions, Mlp, MlpModel, MlpOptions, Standardizer,
};
pub use rng::{seeded_shuffle, SplitMix64};
pub use split::stratified_split;
