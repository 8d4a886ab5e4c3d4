//! Fused f32 kernels for the CPU: matmuls straight through `gemm` with strided operands (so
//! convolutions need no unfold copy), attention one head at a time with the softmax in place,
//! and vectorised GELU / softmax / layer norm.
//!
//! Every entry point returns `None` when a tensor is not a contiguous f32 CPU tensor; the
//! callers in [`crate::nn`] then fall back to candle's generic ops (CUDA, other dtypes).

use candle_core::{DType, Storage, Tensor};
use rayon::prelude::*;

/// Call `f` with the contiguous f32 data of a CPU tensor.
pub(crate) fn with_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Option<R> {
    if !t.device().is_cpu() || t.dtype() != DType::F32 {
        return None;
    }
    let (storage, layout) = t.storage_and_layout();
    let (start, end) = layout.contiguous_offsets()?;
    match &*storage {
        Storage::Cpu(cpu) => {
            let s = cpu.as_slice::<f32>().ok()?;
            Some(f(&s[start..end]))
        }
        _ => None,
    }
}

/// Whether `t` can take the fast path.
pub(crate) fn usable(t: &Tensor) -> bool {
    with_f32(t, |_| ()).is_some()
}

/// A strided matrix operand: element `(i, j)` is at `ptr + i·rs + j·cs`.
#[derive(Clone, Copy)]
pub(crate) struct Operand {
    pub ptr: *const f32,
    pub rs: isize,
    pub cs: isize,
}

/// `dst[m×n] (row stride dst_rs) = (acc ? dst : 0) + scale · lhs[m×k] · rhs[k×n]`.
///
/// With `parallel`, the columns are split into one block per rayon thread and each block is a
/// single-threaded gemm: for these shapes (a few hundred to a few thousand rows, 512–3072
/// columns) that beats gemm's own `Parallelism::Rayon` by 5–20%, since no packed panel is
/// shared between threads.
///
/// # Safety
/// Every element the strides address must be in bounds; `dst` must not alias the operands.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_rs: isize,
    acc: bool,
    lhs: Operand,
    rhs: Operand,
    scale: f32,
    parallel: bool,
) {
    let parts = if parallel {
        rayon::current_num_threads().min(n / 64).max(1)
    } else {
        1
    };
    if parts == 1 {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_rs,
            acc,
            lhs.ptr,
            lhs.cs,
            lhs.rs,
            rhs.ptr,
            rhs.cs,
            rhs.rs,
            1.0,
            scale,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
        return;
    }
    let dst = SendPtr(dst);
    let (lp, rp) = (SendPtr(lhs.ptr as *mut f32), SendPtr(rhs.ptr as *mut f32));
    (0..parts).into_par_iter().for_each(|p| {
        // Block edges on multiples of 16 columns (one AVX-512 register).
        let edge = |p: usize| {
            if p == parts {
                n
            } else {
                n * p / parts / 16 * 16
            }
        };
        let (c0, c1) = (edge(p), edge(p + 1));
        let lhs = Operand {
            ptr: lp.get(),
            rs: lhs.rs,
            cs: lhs.cs,
        };
        let rhs = Operand {
            ptr: rp.get().offset(c0 as isize * rhs.cs),
            rs: rhs.rs,
            cs: rhs.cs,
        };
        // SAFETY: a column block of the caller's operands; blocks write disjoint columns.
        unsafe {
            gemm(
                m,
                c1 - c0,
                k,
                dst.get().add(c0),
                dst_rs,
                acc,
                lhs,
                rhs,
                scale,
                false,
            )
        }
    });
}

/// A raw pointer that may cross threads; users write disjoint parts.
#[derive(Clone, Copy)]
pub(crate) struct SendPtr(pub(crate) *mut f32);
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

impl SendPtr {
    /// A method (not the field) so closures capture the whole `Send` wrapper.
    pub(crate) fn get(self) -> *mut f32 {
        self.0
    }
}

/// Define `fn $name(args)` whose body is compiled three times, for AVX-512, AVX2+FMA and the
/// baseline, and picked at run time (the body is plain loops that LLVM vectorises).
macro_rules! multiversion {
    ($(#[$m:meta])* fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $(#[$m])*
        #[allow(clippy::too_many_arguments)]
        fn $name($($arg: $ty),*) {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn inner($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn v4($($arg: $ty),*) {
                    inner($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn v3($($arg: $ty),*) {
                    inner($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("avx512dq")
                    && std::arch::is_x86_feature_detected!("avx512vl")
                {
                    // SAFETY: the CPU has these features.
                    return unsafe { v4($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: as above.
                    return unsafe { v3($($arg),*) };
                }
            }
            inner($($arg),*)
        }
    };
}

pub(crate) use multiversion;

const LANES: usize = 16;

/// `exp(x)` to ~1e-7 relative (Cody–Waite reduction, degree-7 polynomial); vectorisable.
#[inline(always)]
pub(crate) fn exp_f(x: f32) -> f32 {
    // Round x·log2(e) to the nearest integer n with the 1.5·2²³ trick: n sits in the low
    // mantissa bits of `shifted`.
    const MAGIC: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let shifted = x * std::f32::consts::LOG2_E + MAGIC;
    let n = shifted - MAGIC;
    let ni = shifted.to_bits().wrapping_sub(MAGIC.to_bits());
    let r = x - n * 0.693_145_75 - n * 1.428_606_8e-6;
    let p = 1.0 / 5040.0;
    let p = p * r + 1.0 / 720.0;
    let p = p * r + 1.0 / 120.0;
    let p = p * r + 1.0 / 24.0;
    let p = p * r + 1.0 / 6.0;
    let p = p * r + 0.5;
    let p = p * r + 1.0;
    let p = p * r + 1.0;
    p * f32::from_bits(ni.wrapping_add(127) << 23)
}

/// Exact-erf GELU, `0.5·x·(1 + erf(x/√2))`, erf by Abramowitz & Stegun 7.1.26 (|error| ≤
/// 1.5e-7).
#[inline(always)]
fn gelu_f(x: f32) -> f32 {
    let z = (x * std::f32::consts::FRAC_1_SQRT_2).abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * z);
    let poly = ((((1.061_405_4 * t - 1.453_152) * t + 1.421_413_8) * t - 0.284_496_74) * t
        + 0.254_829_6)
        * t;
    let erf_abs = 1.0 - poly * exp_f(-z * z);
    let erf = if x < 0.0 { -erf_abs } else { erf_abs };
    0.5 * x * (1.0 + erf)
}

multiversion! {
    fn gelu_slice(x: &mut [f32]) {
        for v in x.iter_mut() {
            *v = gelu_f(*v);
        }
    }
}

/// GELU in place, in parallel chunks.
pub(crate) fn gelu_inplace(x: &mut [f32]) {
    x.par_chunks_mut(1 << 14).for_each(gelu_slice);
}

#[inline(always)]
fn sum_lanes(x: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let mut it = x.chunks_exact(LANES);
    for c in &mut it {
        for l in 0..LANES {
            acc[l] += c[l];
        }
    }
    let mut s: f32 = it.remainder().iter().sum();
    for a in acc {
        s += a;
    }
    s
}

multiversion! {
    /// Unnormalised softmax of each `t`-wide row in place: `exp(x − max)`, with `1/Σ` of row
    /// `r` written to `inv[r]` (the caller scales the much narrower `P·V` rows instead).
    fn softmax_rows(x: &mut [f32], t: usize, mask: Option<&[f32]>, inv: &mut [f32]) {
        for (row, inv) in x.chunks_exact_mut(t).zip(inv.iter_mut()) {
            *inv = exp_row(row, mask);
        }
    }
}

/// `row ← exp(row (+ mask) − max)` in place; returns `1/Σ`.
#[inline(always)]
fn exp_row(row: &mut [f32], mask: Option<&[f32]>) -> f32 {
    if let Some(m) = mask {
        for (v, &a) in row.iter_mut().zip(m) {
            *v += a;
        }
    }
    let mut mx = [f32::NEG_INFINITY; LANES];
    let mut it = row.chunks_exact(LANES);
    for c in &mut it {
        for l in 0..LANES {
            mx[l] = mx[l].max(c[l]);
        }
    }
    let mut max = it
        .remainder()
        .iter()
        .fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    for m in mx {
        max = max.max(m);
    }
    let mut acc = [0f32; LANES];
    let mut it = row.chunks_exact_mut(LANES);
    for c in &mut it {
        for l in 0..LANES {
            let e = exp_f(c[l] - max);
            c[l] = e;
            acc[l] += e;
        }
    }
    let mut sum = 0f32;
    for v in it.into_remainder() {
        *v = exp_f(*v - max);
        sum += *v;
    }
    for a in acc {
        sum += a;
    }
    1.0 / sum
}

multiversion! {
    /// Scale row `r` (`w` wide, at `x + r·rs`) by `inv[r]`. The caller guarantees those rows
    /// are in bounds and written by no one else meanwhile.
    fn scale_rows(x: SendPtr, rs: usize, w: usize, inv: &[f32]) {
        for (r, &s) in inv.iter().enumerate() {
            // SAFETY: as the caller guarantees; only this row's `w` values are borrowed.
            let row = unsafe { std::slice::from_raw_parts_mut(x.get().add(r * rs), w) };
            for v in row {
                *v *= s;
            }
        }
    }
}

multiversion! {
    /// Add `b` to every `b.len()`-wide row of `x`.
    fn add_rows(x: &mut [f32], b: &[f32]) {
        for row in x.chunks_exact_mut(b.len()) {
            for (v, &b) in row.iter_mut().zip(b) {
                *v += b;
            }
        }
    }
}

multiversion! {
    fn ln_rows(
        out: &mut [f32],
        a: &[f32],
        b: Option<&[f32]>,
        w: &[f32],
        bias: Option<&[f32]>,
        eps: f32,
        h: usize,
    ) {
        for (ri, o) in out.chunks_exact_mut(h).enumerate() {
            let x = &a[ri * h..(ri + 1) * h];
            match b {
                Some(b) => {
                    for ((o, &x), &y) in o.iter_mut().zip(x).zip(&b[ri * h..(ri + 1) * h]) {
                        *o = x + y;
                    }
                }
                None => o.copy_from_slice(x),
            }
            let mean = sum_lanes(o) / h as f32;
            let mut acc = [0f32; LANES];
            let mut it = o.chunks_exact(LANES);
            for c in &mut it {
                for l in 0..LANES {
                    let d = c[l] - mean;
                    acc[l] += d * d;
                }
            }
            let mut var: f32 = it.remainder().iter().map(|&v| (v - mean) * (v - mean)).sum();
            for a in acc {
                var += a;
            }
            let inv = 1.0 / (var / h as f32 + eps).sqrt();
            match bias {
                Some(bb) => {
                    for ((o, &w), &bb) in o.iter_mut().zip(w).zip(bb) {
                        *o = (*o - mean) * inv * w + bb;
                    }
                }
                None => {
                    for (o, &w) in o.iter_mut().zip(w) {
                        *o = (*o - mean) * inv * w;
                    }
                }
            }
        }
    }
}

/// `out[r] = LN(a[r] (+ b[r]))·w + bias` over rows of width `h`; statistics in f32 lanes,
/// two passes, biased variance.
pub(crate) fn layer_norm_rows(
    a: &[f32],
    b: Option<&[f32]>,
    w: &[f32],
    bias: Option<&[f32]>,
    eps: f32,
    h: usize,
) -> Vec<f32> {
    let mut out = vec![0f32; a.len()];
    out.par_chunks_mut(h * 16).enumerate().for_each(|(ci, oc)| {
        let off = ci * 16 * h;
        let len = oc.len();
        ln_rows(
            oc,
            &a[off..off + len],
            b.map(|b| &b[off..off + len]),
            w,
            bias,
            eps,
            h,
        )
    });
    out
}

/// `residual + x[rows×k] · w[n×k]ᵀ + bias`, then GELU when asked. Returns `rows×n`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn linear(
    x: &[f32],
    rows: usize,
    k: usize,
    w: &[f32],
    n: usize,
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
    gelu: bool,
) -> Vec<f32> {
    let mut out = match (residual, bias) {
        (Some(r), Some(b)) => {
            let mut o = r.to_vec();
            o.par_chunks_mut(n * 16).for_each(|c| add_rows(c, b));
            o
        }
        (Some(r), None) => r.to_vec(),
        (None, Some(b)) => {
            let mut o = Vec::with_capacity(rows * n);
            for _ in 0..rows {
                o.extend_from_slice(b);
            }
            o
        }
        (None, None) => vec![0f32; rows * n],
    };
    // SAFETY: x is rows×k, w is n×k (read transposed), out is rows×n.
    unsafe {
        gemm(
            rows,
            n,
            k,
            out.as_mut_ptr(),
            n as isize,
            bias.is_some() || residual.is_some(),
            Operand {
                ptr: x.as_ptr(),
                rs: k as isize,
                cs: 1,
            },
            Operand {
                ptr: w.as_ptr(),
                rs: 1,
                cs: k as isize,
            },
            1.0,
            true,
        );
    }
    if gelu {
        gelu_inplace(&mut out);
    }
    out
}

/// Scaled dot-product attention on `[B, T, H]` q, k, v with `heads` heads and an optional
/// additive key mask `[B, T]`; returns `[B, T, H]`. The operands' rows are `ld ≥ H` apart, so
/// q, k and v can be column blocks of one fused `[B, T, 3H]` projection. One (item, head) per
/// task; the `T×T` scores live in a per-task buffer and are softmaxed in place.
#[allow(clippy::too_many_arguments)]
pub(crate) fn attention(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    ld: usize,
    b: usize,
    t: usize,
    h: usize,
    heads: usize,
    mask: Option<&[f32]>,
) -> Vec<f32> {
    let hd = h / heads;
    let scale = (hd as f32).powf(-0.5);
    let mut out = vec![0f32; b * t * h];
    let dst = SendPtr(out.as_mut_ptr());
    (0..b * heads).into_par_iter().for_each_init(
        || (vec![0f32; t * t], vec![0f32; t]),
        |(scores, inv), job| {
            let (bi, hi) = (job / heads, job % heads);
            let (base, obase) = (bi * t * ld + hi * hd, bi * t * h + hi * hd);
            // SAFETY: all operands index inside the [B, T, H] buffers; each job writes its own
            // (item, head) columns of `out`.
            unsafe {
                gemm(
                    t,
                    t,
                    hd,
                    scores.as_mut_ptr(),
                    t as isize,
                    false,
                    Operand {
                        ptr: q.as_ptr().add(base),
                        rs: ld as isize,
                        cs: 1,
                    },
                    Operand {
                        ptr: k.as_ptr().add(base),
                        rs: 1,
                        cs: ld as isize,
                    },
                    scale,
                    false,
                );
            }
            let m = mask.map(|m| &m[bi * t..(bi + 1) * t]);
            softmax_rows(scores, t, m, inv);
            unsafe {
                gemm(
                    t,
                    hd,
                    t,
                    dst.get().add(obase),
                    h as isize,
                    false,
                    Operand {
                        ptr: scores.as_ptr(),
                        rs: t as isize,
                        cs: 1,
                    },
                    Operand {
                        ptr: v.as_ptr().add(base),
                        rs: ld as isize,
                        cs: 1,
                    },
                    1.0,
                    false,
                );
                // SAFETY: this job's own `t × hd` block of `out`, rows `h` apart.
                scale_rows(SendPtr(dst.get().add(obase)), h, hd, inv);
            }
        },
    );
    out
}

/// 1-D convolution on one channels-last item `x[T, C]`, groups of `cin_g` input channels,
/// weights per group `[K·cin_g, cout_g]` (tap-major), no padding. Returns `[T', G·cout_g]`.
///
/// With one group a window of `K` frames is `K·C` consecutive values, so the conv is a single
/// gemm whose lhs rows start `stride·C` apart: no unfold. Groups first copy their channels
/// into a contiguous `[T, cin_g]` block and then do the same.
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv1d(
    x: &[f32],
    t: usize,
    c: usize,
    mats: &[&[f32]],
    kernel: usize,
    stride: usize,
    cout_g: usize,
    bias: Option<&[f32]>,
) -> Vec<f32> {
    let groups = mats.len();
    let cin_g = c / groups;
    let t_out = (t - kernel) / stride + 1;
    let cout = cout_g * groups;
    let mut out = match bias {
        Some(b) => {
            let mut o = Vec::with_capacity(t_out * cout);
            for _ in 0..t_out {
                o.extend_from_slice(b);
            }
            o
        }
        None => vec![0f32; t_out * cout],
    };
    let acc = bias.is_some();
    if groups == 1 {
        // SAFETY: row i reads x[i·s·C .. i·s·C + K·C] ⊂ x since (t_out − 1)·s + K ≤ T.
        unsafe {
            gemm(
                t_out,
                cout,
                kernel * c,
                out.as_mut_ptr(),
                cout as isize,
                acc,
                Operand {
                    ptr: x.as_ptr(),
                    rs: (stride * c) as isize,
                    cs: 1,
                },
                Operand {
                    ptr: mats[0].as_ptr(),
                    rs: cout as isize,
                    cs: 1,
                },
                1.0,
                true,
            );
        }
        return out;
    }
    let dst = SendPtr(out.as_mut_ptr());
    mats.par_iter().enumerate().for_each(|(g, m)| {
        let mut xg = vec![0f32; t * cin_g];
        for (row, xr) in xg.chunks_exact_mut(cin_g).zip(x.chunks_exact(c)) {
            row.copy_from_slice(&xr[g * cin_g..(g + 1) * cin_g]);
        }
        // SAFETY: as above on the group's own copy; each group writes its own columns.
        unsafe {
            gemm(
                t_out,
                cout_g,
                kernel * cin_g,
                dst.get().add(g * cout_g),
                cout as isize,
                acc,
                Operand {
                    ptr: xg.as_ptr(),
                    rs: (stride * cin_g) as isize,
                    cs: 1,
                },
                Operand {
                    ptr: m.as_ptr(),
                    rs: cout_g as isize,
                    cs: 1,
                },
                1.0,
                false,
            );
        }
    });
    out
}

/// Group norm with one group per channel on `x[T, C]` in place (statistics over time in f64,
/// biased variance), then GELU when asked.
pub(crate) fn group_norm_per_channel(
    x: &mut [f32],
    c: usize,
    w: &[f32],
    bias: &[f32],
    eps: f64,
    gelu: bool,
) {
    let t = x.len() / c;
    let mut sum = vec![0f64; c];
    col_sums(x, c, &mut sum);
    let mean: Vec<f64> = sum.iter().map(|s| s / t as f64).collect();
    let mut ss = vec![0f64; c];
    col_sqdev(x, c, &mean, &mut ss);
    // y = (x − mean)·inv·w + b = x·a + shift.
    let a: Vec<f32> = ss
        .iter()
        .zip(w)
        .map(|(s, &w)| (w as f64 / (s / t as f64 + eps).sqrt()) as f32)
        .collect();
    let shift: Vec<f32> = mean
        .iter()
        .zip(&a)
        .zip(bias)
        .map(|((m, &a), &b)| (b as f64 - m * a as f64) as f32)
        .collect();
    x.par_chunks_mut(c * 64)
        .for_each(|chunk| affine_rows(chunk, c, &a, &shift, gelu));
}

multiversion! {
    fn col_sums(x: &[f32], c: usize, sum: &mut [f64]) {
        for row in x.chunks_exact(c) {
            for (s, &v) in sum.iter_mut().zip(row) {
                *s += v as f64;
            }
        }
    }
}

multiversion! {
    fn col_sqdev(x: &[f32], c: usize, mean: &[f64], ss: &mut [f64]) {
        for row in x.chunks_exact(c) {
            for ((s, &v), &m) in ss.iter_mut().zip(row).zip(mean) {
                let d = v as f64 - m;
                *s += d * d;
            }
        }
    }
}

multiversion! {
    fn affine_rows(x: &mut [f32], c: usize, a: &[f32], shift: &[f32], gelu: bool) {
        for row in x.chunks_exact_mut(c) {
            for ((v, &a), &s) in row.iter_mut().zip(a).zip(shift) {
                let y = *v * a + s;
                *v = if gelu { gelu_f(y) } else { y };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_and_gelu_match_libm() {
        let mut worst_exp = 0f32;
        let mut worst_gelu = 0f32;
        for i in -20_000..20_000 {
            let x = i as f32 * 0.001;
            let e = (exp_f(x) - x.exp()).abs() / x.exp();
            worst_exp = worst_exp.max(e);
        }
        for i in -4_000..4_000 {
            let x = i as f32 * 0.001;
            let g = 0.5 * x as f64 * (1.0 + libm_erf(x as f64 / std::f64::consts::SQRT_2));
            worst_gelu = worst_gelu.max((gelu_f(x) - g as f32).abs());
        }
        assert!(worst_exp < 5e-7, "exp {worst_exp}");
        assert!(worst_gelu < 5e-6, "gelu {worst_gelu}");
    }

    /// erf by its Taylor / continued-fraction-free series (accurate for |x| ≤ 3 in f64).
    fn libm_erf(x: f64) -> f64 {
        let mut sum = 0f64;
        let mut term = x;
        let mut n = 0.0;
        while term.abs() > 1e-17 * sum.abs().max(1e-300) || n < 3.0 {
            sum += term / (2.0 * n + 1.0);
            n += 1.0;
            term *= -x * x / n;
            if n > 400.0 {
                break;
            }
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }
}
