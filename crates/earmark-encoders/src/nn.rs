//! Layers shared by the encoder families: linear, layer norm, channels-last convolutions written
//! as unfold + matmul, multi-head self-attention and weight-norm folding.
//!
//! Everything here stays on `candle::Result`; errors become [`crate::EncoderError`] once, at the
//! [`crate::Encoder`] trait.

use candle_core::{bail, DType, Module, Result, Tensor, D};
use candle_nn::{LayerNorm, Linear, VarBuilder};

/// A `Linear` layer with bias (`weight` `[out, in]`, `bias` `[out]`).
pub fn linear(in_dim: usize, out_dim: usize, vb: VarBuilder) -> Result<Linear> {
    candle_nn::linear(in_dim, out_dim, vb)
}

/// A `LayerNorm` with affine weight and bias.
pub fn layer_norm(size: usize, eps: f64, vb: VarBuilder) -> Result<LayerNorm> {
    candle_nn::layer_norm(size, eps, vb)
}

/// Apply a linear layer to `[.., in]`, flattening the leading axes into one matmul.
pub fn apply_linear(l: &Linear, x: &Tensor) -> Result<Tensor> {
    let dims = x.dims().to_vec();
    let (lead, last) = dims.split_at(dims.len() - 1);
    let rows: usize = lead.iter().product();
    let y = l.forward(&x.reshape((rows, last[0]))?)?;
    let mut out = lead.to_vec();
    out.push(y.dim(1)?);
    y.reshape(out)
}

/// Unfold a channels-last `[B, T, C]` sequence into `[B, T', K·C]` windows of `k` frames with
/// stride `s` (no padding), each window flattened as (tap, channel). `T' = (T − k)/s + 1`.
///
/// Done with reshapes and narrows only, so it runs on any device: the sequence is viewed as
/// blocks of `s` frames and each window is the concatenation of `ceil(k/s)` consecutive blocks.
pub fn unfold_cl(x: &Tensor, k: usize, s: usize) -> Result<Tensor> {
    let (b, t, c) = x.dims3()?;
    if t < k || k == 0 || s == 0 {
        bail!("unfold: {t} frames are fewer than the kernel {k} (stride {s})");
    }
    let t_out = (t - k) / s + 1;
    let nblk = k.div_ceil(s);
    let need = (t_out - 1 + nblk) * s;
    let x = if need <= t {
        x.narrow(1, 0, need)?
    } else {
        x.pad_with_zeros(1, 0, need - t)?
    };
    let xr = x.contiguous()?.reshape((b, need / s, s * c))?;
    let blocks = if nblk == 1 {
        xr.narrow(1, 0, t_out)?
    } else {
        let parts = (0..nblk)
            .map(|j| xr.narrow(1, j, t_out))
            .collect::<Result<Vec<_>>>()?;
        Tensor::cat(&parts, 2)?
    };
    if nblk * s == k {
        Ok(blocks)
    } else {
        blocks.narrow(2, 0, k * c)
    }
}

/// A 1-D convolution on channels-last input, stored as one `[K·Cin/G, Cout/G]` matrix per group.
#[derive(Debug, Clone)]
pub struct ConvCl {
    mats: Vec<Tensor>,
    bias: Option<Tensor>,
    kernel: usize,
    stride: usize,
    groups: usize,
}

impl ConvCl {
    /// From a PyTorch `Conv1d` weight `[Cout, Cin/G, K]` and an optional bias `[Cout]`.
    pub fn from_weight(
        weight: &Tensor,
        bias: Option<Tensor>,
        stride: usize,
        groups: usize,
    ) -> Result<Self> {
        let (cout, cin_g, k) = weight.dims3()?;
        if groups == 0 || cout % groups != 0 {
            bail!("conv: {cout} output channels do not split into {groups} groups");
        }
        let cout_g = cout / groups;
        let mats = (0..groups)
            .map(|g| {
                weight
                    .narrow(0, g * cout_g, cout_g)?
                    .permute((2, 1, 0))?
                    .contiguous()?
                    .reshape((k * cin_g, cout_g))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(ConvCl {
            mats,
            bias,
            kernel: k,
            stride,
            groups,
        })
    }

    pub fn kernel(&self) -> usize {
        self.kernel
    }

    pub fn stride(&self) -> usize {
        self.stride
    }

    /// `[B, T, Cin]` → `[B, T', Cout]`, no padding.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, _t, cin) = x.dims3()?;
        let cin_g = cin / self.groups;
        let mut outs = Vec::with_capacity(self.groups);
        for (g, m) in self.mats.iter().enumerate() {
            let xg = if self.groups == 1 {
                x.clone()
            } else {
                x.narrow(2, g * cin_g, cin_g)?
            };
            let u = unfold_cl(&xg, self.kernel, self.stride)?;
            let t_out = u.dim(1)?;
            let y = u.reshape((b * t_out, self.kernel * cin_g))?.matmul(m)?;
            outs.push(y.reshape((b, t_out, m.dim(1)?))?);
        }
        let y = if outs.len() == 1 {
            outs.pop().expect("one group")
        } else {
            Tensor::cat(&outs, 2)?
        };
        match &self.bias {
            Some(bias) => y.broadcast_add(bias),
            None => Ok(y),
        }
    }
}

/// Fold PyTorch weight norm: `weight = g · v / ‖v‖`, the norm taken over every axis except
/// `dim` (wav2vec2's positional conv uses `dim = 2`: one norm per kernel tap).
pub fn fold_weight_norm(g: &Tensor, v: &Tensor, dim: usize) -> Result<Tensor> {
    let rank = v.rank();
    let mut norm = v.sqr()?;
    for axis in (0..rank).rev() {
        if axis != dim {
            norm = norm.sum_keepdim(axis)?;
        }
    }
    let norm = norm.sqrt()?;
    v.broadcast_mul(&g.broadcast_div(&norm)?)
}

/// Exact (erf) GELU, as PyTorch's `nn.GELU()` and transformers' `"gelu"`.
pub fn gelu(x: &Tensor) -> Result<Tensor> {
    x.gelu_erf()
}

/// Additive key mask `[B, 1, 1, T]`: 0 for valid frames, a large negative value for padding.
pub fn key_mask(lengths: &[usize], t: usize, dev: &candle_core::Device) -> Result<Tensor> {
    let b = lengths.len();
    let mut m = vec![0f32; b * t];
    for (i, &len) in lengths.iter().enumerate() {
        for v in &mut m[i * t + len.min(t)..(i + 1) * t] {
            *v = -1e9;
        }
    }
    Tensor::from_vec(m, (b, 1, 1, t), dev)
}

/// Multiplicative frame mask `[B, T, 1]`: 1 for valid frames, 0 for padding.
pub fn frame_mask(lengths: &[usize], t: usize, dev: &candle_core::Device) -> Result<Tensor> {
    let b = lengths.len();
    let mut m = vec![0f32; b * t];
    for (i, &len) in lengths.iter().enumerate() {
        for v in &mut m[i * t..i * t + len.min(t)] {
            *v = 1.0;
        }
    }
    Tensor::from_vec(m, (b, t, 1), dev)
}

/// Scaled dot-product attention over heads: `q, k, v` are `[B, T, H]`; the mask is additive
/// `[B, 1, 1, T]`. Returns `[B, T, H]` before the output projection.
pub fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    num_heads: usize,
    mask: Option<&Tensor>,
) -> Result<Tensor> {
    let (b, t, h) = q.dims3()?;
    let hd = h / num_heads;
    let split = |x: &Tensor| -> Result<Tensor> {
        x.reshape((b, t, num_heads, hd))?
            .transpose(1, 2)?
            .contiguous()
    };
    let (q, k, v) = (split(q)?, split(k)?, split(v)?);
    let scale = (hd as f64).powf(-0.5);
    let mut w = (q.matmul(&k.t()?.contiguous()?)? * scale)?;
    if let Some(m) = mask {
        w = w.broadcast_add(m)?;
    }
    let w = candle_nn::ops::softmax_last_dim(&w)?;
    w.matmul(&v)?.transpose(1, 2)?.reshape((b, t, h))
}

/// Group norm with one group per channel on channels-last `[B, T, C]` (statistics over time,
/// per item and channel; biased variance).
pub fn group_norm_per_channel(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    eps: f64,
) -> Result<Tensor> {
    // Statistics over thousands of frames: accumulate in f64 (PyTorch's reductions are
    // pairwise; a plain f32 running sum drifts by ~1e-5 relative over a 10 s window).
    let dt = x.dtype();
    let x64 = x.to_dtype(DType::F64)?;
    let mean = x64.mean_keepdim(1)?;
    let xc = x64.broadcast_sub(&mean)?;
    let var = xc.sqr()?.mean_keepdim(1)?;
    xc.broadcast_div(&(var + eps)?.sqrt()?)?
        .to_dtype(dt)?
        .broadcast_mul(weight)?
        .broadcast_add(bias)
}

/// Copy a float tensor to a flat `Vec<f32>`.
pub fn to_vec_f32(x: &Tensor) -> Result<Vec<f32>> {
    x.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()
}

/// Mean over the last axis but one, for `[.., N, D]` → `[.., D]`.
pub fn mean_rows(x: &Tensor) -> Result<Tensor> {
    x.mean(D::Minus2)
}
