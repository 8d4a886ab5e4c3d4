//! The scratch CNN: 1-D convolutions over time on log-mel frames, mel bands as input channels.
//!
//! ```text
//! waveform ─log_mel (n_fft 512, win 400, hop 160, 64 HTK bands, dB)─▶ [T, 64]
//!   ─per-clip, per-band standardisation over the real frames─▶ masked            (layer 0, pooled)
//!   ─conv1d(64→c0, k) GELU─▶ mask ─ dropout                                     (layer 1)
//!   ─conv1d(c0→c1, k) GELU─▶ mask ─ dropout                                     (layer 2)
//!   ─masked mean over time_pool frames─▶ [T' = ⌈T / time_pool⌉]
//!   ─conv1d(c1→c2, k) GELU─▶ mask ─ dropout                                     (layer 3 = output)
//! ```
//!
//! The time pooling sits before the **last** block by default (for any number of blocks, one
//! included), so the last block sees 20 ms frames; `pool_before` moves it earlier and
//! `dilations` spread a block's taps (the [`ScratchConfig::crnn`] preset: two spectral blocks
//! at 10 ms, then three dilated temporal blocks at 20 ms). Convolutions use "same" zero padding
//! (`kernel` must be odd). After every block the padded frames of a batch are zeroed again, so a
//! clip encoded alone and the same clip inside a padded batch give the same frames on its real
//! frames (convolution padding and batch padding are both zeros).
//!
//! **Normalisation.** Each clip's log-mel is standardised per mel band over its real frames,
//! `(x − mean) / sqrt(var + norm_floor_db²)`, inside the model, so raw dB goes in. Chosen over a
//! fixed affine because recordings differ in gain by tens of dB and the model has no fitted
//! statistics to ship; it removes the recording's level and spectral tilt (cepstral mean and
//! variance normalisation). The floor (10 dB) keeps near-constant bands from being blown up: a
//! background-only clip has a small spread, and dividing by it turned its fluctuations into
//! event-like peaks (measured on the default workflow: with a 1 dB floor the scratch model made
//! 8.7 false alarms per negative clip and reached event F1 0.056; with 10 dB, 0.765). Consequence: a frame depends on the whole clip (window) it sits in, not only
//! on its neighbours; long files are normalised per window.
//!
//! **Grid.** Output frame `j` averages log-mel frames `time_pool·j … time_pool·j + time_pool − 1`;
//! log-mel frame `i` is centred on sample `i·hop_length` (window of `win_length` centred in
//! `n_fft`, signal centre-padded by `n_fft/2`), so the log-mel grid is
//! `(hop 160, win 400, offset −200)` and the output grid
//! `log_mel.then(time_pool, time_pool, 0)` = `(hop 320, win 560, offset −200)` at the defaults:
//! frame `j` is centred on sample `320·j + 80`, i.e. `(320·j + 80) / 16000` s. The grid is the
//! frame's own footprint; the convolutions' receptive field is wider
//! ([`ScratchCnn::receptive_field_samples`]), as a transformer's context is for the other encoders.
//!
//! Variables (names relative to the `VarBuilder` given to [`ScratchCnn::new`]):
//! `blocks.{i}.weight` `[c_i, c_{i−1}, kernel]` and `blocks.{i}.bias` `[c_i]`.

use crate::checkpoint::Checkpoint;
use crate::encoder::{Encoder, EncoderOutput, LayerSelection};
use crate::error::EncoderError;
use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use earmark_core::rng::{fnv1a, SplitMix64 as SplitMix};
use earmark_core::{FrameGrid, Frames};
use earmark_features::MelOptions;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::Mutex;

/// The scratch CNN's front end and layers. Defaults: 16 kHz, 64 log-mel bands every 10 ms,
/// three 64-channel blocks of kernel 5, 20 ms output frames.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScratchConfig {
    pub sample_rate: u32,
    pub n_fft: usize,
    pub win_length: usize,
    pub hop_length: usize,
    pub n_mels: usize,
    /// Output channels of each conv block; the number of blocks is the number of layers.
    pub channels: Vec<usize>,
    /// Kernel size (in frames) of every conv block; odd, for symmetric "same" padding.
    pub kernel: usize,
    /// Log-mel frames averaged into one output frame (before the last block).
    pub time_pool: usize,
    /// Dropout probability after each block, in training only.
    pub dropout: f32,
    /// Standard-deviation floor of the per-band standardisation, in dB (see the module doc).
    pub norm_floor_db: f32,
    /// Dilation of each block's kernel (taps `dilation` frames apart); empty means 1 for all.
    /// Dilated blocks after the pooling point widen the temporal context cheaply (the CRNN
    /// preset's temporal-conv stack).
    pub dilations: Vec<usize>,
    /// Index of the block the time pooling comes before; `None` means the last block.
    pub pool_before: Option<usize>,
    /// Layer normalisation over the channels of each frame after each convolution (learned
    /// gain and bias, `blocks.{i}.norm.*`): keeps deep stacks trainable whatever their
    /// initial scale.
    pub norm: bool,
    /// Add each block's input to its output where the widths agree (residual blocks).
    pub residual: bool,
    /// Per-channel energy normalisation ([`super::pcen::pcen`]) instead of the per-clip band
    /// standardisation.
    pub pcen: bool,
    /// Subtract each band's median over the clip and divide by `norm_floor_db` instead of the
    /// per-clip standardisation ([`super::pcen::median_background`]). The median of a band is
    /// its background level and barely moves when a short event is added, so a frame's input
    /// says how far it stands above the background and little about the rest of the clip.
    /// Standardising by the clip's mean and spread instead lets every frame see that the clip
    /// holds a loud event somewhere: trained through linear-softmax pooling, the CRNN learned to
    /// raise whole windows around an event (measured: no event matched on synthetic test
    /// recordings whose clips it classified with ROC-AUC 0.97).
    pub median_background: bool,
    /// Channels of 3×3 time-frequency blocks before the 1-D blocks
    /// ([`super::conv2d::SpectroConv`]); each halves the bands, the first pools time. Empty:
    /// none (the 1-D blocks read the bands as channels).
    pub conv2d_channels: Vec<usize>,
}

impl Default for ScratchConfig {
    fn default() -> Self {
        ScratchConfig {
            sample_rate: 16_000,
            n_fft: 512,
            win_length: 400,
            hop_length: 160,
            n_mels: 64,
            channels: vec![64, 64, 64],
            kernel: 5,
            time_pool: 2,
            dropout: 0.1,
            norm_floor_db: 10.0,
            dilations: Vec::new(),
            pool_before: None,
            norm: false,
            residual: false,
            pcen: false,
            median_background: false,
            conv2d_channels: Vec::new(),
        }
    }
}

impl ScratchConfig {
    /// The log-mel front end: torchaudio `MelSpectrogram` (centred, reflect padding, HTK, power 2)
    /// with this config's sizes, then `AmplitudeToDB` (no `top_db`).
    pub fn mel_options(&self) -> MelOptions {
        MelOptions {
            sample_rate: self.sample_rate,
            n_fft: self.n_fft,
            win_length: Some(self.win_length),
            hop_length: Some(self.hop_length),
            n_mels: self.n_mels,
            ..MelOptions::default()
        }
    }

    /// The trunk of the built-in CRNN that `earmark train` fits end to end from weak labels: the
    /// log-mel pooled to 20 ms frames, two 96-channel blocks (spectral patterns), then three
    /// 128-channel temporal blocks dilated 1, 2, 4 (each output frame sees ±0.4 s), with layer
    /// norm and residuals. 20 ms frames keep the short transients (impacts, claps: 0.1–0.2 s)
    /// several frames long; pooling before the first block rather than after the second halved
    /// the cost of an epoch and gave the lower held-out loss on the dev set (docs/devset.md).
    pub fn crnn() -> Self {
        ScratchConfig {
            channels: vec![96, 96, 128, 128, 128],
            dilations: vec![1, 1, 1, 2, 4],
            pool_before: Some(0),
            dropout: 0.1,
            norm: true,
            residual: true,
            ..ScratchConfig::default()
        }
    }

    /// Dilation of block `i` (1 when not given).
    pub fn dilation(&self, i: usize) -> usize {
        self.dilations.get(i).copied().unwrap_or(1)
    }

    /// The block the time pooling comes before.
    /// With time-frequency blocks the pooling is theirs, before every 1-D block (0).
    pub fn pool_index(&self) -> usize {
        if !self.conv2d_channels.is_empty() {
            return 0;
        }
        self.pool_before
            .unwrap_or(self.channels.len().saturating_sub(1))
    }

    /// Width of what the first 1-D block reads: the bands, or the 2-D stack's bands × channels.
    pub fn trunk_in_dim(&self) -> usize {
        match self.conv2d_channels.last() {
            Some(&c) => (self.n_mels >> self.conv2d_channels.len()) * c,
            None => self.n_mels,
        }
    }

    /// Width of the output frames (the last block's channels).
    pub fn dim(&self) -> usize {
        self.channels.last().copied().unwrap_or(self.n_mels)
    }

    /// Width of hidden state `layer`: `n_mels` for 0, `channels[layer − 1]` after.
    pub fn layer_dim(&self, layer: usize) -> Option<usize> {
        match layer {
            0 => Some(self.n_mels),
            i => self.channels.get(i - 1).copied(),
        }
    }

    /// Number of conv blocks (hidden states are `0..=num_layers`).
    pub fn num_layers(&self) -> usize {
        self.channels.len()
    }

    /// Output hop in samples: `hop_length · time_pool` (320 = 20 ms at the defaults).
    pub fn frame_hop_samples(&self) -> usize {
        self.hop_length * self.time_pool
    }

    /// The log-mel grid: frame `i` is the `win_length` window centred in the `n_fft` frame that
    /// starts at `i·hop − n_fft/2` (centre padding), as `earmark_features::log_mel` reports it.
    pub fn mel_grid(&self) -> FrameGrid {
        let left = self.n_fft.saturating_sub(self.win_length) / 2;
        let offset = left as i64 - (self.n_fft / 2) as i64;
        FrameGrid::new(
            self.sample_rate,
            self.hop_length as u64,
            self.win_length as u64,
            offset,
        )
    }

    /// The output grid: the log-mel grid composed with the time pooling.
    pub fn grid(&self) -> FrameGrid {
        self.mel_grid()
            .then(self.time_pool as u64, self.time_pool as u64, 0)
    }

    /// Why this config cannot be built, if it cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.sample_rate == 0 || self.n_fft == 0 || self.hop_length == 0 || self.n_mels == 0 {
            return Err("sample_rate, n_fft, hop_length and n_mels must be positive".into());
        }
        if self.win_length == 0 || self.win_length > self.n_fft {
            return Err(format!(
                "win_length {} must be in 1..=n_fft ({})",
                self.win_length, self.n_fft
            ));
        }
        if self.channels.is_empty() || self.channels.contains(&0) {
            return Err(format!(
                "channels {:?}: need at least one block, all positive",
                self.channels
            ));
        }
        if self.kernel == 0 || self.kernel.is_multiple_of(2) {
            return Err(format!(
                "kernel {} must be odd (symmetric same padding)",
                self.kernel
            ));
        }
        if self.time_pool == 0 {
            return Err("time_pool must be ≥ 1".into());
        }
        if !self.dilations.is_empty() && self.dilations.len() != self.channels.len() {
            return Err(format!(
                "dilations {:?}: one per block ({} blocks) or none",
                self.dilations,
                self.channels.len()
            ));
        }
        if self.dilations.iter().any(|&d| d == 0 || d > 64) {
            return Err(format!("dilations {:?} must be in 1..=64", self.dilations));
        }
        if !self.conv2d_channels.is_empty() {
            let l = self.conv2d_channels.len();
            if self.conv2d_channels.contains(&0) || l > 6 {
                return Err(format!(
                    "conv2d_channels {:?}: at most 6 blocks, all positive",
                    self.conv2d_channels
                ));
            }
            if !self.n_mels.is_multiple_of(1 << l) {
                return Err(format!(
                    "n_mels {} must be divisible by 2^{l} for {l} time-frequency blocks",
                    self.n_mels
                ));
            }
        }
        if self.pool_before.is_some_and(|p| p >= self.channels.len()) {
            return Err(format!(
                "pool_before {:?} must name one of the {} blocks",
                self.pool_before,
                self.channels.len()
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(format!("dropout {} must be in [0, 1)", self.dropout));
        }
        if !(self.norm_floor_db > 0.0 && self.norm_floor_db.is_finite()) {
            return Err(format!(
                "norm_floor_db {} must be positive",
                self.norm_floor_db
            ));
        }
        Ok(())
    }
}

/// Initialise every variable of `varmap` deterministically from `seed`, independently of the
/// map's order and of which other variables exist (each variable's stream is seeded by `seed`
/// and its name):
///
/// - rank ≥ 2 (weights `[out, in, k…]`): Kaiming uniform, `U(−b, b)` with
///   `b = sqrt(6 / fan_in)`, `fan_in = in · k…` (gain √2, for ReLU-like GELU);
/// - rank 1 named `….bias` with a sibling `….weight`: `U(−1/sqrt(fan_in), 1/sqrt(fan_in))` as
///   PyTorch initialises conv and linear biases;
/// - rank-1 `….norm.weight` (layer-norm gains): ones;
/// - any other rank-1 or scalar variable: zeros.
pub fn init_seeded(varmap: &VarMap, seed: u64) -> candle_core::Result<()> {
    let data = varmap
        .data()
        .lock()
        .map_err(|_| candle_core::Error::Msg("VarMap lock poisoned".into()))?;
    let names: BTreeSet<&String> = data.keys().collect();
    for name in names {
        let var = &data[name];
        let dims = var.dims().to_vec();
        let fan_in_of = |d: &[usize]| d[1..].iter().product::<usize>().max(1);
        let bound = if dims.len() >= 2 {
            Some((6.0 / fan_in_of(&dims) as f64).sqrt())
        } else {
            name.strip_suffix("bias")
                .and_then(|stem| data.get(&format!("{stem}weight")))
                .filter(|w| w.dims().len() >= 2)
                .map(|w| 1.0 / (fan_in_of(w.dims()) as f64).sqrt())
        };
        let n: usize = dims.iter().product();
        let values: Vec<f32> = match bound {
            Some(b) => {
                let mut rng = SplitMix::new(seed ^ fnv1a(name.as_bytes()));
                let b = b as f32;
                (0..n).map(|_| (2.0 * rng.next_f32() - 1.0) * b).collect()
            }
            // Normalisation gains start at 1 (identity), everything else at 0.
            None if name.ends_with("norm.weight") => vec![1.0; n],
            None => vec![0.0; n],
        };
        let t = Tensor::from_vec(values, dims.as_slice(), var.device())?.to_dtype(var.dtype())?;
        var.set(&t)?;
    }
    Ok(())
}

/// A "same"-padded 1-D convolution over time on time-major `[B, T, C]` input, computed as one
/// matrix product of the `kernel` shifted copies (`[B·T, kernel·C] × [kernel·C, O]`). Same
/// variables and result as `candle_nn::conv1d` (`weight [O, C, k]`, `bias [O]`, padding `k/2`)
/// on channels-first input (checked by a unit test), but faster to train on CPU: a training step
/// of 16 × 1000 frames took 0.17 s forward + 0.62 s backward with candle's conv1d (im2col /
/// col2im and transposes) and takes 0.09 s + 0.23 s this way (2 cores).
#[derive(Debug, Clone)]
struct TimeConv {
    weight: Tensor,
    bias: Tensor,
    kernel: usize,
    dilation: usize,
}

impl TimeConv {
    fn new(
        c_in: usize,
        c_out: usize,
        kernel: usize,
        dilation: usize,
        vb: VarBuilder,
    ) -> candle_core::Result<Self> {
        // Same shapes and hints as candle_nn::conv1d (overwritten by `init_seeded` anyway).
        let weight = vb.get_with_hints(
            (c_out, c_in, kernel),
            "weight",
            candle_nn::init::DEFAULT_KAIMING_NORMAL,
        )?;
        let bound = 1.0 / ((c_in * kernel) as f64).sqrt();
        let bias = vb.get_with_hints(
            c_out,
            "bias",
            candle_nn::Init::Uniform {
                lo: -bound,
                up: bound,
            },
        )?;
        Ok(TimeConv {
            weight,
            bias,
            kernel,
            dilation: dilation.max(1),
        })
    }

    /// `[B, T, C]` → `[B, T, O]`.
    ///
    /// Each item is zero-padded by `d·(k/2)` frames at both ends (`d` the dilation) and the batch
    /// flattened to rows `[B·(T + d(k − 1)), C]`; shift `j` is then the contiguous row range
    /// `d·j .. d·j + N`, so the
    /// columns are one concatenation of contiguous slices (a strided narrow per item would make
    /// candle copy through transposes). Output row `b·(T + k − 1) + t` is item `b`, frame `t`.
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (b, t, c) = x.dims3()?;
        let k = self.kernel;
        let o = self.weight.dim(0)?;
        // weight [O, C, k] → [k, C, O] → [k·C, O], matching the columns' (shift, channel) order.
        let w = self.weight.permute((2, 1, 0))?.reshape((k * c, o))?;
        if k == 1 {
            return x
                .reshape((b * t, c))?
                .matmul(&w)?
                .broadcast_add(&self.bias)?
                .reshape((b, t, o));
        }
        let d = self.dilation;
        let span = d * (k - 1);
        let tp = t + span;
        let flat = x
            .pad_with_zeros(1, span / 2, span / 2)?
            .reshape((b * tp, c))?;
        let n = b * tp - span;
        let shifted = (0..k)
            .map(|j| flat.narrow(0, j * d, n))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let cols = Tensor::cat(&shifted, 1)?; // [N, k·C]
        cols.matmul(&w)?
            .broadcast_add(&self.bias)?
            .pad_with_zeros(0, 0, span)? // back to B·(T + d(k − 1)) rows
            .reshape((b, tp, o))?
            .narrow(1, 0, t)?
            .contiguous()
    }
}

/// The CNN (see the module docs). Build it on a `VarBuilder` over a `VarMap` to train it.
#[derive(Debug)]
pub struct ScratchCnn {
    cfg: ScratchConfig,
    blocks: Vec<TimeConv>,
    /// The time-frequency blocks before them (with `cfg.conv2d_channels`).
    spectro: Option<super::conv2d::SpectroConv>,
    /// Per block: layer-norm gain and bias `[c_i]` (with `cfg.norm`).
    norms: Vec<Option<(Tensor, Tensor)>>,
    /// State of the dropout RNG (own SplitMix, so training is reproducible on CPU).
    dropout_rng: Mutex<u64>,
}

impl ScratchCnn {
    pub fn new(cfg: &ScratchConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        cfg.validate()
            .map_err(|e| candle_core::Error::Msg(format!("scratch config: {e}")))?;
        let spectro = if cfg.conv2d_channels.is_empty() {
            None
        } else {
            Some(super::conv2d::SpectroConv::new(
                &cfg.conv2d_channels,
                cfg.norm,
                vb.pp("conv2d"),
            )?)
        };
        let vb = vb.pp("blocks");
        let mut blocks = Vec::with_capacity(cfg.channels.len());
        let mut norms = Vec::with_capacity(cfg.channels.len());
        let mut c_in = cfg.trunk_in_dim();
        for (i, &c) in cfg.channels.iter().enumerate() {
            blocks.push(TimeConv::new(
                c_in,
                c,
                cfg.kernel,
                cfg.dilation(i),
                vb.pp(i),
            )?);
            norms.push(if cfg.norm {
                let nb = vb.pp(i).pp("norm");
                Some((
                    nb.get_with_hints(c, "weight", candle_nn::Init::Const(1.0))?,
                    nb.get_with_hints(c, "bias", candle_nn::Init::Const(0.0))?,
                ))
            } else {
                None
            });
            c_in = c;
        }
        Ok(ScratchCnn {
            cfg: cfg.clone(),
            blocks,
            spectro,
            norms,
            dropout_rng: Mutex::new(0x5EED_D809),
        })
    }

    pub fn config(&self) -> &ScratchConfig {
        &self.cfg
    }

    /// The frame grid of the output frames in samples: log-mel grid composed with time pooling.
    pub fn grid(&self) -> FrameGrid {
        self.cfg.grid()
    }

    /// Samples that influence one output frame: the log-mel window plus `kernel/2` frames each
    /// side per block (at the block's frame rate) plus the pooling group.
    pub fn receptive_field_samples(&self) -> u64 {
        let half = (self.cfg.kernel / 2) as u64;
        let hop = self.cfg.hop_length as u64;
        let pooled_hop = hop * self.cfg.time_pool as u64;
        let at = self.cfg.pool_index();
        // Blocks before the pool move by mel hops, the others by pooled hops; dilation d
        // spreads a block's taps d frames apart.
        let reach: u64 = (0..self.blocks.len())
            .map(|i| {
                let step = if i < at { hop } else { pooled_hop };
                half * self.cfg.dilation(i) as u64 * step
            })
            .sum();
        self.cfg.win_length as u64 + (self.cfg.time_pool as u64 - 1) * hop + 2 * reach
    }

    /// Reseed the dropout RNG (training only; inference never draws from it).
    pub fn set_dropout_seed(&self, seed: u64) {
        if let Ok(mut s) = self.dropout_rng.lock() {
            *s = seed;
        }
    }

    /// log-mel of a waveform at `cfg.sample_rate`: `Frames [T, n_mels]` (dB) with its grid.
    pub fn features(&self, samples: &[f32]) -> Result<Frames, EncoderError> {
        earmark_features::log_mel(samples, &self.cfg.mel_options()).map_err(|e| {
            EncoderError::Shape {
                expected: format!(
                    "audio the scratch front end can read ({}-point log-mel at {} Hz)",
                    self.cfg.n_fft, self.cfg.sample_rate
                ),
                got: e.to_string(),
            }
        })
    }

    /// log-mel features `[B, T, n_mels]` (dB, as `log_mel` returns; padded frames must be finite,
    /// zeros are fine) and `mask [B, T]` (f32, 1 real / 0 padded) → frame embeddings
    /// `[B, T', D]` with `T' = ⌈T / time_pool⌉`, zero on padded output frames, and the output mask
    /// `[B, T']` (1 where any input frame of the pooled group was real). `train` turns dropout on.
    pub fn forward(
        &self,
        mel: &Tensor,
        mask: &Tensor,
        train: bool,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let (mut layers, mask) = self.run(mel, mask, train, false)?;
        let last = layers
            .pop()
            .ok_or_else(|| candle_core::Error::Msg("scratch CNN has no blocks".into()))?;
        Ok((last, mask))
    }

    /// Every hidden state, `[B, T', ·]` each, all on the output grid ([`ScratchCnn::grid`]),
    /// padded frames zeroed, no dropout:
    /// - `0`: the normalised (standardised, masked) log-mel, time-pooled — width `n_mels`;
    /// - `i` in `1..=L`: the output of block `i` (after GELU); blocks before the pooling point
    ///   are time-pooled the same way (masked mean) — width `channels[i − 1]`.
    pub fn forward_layers(&self, mel: &Tensor, mask: &Tensor) -> candle_core::Result<Vec<Tensor>> {
        Ok(self.run(mel, mask, false, true)?.0)
    }

    /// Returns `([B, T', ·] per collected state, mask [B, T'])`. Without `collect`, only the
    /// last state.
    fn run(
        &self,
        mel: &Tensor,
        mask: &Tensor,
        train: bool,
        collect: bool,
    ) -> candle_core::Result<(Vec<Tensor>, Tensor)> {
        let (b, t, m) = mel.dims3()?;
        if m != self.cfg.n_mels {
            candle_core::bail!(
                "scratch CNN: input has {m} mel bands, the model expects {}",
                self.cfg.n_mels
            );
        }
        if mask.dims() != [b, t] {
            candle_core::bail!(
                "scratch CNN: mask {:?} does not match features [{b}, {t}, {m}]",
                mask.dims()
            );
        }
        if t == 0 {
            candle_core::bail!("scratch CNN: no frames");
        }
        let x = mel.to_dtype(DType::F32)?;
        let mask = mask.to_dtype(DType::F32)?;
        let x = if self.cfg.pcen {
            super::pcen::pcen(
                &x,
                &mask,
                self.cfg.hop_length as f64 / self.cfg.sample_rate as f64,
            )?
        } else if self.cfg.median_background {
            super::pcen::median_background(&x, &mask, self.cfg.norm_floor_db)?
        } else {
            self.normalise(&x, &mask)?
        };
        // Time-major throughout: h [B, T, C], mask [B, T, 1].
        let mut h = x;
        let mut mk = mask.unsqueeze(2)?;
        let pool_before = self.cfg.pool_index();
        let mut out = Vec::new();
        let mut pending: Vec<Tensor> = Vec::new(); // states before pooling, to pool later
        if collect {
            pending.push(h.clone());
        }
        // The time-frequency blocks pool time themselves: the 1-D blocks all run pooled.
        let pooled_already = self.spectro.is_some();
        if let Some(sc) = &self.spectro {
            let full_mask = mk.clone();
            for s in pending.drain(..) {
                out.push(self.pool(&s, &full_mask)?.0);
            }
            let drop = |t: &Tensor| {
                if train && self.cfg.dropout > 0.0 {
                    self.dropout(t)
                } else {
                    Ok(t.clone())
                }
            };
            let (hh, mm) = sc.forward(&h, &mk, &|a, b| self.pool(a, b), &drop)?;
            h = hh;
            mk = mm;
        }
        for (i, conv) in self.blocks.iter().enumerate() {
            if i == pool_before && !pooled_already {
                let full_mask = mk.clone();
                let (hp, mp) = self.pool(&h, &full_mask)?;
                for s in pending.drain(..) {
                    out.push(self.pool(&s, &full_mask)?.0);
                }
                h = hp;
                mk = mp;
            }
            let mut y = conv.forward(&h)?;
            if let Some((g, b)) = &self.norms[i] {
                y = super::conv2d::layer_norm_last(&y, g, b)?;
            }
            let mut y = y.gelu_erf()?;
            if self.cfg.residual && y.dims() == h.dims() {
                y = (y + &h)?;
            }
            h = y.broadcast_mul(&mk)?;
            if train && self.cfg.dropout > 0.0 {
                h = self.dropout(&h)?;
            }
            if collect {
                if i < pool_before && !pooled_already {
                    pending.push(h.clone());
                } else {
                    out.push(h.clone());
                }
            }
        }
        if !collect {
            out.push(h);
        }
        Ok((out, mk.squeeze(2)?))
    }

    /// Per-clip, per-band standardisation over the real frames; padded frames become 0.
    fn normalise(&self, x: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let m3 = mask.unsqueeze(2)?; // [B, T, 1]
        let n = m3.sum_keepdim(1)?.maximum(1.0)?; // [B, 1, 1]
        let mean = x.broadcast_mul(&m3)?.sum_keepdim(1)?.broadcast_div(&n)?; // [B, 1, M]
        let d = x.broadcast_sub(&mean)?.broadcast_mul(&m3)?;
        let var = d.sqr()?.sum_keepdim(1)?.broadcast_div(&n)?;
        let floor = (self.cfg.norm_floor_db as f64).powi(2);
        let std = (var + floor)?.sqrt()?;
        d.broadcast_div(&std)
    }

    /// Masked mean over groups of `time_pool` frames: `[B, T, C]`, `[B, T, 1]` →
    /// `[B, T', C]`, `[B, T', 1]` (1 where the group had a real frame).
    fn pool(&self, h: &Tensor, mask: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        let p = self.cfg.time_pool;
        if p == 1 {
            return Ok((h.clone(), mask.clone()));
        }
        let (b, t, c) = h.dims3()?;
        let tp = t.div_ceil(p);
        let extra = tp * p - t;
        let (h, mask) = if extra > 0 {
            (
                h.pad_with_zeros(1, 0, extra)?,
                mask.pad_with_zeros(1, 0, extra)?,
            )
        } else {
            (h.clone(), mask.clone())
        };
        let sum = h.broadcast_mul(&mask)?.reshape((b, tp, p, c))?.sum(2)?;
        let count = mask.reshape((b, tp, p, 1))?.sum(2)?;
        let pooled = sum.broadcast_div(&count.maximum(1.0)?)?;
        Ok((pooled, count.minimum(1.0)?))
    }

    /// Inverted dropout with the model's own RNG.
    fn dropout(&self, h: &Tensor) -> candle_core::Result<Tensor> {
        let p = self.cfg.dropout;
        let n = h.elem_count();
        let mut state = self
            .dropout_rng
            .lock()
            .map_err(|_| candle_core::Error::Msg("dropout RNG lock poisoned".into()))?;
        let mut rng = SplitMix::new(*state);
        let scale = 1.0 / (1.0 - p);
        let keep: Vec<f32> = (0..n)
            .map(|_| if rng.next_f32() < p { 0.0 } else { scale })
            .collect();
        // The next call continues from a fresh draw of this stream.
        *state = rng.next_u64();
        let keep = Tensor::from_vec(keep, h.shape(), h.device())?;
        h.mul(&keep)
    }
}

/// [`ScratchCnn`] as an [`Encoder`], owning its variables.
pub struct ScratchEncoder {
    cnn: ScratchCnn,
    varmap: VarMap,
    device: Device,
}

impl ScratchEncoder {
    /// The seed of the default (untrained) weights: `load_model("scratch")`.
    pub const DEFAULT_SEED: u64 = 0;

    /// Deterministic random weights from `seed` ([`init_seeded`]).
    pub fn new_seeded(
        cfg: ScratchConfig,
        seed: u64,
        device: &Device,
    ) -> Result<Self, EncoderError> {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, device);
        let cnn = ScratchCnn::new(&cfg, vb)?;
        init_seeded(&varmap, seed)?;
        Ok(ScratchEncoder {
            cnn,
            varmap,
            device: device.clone(),
        })
    }

    /// Weights from a safetensors file whose keys are exactly the model's (`blocks.0.weight`, …);
    /// missing or unexpected tensors are refused by name, as are wrong shapes.
    pub fn from_safetensors(
        cfg: ScratchConfig,
        path: &Path,
        device: &Device,
    ) -> Result<Self, EncoderError> {
        Self::from_safetensors_prefixed(cfg, path, "", device)
    }

    /// Weights stored under `prefix` (e.g. `"cnn."` in a file saved from a trainer's `VarMap`
    /// that also holds a head): keys outside the prefix are ignored, keys under it must be
    /// exactly the model's.
    pub fn from_safetensors_prefixed(
        cfg: ScratchConfig,
        path: &Path,
        prefix: &str,
        device: &Device,
    ) -> Result<Self, EncoderError> {
        let ckpt = Checkpoint::read(path, device)?;
        let tensors: HashMap<String, Tensor> = ckpt
            .tensors
            .into_iter()
            .filter_map(|(k, t)| k.strip_prefix(prefix).map(|s| (s.to_string(), t)))
            .collect();
        let enc = Self::new_seeded(cfg, Self::DEFAULT_SEED, device)?;
        {
            let data = enc
                .varmap
                .data()
                .lock()
                .map_err(|_| EncoderError::format(path, "internal: VarMap lock poisoned"))?;
            let want: BTreeSet<&String> = data.keys().collect();
            let have: BTreeSet<&String> = tensors.keys().collect();
            let missing: Vec<String> = want
                .difference(&have)
                .map(|k| format!("{prefix}{k}"))
                .collect();
            let unexpected: Vec<String> = have
                .difference(&want)
                .map(|k| format!("{prefix}{k}"))
                .collect();
            if !missing.is_empty() || !unexpected.is_empty() {
                return Err(EncoderError::Checkpoint {
                    path: path.to_path_buf(),
                    missing,
                    unexpected,
                });
            }
            // Sorted, so the first mismatch reported is the same on every run.
            let mut vars: Vec<(&String, &candle_core::Var)> = data.iter().collect();
            vars.sort_by(|a, b| a.0.cmp(b.0));
            for (k, var) in vars {
                let t = &tensors[k];
                if t.dims() != var.dims() {
                    return Err(EncoderError::format(
                        path,
                        format!(
                            "tensor {prefix}{k} has shape {:?}, the scratch config expects {:?}",
                            t.dims(),
                            var.dims()
                        ),
                    ));
                }
                var.set(&t.to_dtype(DType::F32)?)?;
            }
        }
        Ok(enc)
    }

    /// Wrap a CNN built on `varmap` (e.g. after training).
    pub fn from_parts(cnn: ScratchCnn, varmap: VarMap, device: Device) -> Self {
        ScratchEncoder {
            cnn,
            varmap,
            device,
        }
    }

    /// Write the variables as safetensors: to a temporary file beside `path`, then renamed.
    pub fn save(&self, path: &Path) -> Result<(), EncoderError> {
        let tensors: BTreeMap<String, Tensor> = {
            let data = self
                .varmap
                .data()
                .lock()
                .map_err(|_| EncoderError::format(path, "internal: VarMap lock poisoned"))?;
            data.iter()
                .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
                .collect()
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "scratch.safetensors".into());
        let tmp = path.with_file_name(format!(".{name}.tmp{}", std::process::id()));
        let tensors: HashMap<String, Tensor> = tensors.into_iter().collect();
        if let Err(e) = candle_core::safetensors::save(&tensors, &tmp) {
            let _ = std::fs::remove_file(&tmp);
            return Err(EncoderError::format(
                path,
                format!("writing safetensors: {e}"),
            ));
        }
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            EncoderError::io(path, e)
        })
    }

    pub fn cnn(&self) -> &ScratchCnn {
        &self.cnn
    }

    pub fn varmap(&self) -> &VarMap {
        &self.varmap
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Total number of trainable values.
    pub fn num_parameters(&self) -> usize {
        self.varmap.all_vars().iter().map(|v| v.elem_count()).sum()
    }
}

impl Encoder for ScratchEncoder {
    fn name(&self) -> &str {
        "scratch"
    }

    fn sample_rate(&self) -> u32 {
        self.cnn.cfg.sample_rate
    }

    /// The output width (last block). Hidden state 0 is `n_mels` wide and block `i`'s is
    /// `channels[i − 1]`; each returned `Frames` carries its own `dim`.
    fn dim(&self) -> usize {
        self.cnn.cfg.dim()
    }

    fn num_layers(&self) -> usize {
        self.cnn.cfg.num_layers()
    }

    fn grid(&self) -> FrameGrid {
        self.cnn.grid()
    }

    /// Waveforms of any lengths: each one's log-mel, zero-padded to the longest and masked, so
    /// every item's frames equal those of encoding it alone. Item `k` gets `⌈T_k / time_pool⌉`
    /// frames, `T_k = 1 + len_k / hop_length` log-mel frames.
    fn encode_batch(
        &self,
        waves: &[&[f32]],
        layers: &LayerSelection,
    ) -> Result<Vec<EncoderOutput>, EncoderError> {
        let want = layers.indices(self.num_layers())?;
        if waves.is_empty() {
            return Ok(Vec::new());
        }
        let feats: Vec<Frames> = waves
            .iter()
            .map(|w| self.cnn.features(w))
            .collect::<Result<_, _>>()?;
        let m = self.cnn.cfg.n_mels;
        let t_max = feats.iter().map(|f| f.n_frames()).max().unwrap_or(0);
        let mut data = vec![0f32; waves.len() * t_max * m];
        let mut mask = vec![0f32; waves.len() * t_max];
        for (k, f) in feats.iter().enumerate() {
            let n = f.n_frames();
            data[k * t_max * m..k * t_max * m + n * m].copy_from_slice(&f.data);
            mask[k * t_max..k * t_max + n].fill(1.0);
        }
        let x = Tensor::from_vec(data, (waves.len(), t_max, m), &self.device)?;
        let mk = Tensor::from_vec(mask, (waves.len(), t_max), &self.device)?;
        let states = self.cnn.forward_layers(&x, &mk)?;
        let grid = self.grid();
        let p = self.cnn.cfg.time_pool;
        let mut outs = Vec::with_capacity(waves.len());
        for (k, f) in feats.iter().enumerate() {
            let frames = f.n_frames().div_ceil(p);
            let mut layers = Vec::with_capacity(want.len());
            for &i in &want {
                let s = states[i].get(k)?.narrow(0, 0, frames)?;
                let dim = s.dim(1)?;
                let v = s.flatten_all()?.to_vec1::<f32>()?;
                let fr = Frames::new(v, dim, grid).map_err(|e| EncoderError::Shape {
                    expected: format!("rows of {dim}"),
                    got: e.to_string(),
                })?;
                layers.push((i, fr));
            }
            let last_hidden_state = want
                .iter()
                .position(|&i| i == self.num_layers())
                .map(|j| layers[j].1.clone());
            outs.push(EncoderOutput {
                layers,
                last_hidden_state,
                ..Default::default()
            });
        }
        Ok(outs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The GEMM convolution equals candle's conv1d (channels first, padding k/2).
    #[test]
    fn time_conv_matches_candle_conv1d() {
        let dev = Device::Cpu;
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
        for dilation in [1, 3] {
            time_conv_case(&varmap, &vb, dilation);
        }
    }

    fn time_conv_case(varmap: &VarMap, vb: &VarBuilder, dilation: usize) {
        let dev = Device::Cpu;
        let conv = TimeConv::new(6, 4, 5, dilation, vb.pp(format!("c{dilation}"))).unwrap();
        init_seeded(varmap, 3).unwrap();
        let mut rng = SplitMix::new(9);
        let x: Vec<f32> = (0..2 * 13 * 6).map(|_| rng.next_f32() - 0.5).collect();
        let x = Tensor::from_vec(x, (2, 13, 6), &dev).unwrap();
        let got = conv.forward(&x).unwrap();
        let want = x
            .transpose(1, 2)
            .unwrap()
            .contiguous()
            .unwrap()
            .conv1d(&conv.weight, 2 * dilation, 1, dilation, 1)
            .unwrap()
            .broadcast_add(&conv.bias.reshape((1, 4, 1)).unwrap())
            .unwrap()
            .transpose(1, 2)
            .unwrap();
        let d = (got - want)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(d < 1e-5, "{d}");
    }
}
