//! The Gaussian mutual-information term of the loss (paper Eq. 8-9), differentiable.
//!
//! With A = adversary(Z0) (n x d_a) and B = h(Y) (n x d_b), each column is standardised with
//! the batch mean and variance (1e-8 inside the square root), R = S^T S / (n - 1) for the
//! stacked S = [A, B], and
//!
//! ir = ln det R_A + ln det R_B - ln det R        (= 2 I_gauss(A; B) in nats, >= 0).
//!
//! The block is computed in f64 (in float32 it is off by 0.05-0.3 on nearly collinear
//! adversary outputs) and cast back to the input dtype. Log-determinants come from a
//! Cholesky factorisation written with tensor ops, so autodiff gives the gradient; ln det R_A
//! is read off the leading block of R's factor. Guard: each Cholesky pivot is floored at
//! [`PIVOT_FLOOR`], so a singular batch (a constant or collinear column) gives a large finite
//! ir and a zero gradient through that pivot instead of NaN.
//!
//! With [`Kernels::Fused`] an `f32` CPU batch goes through the fused op of
//! [`crate::kernels::gaussian_ir`] (the same value, gradient by formula, in f64); batches
//! that reach the pivot floor always take this plain path.
//!
//! Shapes: `a: (n, d_a)`, `b: (n, d_b)`, result a scalar.

use candle_core::{D, DType, IndexOp, Result, Tensor};

use crate::kernels::Kernels;

/// Smallest Cholesky pivot (a diagonal entry of the factor, squared) that is used.
pub const PIVOT_FLOOR: f64 = 1e-10;

/// ir = ln(det R_A det R_B / det R_AB) for the batch correlation matrices.
pub fn gaussian_ir(a: &Tensor, b: &Tensor, kernels: Kernels) -> Result<Tensor> {
    if kernels == Kernels::Fused
        && let Some(ir) = crate::kernels::gaussian_ir::gaussian_ir(a, b)?
    {
        return Ok(ir);
    }
    plain_gaussian_ir(a, b)
}

/// [`gaussian_ir`] with candle's tensor ops and autodiff (the reference for the fused op).
pub fn plain_gaussian_ir(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let dtype = a.dtype();
    let (n, da) = a.dims2()?;
    let s = Tensor::cat(&[a.to_dtype(DType::F64)?, b.to_dtype(DType::F64)?], 1)?;
    let mean = s.mean_keepdim(0)?;
    let centred = s.broadcast_sub(&mean)?;
    let var = centred.sqr()?.mean_keepdim(0)?;
    let standardised = centred.broadcast_div(&(var + 1e-8)?.sqrt()?)?;
    let r = (standardised.t()?.matmul(&standardised)? / (n as f64 - 1.0))?;
    let d = r.dim(0)?;
    let log_pivots = cholesky_log_pivots(&r)?; // ln L_jj^2 for j < d
    let logdet_ab = log_pivots.sum_all()?;
    let logdet_a = log_pivots.narrow(0, 0, da)?.sum_all()?;
    let rb = r.i((da..d, da..d))?;
    let logdet_b = cholesky_log_pivots(&rb)?.sum_all()?;
    ((logdet_a + logdet_b)? - logdet_ab)?.to_dtype(dtype)
}

/// ln of the squared diagonal of the Cholesky factor of a small SPD matrix (their sum is
/// ln det), with each pivot floored at [`PIVOT_FLOOR`].
#[allow(clippy::needless_range_loop)] // the textbook index form of Cholesky reads best
fn cholesky_log_pivots(m: &Tensor) -> Result<Tensor> {
    let d = m.dim(0)?;
    // l[i][j] for j <= i, each a scalar tensor.
    let mut l: Vec<Vec<Tensor>> = Vec::with_capacity(d);
    let mut pivots = Vec::with_capacity(d);
    for i in 0..d {
        let mut row: Vec<Tensor> = Vec::with_capacity(i + 1);
        for j in 0..=i {
            let mut s = m.i((i, j))?;
            for p in 0..j {
                let ljp = if j == i { &row[p] } else { &l[j][p] };
                s = (s - (&row[p] * ljp)?)?;
            }
            if i == j {
                let pivot = s.maximum(PIVOT_FLOOR)?;
                pivots.push(pivot.log()?);
                row.push(pivot.sqrt()?);
            } else {
                row.push((s / &l[j][j])?);
            }
        }
        l.push(row);
    }
    Tensor::stack(&pivots, 0)
}

/// Mean over the batch of the squared error summed over dimensions.
pub fn sum_squared_error(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    (a - b)?.sqr()?.sum(D::Minus1)?.mean_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};

    fn correlated(n: usize, rho: f64, seed: u64) -> (Vec<f64>, Vec<f64>) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut a = Vec::new();
        let mut b = Vec::new();
        for _ in 0..n {
            let (u, v, w, q): (f64, f64, f64, f64) = (
                StandardNormal.sample(&mut rng),
                StandardNormal.sample(&mut rng),
                StandardNormal.sample(&mut rng),
                StandardNormal.sample(&mut rng),
            );
            a.extend([u, v]);
            b.extend([rho * u + (1.0 - rho * rho).sqrt() * w, q]);
        }
        (a, b)
    }

    #[test]
    fn equals_twice_the_analytic_gaussian_mi() {
        let n = 100_000;
        let rho: f64 = 0.7;
        let (a, b) = correlated(n, rho, 1);
        let dev = Device::Cpu;
        let ta = Tensor::from_vec(a, (n, 2), &dev).unwrap();
        let tb = Tensor::from_vec(b, (n, 2), &dev).unwrap();
        let ir = gaussian_ir(&ta, &tb, Kernels::Plain).unwrap().to_scalar::<f64>().unwrap();
        let truth = -(1.0 - rho * rho).ln(); // 2 x I in nats
        assert!((ir - truth).abs() < 0.01, "ir {ir}, truth {truth}");
        // Same number as the plain f64 estimator on the same data (up to the 1e-8 and n/(n-1)).
        let plain = crate::mi::gaussian_mi(
            ndarray::Array2::from_shape_vec((n, 2), ta.flatten_all().unwrap().to_vec1::<f64>().unwrap())
                .unwrap()
                .view(),
            ndarray::Array2::from_shape_vec((n, 2), tb.flatten_all().unwrap().to_vec1::<f64>().unwrap())
                .unwrap()
                .view(),
        )
        .unwrap();
        assert!((ir - 2.0 * plain).abs() < 1e-6, "{ir} vs {}", 2.0 * plain);
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let n = 40;
        let (a, b) = correlated(n, 0.8, 2);
        let dev = Device::Cpu;
        let va = Var::from_vec(a.clone(), (n, 2), &dev).unwrap();
        let tb = Tensor::from_vec(b, (n, 2), &dev).unwrap();
        let ir = gaussian_ir(va.as_tensor(), &tb, Kernels::Plain).unwrap();
        let grads = ir.backward().unwrap();
        let g = grads.get(va.as_tensor()).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap();
        let h = 1e-6;
        for idx in [0, 1, 7, 40, 79] {
            let f = |delta: f64| {
                let mut p = a.clone();
                p[idx] += delta;
                let t = Tensor::from_vec(p, (n, 2), &dev).unwrap();
                gaussian_ir(&t, &tb, Kernels::Plain).unwrap().to_scalar::<f64>().unwrap()
            };
            let fd = (f(h) - f(-h)) / (2.0 * h);
            assert!((fd - g[idx]).abs() < 1e-5 * (1.0 + fd.abs()), "index {idx}: fd {fd} vs autodiff {}", g[idx]);
        }
    }

    #[test]
    fn singular_batch_stays_finite() {
        let dev = Device::Cpu;
        let a = Tensor::from_vec(vec![1f32; 20], (10, 2), &dev).unwrap();
        let b = Tensor::from_vec((0..20).map(|v| v as f32).collect::<Vec<_>>(), (10, 2), &dev).unwrap();
        let ir = gaussian_ir(&a, &b, Kernels::Fused).unwrap().to_scalar::<f32>().unwrap();
        assert!(ir.is_finite());
    }
}
