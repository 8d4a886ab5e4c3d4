//! Light adaptation from weak labels: the top layers of a pretrained encoder
//! ([`earmark_encoders::adapt`]) and a MIL frame head trained together with the heads crate's
//! loop ([`earmark_heads::train`]: clip BCE through the head's pooling, AdamW, early stopping on
//! validation with the best epoch restored).
//!
//! The frozen lower layers run **once** per clip; their output (hidden state `L − k`) is cached
//! in the [`Example`]s the loop consumes (`x` = `[rows, dim]`: frames for wav2vec2 / HuBERT,
//! tokens for AST), so an epoch costs only the top layers and the head.
//!
//! Like `workflow/train.rs`, this joins an encoder part and a head into one trainable model,
//! which neither of those crates may do without depending on the other.

use candle_core::{DType, Tensor};
use candle_nn::{VarBuilder, VarMap};
use earmark_encoders::adapt::{AdaptOptions, Adaptable, TrainableTop};
use earmark_encoders::{Device, EncoderError};
use earmark_heads::{
    train, Example, FrameHead, HeadConfig, HeadError, MilModel, MilOutput, Pooling, TrainOptions,
    TrainReport,
};

/// What went wrong while adapting, by remedy.
#[derive(Debug, thiserror::Error)]
pub enum AdaptError {
    /// The encoder could not run or its checkpoint could not be read.
    #[error(transparent)]
    Encoder(#[from] EncoderError),
    /// Bad head or training options, bad clips, or a diverged run.
    #[error(transparent)]
    Head(#[from] HeadError),
    /// The clips or options do not fit the encoder.
    #[error("{what}")]
    Data { what: String },
    #[error("model: {0}")]
    Tensor(#[from] candle_core::Error),
}

/// The adapted top layers and a frame head, one [`MilModel`] over cached lower-layer outputs.
pub struct AdaptedMil {
    top: TrainableTop,
    head: FrameHead,
    /// The head's variables (the top's are in [`TrainableTop::varmap`]).
    head_varmap: VarMap,
}

impl std::fmt::Debug for AdaptedMil {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdaptedMil")
            .field("top", &self.top)
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}

impl AdaptedMil {
    /// The adapted layers; [`TrainableTop::save`] writes them as a checkpoint overlay.
    pub fn top(&self) -> &TrainableTop {
        &self.top
    }

    pub fn head(&self) -> &FrameHead {
        &self.head
    }

    /// The head's variables, e.g. for [`earmark_heads::save_head`].
    pub fn head_varmap(&self) -> &VarMap {
        &self.head_varmap
    }
}

impl MilModel for AdaptedMil {
    fn forward(&self, x: &Tensor, mask: &Tensor, train: bool) -> candle_core::Result<MilOutput> {
        let (frames, m) = self.top.forward(x, mask, train)?;
        MilModel::forward(&self.head, &frames, &m, train)
    }

    fn pooling(&self) -> Pooling {
        self.head.config().pooling
    }

    fn alpha(&self) -> Option<Tensor> {
        self.head.alpha()
    }

    fn set_seed(&self, seed: u64) {
        self.head.set_seed(seed);
    }

    fn in_dim(&self) -> Option<usize> {
        Some(self.top.dim())
    }

    fn n_classes(&self) -> Option<usize> {
        Some(self.head.config().n_classes)
    }
}

/// Runs the frozen layers of `encoder` on each clip (hidden state `L − top_layers`) and keeps the
/// result as the clip's [`Example`] with its targets: the cache an adapted model trains and
/// predicts from ([`earmark_heads::predict`] with an [`AdaptedMil`]).
pub fn lower_examples(
    encoder: &dyn Adaptable,
    top_layers: usize,
    clips: &[(&[f32], &[f32])],
) -> Result<Vec<Example>, AdaptError> {
    clips
        .iter()
        .enumerate()
        .map(|(i, (wave, targets))| {
            let low = encoder
                .lower(wave, top_layers)
                .map_err(|e| AdaptError::Data {
                    what: format!("clip {i}: {e}"),
                })?;
            Ok(Example {
                x: low.hidden,
                n_frames: low.rows,
                dim: low.dim,
                targets: targets.to_vec(),
            })
        })
        .collect()
}

/// Fine-tunes the top `options.top_layers` layers of `encoder` (or LoRA adapters on them) and a
/// frame head built from `head` (its `in_dim` must be the encoder's width) from clip-level
/// targets. The lower layers' outputs are computed once and cached; training is
/// [`earmark_heads::train`] over the top's and the head's variables together (the head is
/// initialised from `train_opts.seed`). Returns the model with its best epoch's weights.
pub fn train_adapted(
    encoder: &dyn Adaptable,
    clips: &[(&[f32], &[f32])],
    val: &[(&[f32], &[f32])],
    options: &AdaptOptions,
    head: &HeadConfig,
    train_opts: &TrainOptions,
) -> Result<(AdaptedMil, TrainReport), AdaptError> {
    let device = Device::Cpu;
    if head.in_dim != encoder.dim() {
        return Err(AdaptError::Data {
            what: format!(
                "head in_dim {} but the encoder's frames have {} dims",
                head.in_dim,
                encoder.dim()
            ),
        });
    }
    let top = encoder.trainable_top(options)?;
    let train_ex = lower_examples(encoder, options.top_layers, clips)?;
    let val_ex = lower_examples(encoder, options.top_layers, val)?;

    let head_varmap = VarMap::new();
    let frame_head = FrameHead::new(
        head.clone(),
        VarBuilder::from_varmap(&head_varmap, DType::F32, &device),
    )?;
    earmark_heads::init_varmap(&head_varmap, train_opts.seed)?;

    // One VarMap for the loop: the same Vars (shared storage), so the loop's updates and its
    // best-epoch restore reach the top and the head.
    let all = VarMap::new();
    {
        let mut data = all
            .data()
            .lock()
            .map_err(|_| candle_core::Error::Msg("varmap lock poisoned".into()))?;
        for (prefix, vm) in [("top.", top.varmap()), ("head.", &head_varmap)] {
            let src = vm
                .data()
                .lock()
                .map_err(|_| candle_core::Error::Msg("varmap lock poisoned".into()))?;
            for (k, v) in src.iter() {
                data.insert(format!("{prefix}{k}"), v.clone());
            }
        }
    }
    let model = AdaptedMil {
        top,
        head: frame_head,
        head_varmap,
    };
    let report = train(&model, &all, &train_ex, &val_ex, train_opts, &device)?;
    Ok((model, report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use earmark_encoders::wav2vec2::Wav2Vec2Encoder;
    use earmark_heads::predict;
    use earmark_testkit::{fixture, sine, test_signal};
    use std::time::Instant;

    /// Positives carry a loud 1 kHz tone in their second half; negatives are noise and tones.
    fn clips(n: usize, seed: u64) -> Vec<(Vec<f32>, Vec<f32>)> {
        (0..n)
            .map(|i| {
                let mut w: Vec<f32> = test_signal(16_000, 8_000, seed + i as u64)
                    .iter()
                    .map(|v| 0.3 * v)
                    .collect();
                let pos = i % 2 == 0;
                if pos {
                    let tone = sine(16_000, 1_000.0, 0.8, 4_000);
                    for (a, b) in w[4_000..].iter_mut().zip(tone) {
                        *a += b;
                    }
                }
                (w, vec![pos as u8 as f32])
            })
            .collect()
    }

    fn borrow(c: &[(Vec<f32>, Vec<f32>)]) -> Vec<(&[f32], &[f32])> {
        c.iter()
            .map(|(w, t)| (w.as_slice(), t.as_slice()))
            .collect()
    }

    #[test]
    fn train_adapted_trains_only_the_top() {
        let enc =
            Wav2Vec2Encoder::from_hf_dir(&fixture("hubert/base-like/model"), &Device::Cpu).unwrap();
        let (tr, va) = (clips(16, 1), clips(8, 100));
        let options = AdaptOptions::default();
        let head = HeadConfig::linear(enc.config().hidden_size, 1, Pooling::Max);
        let opts = TrainOptions {
            max_epochs: 8,
            min_epochs: 4,
            patience: 3,
            batch_size: 4,
            learning_rate: 3e-3,
            ..TrainOptions::default()
        };
        let initial = enc.trainable_top(&options).unwrap();
        let lower_before = enc.lower(&tr[0].0, 1).unwrap();
        let (model, report) =
            train_adapted(&enc, &borrow(&tr), &borrow(&va), &options, &head, &opts).unwrap();
        assert!(report.best_epoch >= 1 && report.best_epoch <= report.epochs_run);
        assert_eq!(report.val_loss.len(), report.epochs_run);
        assert!(
            report.best_val_loss < report.val_loss[0]
                || report.train_loss.last() < report.train_loss.first(),
            "{report:?}"
        );
        // Only the top layer is trainable, and it changed; the frozen part did not.
        let names = model.top().trainable_names();
        assert!(names.iter().all(|n| n.starts_with("encoder.layers.2.")));
        let before = initial.overlay().unwrap();
        let after = model.top().overlay().unwrap();
        assert_eq!(before.len(), after.len());
        let changed = before.iter().any(|(k, b)| {
            let a = &after[k];
            (a - b)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
                > 0.0
        });
        assert!(changed, "no top-layer weight changed");
        assert!(enc.lower(&tr[0].0, 1).unwrap() == lower_before);
        // Predictions run from the same cache.
        let ex = lower_examples(&enc, 1, &borrow(&va)).unwrap();
        let pred = predict(&model, &ex, 4, &Device::Cpu).unwrap();
        assert_eq!(pred.len(), va.len());

        // Cost of an epoch: with the cache (measured by the loop) vs recomputing the frozen
        // layers for every clip each epoch.
        let t = Instant::now();
        let _ = lower_examples(&enc, 1, &borrow(&tr)).unwrap();
        let lower_s = t.elapsed().as_secs_f64();
        let epoch_s = report.seconds / report.epochs_run as f64;
        println!(
            "ADAPT EPOCH {} clips: cached {:.1} ms/epoch, lower layers {:.1} ms/epoch more without \
             the cache (best epoch {}, val {:?})",
            tr.len(),
            epoch_s * 1e3,
            lower_s * 1e3,
            report.best_epoch,
            report.val_loss
        );
    }
}
