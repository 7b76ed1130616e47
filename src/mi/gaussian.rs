//! Gaussian mutual information from correlation matrices (paper Eq. 8-9).
//!
//! For jointly Gaussian X (d_x dims) and Y (d_y dims) with correlation matrices R_x, R_y and
//! R_xy (of the stacked vector),
//!
//! I(X; Y) = 1/2 ln( det R_x det R_y / det R_xy )    (nats).
//!
//! Columns are standardised with the sample mean and the unbiased variance, and each
//! log-determinant comes from a Cholesky factorisation in f64. A constant column or exactly
//! collinear columns make a correlation matrix singular; that is an error, never NaN. This
//! module serves plain `f64` data (analysis, tests); the training loss computes the same
//! quantity on tensors.
//!
//! ```
//! use ndarray::Array2;
//! // Two variables with correlation rho have I = -1/2 ln(1 - rho^2).
//! let n = 2000;
//! let x = Array2::from_shape_fn((n, 1), |(i, _)| ((i * 7919) % n) as f64);
//! let y = Array2::from_shape_fn((n, 1), |(i, _)| ((i * 7919) % n) as f64 + ((i * 104729) % n) as f64);
//! let nats = stib::mi::gaussian_mi(x.view(), y.view()).unwrap();
//! assert!(nats > 0.0);
//! ```

use ndarray::{Array2, ArrayView2, Axis};

use crate::error::{Error, Result};

/// Gaussian mutual information I(X; Y) in nats, from the sample correlation matrices.
pub fn gaussian_mi(x: ArrayView2<f64>, y: ArrayView2<f64>) -> Result<f64> {
    if x.nrows() != y.nrows() {
        return Err(Error::invalid(format!("X has {} rows but Y has {}", x.nrows(), y.nrows())));
    }
    if x.nrows() < 2 || x.ncols() == 0 || y.ncols() == 0 {
        return Err(Error::invalid("Gaussian MI needs at least 2 rows and one column in X and in Y"));
    }
    let joint = ndarray::concatenate(Axis(1), &[x, y]).map_err(|e| Error::Internal(e.to_string()))?;
    let r = correlation(joint.view())?;
    let dx = x.ncols();
    let d = joint.ncols();
    let rx = r.slice(ndarray::s![0..dx, 0..dx]).to_owned();
    let ry = r.slice(ndarray::s![dx..d, dx..d]).to_owned();
    let nats = 0.5 * (logdet_spd(&rx)? + logdet_spd(&ry)? - logdet_spd(&r)?);
    // Rounding can leave a tiny negative value for independent data; MI is never negative.
    Ok(nats.max(0.0))
}

/// Sample correlation matrix of the columns (unbiased variance, n - 1).
pub fn correlation(a: ArrayView2<f64>) -> Result<Array2<f64>> {
    let n = a.nrows() as f64;
    let mean = a.mean_axis(Axis(0)).ok_or_else(|| Error::invalid("no rows"))?;
    let centred = &a - &mean;
    let cov = centred.t().dot(&centred) / (n - 1.0);
    let sd: Vec<f64> = cov.diag().iter().map(|v| v.sqrt()).collect();
    if let Some(j) = sd.iter().position(|&s| s <= 0.0 || !s.is_finite()) {
        return Err(Error::invalid(format!("column {j} is constant, so its correlation is undefined")));
    }
    Ok(Array2::from_shape_fn(cov.dim(), |(i, j)| cov[[i, j]] / (sd[i] * sd[j])))
}

/// log det of a symmetric positive definite matrix by Cholesky factorisation.
///
/// Errors when the matrix is not positive definite (singular or indefinite).
pub fn logdet_spd(m: &Array2<f64>) -> Result<f64> {
    let d = m.nrows();
    let mut l = Array2::<f64>::zeros((d, d));
    let mut logdet = 0.0;
    for j in 0..d {
        let mut diag = m[[j, j]];
        for p in 0..j {
            diag -= l[[j, p]] * l[[j, p]];
        }
        if diag <= 1e-300 || !diag.is_finite() {
            return Err(Error::invalid(
                "the correlation matrix is singular: some columns are (nearly) exact linear combinations of others",
            ));
        }
        let ljj = diag.sqrt();
        l[[j, j]] = ljj;
        logdet += 2.0 * ljj.ln();
        for i in j + 1..d {
            let mut s = m[[i, j]];
            for p in 0..j {
                s -= l[[i, p]] * l[[j, p]];
            }
            l[[i, j]] = s / ljj;
        }
    }
    Ok(logdet)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};

    #[test]
    fn matches_analytic_mi_of_correlated_gaussians() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let rho: f64 = 0.8;
        let n = 200_000;
        let mut x = Array2::zeros((n, 1));
        let mut y = Array2::zeros((n, 1));
        for i in 0..n {
            let a: f64 = StandardNormal.sample(&mut rng);
            let b: f64 = StandardNormal.sample(&mut rng);
            x[[i, 0]] = a;
            y[[i, 0]] = rho * a + (1.0 - rho * rho).sqrt() * b;
        }
        let expected = -0.5 * (1.0 - rho * rho).ln();
        let got = gaussian_mi(x.view(), y.view()).unwrap();
        assert!((got - expected).abs() < 0.01, "got {got}, expected {expected}");
    }

    #[test]
    fn singular_and_constant_inputs_are_errors() {
        let x = Array2::from_shape_fn((10, 2), |(i, j)| (i * (j + 1)) as f64);
        let y = Array2::from_shape_fn((10, 1), |(i, _)| (i * i) as f64);
        assert!(gaussian_mi(x.view(), y.view()).is_err());
        let c = Array2::from_elem((10, 1), 3.0);
        assert!(gaussian_mi(c.view(), y.view()).is_err());
    }

    #[test]
    fn logdet_of_known_matrix() {
        let m = ndarray::array![[4.0, 2.0], [2.0, 3.0]];
        assert!((logdet_spd(&m).unwrap() - 8.0f64.ln()).abs() < 1e-12);
    }
}
