//! Layers shared by the encoder families: linear, layer norm, channels-last convolutions,
//! multi-head self-attention and weight-norm folding.
//!
//! On the CPU (contiguous f32) these run the fused kernels of `crate::cpu`: strided gemms
//! instead of unfold for convolutions, bias and GELU fused into linears, attention one head at
//! a time with an in-place softmax, residual add fused into layer norm. Other devices and dtypes
//! take candle's generic ops (unfold + matmul for convolutions).
//!
//! Everything here stays on `candle::Result`; errors become [`crate::EncoderError`] once, at the
//! [`crate::Encoder`] trait.

use crate::cpu;
use candle_core::{bail, DType, Device, Module, Result, Tensor, D};
use candle_nn::{Linear, VarBuilder};

/// A `Linear` layer with bias (`weight` `[out, in]`, `bias` `[out]`).
pub fn linear(in_dim: usize, out_dim: usize, vb: VarBuilder) -> Result<Linear> {
    candle_nn::linear(in_dim, out_dim, vb)
}

/// A layer norm over the last axis with affine weight and bias; fused CPU kernel for
/// contiguous f32 input, candle's op elsewhere.
#[derive(Debug, Clone)]
pub struct LayerNorm {
    inner: candle_nn::LayerNorm,
    eps: f64,
}

impl LayerNorm {
    /// `LN(x + y)`: the residual add fused into the norm on the CPU.
    pub fn forward_add(&self, x: &Tensor, y: &Tensor) -> Result<Tensor> {
        if x.dims() == y.dims() {
            if let Some(out) = self.fast(x, Some(y)) {
                return out;
            }
        }
        self.inner.forward(&(x + y)?)
    }

    fn fast(&self, x: &Tensor, y: Option<&Tensor>) -> Option<Result<Tensor>> {
        let h = x.dim(D::Minus1).ok()?;
        let w = self.inner.weight();
        let b = self.inner.bias();
        if !cpu::usable(w) || !b.is_none_or(cpu::usable) || y.is_some_and(|y| !cpu::usable(y)) {
            return None;
        }
        let eps = self.eps as f32;
        let run = |xs: &[f32], ys: Option<&[f32]>| {
            cpu::with_f32(w, |ws| match b {
                Some(b) => {
                    cpu::with_f32(b, |bs| cpu::layer_norm_rows(xs, ys, ws, Some(bs), eps, h))
                }
                None => Some(cpu::layer_norm_rows(xs, ys, ws, None, eps, h)),
            })
            .flatten()
        };
        let out = cpu::with_f32(x, |xs| match y {
            Some(y) => cpu::with_f32(y, |ys| run(xs, Some(ys))).flatten(),
            None => run(xs, None),
        })??;
        Some(Tensor::from_vec(out, x.dims(), &Device::Cpu))
    }
}

impl Module for LayerNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self.fast(x, None) {
            Some(out) => out,
            None => self.inner.forward(x),
        }
    }
}

/// A `LayerNorm` with affine weight and bias.
pub fn layer_norm(size: usize, eps: f64, vb: VarBuilder) -> Result<LayerNorm> {
    Ok(LayerNorm {
        inner: candle_nn::layer_norm(size, eps, vb)?,
        eps,
    })
}

fn linear_impl(
    l: &Linear,
    x: &Tensor,
    residual: Option<&Tensor>,
    gelu_after: bool,
) -> Result<Tensor> {
    let dims = x.dims().to_vec();
    let (lead, last) = dims.split_at(dims.len() - 1);
    let rows: usize = lead.iter().product();
    let (w, b) = (l.weight(), l.bias());
    let (n, k) = w.dims2()?;
    let mut out_dims = lead.to_vec();
    out_dims.push(n);
    if k == last[0]
        && cpu::usable(w)
        && b.is_none_or(cpu::usable)
        && residual.is_none_or(|r| r.dims() == out_dims && cpu::usable(r))
    {
        let run = |xs: &[f32], rs: Option<&[f32]>| {
            cpu::with_f32(w, |ws| match b {
                Some(b) => cpu::with_f32(b, |bs| {
                    cpu::linear(xs, rows, k, ws, n, Some(bs), rs, gelu_after)
                }),
                None => Some(cpu::linear(xs, rows, k, ws, n, None, rs, gelu_after)),
            })
            .flatten()
        };
        let y = cpu::with_f32(x, |xs| match residual {
            Some(r) => cpu::with_f32(r, |rs| run(xs, Some(rs))).flatten(),
            None => run(xs, None),
        })
        .flatten();
        if let Some(y) = y {
            return Tensor::from_vec(y, out_dims, &Device::Cpu);
        }
    }
    let y = l.forward(&x.reshape((rows, last[0]))?)?;
    let mut y = y.reshape(out_dims)?;
    if let Some(r) = residual {
        y = (y + r)?;
    }
    if gelu_after {
        gelu(&y)
    } else {
        Ok(y)
    }
}

/// Apply a linear layer to `[.., in]`, flattening the leading axes into one matmul.
pub fn apply_linear(l: &Linear, x: &Tensor) -> Result<Tensor> {
    linear_impl(l, x, None, false)
}

/// `residual + apply_linear(l, x)`: on the CPU the gemm accumulates onto the residual.
pub fn apply_linear_add(l: &Linear, x: &Tensor, residual: &Tensor) -> Result<Tensor> {
    linear_impl(l, x, Some(residual), false)
}

/// `gelu(apply_linear(l, x))`, fused on the CPU.
pub fn apply_linear_gelu(l: &Linear, x: &Tensor) -> Result<Tensor> {
    linear_impl(l, x, None, true)
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
        if let Some(y) = self.fast(x, false) {
            return y;
        }
        self.generic(x)
    }

    /// `gelu(forward(x))`, fused on the CPU.
    pub fn forward_gelu(&self, x: &Tensor) -> Result<Tensor> {
        if let Some(y) = self.fast(x, true) {
            return y;
        }
        gelu(&self.generic(x)?)
    }

    fn generic(&self, x: &Tensor) -> Result<Tensor> {
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

impl ConvCl {
    /// Channels-last conv as strided gemms over the input (no unfold) on the CPU.
    fn fast(&self, x: &Tensor, gelu_after: bool) -> Option<Result<Tensor>> {
        let (b, t, cin) = x.dims3().ok()?;
        if t < self.kernel || self.stride == 0 || cin % self.groups != 0 {
            return None;
        }
        if !self.mats.iter().all(cpu::usable) || !self.bias.as_ref().is_none_or(cpu::usable) {
            return None;
        }
        let cout_g = self.mats[0].dim(1).ok()?;
        let t_out = (t - self.kernel) / self.stride + 1;
        let guards: Vec<_> = self.mats.iter().map(|m| m.storage_and_layout()).collect();
        let mut mats = Vec::with_capacity(guards.len());
        for (st, l) in &guards {
            let (s0, s1) = l.contiguous_offsets()?;
            match &**st {
                candle_core::Storage::Cpu(c) => mats.push(&c.as_slice::<f32>().ok()?[s0..s1]),
                _ => return None,
            }
        }
        let bias = self.bias.as_ref().map(|b| cpu::with_f32(b, |s| s.to_vec()));
        let bias = match bias {
            Some(None) => return None,
            Some(Some(v)) => Some(v),
            None => None,
        };
        let out = cpu::with_f32(x, |xs| {
            let mut items = xs.chunks_exact(t * cin).map(|item| {
                let mut y = cpu::conv1d(
                    item,
                    t,
                    cin,
                    &mats,
                    self.kernel,
                    self.stride,
                    cout_g,
                    bias.as_deref(),
                );
                if gelu_after {
                    cpu::gelu_inplace(&mut y);
                }
                y
            });
            if b == 1 {
                return items.next().unwrap_or_default();
            }
            let mut out = Vec::with_capacity(b * t_out * cout_g * self.groups);
            for y in items {
                out.extend(y);
            }
            out
        })?;
        Some(Tensor::from_vec(
            out,
            (b, t_out, cout_g * self.groups),
            &Device::Cpu,
        ))
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
    if let Some(mut v) = cpu::with_f32(x, |s| s.to_vec()) {
        cpu::gelu_inplace(&mut v);
        return Tensor::from_vec(v, x.dims(), &Device::Cpu);
    }
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

/// Multi-head self-attention's Q, K and V projections as one `[3H, H]` linear (the three
/// weights concatenated at load): one wide matmul instead of three, and on the CPU the
/// attention reads q, k and v straight out of the fused `[B, T, 3H]` result.
#[derive(Debug, Clone)]
pub struct Qkv {
    fused: Linear,
    num_heads: usize,
}

impl Qkv {
    /// From the separate projections (each `[H, H]`; a missing bias counts as zero).
    pub fn new(q: Linear, k: Linear, v: Linear, num_heads: usize) -> Result<Self> {
        let parts = [&q, &k, &v];
        let w = Tensor::cat(&parts.map(|l| l.weight()), 0)?;
        let b = if parts.iter().all(|l| l.bias().is_none()) {
            None
        } else {
            let bs = parts
                .iter()
                .map(|l| match l.bias() {
                    Some(b) => Ok(b.clone()),
                    None => Tensor::zeros(l.weight().dim(0)?, w.dtype(), w.device()),
                })
                .collect::<Result<Vec<_>>>()?;
            Some(Tensor::cat(&bs, 0)?)
        };
        Ok(Qkv {
            fused: Linear::new(w, b),
            num_heads,
        })
    }

    /// Scaled dot-product self-attention of `x` `[B, T, H]` with an optional additive key mask
    /// `[B, 1, 1, T]`; returns `[B, T, H]` before the output projection.
    pub fn attend(&self, x: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        let (b, t, h) = x.dims3()?;
        let qkv = apply_linear(&self.fused, x)?;
        let heads = self.num_heads;
        if qkv.dims() == [b, t, 3 * h]
            && h % heads == 0
            && mask.is_none_or(|m| m.dims() == [b, 1, 1, t])
        {
            let out = cpu::with_f32(&qkv, |s| {
                let (q, k, v) = (s, &s[h..], &s[2 * h..]);
                match mask {
                    Some(m) => cpu::with_f32(m, |ms| {
                        cpu::attention(q, k, v, 3 * h, b, t, h, heads, Some(ms))
                    }),
                    None => Some(cpu::attention(q, k, v, 3 * h, b, t, h, heads, None)),
                }
            })
            .flatten();
            if let Some(out) = out {
                return Tensor::from_vec(out, (b, t, h), &Device::Cpu);
            }
        }
        let part = |i: usize| qkv.narrow(2, i * h, h)?.contiguous();
        attention(&part(0)?, &part(1)?, &part(2)?, heads, mask)
    }
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
    if h % num_heads == 0
        && k.dims() == q.dims()
        && v.dims() == q.dims()
        && mask.is_none_or(|m| m.dims() == [b, 1, 1, t])
    {
        let out = cpu::with_f32(q, |qs| {
            cpu::with_f32(k, |ks| {
                cpu::with_f32(v, |vs| match mask {
                    Some(m) => cpu::with_f32(m, |ms| {
                        cpu::attention(qs, ks, vs, h, b, t, h, num_heads, Some(ms))
                    }),
                    None => Some(cpu::attention(qs, ks, vs, h, b, t, h, num_heads, None)),
                })
            })
        })
        .flatten()
        .flatten()
        .flatten();
        if let Some(out) = out {
            return Tensor::from_vec(out, (b, t, h), &Device::Cpu);
        }
    }
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
    group_norm_impl(x, weight, bias, eps, false)
}

/// [`group_norm_per_channel`] followed by GELU, fused on the CPU.
pub fn group_norm_per_channel_gelu(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    eps: f64,
) -> Result<Tensor> {
    group_norm_impl(x, weight, bias, eps, true)
}

fn group_norm_impl(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    eps: f64,
    gelu_after: bool,
) -> Result<Tensor> {
    let (_, _, c) = x.dims3()?;
    if weight.dims() == [c] && bias.dims() == [c] {
        let y = cpu::with_f32(x, |xs| {
            cpu::with_f32(weight, |ws| {
                cpu::with_f32(bias, |bs| {
                    let mut out = xs.to_vec();
                    let per_item = xs.len() / x.dim(0).unwrap_or(1).max(1);
                    for item in out.chunks_mut(per_item.max(1)) {
                        cpu::group_norm_per_channel(item, c, ws, bs, eps, gelu_after);
                    }
                    out
                })
            })
        })
        .flatten()
        .flatten();
        if let Some(y) = y {
            return Tensor::from_vec(y, x.dims(), &Device::Cpu);
        }
    }
    // Statistics over thousands of frames: accumulate in f64 (PyTorch's reductions are
    // pairwise; a plain f32 running sum drifts by ~1e-5 relative over a 10 s window).
    let dt = x.dtype();
    let x64 = x.to_dtype(DType::F64)?;
    let mean = x64.mean_keepdim(1)?;
    let xc = x64.broadcast_sub(&mean)?;
    let var = xc.sqr()?.mean_keepdim(1)?;
    let y = xc
        .broadcast_div(&(var + eps)?.sqrt()?)?
        .to_dtype(dt)?
        .broadcast_mul(weight)?
        .broadcast_add(bias)?;
    if gelu_after {
        y.gelu_erf()
    } else {
        Ok(y)
    }
}

/// Copy a float tensor to a flat `Vec<f32>`.
pub fn to_vec_f32(x: &Tensor) -> Result<Vec<f32>> {
    x.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()
}

/// Mean over the last axis but one, for `[.., N, D]` → `[.., D]`.
pub fn mean_rows(x: &Tensor) -> Result<Tensor> {
    x.mean(D::Minus2)
}

/// Runs a layer stack only as far as the selection needs (all of it when the final output is
/// wanted) and keeps the hidden states asked for: `states[0]` is the stack's input, `states[i]`
/// layer `i`'s output. Returns the last computed state and the kept ones.
pub fn run_stack<L>(
    mut h: Tensor,
    layers: &[L],
    want: &[usize],
    want_last: bool,
    mut forward: impl FnMut(&L, &Tensor) -> Result<Tensor>,
) -> Result<(Tensor, Vec<Option<Tensor>>)> {
    let l = layers.len();
    let upto = if want_last {
        l
    } else {
        want.iter().copied().max().unwrap_or(0).min(l)
    };
    let mut states: Vec<Option<Tensor>> = vec![None; l + 1];
    if want.contains(&0) {
        states[0] = Some(h.clone());
    }
    for (i, layer) in layers.iter().enumerate().take(upto) {
        h = forward(layer, &h)?;
        if want.contains(&(i + 1)) {
            states[i + 1] = Some(h.clone());
        }
    }
    Ok((h, states))
}
