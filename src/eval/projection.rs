//! The plane a latent figure shows: a code subspace of two dimensions as it is, a larger one
//! through its first two principal components (the eigenvectors of the sample covariance with
//! the largest eigenvalues), so that a Z1 of 8 dimensions shows its widest spread instead of
//! two arbitrary coordinates.

use nalgebra::{DMatrix, SymmetricEigen};
use ndarray::{Array2, ArrayView2, Axis};

/// Coordinates of every row in the plane, and the axes' names.
#[derive(Debug, Clone)]
pub struct Plane {
    /// `(rows, 2)` coordinates.
    pub coords: Array2<f64>,
    /// The axes' names, e.g. `"Z1 dim 1"` or `"Z1 PC 1 (41%)"`.
    pub names: [String; 2],
}

/// Projects `z` (rows: samples, columns: the subspace called `space`) onto its plane: the two
/// columns themselves when there are at most two, else the first two principal components,
/// each named with its share of the total variance. Each component's sign makes its largest
/// loading positive, so the figure does not flip between runs of the same model.
pub fn principal_plane(z: ArrayView2<f64>, space: &str) -> Plane {
    let d = z.ncols();
    if d <= 2 || z.nrows() < 2 {
        let pick = |c: usize| z.column(c.min(d.saturating_sub(1))).to_owned();
        let mut coords = Array2::zeros((z.nrows(), 2));
        if d > 0 {
            coords.column_mut(0).assign(&pick(0));
            coords.column_mut(1).assign(&pick(1));
        }
        return Plane { coords, names: [format!("{space} dim 1"), format!("{space} dim 2")] };
    }
    let mean = z.mean_axis(Axis(0)).unwrap_or_else(|| ndarray::Array1::zeros(d));
    let centred = &z - &mean;
    let cov = centred.t().dot(&centred) / (z.nrows() - 1) as f64;
    let eigen = SymmetricEigen::new(DMatrix::from_fn(d, d, |i, j| cov[[i, j]]));
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&a, &b| eigen.eigenvalues[b].total_cmp(&eigen.eigenvalues[a]));
    let total: f64 = eigen.eigenvalues.iter().map(|v| v.max(0.0)).sum();
    let mut coords = Array2::zeros((z.nrows(), 2));
    let mut names = [String::new(), String::new()];
    for (k, &c) in order.iter().take(2).enumerate() {
        let mut axis: Vec<f64> = eigen.eigenvectors.column(c).iter().copied().collect();
        let largest = axis.iter().copied().fold(0.0f64, |m, v| if v.abs() > m.abs() { v } else { m });
        if largest < 0.0 {
            axis.iter_mut().for_each(|v| *v = -*v);
        }
        coords.column_mut(k).assign(&centred.dot(&ndarray::Array1::from(axis)));
        let share = if total > 0.0 { 100.0 * eigen.eigenvalues[c].max(0.0) / total } else { 0.0 };
        names[k] = format!("{space} PC {} ({share:.0}%)", k + 1);
    }
    Plane { coords, names }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};

    #[test]
    fn finds_the_two_widest_directions_of_a_rotated_cloud() {
        // Standard deviations 5, 2 and 0.5 along three orthonormal directions of R^4.
        let axes = [[0.5, 0.5, 0.5, 0.5], [0.5, -0.5, 0.5, -0.5], [0.5, 0.5, -0.5, -0.5]];
        let sds = [5.0, 2.0, 0.5];
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let n = 4000;
        let mut z = Array2::<f64>::zeros((n, 4));
        let mut truth = Array2::<f64>::zeros((n, 2));
        for i in 0..n {
            for (k, (axis, sd)) in axes.iter().zip(sds).enumerate() {
                let normal: f64 = StandardNormal.sample(&mut rng);
                let s = sd * normal;
                if k < 2 {
                    truth[[i, k]] = s;
                }
                for (c, a) in axis.iter().enumerate() {
                    z[[i, c]] += s * a + 1.0;
                }
            }
        }
        let plane = principal_plane(z.view(), "Z1");
        for k in 0..2 {
            let (p, t) = (plane.coords.column(k), truth.column(k));
            let corr = p.dot(&t) / (p.dot(&p) * t.dot(&t)).sqrt();
            assert!(corr.abs() > 0.99, "component {k}: correlation {corr}");
        }
        // Variance shares 25 / 29.25 and 4 / 29.25.
        assert_eq!(plane.names, ["Z1 PC 1 (85%)".to_string(), "Z1 PC 2 (14%)".to_string()]);
    }

    #[test]
    fn two_dimensions_are_shown_as_they_are() {
        let z = ndarray::array![[1.0, 2.0], [3.0, -1.0], [0.5, 0.0]];
        let plane = principal_plane(z.view(), "Z0");
        assert_eq!(plane.coords, z);
        assert_eq!(plane.names, ["Z0 dim 1".to_string(), "Z0 dim 2".to_string()]);
    }
}
