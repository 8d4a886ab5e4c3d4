//! Front ends of the built-in trunk that are not learned: per-channel energy normalisation and
//! median background subtraction.

use candle_core::{DType, Tensor};

/// Per-channel energy normalisation (Wang et al. 2017, "Trainable frontend for robust and
/// far-field keyword spotting"; librosa's `pcen` defaults as Lostanlen et al. 2019 recommend for
/// outdoor and far-field sound): each band's magnitude is divided by its own smoothed history
/// (`M[t] = (1 − b)·M[t−1] + b·E[t]`, time constant 0.4 s, `M[0] = E[0]`) raised to
/// α = 0.98, then compressed, `(E/(ε + M)^α + δ)^r − δ^r` with δ = 2, r = 0.5. Stationary
/// background (hum, ambience, music beds) tends to 0 and onsets stand out, whatever the
/// recording's level. Input: dB power log-mel `[B, T, M]` (magnitude = 10^(dB/20), scaled by 2³¹
/// as librosa advises for audio in [−1, 1]); padded frames (mask 0) come out 0. It has no
/// learned parameters, so it runs outside the autograd graph.
pub fn pcen(x: &Tensor, mask: &Tensor, hop_secs: f64) -> candle_core::Result<Tensor> {
    let (b, t, m) = x.dims3()?;
    let v = x.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
    let mk = mask.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
    let frames = 0.4 / hop_secs.max(1e-6);
    let coef = ((1.0 + 4.0 * frames * frames).sqrt() - 1.0) / (2.0 * frames * frames);
    let (alpha, delta, r, eps) = (0.98f64, 2.0f64, 0.5f64, 1e-6f64);
    let scale = 2f64.powi(31);
    let mut out = vec![0f32; v.len()];
    for bi in 0..b {
        let mut state = vec![0f64; m];
        for ti in 0..t {
            let row = (bi * t + ti) * m;
            if mk[bi * t + ti] <= 0.5 {
                continue;
            }
            for j in 0..m {
                let e = 10f64.powf(v[row + j] as f64 / 20.0) * scale;
                state[j] = if ti == 0 {
                    e
                } else {
                    (1.0 - coef) * state[j] + coef * e
                };
                let g = e / (eps + state[j]).powf(alpha);
                out[row + j] = ((g + delta).powf(r) - delta.powf(r)) as f32;
            }
        }
    }
    Tensor::from_vec(out, (b, t, m), x.device())
}

/// Each band minus its median over the clip's real frames, divided by `scale_db`: `[B, T, M]`
/// dB → how many `scale_db` a frame stands above the band's background. Padded frames (mask 0)
/// come out 0. No learned parameters: computed outside the autograd graph.
pub fn median_background(x: &Tensor, mask: &Tensor, scale_db: f32) -> candle_core::Result<Tensor> {
    let (b, t, m) = x.dims3()?;
    let v = x.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
    let mk = mask.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
    let inv = 1.0 / scale_db.max(1e-3);
    let mut out = vec![0f32; v.len()];
    let mut col = Vec::with_capacity(t);
    for bi in 0..b {
        let real: Vec<usize> = (0..t).filter(|&ti| mk[bi * t + ti] > 0.5).collect();
        if real.is_empty() {
            continue;
        }
        for j in 0..m {
            col.clear();
            col.extend(real.iter().map(|&ti| v[(bi * t + ti) * m + j]));
            let mid = col.len() / 2;
            let (_, med, _) = col.select_nth_unstable_by(mid, f32::total_cmp);
            let med = *med;
            for &ti in &real {
                let k = (bi * t + ti) * m + j;
                out[k] = (v[k] - med) * inv;
            }
        }
    }
    Tensor::from_vec(out, (b, t, m), x.device())
}
