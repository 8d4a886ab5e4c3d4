//! The spectro-temporal front of the built-in CRNN: 3×3 convolutions over (time, mel band) with
//! the bands as a spatial axis, as the DCASE CRNNs have it (Çakır et al. 2017, "Convolutional
//! recurrent neural networks for polyphonic sound event detection"). A pattern learned at one
//! pitch is found at a neighbouring one, which a 1-D convolution with the bands as channels
//! cannot do: that is what carries a class to sources of another size or voice.
//!
//! Each block: 3×3 "same" convolution → layer norm over channels (optional) → GELU → average
//! pooling of band pairs; the first block also pools time by the trunk's `time_pool` (masked
//! mean, so the output grid is the 1-D trunk's). Layout is channels last, `[B, T, F, C]`, so the
//! convolution is one matrix product of the nine shifted copies (`[B·T·F, 9·C] × [9·C, O]`):
//! narrow, concatenation and matmul all have cheap backward passes in candle.
//!
//! Variables under the builder given: `{i}.weight` `[O, C, 3, 3]` (PyTorch's `Conv2d` layout),
//! `{i}.bias` `[O]`, and with norm `{i}.norm.weight`, `{i}.norm.bias` `[O]`.

use candle_core::{Result, Tensor, D};
use candle_nn::VarBuilder;

/// The trunk's masked time pooling: `([B, T, D], [B, T, 1]) → ([B, T', D], [B, T', 1])`.
pub type TimePool<'a> = &'a dyn Fn(&Tensor, &Tensor) -> Result<(Tensor, Tensor)>;

/// One block's variables.
#[derive(Debug, Clone)]
struct Block {
    weight: Tensor,
    bias: Tensor,
    norm: Option<(Tensor, Tensor)>,
}

/// The stack of 2-D blocks.
#[derive(Debug, Clone)]
pub struct SpectroConv {
    blocks: Vec<Block>,
}

/// Layer normalisation over the last dimension with differentiable ops.
pub(crate) fn layer_norm_last(x: &Tensor, gain: &Tensor, bias: &Tensor) -> Result<Tensor> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let xc = x.broadcast_sub(&mean)?;
    let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
    xc.broadcast_div(&(var + 1e-5)?.sqrt()?)?
        .broadcast_mul(gain)?
        .broadcast_add(bias)
}

impl SpectroConv {
    /// Blocks with `channels[i]` outputs each, from one input channel.
    pub fn new(channels: &[usize], norm: bool, vb: VarBuilder) -> Result<Self> {
        let mut c_in = 1;
        let mut blocks = Vec::with_capacity(channels.len());
        for (i, &c) in channels.iter().enumerate() {
            let vb = vb.pp(i);
            let bound = 1.0 / ((c_in * 9) as f64).sqrt();
            let weight = vb.get_with_hints(
                (c, c_in, 3, 3),
                "weight",
                candle_nn::init::DEFAULT_KAIMING_NORMAL,
            )?;
            let bias = vb.get_with_hints(
                c,
                "bias",
                candle_nn::Init::Uniform {
                    lo: -bound,
                    up: bound,
                },
            )?;
            let norm = if norm {
                let nb = vb.pp("norm");
                Some((
                    nb.get_with_hints(c, "weight", candle_nn::Init::Const(1.0))?,
                    nb.get_with_hints(c, "bias", candle_nn::Init::Const(0.0))?,
                ))
            } else {
                None
            };
            blocks.push(Block { weight, bias, norm });
            c_in = c;
        }
        Ok(SpectroConv { blocks })
    }

    /// Bands left after the stack: `n_mels / 2^blocks`.
    pub fn out_bands(n_mels: usize, blocks: usize) -> usize {
        n_mels >> blocks
    }

    /// `x` `[B, T, M]` (normalised features), `mask` `[B, T, 1]` → `[B, T', (M / 2^L)·C_L]`
    /// with the output mask `[B, T', 1]`; `pool_time` pools after the first block with `pool`
    /// (the trunk's masked mean over time).
    pub fn forward(
        &self,
        x: &Tensor,
        mask: &Tensor,
        pool: TimePool,
        dropout: &dyn Fn(&Tensor) -> Result<Tensor>,
    ) -> Result<(Tensor, Tensor)> {
        let (b, _, m) = x.dims3()?;
        let mut h = x.unsqueeze(3)?; // [B, T, M, 1]
        let mut mk = mask.clone();
        let mut bands = m;
        for (i, blk) in self.blocks.iter().enumerate() {
            let t = h.dim(1)?;
            let mut y = conv3x3(&h, &blk.weight, &blk.bias)?;
            if let Some((g, bb)) = &blk.norm {
                y = layer_norm_last(&y, g, bb)?;
            }
            let y = y.gelu_erf()?; // [B, T, F, O]
            let o = y.dim(3)?;
            // Average band pairs.
            bands /= 2;
            let y = y.reshape((b, t, bands, 2, o))?.mean(3)?; // [B, T, F/2, O]
                                                              // Zero the padded frames, then (first block) pool time on the trunk's grid.
            let flat = y.reshape((b, t, bands * o))?.broadcast_mul(&mk)?;
            let flat = if i == 0 {
                let (p, m2) = pool(&flat, &mk)?;
                mk = m2;
                p
            } else {
                flat
            };
            let flat = dropout(&flat)?;
            let t2 = flat.dim(1)?;
            h = flat.reshape((b, t2, bands, o))?;
        }
        let (t2, o) = (h.dim(1)?, h.dim(3)?);
        Ok((h.reshape((b, t2, bands * o))?, mk))
    }
}

/// "Same" 3×3 convolution on channels-last `[B, T, F, C]` → `[B, T, F, O]`.
fn conv3x3(x: &Tensor, w: &Tensor, bias: &Tensor) -> Result<Tensor> {
    let (b, t, f, c) = x.dims4()?;
    let o = w.dim(0)?;
    let xp = x.pad_with_zeros(1, 1, 1)?.pad_with_zeros(2, 1, 1)?;
    let mut cols = Vec::with_capacity(9);
    for dt in 0..3 {
        let rows = xp.narrow(1, dt, t)?;
        for df in 0..3 {
            cols.push(rows.narrow(2, df, f)?.contiguous()?);
        }
    }
    let cols = Tensor::cat(&cols, 3)?; // [B, T, F, 9C], (dt, df, c) order
    let wm = w.permute((2, 3, 1, 0))?.reshape((9 * c, o))?; // [3, 3, C, O] → [9C, O]
    cols.reshape((b * t * f, 9 * c))?
        .matmul(&wm)?
        .broadcast_add(bias)?
        .reshape((b, t, f, o))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use candle_nn::VarMap;

    /// The shifted-copies convolution equals candle's conv2d (channels first, padding 1).
    #[test]
    fn conv3x3_matches_candle_conv2d() {
        let dev = Device::Cpu;
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &dev);
        let w = vb.get((4, 3, 3, 3), "w").unwrap();
        let bias = vb.get(4, "b").unwrap();
        let mut rng = earmark_core::SplitMix64::new(5);
        let xs: Vec<f32> = (0..2 * 7 * 6 * 3).map(|_| rng.next_f32() - 0.5).collect();
        let x = Tensor::from_vec(xs, (2, 7, 6, 3), &dev).unwrap();
        let got = conv3x3(&x, &w, &bias).unwrap();
        let want = x
            .permute((0, 3, 1, 2))
            .unwrap()
            .contiguous()
            .unwrap()
            .conv2d(&w, 1, 1, 1, 1)
            .unwrap()
            .broadcast_add(&bias.reshape((1, 4, 1, 1)).unwrap())
            .unwrap()
            .permute((0, 2, 3, 1))
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
