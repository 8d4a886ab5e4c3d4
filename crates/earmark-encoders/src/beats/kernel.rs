//! Fused f32 CPU attention with BEATs' gated relative-position bias.
//!
//! The bias of query `i` and key `j` depends only on `j − i`, so each head keeps one row of
//! `2T − 1` values (computed once per forward) and query `i` reads the contiguous slice
//! starting at `T − 1 − i`: the `[H, T, T]` bias is never materialised. Per (item, head) the
//! scores are one gemm, then each row gets `gate·bias` added and is exponentiated in place,
//! then `P·V` is one gemm and its rows are scaled by `1/Σ`, the same shape as the crate's
//! shared attention kernel (`crate::cpu::attention`), which has no per-row bias.

use crate::cpu::{exp_f, gemm, multiversion, Operand, SendPtr};
use rayon::prelude::*;

/// The relative-position term of one forward pass.
pub(crate) struct RelBias<'a> {
    /// `[heads, 2T − 1]`: the bias of distance `r = j − i` at `r + T − 1`.
    pub by_distance: &'a [f32],
    /// `[B, heads, T]` gate per query, or `None` for a gate of 1.
    pub gate: Option<&'a [f32]>,
}

multiversion! {
    /// Rows of `scores` (`t` wide): add `gate[i]·bias[t − 1 − i ..]`, then `exp(x − max)` in
    /// place; `inv[i] = 1/Σ`.
    fn softmax_rows(
        scores: &mut [f32],
        t: usize,
        bias: Option<(&[f32], Option<&[f32]>)>,
        inv: &mut [f32],
    ) {
        for (i, (row, inv)) in scores.chunks_exact_mut(t).zip(inv.iter_mut()).enumerate() {
            if let Some((by_dist, gate)) = bias {
                let b = &by_dist[t - 1 - i..2 * t - 1 - i];
                match gate {
                    Some(g) => {
                        let g = g[i];
                        for (v, &b) in row.iter_mut().zip(b) {
                            *v += g * b;
                        }
                    }
                    None => {
                        for (v, &b) in row.iter_mut().zip(b) {
                            *v += b;
                        }
                    }
                }
            }
            let max = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
            let mut sum = 0f32;
            for v in row.iter_mut() {
                *v = exp_f(*v - max);
                sum += *v;
            }
            *inv = 1.0 / sum;
        }
    }
}

/// Self-attention of a fused `[B, T, 3D]` projection (q, k, v column blocks, q with its bias
/// and unscaled) with `heads` heads and an optional relative bias; returns `[B, T, D]` before
/// the output projection.
pub(crate) fn attention(
    qkv: &[f32],
    b: usize,
    t: usize,
    d: usize,
    heads: usize,
    bias: Option<&RelBias>,
) -> Vec<f32> {
    let hd = d / heads;
    let ld = 3 * d;
    let scale = (hd as f32).powf(-0.5);
    let mut out = vec![0f32; b * t * d];
    let dst = SendPtr(out.as_mut_ptr());
    (0..b * heads).into_par_iter().for_each_init(
        || (vec![0f32; t * t], vec![0f32; t]),
        |(scores, inv), job| {
            let (bi, hi) = (job / heads, job % heads);
            let (base, obase) = (bi * t * ld + hi * hd, bi * t * d + hi * hd);
            // SAFETY: q rows are `ld` apart inside item `bi`; k is `d` columns on. The scores
            // buffer is this task's own `t × t`.
            unsafe {
                gemm(
                    t,
                    t,
                    hd,
                    scores.as_mut_ptr(),
                    t as isize,
                    false,
                    Operand {
                        ptr: qkv.as_ptr().add(base),
                        rs: ld as isize,
                        cs: 1,
                    },
                    Operand {
                        ptr: qkv.as_ptr().add(base + d),
                        rs: 1,
                        cs: ld as isize,
                    },
                    scale,
                    false,
                );
            }
            let rb = bias.map(|rb| {
                (
                    &rb.by_distance[hi * (2 * t - 1)..(hi + 1) * (2 * t - 1)],
                    rb.gate.map(|g| &g[job * t..(job + 1) * t]),
                )
            });
            softmax_rows(scores, t, rb, inv);
            // SAFETY: v is `2d` columns on from q; this job writes only its own `t × hd`
            // block of `out` (rows `d` apart).
            unsafe {
                gemm(
                    t,
                    hd,
                    t,
                    dst.get().add(obase),
                    d as isize,
                    false,
                    Operand {
                        ptr: scores.as_ptr(),
                        rs: t as isize,
                        cs: 1,
                    },
                    Operand {
                        ptr: qkv.as_ptr().add(base + 2 * d),
                        rs: ld as isize,
                        cs: 1,
                    },
                    1.0,
                    false,
                );
                for (i, &s) in inv.iter().enumerate() {
                    let row = std::slice::from_raw_parts_mut(dst.get().add(obase + i * d), hd);
                    for v in row {
                        *v *= s;
                    }
                }
            }
        },
    );
    out
}

/// The gate of every (item, head, query) from the fused projection: with `u =
/// grep_linear(q_h,i)`, `σ(Σu[0..4])·(σ(Σu[4..8])·grep_a[h] − 1) + 2`. `w_sum` holds the
/// two summed rows of `grep_linear.weight` (`[2, hd]`) and `b_sum` the two summed biases.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gates(
    qkv: &[f32],
    b: usize,
    t: usize,
    d: usize,
    heads: usize,
    w_sum: &[f32],
    b_sum: [f32; 2],
    grep_a: &[f32],
) -> Vec<f32> {
    let hd = d / heads;
    let sigmoid = |x: f32| 1.0 / (1.0 + (-x).exp());
    let mut g = vec![0f32; b * heads * t];
    g.par_chunks_mut(t).enumerate().for_each(|(job, row)| {
        let (bi, hi) = (job / heads, job % heads);
        for (i, gi) in row.iter_mut().enumerate() {
            let q = &qkv[(bi * t + i) * 3 * d + hi * hd..][..hd];
            let dot = |w: &[f32]| q.iter().zip(w).map(|(a, b)| a * b).sum::<f32>();
            let ga = sigmoid(dot(&w_sum[..hd]) + b_sum[0]);
            let gb = sigmoid(dot(&w_sum[hd..]) + b_sum[1]);
            *gi = ga * (gb * grep_a[hi] - 1.0) + 2.0;
        }
    });
    g
}
