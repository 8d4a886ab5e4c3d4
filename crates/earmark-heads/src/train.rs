//! The MIL training loop, its loss, and batched prediction. Everything inside an epoch is batched
//! tensor work; Rust loops only copy examples into padded batches.

use std::time::Instant;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarMap};
use serde::{Deserialize, Serialize};

use crate::augment::Augment;
use crate::mil::{Example, MilModel, MilOutput};
use crate::pool::pool;
use crate::rng::SplitMix64;
use crate::HeadError;

/// Clip probabilities are clamped to `[EPS, 1-EPS]` before the logarithm.
const EPS: f64 = 1e-6;

/// The learning rate ramps up linearly over the first optimiser steps. With zero-initialised
/// output layers the weights start as small as Adam's (sign-like) first steps, so one unbalanced
/// early batch can flip a head's direction; the ramp damps that (on the synthetic MIL task:
/// 8/8 seeds learn instead of 7/8).
const WARMUP_STEPS: usize = 10;

/// Options for [`train`]; every field has a default, so partial JSON/TOML works.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainOptions {
    pub max_epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub weight_decay: f64,
    /// Epochs without a validation improvement before stopping.
    pub patience: usize,
    /// Epochs always run before early stopping may end training: slow starters (mean pooling
    /// dilutes a short event's gradient over the whole clip) get a fair number of updates.
    pub min_epochs: usize,
    /// Weight positives of class c by `n_neg/n_pos` (clipped to [1, 20]) in the BCE.
    pub class_weighting: bool,
    /// Seeds the shuffling and the model's dropout (not the initialisation: see
    /// [`crate::init_varmap`]).
    pub seed: u64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            max_epochs: 40,
            batch_size: 16,
            learning_rate: 3e-3,
            weight_decay: 1e-4,
            patience: 6,
            min_epochs: 12,
            class_weighting: true,
            seed: 0,
        }
    }
}

impl TrainOptions {
    fn validate(&self) -> Result<(), HeadError> {
        if self.max_epochs == 0 || self.batch_size == 0 {
            return Err(HeadError::config("max_epochs and batch_size must be ≥ 1"));
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(HeadError::config(format!(
                "learning_rate must be positive, got {}",
                self.learning_rate
            )));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(HeadError::config(format!(
                "weight_decay must be ≥ 0, got {}",
                self.weight_decay
            )));
        }
        Ok(())
    }
}

/// What [`train`] did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    pub epochs_run: usize,
    /// 1-based epoch whose weights were kept: `val_loss[best_epoch - 1] == best_val_loss`. Without
    /// a validation set, the last epoch.
    pub best_epoch: usize,
    /// Mean (class-weighted) BCE per epoch, over the training batches as they were seen.
    pub train_loss: Vec<f32>,
    /// Mean (class-weighted) BCE per epoch on the validation clips; empty without them.
    pub val_loss: Vec<f32>,
    /// Without a validation set: the last epoch's training loss.
    pub best_val_loss: f32,
    pub seconds: f64,
    /// The per-class positive weights used in the loss (all 1 without class weighting), so that
    /// [`clip_loss`] can recompute the reported losses.
    #[serde(default)]
    pub pos_weight: Vec<f32>,
}

/// One clip's outputs.
#[derive(Debug, Clone)]
pub struct Prediction {
    /// `[n_frames*C]` row-major frame probabilities.
    pub frame_probs: Vec<f32>,
    /// The model's real output frames for this clip (from its output mask).
    pub n_frames: usize,
    /// `[C]`, by the model's pooling.
    pub clip_probs: Vec<f32>,
    /// `[n_frames*C]`, when the model produces attention logits.
    pub att_logits: Option<Vec<f32>>,
}

/// A padded batch.
struct Batch {
    x: Tensor,
    mask: Tensor,
    y: Tensor,
    n: usize,
}

fn make_batch(
    examples: &[Example],
    idx: &[usize],
    n_classes: usize,
    device: &Device,
) -> candle_core::Result<Batch> {
    let b = idx.len();
    let dim = examples[idx[0]].dim;
    let t = idx.iter().map(|&i| examples[i].n_frames).max().unwrap_or(0);
    let mut x = vec![0f32; b * t * dim];
    let mut mask = vec![0f32; b * t];
    let mut y = vec![0f32; b * n_classes];
    for (row, &i) in idx.iter().enumerate() {
        let e = &examples[i];
        let len = e.n_frames * dim;
        x[row * t * dim..row * t * dim + len].copy_from_slice(&e.x[..len]);
        mask[row * t..row * t + e.n_frames].fill(1.0);
        if e.targets.len() == n_classes {
            y[row * n_classes..(row + 1) * n_classes].copy_from_slice(&e.targets);
        }
    }
    Ok(Batch {
        x: Tensor::from_vec(x, (b, t, dim), device)?,
        mask: Tensor::from_vec(mask, (b, t), device)?,
        y: Tensor::from_vec(y, (b, n_classes), device)?,
        n: b,
    })
}

/// Checks that examples are internally consistent and agree on `dim` (and on the number of
/// classes when `n_classes` is given). Returns `dim`.
fn check_examples(
    what: &str,
    examples: &[Example],
    dim: Option<usize>,
    n_classes: Option<usize>,
) -> Result<usize, HeadError> {
    let dim = dim.or(examples.first().map(|e| e.dim)).unwrap_or(0);
    for (i, e) in examples.iter().enumerate() {
        if e.dim != dim {
            return Err(HeadError::shape(format!("{what} clip {i} dim"), dim, e.dim));
        }
        if e.n_frames == 0 {
            return Err(HeadError::data(format!("{what} clip {i} has no frames")));
        }
        if e.x.len() != e.n_frames * e.dim {
            return Err(HeadError::shape(
                format!("{what} clip {i} values (n_frames·dim)"),
                e.n_frames * e.dim,
                e.x.len(),
            ));
        }
        if let Some(c) = n_classes {
            if e.targets.len() != c {
                return Err(HeadError::shape(
                    format!("{what} clip {i} targets"),
                    c,
                    e.targets.len(),
                ));
            }
            if e.targets.iter().any(|&y| !(0.0..=1.0).contains(&y)) {
                return Err(HeadError::data(format!(
                    "{what} clip {i} has targets outside [0, 1]"
                )));
            }
        }
        if e.x.iter().any(|v| !v.is_finite()) {
            return Err(HeadError::data(format!(
                "{what} clip {i} has non-finite values"
            )));
        }
    }
    Ok(dim)
}

/// Per-class positive weights `n_neg/n_pos` clipped to [1, 20] (a class without positives gets
/// 20; it never multiplies anything). Targets ≥ 0.5 count as positive.
pub fn class_pos_weights(examples: &[Example], n_classes: usize) -> Vec<f32> {
    (0..n_classes)
        .map(|c| {
            let pos = examples
                .iter()
                .filter(|e| e.targets.get(c).is_some_and(|&y| y >= 0.5))
                .count();
            let neg = examples.len() - pos;
            if pos == 0 {
                20.0
            } else {
                (neg as f32 / pos as f32).clamp(1.0, 20.0)
            }
        })
        .collect()
}

/// The model's clip probabilities `[B,C]`: sigmoid frame probabilities through its pooling.
pub fn clip_probs(model: &dyn MilModel, out: &MilOutput) -> candle_core::Result<Tensor> {
    let probs = candle_nn::ops::sigmoid(&out.frame_logits)?;
    pool(
        model.pooling(),
        &probs,
        &out.mask,
        out.att_logits.as_ref(),
        model.alpha().as_ref(),
    )
}

/// Element-wise weighted BCE `[B,C]`: `-(w·y·ln q + (1-y)·ln(1-q))`, `q` clamped to [ε, 1-ε].
fn bce_elements(
    q: &Tensor,
    y: &Tensor,
    pos_weight: Option<&Tensor>,
) -> candle_core::Result<Tensor> {
    let q = q.clamp(EPS, 1.0 - EPS)?;
    let mut pos = (y * q.log()?)?;
    if let Some(w) = pos_weight {
        pos = pos.broadcast_mul(w)?;
    }
    let neg = (y.affine(-1.0, 1.0)? * q.affine(-1.0, 1.0)?.log()?)?;
    (pos + neg)?.neg()
}

/// Clip-level BCE, mean over clips and classes. `clip_probs` and `targets` are `[B,C]`,
/// `pos_weight` `[C]`.
pub fn clip_bce(
    clip_probs: &Tensor,
    targets: &Tensor,
    pos_weight: Option<&Tensor>,
) -> candle_core::Result<Tensor> {
    bce_elements(clip_probs, targets, pos_weight)?.mean_all()
}

/// Sum of the element losses over `batches`, divided by clips × classes (batching-independent).
fn mean_loss(
    model: &dyn MilModel,
    batches: &[Batch],
    pos_weight: Option<&Tensor>,
) -> candle_core::Result<f32> {
    let mut sum = 0f64;
    let mut count = 0usize;
    for b in batches {
        let out = model.forward(&b.x, &b.mask, false)?;
        let q = clip_probs(model, &out)?;
        let l = bce_elements(&q, &b.y, pos_weight)?;
        count += l.elem_count();
        sum += l.sum_all()?.to_dtype(DType::F64)?.to_scalar::<f64>()?;
    }
    Ok(if count == 0 {
        0.0
    } else {
        (sum / count as f64) as f32
    })
}

fn batches_in_order(
    examples: &[Example],
    batch_size: usize,
    n_classes: usize,
    device: &Device,
) -> candle_core::Result<Vec<Batch>> {
    let idx: Vec<usize> = (0..examples.len()).collect();
    idx.chunks(batch_size.max(1))
        .map(|c| make_batch(examples, c, n_classes, device))
        .collect()
}

/// Mean clip-level BCE of `model` on `examples` (evaluation mode), weighted by `pos_weight`
/// (e.g. [`TrainReport::pos_weight`]) when given.
pub fn clip_loss(
    model: &dyn MilModel,
    examples: &[Example],
    pos_weight: Option<&[f32]>,
    batch_size: usize,
    device: &Device,
) -> Result<f32, HeadError> {
    let n_classes = examples.first().map(|e| e.targets.len()).unwrap_or(0);
    check_examples("loss", examples, model.in_dim(), Some(n_classes))?;
    if let Some(c) = model.n_classes() {
        if c != n_classes {
            return Err(HeadError::shape("targets", c, n_classes));
        }
    }
    let w = match pos_weight {
        Some(w) if w.len() != n_classes => {
            return Err(HeadError::shape("pos_weight", n_classes, w.len()))
        }
        Some(w) => Some(Tensor::from_slice(w, n_classes, device)?),
        None => None,
    };
    let batches = batches_in_order(examples, batch_size, n_classes, device)?;
    Ok(mean_loss(model, &batches, w.as_ref())?)
}

/// Trains `model` from clip-level labels: clip BCE (eps-clamped, class-weighted) on pooled clip
/// probabilities through `model.pooling()`, AdamW over ALL vars of `varmap`, batches padded to
/// the longest clip with a mask and shuffled per epoch by a seeded RNG, a linear learning-rate
/// warm-up over the first 10 steps, early stopping on
/// validation loss (`patience`), and the best epoch's weights restored into `varmap` at the end.
/// `val` may be empty: then no early stopping, all epochs run.
pub fn train(
    model: &dyn MilModel,
    varmap: &VarMap,
    train: &[Example],
    val: &[Example],
    opts: &TrainOptions,
    device: &Device,
) -> Result<TrainReport, HeadError> {
    train_augmented(
        model,
        varmap,
        train,
        val,
        opts,
        device,
        &TrainHooks::default(),
    )
}

/// What [`train_augmented`] calls besides the model.
#[derive(Default, Clone, Copy)]
pub struct TrainHooks<'a> {
    /// Every training batch passes through it first (fresh draws each epoch, from a stream
    /// seeded by `opts.seed`); validation clips are never augmented.
    pub augment: Option<&'a dyn Augment>,
    /// Called after each epoch with (epoch, training loss, validation loss).
    pub on_epoch: Option<&'a dyn Fn(usize, f32, Option<f32>)>,
}

/// [`train`] with [`TrainHooks`]: augmentation and progress.
pub fn train_augmented(
    model: &dyn MilModel,
    varmap: &VarMap,
    train: &[Example],
    val: &[Example],
    opts: &TrainOptions,
    device: &Device,
    hooks: &TrainHooks,
) -> Result<TrainReport, HeadError> {
    let augment = hooks.augment;
    let start = Instant::now();
    opts.validate()?;
    if train.is_empty() {
        return Err(HeadError::data("no training clips"));
    }
    let n_classes = model.n_classes().unwrap_or(train[0].targets.len());
    if n_classes == 0 {
        return Err(HeadError::data("training clips have no targets"));
    }
    let dim = check_examples("training", train, model.in_dim(), Some(n_classes))?;
    check_examples("validation", val, Some(dim), Some(n_classes))?;

    let pos_weight = if opts.class_weighting {
        class_pos_weights(train, n_classes)
    } else {
        vec![1.0; n_classes]
    };
    let pw = Tensor::from_slice(&pos_weight, n_classes, device)?;
    let val_batches = batches_in_order(val, opts.batch_size, n_classes, device)?;

    let vars = varmap.all_vars();
    let mut opt = AdamW::new(
        vars.clone(),
        ParamsAdamW {
            lr: opts.learning_rate,
            weight_decay: opts.weight_decay,
            ..ParamsAdamW::default()
        },
    )?;
    model.set_seed(opts.seed);
    let mut rng = SplitMix64::derived(opts.seed, "batches");
    let mut aug_rng = SplitMix64::derived(opts.seed, "augment");
    let mut order: Vec<usize> = (0..train.len()).collect();

    let mut train_loss = Vec::new();
    let mut val_loss = Vec::new();
    let mut best: Option<(usize, f32, Vec<Tensor>)> = None;
    let mut since_best = 0usize;
    let mut step = 0usize;
    for epoch in 1..=opts.max_epochs {
        rng.shuffle(&mut order);
        let mut sum = 0f64;
        for chunk in order.chunks(opts.batch_size) {
            let b = match augment {
                Some(a) => {
                    let refs: Vec<&Example> = chunk.iter().map(|&i| &train[i]).collect();
                    let aug = a.augment(&refs, train, &mut aug_rng);
                    let idx: Vec<usize> = (0..aug.len()).collect();
                    make_batch(&aug, &idx, n_classes, device)?
                }
                None => make_batch(train, chunk, n_classes, device)?,
            };
            let out = model.forward(&b.x, &b.mask, true)?;
            let q = clip_probs(model, &out)?;
            let loss = clip_bce(&q, &b.y, Some(&pw))?;
            let l = loss.to_dtype(DType::F32)?.to_scalar::<f32>()?;
            if !l.is_finite() {
                restore(&vars, best.as_ref().map(|b| &b.2))?;
                return Err(HeadError::Diverged {
                    what: format!("loss {l} in epoch {epoch}; lower the learning rate"),
                });
            }
            step += 1;
            let ramp = step.min(WARMUP_STEPS) as f64 / WARMUP_STEPS as f64;
            opt.set_learning_rate(opts.learning_rate * ramp);
            opt.backward_step(&loss)?;
            sum += l as f64 * b.n as f64;
        }
        let tl = (sum / train.len() as f64) as f32;
        train_loss.push(tl);
        if val.is_empty() {
            if let Some(f) = hooks.on_epoch {
                f(epoch, tl, None);
            }
            continue;
        }
        let v = mean_loss(model, &val_batches, Some(&pw))?;
        val_loss.push(v);
        if let Some(f) = hooks.on_epoch {
            f(epoch, tl, Some(v));
        }
        if best.as_ref().is_none_or(|b| v < b.1) {
            let snapshot = vars
                .iter()
                .map(|var| var.as_tensor().copy())
                .collect::<candle_core::Result<Vec<_>>>()?;
            best = Some((epoch, v, snapshot));
            since_best = 0;
        } else {
            since_best += 1;
            if since_best >= opts.patience && epoch >= opts.min_epochs {
                break;
            }
        }
    }
    let epochs_run = train_loss.len();
    let (best_epoch, best_val_loss) = match &best {
        Some((e, v, snapshot)) => {
            restore(&vars, Some(snapshot))?;
            (*e, *v)
        }
        None => (epochs_run, train_loss.last().copied().unwrap_or(f32::NAN)),
    };
    Ok(TrainReport {
        epochs_run,
        best_epoch,
        train_loss,
        val_loss,
        best_val_loss,
        seconds: start.elapsed().as_secs_f64(),
        pos_weight,
    })
}

fn restore(vars: &[Var], snapshot: Option<&Vec<Tensor>>) -> candle_core::Result<()> {
    if let Some(snapshot) = snapshot {
        for (var, t) in vars.iter().zip(snapshot) {
            var.set(t)?;
        }
    }
    Ok(())
}

/// Frame and clip probabilities for each example, in order (evaluation mode, no dropout).
pub fn predict(
    model: &dyn MilModel,
    examples: &[Example],
    batch_size: usize,
    device: &Device,
) -> Result<Vec<Prediction>, HeadError> {
    if batch_size == 0 {
        return Err(HeadError::config("batch_size must be ≥ 1"));
    }
    check_examples("prediction", examples, model.in_dim(), None)?;
    let idx: Vec<usize> = (0..examples.len()).collect();
    let mut preds = Vec::with_capacity(examples.len());
    for chunk in idx.chunks(batch_size) {
        // Targets are not needed to predict; a zero-class target tensor keeps make_batch simple.
        let b = make_batch(examples, chunk, 0, device)?;
        let out = model.forward(&b.x, &b.mask, false)?;
        let clip = clip_probs(model, &out)?;
        let (bsz, t, c) = out.frame_logits.dims3()?;
        let probs: Vec<f32> = candle_nn::ops::sigmoid(&out.frame_logits)?
            .to_dtype(DType::F32)?
            .flatten_all()?
            .to_vec1()?;
        let att: Option<Vec<f32>> = match &out.att_logits {
            Some(a) => Some(a.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?),
            None => None,
        };
        let mask: Vec<f32> = out.mask.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
        let clip: Vec<f32> = clip.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
        if mask.len() != bsz * t {
            return Err(HeadError::shape("model output mask", bsz * t, mask.len()));
        }
        for row in 0..bsz {
            let real: Vec<usize> = (0..t).filter(|&f| mask[row * t + f] > 0.5).collect();
            let gather = |v: &[f32]| -> Vec<f32> {
                real.iter()
                    .flat_map(|&f| v[(row * t + f) * c..(row * t + f + 1) * c].iter().copied())
                    .collect()
            };
            preds.push(Prediction {
                frame_probs: gather(&probs),
                n_frames: real.len(),
                clip_probs: clip[row * c..(row + 1) * c].to_vec(),
                att_logits: att.as_deref().map(gather),
            });
        }
    }
    Ok(preds)
}
