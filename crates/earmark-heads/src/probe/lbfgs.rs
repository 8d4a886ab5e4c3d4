//! Limited-memory BFGS with a backtracking (Armijo) line search, in f64: the solver behind the
//! logistic probe, as scikit-learn's `lbfgs` is behind `LogisticRegression`. The objectives here
//! are smooth and convex, so the simple line search is enough.

/// Why the solver stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The largest gradient component fell below the tolerance.
    Gradient,
    /// The objective stopped changing (relative change below 1e-12).
    Flat,
    /// `max_iter` iterations ran.
    MaxIter,
    /// The line search found no decrease (numerical floor reached).
    LineSearch,
}

/// Minimises `f` from `x` in place; `f(x, grad)` returns the value and writes the gradient.
/// Returns the iterations run and why it stopped.
pub fn minimize(
    x: &mut [f64],
    mut f: impl FnMut(&[f64], &mut [f64]) -> f64,
    max_iter: usize,
    tol: f64,
) -> (usize, Stop) {
    const MEMORY: usize = 10;
    let n = x.len();
    let mut g = vec![0.0; n];
    let mut fx = f(x, &mut g);
    let mut s_hist: Vec<Vec<f64>> = Vec::new();
    let mut y_hist: Vec<Vec<f64>> = Vec::new();
    let mut rho: Vec<f64> = Vec::new();
    let mut d = vec![0.0; n];
    let mut x_new = vec![0.0; n];
    let mut g_new = vec![0.0; n];
    for it in 0..max_iter {
        if inf_norm(&g) <= tol {
            return (it, Stop::Gradient);
        }
        // Two-loop recursion: d = −H·g.
        d.iter_mut().zip(&g).for_each(|(d, g)| *d = -g);
        let m = s_hist.len();
        let mut alpha = vec![0.0; m];
        for i in (0..m).rev() {
            alpha[i] = rho[i] * dot(&s_hist[i], &d);
            axpy(-alpha[i], &y_hist[i], &mut d);
        }
        let gamma = if m > 0 {
            dot(&s_hist[m - 1], &y_hist[m - 1]) / dot(&y_hist[m - 1], &y_hist[m - 1])
        } else {
            1.0 / inf_norm(&g).max(1.0)
        };
        d.iter_mut().for_each(|v| *v *= gamma);
        for i in 0..m {
            let beta = rho[i] * dot(&y_hist[i], &d);
            axpy(alpha[i] - beta, &s_hist[i], &mut d);
        }
        let mut slope = dot(&g, &d);
        if slope >= 0.0 {
            // Not a descent direction (curvature pairs went stale): restart from steepest descent.
            s_hist.clear();
            y_hist.clear();
            rho.clear();
            let scale = inf_norm(&g).max(1.0);
            d.iter_mut().zip(&g).for_each(|(d, g)| *d = -g / scale);
            slope = dot(&g, &d);
        }
        // Backtracking line search on the Armijo condition.
        let mut step = 1.0;
        let mut accepted = false;
        let mut f_new = fx;
        for _ in 0..40 {
            for i in 0..n {
                x_new[i] = x[i] + step * d[i];
            }
            f_new = f(&x_new, &mut g_new);
            if f_new.is_finite() && f_new <= fx + 1e-4 * step * slope {
                accepted = true;
                break;
            }
            step *= 0.5;
        }
        if !accepted {
            return (it, Stop::LineSearch);
        }
        let s: Vec<f64> = (0..n).map(|i| x_new[i] - x[i]).collect();
        let yv: Vec<f64> = (0..n).map(|i| g_new[i] - g[i]).collect();
        let sy = dot(&s, &yv);
        x.copy_from_slice(&x_new);
        g.copy_from_slice(&g_new);
        let flat = (fx - f_new).abs() <= 1e-12 * fx.abs().max(f_new.abs()).max(1.0);
        fx = f_new;
        if sy > 1e-12 {
            if s_hist.len() == MEMORY {
                s_hist.remove(0);
                y_hist.remove(0);
                rho.remove(0);
            }
            s_hist.push(s);
            y_hist.push(yv);
            rho.push(1.0 / sy);
        }
        if flat {
            return (it + 1, Stop::Flat);
        }
    }
    (max_iter, Stop::MaxIter)
}

pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(a, b)| a * b).sum()
}

fn axpy(a: f64, x: &[f64], y: &mut [f64]) {
    y.iter_mut().zip(x).for_each(|(y, x)| *y += a * x);
}

fn inf_norm(a: &[f64]) -> f64 {
    a.iter().fold(0.0, |m, v| m.max(v.abs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rosenbrock_minimum() {
        let mut x = vec![-1.2, 1.0];
        let (_, stop) = minimize(
            &mut x,
            |x, g| {
                let (a, b) = (x[0], x[1]);
                g[0] = -2.0 * (1.0 - a) - 400.0 * a * (b - a * a);
                g[1] = 200.0 * (b - a * a);
                (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2)
            },
            500,
            1e-9,
        );
        assert!(matches!(stop, Stop::Gradient | Stop::Flat), "{stop:?}");
        assert!(
            (x[0] - 1.0).abs() < 1e-5 && (x[1] - 1.0).abs() < 1e-5,
            "{x:?}"
        );
    }
}
