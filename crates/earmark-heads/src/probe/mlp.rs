//! A one-hidden-layer MLP probe (ReLU) on standardised embeddings, trained with AdamW on the
//! class-weighted log loss, early-stopped on a stratified held-out fraction of the training rows
//! with the best epoch's weights kept (scikit-learn's `MLPClassifier(early_stopping=True)`
//! habit, with AdamW's decoupled weight decay in place of its L2 `alpha`).

use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use serde::{Deserialize, Serialize};

use super::{check_rows, loss_weights, Standardizer};
use crate::rng::SplitMix64;
use crate::{Classifier, HeadError, Learner, Rows, Targets, Task};

/// Options of [`Mlp`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MlpOptions {
    pub hidden: usize,
    pub learning_rate: f64,
    pub weight_decay: f64,
    pub batch_size: usize,
    pub max_epochs: usize,
    /// Epochs without a validation-loss improvement before stopping.
    pub patience: usize,
    /// Held-out fraction of the training rows for early stopping (stratified).
    pub validation_fraction: f64,
    pub class_weight_balanced: bool,
    /// Seeds initialisation, the validation split and shuffling.
    pub seed: u64,
}

impl Default for MlpOptions {
    fn default() -> Self {
        MlpOptions {
            hidden: 128,
            learning_rate: 1e-3,
            weight_decay: 1e-4,
            batch_size: 64,
            max_epochs: 200,
            patience: 10,
            validation_fraction: 0.1,
            class_weight_balanced: true,
            seed: 0,
        }
    }
}

/// The learner: `Mlp { options }.fit(x, y, None)`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Mlp {
    pub options: MlpOptions,
}

/// A fitted MLP probe; weights row-major as PyTorch's `Linear` stores them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MlpModel {
    pub task: Task,
    pub standardizer: Standardizer,
    pub hidden: usize,
    /// `[hidden, dim]`
    pub w1: Vec<f32>,
    pub b1: Vec<f32>,
    /// `[n_outputs, hidden]`
    pub w2: Vec<f32>,
    pub b2: Vec<f32>,
    pub best_epoch: usize,
    pub epochs_run: usize,
}

struct Params {
    w1: Var,
    b1: Var,
    w2: Var,
    b2: Var,
}

impl Params {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let h = x
            .matmul(&self.w1.t()?)?
            .broadcast_add(self.b1.as_tensor())?
            .relu()?;
        h.matmul(&self.w2.t()?)?.broadcast_add(self.b2.as_tensor())
    }

    fn snapshot(&self) -> candle_core::Result<[Vec<f32>; 4]> {
        let flat = |v: &Var| v.as_tensor().flatten_all()?.to_vec1::<f32>();
        Ok([
            flat(&self.w1)?,
            flat(&self.b1)?,
            flat(&self.w2)?,
            flat(&self.b2)?,
        ])
    }
}

/// Weighted mean loss of a batch: BCE-with-logits per column for the one-vs-rest tasks,
/// softmax cross-entropy for multi-class. `t` is 0/1 `[B, k]` (one-hot for multi-class), `w`
/// the loss weights `[B, k]` or `[B, 1]`.
fn loss(task: Task, s: &Tensor, t: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    let per = match task {
        Task::MultiClass(_) => {
            let logp = candle_nn::ops::log_softmax(s, D::Minus1)?;
            (logp * t)?.sum_keepdim(D::Minus1)?.neg()?
        }
        _ => {
            // softplus(s) − t·s = max(s, 0) + ln(1 + e^{−|s|}) − t·s
            let sp = (s.relu()? + (s.abs()?.neg()?.exp()? + 1.0)?.log()?)?;
            (sp - (t * s)?)?
        }
    };
    let num = per.broadcast_mul(w)?.sum_all()?;
    let den = w.broadcast_as(per.shape())?.sum_all()?;
    num / den
}

fn kaiming(rng: &mut SplitMix64, n: usize, fan_in: usize) -> Vec<f32> {
    let b = 1.0 / (fan_in as f64).sqrt();
    (0..n).map(|_| rng.range(-b, b) as f32).collect()
}

impl Learner for Mlp {
    type Model = MlpModel;

    fn fit(
        &self,
        x: Rows,
        y: &Targets,
        sample_weight: Option<&[f64]>,
    ) -> Result<MlpModel, HeadError> {
        let o = &self.options;
        if o.hidden == 0 || o.batch_size == 0 || o.max_epochs == 0 {
            return Err(HeadError::config(
                "hidden, batch_size and max_epochs must be ≥ 1",
            ));
        }
        if !(o.learning_rate.is_finite() && o.learning_rate > 0.0) {
            return Err(HeadError::config("learning_rate must be positive"));
        }
        if !(0.0..0.5).contains(&o.validation_fraction) {
            return Err(HeadError::config("validation_fraction must be in [0, 0.5)"));
        }
        check_rows(x, y)?;
        let weights = loss_weights(y, sample_weight, o.class_weight_balanced)?;
        let standardizer = Standardizer::fit(x);
        let xs = standardizer.apply(x)?;
        let (n, d, k, h) = (x.rows, x.dim, y.task.n_outputs(), o.hidden);
        let wk = if matches!(y.task, Task::MultiClass(_)) {
            1
        } else {
            k
        };
        // 0/1 targets [n, k] (one-hot for multi-class).
        let mut t = vec![0f32; n * k];
        for i in 0..n {
            match y.task {
                Task::MultiClass(_) => t[i * k + y.y[i] as usize] = 1.0,
                Task::Binary => t[i] = (y.y[i] == 1) as u8 as f32,
                Task::MultiLabel(_) => t[i * k..(i + 1) * k]
                    .iter_mut()
                    .zip(&y.y[i * k..(i + 1) * k])
                    .for_each(|(t, &v)| *t = v as f32),
            }
        }
        let (train_idx, val_idx) = split_rows(y, o.validation_fraction, o.seed);
        let dev = Device::Cpu;
        let gather = |idx: &[usize]| -> candle_core::Result<(Tensor, Tensor, Tensor)> {
            let b = idx.len();
            let mut xb = Vec::with_capacity(b * d);
            let mut tb = Vec::with_capacity(b * k);
            let mut wb = Vec::with_capacity(b * wk);
            for &i in idx {
                xb.extend_from_slice(&xs[i * d..(i + 1) * d]);
                tb.extend_from_slice(&t[i * k..(i + 1) * k]);
                wb.extend(weights[i * wk..(i + 1) * wk].iter().map(|&v| v as f32));
            }
            Ok((
                Tensor::from_vec(xb, (b, d), &dev)?,
                Tensor::from_vec(tb, (b, k), &dev)?,
                Tensor::from_vec(wb, (b, wk), &dev)?,
            ))
        };
        let mut rng = SplitMix64::derived(o.seed, "mlp-init");
        let p = Params {
            w1: Var::from_vec(kaiming(&mut rng, h * d, d), (h, d), &dev)?,
            b1: Var::from_vec(kaiming(&mut rng, h, d), h, &dev)?,
            w2: Var::from_vec(kaiming(&mut rng, k * h, h), (k, h), &dev)?,
            b2: Var::zeros(k, DType::F32, &dev)?,
        };
        let mut opt = AdamW::new(
            vec![p.w1.clone(), p.b1.clone(), p.w2.clone(), p.b2.clone()],
            ParamsAdamW {
                lr: o.learning_rate,
                weight_decay: o.weight_decay,
                ..ParamsAdamW::default()
            },
        )?;
        let val = if val_idx.is_empty() {
            None
        } else {
            Some(gather(&val_idx)?)
        };
        let mut shuffle = SplitMix64::derived(o.seed, "mlp-shuffle");
        let mut order = train_idx.clone();
        let mut best = (f64::INFINITY, 0usize, p.snapshot()?);
        let mut epochs_run = 0;
        for epoch in 0..o.max_epochs {
            epochs_run = epoch + 1;
            shuffle.shuffle(&mut order);
            let mut train_loss = 0.0;
            for chunk in order.chunks(o.batch_size) {
                let (xb, tb, wb) = gather(chunk)?;
                let l = loss(y.task, &p.forward(&xb)?, &tb, &wb)?;
                train_loss += l.to_scalar::<f32>()? as f64 * chunk.len() as f64;
                opt.backward_step(&l)?;
            }
            let monitored = match &val {
                Some((xv, tv, wv)) => {
                    loss(y.task, &p.forward(xv)?, tv, wv)?.to_scalar::<f32>()? as f64
                }
                None => train_loss / order.len().max(1) as f64,
            };
            if !monitored.is_finite() {
                return Err(HeadError::Diverged {
                    what: format!("MLP probe loss is {monitored} at epoch {}", epoch + 1),
                });
            }
            if monitored < best.0 - 1e-6 {
                best = (monitored, epoch + 1, p.snapshot()?);
            } else if epoch + 1 - best.1 >= o.patience {
                break;
            }
        }
        let [w1, b1, w2, b2] = best.2;
        Ok(MlpModel {
            task: y.task,
            standardizer,
            hidden: h,
            w1,
            b1,
            w2,
            b2,
            best_epoch: best.1,
            epochs_run,
        })
    }
}

/// Stratified held-out split of row indices: `fraction` of each stratum (at least one row when
/// the stratum has ≥ 2 and the fraction is positive) goes to validation.
fn split_rows(y: &Targets, fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let strata = y.strata();
    let mut by: std::collections::BTreeMap<u32, Vec<usize>> = Default::default();
    for (i, s) in strata.iter().enumerate() {
        by.entry(*s).or_default().push(i);
    }
    let mut rng = SplitMix64::derived(seed, "mlp-split");
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for (_, mut rows) in by {
        rng.shuffle(&mut rows);
        let m = if fraction > 0.0 && rows.len() >= 2 {
            ((rows.len() as f64 * fraction).round() as usize).max(1)
        } else {
            0
        };
        val.extend_from_slice(&rows[..m]);
        train.extend_from_slice(&rows[m..]);
    }
    train.sort_unstable();
    val.sort_unstable();
    (train, val)
}

impl Classifier for MlpModel {
    fn task(&self) -> Task {
        self.task
    }

    fn dim(&self) -> usize {
        self.standardizer.mean.len()
    }

    fn decision_function(&self, x: Rows) -> Result<Vec<f64>, HeadError> {
        let xs = self.standardizer.apply(x)?;
        let (d, k, h) = (x.dim, self.task.n_outputs(), self.hidden);
        if self.w1.len() != h * d || self.w2.len() != k * h {
            return Err(HeadError::shape(
                "MLP weights",
                format!("[{h}, {d}] and [{k}, {h}]"),
                format!("{} and {} values", self.w1.len(), self.w2.len()),
            ));
        }
        if x.rows == 0 {
            return Ok(Vec::new());
        }
        let dev = Device::Cpu;
        let p = Params {
            w1: Var::from_slice(&self.w1, (h, d), &dev)?,
            b1: Var::from_slice(&self.b1, h, &dev)?,
            w2: Var::from_slice(&self.w2, (k, h), &dev)?,
            b2: Var::from_slice(&self.b2, k, &dev)?,
        };
        let s = p.forward(&Tensor::from_vec(xs, (x.rows, d), &dev)?)?;
        Ok(s.flatten_all()?
            .to_vec1::<f32>()?
            .into_iter()
            .map(f64::from)
            .collect())
    }
}
