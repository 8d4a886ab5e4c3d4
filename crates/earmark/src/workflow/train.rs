//! The models the workflow trains from weak labels: a MIL frame head on a frozen representation
//! (log-mel frames, or a registry encoder's frames), and the built-in CNN trained end to end from
//! the same log-mel input (the scratch baseline). Both return frame probabilities on their own
//! [`FrameGrid`], which is all the evaluation needs.

use super::data::Dataset;
use super::WorkflowError;
use crate::detector::crnn::build_crnn;
use candle_core::DType;
use candle_nn::{VarBuilder, VarMap};
use earmark_core::FrameGrid;
use earmark_encoders::builtin::ScratchConfig;
use earmark_encoders::{Device, Encoder, LayerSelection};
use earmark_heads::{
    fit_standardizer, predict, train, Example, FrameHead, HeadConfig, HeadKind, Pooling,
    Prediction, TrainOptions, TrainReport,
};
use serde::Serialize;

/// Frame features of every clip, with their grid and what they are, in words.
pub struct Representation {
    /// Short name in tables: `log-mel` or the encoder's registry name.
    pub name: String,
    pub description: String,
    pub grid: FrameGrid,
    pub examples: Vec<Example>,
}

/// Log-mel frames as the built-in encoder's front end computes them (64 bands, 10 ms hop).
/// With `pairs`, consecutive frames are averaged (20 ms frames, for the frozen probe); without,
/// the 10 ms frames the scratch CNN reads.
pub fn log_mel_representation(
    data: &Dataset,
    pairs: bool,
) -> Result<Representation, WorkflowError> {
    let cfg = ScratchConfig::default();
    let opts = cfg.mel_options();
    let mut examples = Vec::with_capacity(data.clips.len());
    let mut grid = None;
    for clip in &data.clips {
        let f =
            earmark_features::log_mel(&clip.samples, &opts).map_err(|e| WorkflowError::Data {
                what: format!("{}: log-mel: {e}", clip.id),
            })?;
        // Pairs of 10 ms frames averaged: 20 ms frames, the scratch CNN's hop, at half the
        // training cost of the full-rate frames (the events are ≥ 80 ms).
        if !pairs {
            grid = Some(f.grid);
            examples.push(Example {
                n_frames: f.n_frames(),
                dim: f.dim,
                x: f.data,
                targets: clip.targets.clone(),
            });
            continue;
        }
        // A trailing unpaired frame is dropped: alone it is noisier than the averaged pairs, and
        // a head reading it fired at the clip's end (seen in the demo before this).
        let (n, d) = ((f.n_frames() / 2).max(1), f.dim);
        let mut x = vec![0.0f32; n * d];
        for (j, row) in x.chunks_exact_mut(d).enumerate() {
            let a = f.row(2 * j);
            match f.data.get((2 * j + 1) * d..(2 * j + 2) * d) {
                Some(b) => row
                    .iter_mut()
                    .zip(a.iter().zip(b))
                    .for_each(|(o, (p, q))| *o = 0.5 * (p + q)),
                None => row.copy_from_slice(a),
            }
        }
        grid = Some(f.grid.then(2, 2, 0));
        examples.push(Example {
            n_frames: n,
            dim: d,
            x,
            targets: clip.targets.clone(),
        });
    }
    Ok(Representation {
        name: "log-mel".into(),
        description: format!(
            "log-mel frames ({} bands, {} ms frames) — no pretrained weights needed",
            cfg.n_mels,
            (1 + pairs as usize) * cfg.hop_length * 1000 / cfg.sample_rate as usize
        ),
        grid: grid.expect("at least one clip"),
        examples,
    })
}

/// A registry encoder's frames (its default layers, concatenated for `_ML` names).
pub fn encoder_representation(
    data: &Dataset,
    model: &crate::models::LoadedModel,
    name: &str,
) -> Result<Representation, WorkflowError> {
    let enc: &dyn Encoder = model.encoder.as_ref();
    let layers: LayerSelection = model.default_layers.clone();
    let mut examples = Vec::with_capacity(data.clips.len());
    for clip in &data.clips {
        let out = enc
            .encode(&clip.samples, &layers)
            .map_err(|e| WorkflowError::Data {
                what: format!("{}: {name}: {e}", clip.id),
            })?;
        let frames =
            earmark_encoders::concat_layers(&out.layers.iter().map(|(_, f)| f).collect::<Vec<_>>())
                .map_err(|e| WorkflowError::Data {
                    what: format!("{}: {name}: {e}", clip.id),
                })?;
        examples.push(Example {
            n_frames: frames.n_frames(),
            dim: frames.dim,
            x: frames.data,
            targets: clip.targets.clone(),
        });
    }
    Ok(Representation {
        name: name.to_string(),
        description: format!(
            "{name} frames (layers {}, frozen) from {}",
            layers,
            model.source.display()
        ),
        grid: enc.grid(),
        examples,
    })
}

/// A trained model's predictions on the validation and test clips.
pub struct Trained {
    pub name: String,
    pub pooling: Pooling,
    pub grid: FrameGrid,
    pub val: Vec<Prediction>,
    pub test: Vec<Prediction>,
    pub report: TrainReport,
    pub params: usize,
}

/// What the workflow trained, summarised for metrics.json.
#[derive(Debug, Clone, Serialize)]
pub struct TrainSummary {
    pub epochs_run: usize,
    pub best_epoch: usize,
    pub best_val_loss: f32,
    pub seconds: f64,
    pub params: usize,
}

impl Trained {
    pub fn summary(&self) -> TrainSummary {
        TrainSummary {
            epochs_run: self.report.epochs_run,
            best_epoch: self.report.best_epoch,
            best_val_loss: self.report.best_val_loss,
            seconds: self.report.seconds,
            params: self.params,
        }
    }
}

fn pick(examples: &[Example], idx: &[usize]) -> Vec<Example> {
    idx.iter().map(|&i| examples[i].clone()).collect()
}

fn count_params(varmap: &VarMap) -> usize {
    varmap.all_vars().iter().map(|v| v.elem_count()).sum()
}

/// The split the workflow uses: train / validation / test recording indices.
#[derive(Debug, Clone, Serialize)]
pub struct Split {
    pub train: Vec<usize>,
    pub val: Vec<usize>,
    pub test: Vec<usize>,
}

/// A MIL head on frozen frames, trained with `pooling`.
pub fn train_probe(
    rep: &Representation,
    split: &Split,
    classes: usize,
    pooling: Pooling,
    opts: &TrainOptions,
) -> Result<Trained, WorkflowError> {
    let device = Device::Cpu;
    let train_ex = pick(&rep.examples, &split.train);
    let (mean, std) = fit_standardizer(&train_ex);
    let cfg = HeadConfig {
        in_dim: rep.examples[0].dim,
        n_classes: classes,
        kind: HeadKind::Conv {
            hidden: 64,
            kernel: 5,
        },
        pooling,
        dropout: 0.1,
        input_mean: Some(mean),
        input_std: Some(std),
    };
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
    let head = FrameHead::new(cfg, vb)?;
    earmark_heads::init_varmap(&varmap, opts.seed)?;
    let val_ex = pick(&rep.examples, &split.val);
    let report = train(&head, &varmap, &train_ex, &val_ex, opts, &device)?;
    let test_ex = pick(&rep.examples, &split.test);
    Ok(Trained {
        name: format!("{}+{}", rep.name, pooling),
        pooling,
        grid: rep.grid,
        val: predict(&head, &val_ex, 16, &device)?,
        test: predict(&head, &test_ex, 16, &device)?,
        report,
        params: count_params(&varmap),
    })
}

/// The scratch baseline: the built-in CNN from log-mel frames, trained end to end.
pub fn train_scratch(
    log_mel: &Representation,
    split: &Split,
    classes: usize,
    pooling: Pooling,
    opts: &TrainOptions,
) -> Result<Trained, WorkflowError> {
    let device = Device::Cpu;
    let parts = build_crnn(
        &ScratchConfig::default(),
        classes,
        pooling,
        opts.seed,
        &device,
    )
    .map_err(|e| WorkflowError::Data {
        what: format!("building the scratch CNN: {e}"),
    })?;
    let (model, varmap) = (parts.model, parts.all_vars);
    let train_ex = pick(&log_mel.examples, &split.train);
    let val_ex = pick(&log_mel.examples, &split.val);
    let report = train(&model, &varmap, &train_ex, &val_ex, opts, &device)?;
    let test_ex = pick(&log_mel.examples, &split.test);
    Ok(Trained {
        name: "scratch".into(),
        pooling,
        grid: model.cnn.grid(),
        val: predict(&model, &val_ex, 16, &device)?,
        test: predict(&model, &test_ex, 16, &device)?,
        report,
        params: count_params(&varmap),
    })
}

/// Step 6: the top layers of the frozen encoder fine-tuned with a frame head (or LoRA adapters
/// on them), the lower layers run once and cached ([`crate::adapt`]), on the same split, with
/// the chosen pooling rule and the same conv head as the frozen probe.
#[allow(clippy::too_many_arguments)]
pub fn train_adapted_model(
    data: &Dataset,
    split: &Split,
    encoder: &dyn earmark_encoders::adapt::Adaptable,
    classes: usize,
    pooling: Pooling,
    adapt: &earmark_encoders::adapt::AdaptOptions,
    opts: &TrainOptions,
    save_dir: &std::path::Path,
) -> Result<Trained, WorkflowError> {
    let device = Device::Cpu;
    let clips = |idx: &[usize]| -> Vec<(&[f32], &[f32])> {
        idx.iter()
            .map(|&i| {
                let c = &data.clips[i];
                (c.samples.as_slice(), c.targets.as_slice())
            })
            .collect()
    };
    let cfg = HeadConfig {
        in_dim: encoder.dim(),
        n_classes: classes,
        kind: HeadKind::Conv {
            hidden: 64,
            kernel: 5,
        },
        pooling,
        dropout: 0.1,
        // The top's output moves while it trains: a standardiser fitted once would go stale
        // (the transformer's layer norms keep the scale in check instead).
        input_mean: None,
        input_std: None,
    };
    let adapt_err = |e: crate::adapt::AdaptError| WorkflowError::Data {
        what: format!("adaptation: {e}"),
    };
    let (model, report) = crate::adapt::train_adapted(
        encoder,
        &clips(&split.train),
        &clips(&split.val),
        adapt,
        &cfg,
        opts,
    )
    .map_err(adapt_err)?;
    let lower = |idx: &[usize]| {
        crate::adapt::lower_examples(encoder, adapt.top_layers, &clips(idx)).map_err(adapt_err)
    };
    // What a user keeps if the decision says so: the adapted tensors as an overlay on the base
    // checkpoint (its own key names) and the frame head.
    std::fs::create_dir_all(save_dir).map_err(|e| WorkflowError::Io {
        path: save_dir.to_path_buf(),
        source: e,
    })?;
    model
        .top()
        .save(&save_dir.join("overlay.safetensors"))
        .map_err(|e| WorkflowError::Data {
            what: format!("saving the adapted layers: {e}"),
        })?;
    earmark_heads::save_head(
        &save_dir.join("head"),
        model.head().config(),
        model.head_varmap(),
    )?;
    let params = model.top().num_trainable() + count_params(model.head_varmap());
    Ok(Trained {
        name: format!("adapted+{pooling}"),
        pooling,
        grid: model.top().grid(),
        val: predict(&model, &lower(&split.val)?, 16, &device)?,
        test: predict(&model, &lower(&split.test)?, 16, &device)?,
        report,
        params,
    })
}
