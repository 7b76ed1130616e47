//! Kraskov-Stoegbauer-Grassberger mutual information (estimator 1 of Kraskov et al. 2004).
//!
//! For N samples of (X, Y), with the max-norm in the joint space, eps_i is the distance from
//! point i to its k-th nearest neighbour; n_x(i) and n_y(i) count the other points whose
//! marginal distance is strictly below eps_i. Then
//!
//! I(X; Y) = psi(k) + psi(N) - < psi(n_x + 1) + psi(n_y + 1) >     (nats)
//!
//! This is the estimator that the paper's Table 1 reports as MI_K (k = 20, in bits), and it gives
//! the same number as NPEET's `mi(x, y, k)` with its tie-breaking noise off. Neighbours are
//! exact: a static k-d tree ([`super::neighbours`]) finds each k-th neighbour distance, the
//! work is spread over points with `rayon`, one-dimensional marginals are counted by binary
//! search in sorted values and two-dimensional ones by a plane sweep with a Fenwick tree.
//!
//! # Ties
//! When more than k points coincide in the joint space, eps_i = 0 and the estimator is
//! undefined (NPEET returns -inf or nonsense). [`Ties`] chooses what happens then: by default
//! ([`Ties::Auto`]) the data are perturbed by seeded uniform noise of 1e-10 times each column's
//! standard deviation, as NPEET does with absolute noise, and the estimate says so; data
//! without such ties are never perturbed. The result is always finite or an error.
//!
//! ```
//! use ndarray::Array2;
//! let x = Array2::from_shape_fn((500, 1), |(i, _)| (i as f64 * 0.37).sin());
//! let y = Array2::from_shape_fn((500, 1), |(i, _)| (i as f64 * 0.37).sin() + 0.1 * (i as f64 * 1.7).cos());
//! let nats = stib::mi::ksg(x.view(), y.view(), 3).unwrap();
//! assert!(nats > 1.0);
//! ```

use ndarray::{Array2, ArrayView2, Axis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::digamma::DigammaTable;
use super::neighbours::KdTree;
use crate::error::{Error, Result};

/// Relative scale of the tie-breaking noise (times each column's standard deviation).
pub const JITTER_SCALE: f64 = 1e-10;

/// What to do when points coincide so that some eps_i is zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ties {
    /// Estimate exactly; only if some eps_i is zero, perturb with seeded noise and estimate
    /// again.
    #[default]
    Auto,
    /// Always perturb with seeded noise first (what NPEET does).
    Jitter,
    /// Estimate exactly; a zero eps_i is an error.
    Error,
}

/// Settings of the estimator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KsgOptions {
    /// Number of neighbours (the paper uses 20).
    pub k: usize,
    /// Treatment of coinciding points.
    pub ties: Ties,
    /// Seed of the tie-breaking noise.
    pub seed: u64,
}

impl Default for KsgOptions {
    fn default() -> Self {
        KsgOptions { k: 20, ties: Ties::Auto, seed: 0 }
    }
}

/// An estimate with what went into it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KsgEstimate {
    /// The estimate in nats.
    pub nats: f64,
    /// Number of samples.
    pub n: usize,
    /// Number of neighbours.
    pub k: usize,
    /// Whether tie-breaking noise was added.
    pub jittered: bool,
}

impl KsgEstimate {
    /// The estimate in bits.
    pub fn bits(&self) -> f64 {
        self.nats / std::f64::consts::LN_2
    }
}

/// KSG estimate of I(X; Y) in nats, with the default tie treatment ([`Ties::Auto`]).
///
/// `x` and `y` hold one sample per row; they must have the same number of rows, more than
/// `k`, and finite values.
pub fn ksg(x: ArrayView2<f64>, y: ArrayView2<f64>, k: usize) -> Result<f64> {
    Ok(ksg_with(x, y, &KsgOptions { k, ..KsgOptions::default() })?.nats)
}

/// KSG estimate of I(X; Y) with explicit options.
pub fn ksg_with(x: ArrayView2<f64>, y: ArrayView2<f64>, options: &KsgOptions) -> Result<KsgEstimate> {
    validate(x, y, options.k)?;
    let jitter_first = options.ties == Ties::Jitter;
    let (xs, ys) = if jitter_first {
        (jitter(x, options.seed), jitter(y, options.seed.wrapping_add(1)))
    } else {
        (x.to_owned(), y.to_owned())
    };
    match estimate(xs.view(), ys.view(), options.k)? {
        Some(nats) => Ok(KsgEstimate { nats, n: x.nrows(), k: options.k, jittered: jitter_first }),
        None if options.ties == Ties::Auto => {
            let (xj, yj) = (jitter(x, options.seed), jitter(y, options.seed.wrapping_add(1)));
            match estimate(xj.view(), yj.view(), options.k)? {
                Some(nats) => Ok(KsgEstimate { nats, n: x.nrows(), k: options.k, jittered: true }),
                None => Err(degenerate(options.k)),
            }
        }
        None => Err(degenerate(options.k)),
    }
}

fn degenerate(k: usize) -> Error {
    Error::invalid(format!(
        "more than k = {k} samples coincide, so the KSG estimate is undefined; \
         allow tie-breaking noise (ties = auto or jitter) or remove duplicate rows"
    ))
}

fn validate(x: ArrayView2<f64>, y: ArrayView2<f64>, k: usize) -> Result<()> {
    let n = x.nrows();
    if y.nrows() != n {
        return Err(Error::invalid(format!("X has {n} rows but Y has {}", y.nrows())));
    }
    if x.ncols() == 0 || y.ncols() == 0 {
        return Err(Error::invalid("X and Y need at least one column each"));
    }
    if k == 0 {
        return Err(Error::invalid("k must be at least 1"));
    }
    if k >= n {
        return Err(Error::invalid(format!("k = {k} needs more than k samples, but there are {n}")));
    }
    if x.iter().chain(y.iter()).any(|v| !v.is_finite()) {
        return Err(Error::invalid("X and Y must hold finite numbers only (found NaN or infinity)"));
    }
    Ok(())
}

/// Adds uniform noise in [0, JITTER_SCALE * sd) to each column (sd = 1 for a constant column).
fn jitter(a: ArrayView2<f64>, seed: u64) -> Array2<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = a.to_owned();
    for mut col in out.axis_iter_mut(Axis(1)) {
        let n = col.len() as f64;
        let mean = col.sum() / n;
        let sd = (col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        let scale = JITTER_SCALE * if sd > 0.0 { sd } else { mean.abs().max(1.0) };
        for v in col.iter_mut() {
            *v += scale * rng.random::<f64>();
        }
    }
    out
}

/// The estimate in nats, or `None` when some eps_i is zero.
fn estimate(x: ArrayView2<f64>, y: ArrayView2<f64>, k: usize) -> Result<Option<f64>> {
    let n = x.nrows();
    let joint = ndarray::concatenate(Axis(1), &[x, y]).map_err(|e| Error::Internal(e.to_string()))?;
    let eps = kth_neighbour_distance(joint.view(), k);
    if eps.iter().any(|&e| e <= 0.0) {
        return Ok(None);
    }
    let (nx, ny) = rayon::join(|| marginal_counts(x, &eps), || marginal_counts(y, &eps));
    let psi = DigammaTable::new(n.max(k) + 1);
    let mean_marginal: f64 = nx.iter().zip(&ny).map(|(&a, &b)| psi.psi(a + 1) + psi.psi(b + 1)).sum::<f64>() / n as f64;
    let nats = psi.psi(k) + psi.psi(n) - mean_marginal;
    if nats.is_finite() { Ok(Some(nats)) } else { Err(Error::Internal("the KSG estimate is not finite".into())) }
}

/// Distance (max-norm) from each point to its k-th nearest other point.
pub fn kth_neighbour_distance(points: ArrayView2<f64>, k: usize) -> Vec<f64> {
    let flat: Vec<f64> = points.iter().copied().collect();
    KdTree::new(&flat, points.ncols()).all_kth_distances(k)
}

/// For each point i, the number of other points strictly closer than `eps[i]` (max-norm).
pub fn marginal_counts(points: ArrayView2<f64>, eps: &[f64]) -> Vec<usize> {
    match points.ncols() {
        1 => counts_sorted(points.column(0).to_vec(), eps),
        2 => counts_plane(points, eps),
        d => {
            let flat: Vec<f64> = points.iter().copied().collect();
            KdTree::new(&flat, d).count_all_within(eps)
        }
    }
}

/// The index range `[lo, hi)` of `sorted` holding the values u with `|u - v| < e`.
///
/// Uses the same `|u - v| < e` predicate as the tree (split by the sign of u - v, where it is
/// monotone), so boundary points are treated identically.
fn window(sorted: &[f64], v: f64, e: f64) -> (usize, usize) {
    let lo = sorted.partition_point(|&u| u < v && (v - u) >= e);
    let hi = sorted.partition_point(|&u| u < v || (u - v) < e);
    (lo, hi)
}

/// [`window`] for the value at position `pos` of `sorted`, found by galloping outwards from
/// `pos` (cheaper than a search of the whole array when windows are small).
fn window_from(sorted: &[f64], pos: usize, e: f64) -> (usize, usize) {
    let v = sorted[pos];
    let outside_left = |u: f64| u < v && (v - u) >= e;
    let inside_right = |u: f64| u < v || (u - v) < e;
    let mut step = 1;
    while step <= pos && !outside_left(sorted[pos - step]) {
        step *= 2;
    }
    let left = pos.saturating_sub(step);
    let lo = left + sorted[left..=pos].partition_point(|&u| outside_left(u));
    let mut step = 1;
    while pos + step < sorted.len() && inside_right(sorted[pos + step]) {
        step *= 2;
    }
    let right = (pos + step + 1).min(sorted.len());
    let hi = pos + sorted[pos..right].partition_point(|&u| inside_right(u));
    (lo, hi)
}

/// One-dimensional counts by binary search in the sorted values.
fn counts_sorted(values: Vec<f64>, eps: &[f64]) -> Vec<usize> {
    let mut sorted = values.clone();
    sorted.sort_unstable_by(f64::total_cmp);
    values
        .par_iter()
        .zip(eps.par_iter())
        .map(|(&v, &e)| {
            let (lo, hi) = window(&sorted, v, e);
            hi - lo - 1
        })
        .collect()
}

/// Two-dimensional counts by an offline sweep: each query's square is a rectangle of ranks
/// `[ax, bx) x [ay, by)`; sweeping the x-ranks while a Fenwick tree holds the y-ranks seen so
/// far answers every query with two prefix counts, O(N log N) in all.
fn counts_plane(points: ArrayView2<f64>, eps: &[f64]) -> Vec<usize> {
    let n = points.nrows();
    if n >= u32::MAX as usize {
        let flat: Vec<f64> = points.iter().copied().collect();
        return KdTree::new(&flat, 2).count_all_within(eps);
    }
    let cols = [points.column(0).to_vec(), points.column(1).to_vec()];
    let sorted_by = |col: usize| {
        let mut pairs: Vec<(f64, usize)> = cols[col].iter().copied().zip(0..n).collect();
        pairs.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        pairs.into_iter().unzip::<f64, usize, Vec<f64>, Vec<usize>>()
    };
    let ((sorted_x, order_x), (sorted_y, order_y)) = rayon::join(|| sorted_by(0), || sorted_by(1));
    let mut rank_y = vec![0usize; n];
    for (r, &i) in order_y.iter().enumerate() {
        rank_y[i] = r;
    }
    // Each point's windows, searched outwards from its own rank (galloping), points taken in
    // x order so that consecutive searches touch the same memory.
    let mut windows = vec![((0usize, 0usize), (0usize, 0usize)); n];
    let in_x_order: Vec<((usize, usize), (usize, usize))> = (0..n)
        .into_par_iter()
        .map(|p| {
            let i = order_x[p];
            (window_from(&sorted_x, p, eps[i]), window_from(&sorted_y, rank_y[i], eps[i]))
        })
        .collect();
    for (p, w) in in_x_order.into_iter().enumerate() {
        windows[order_x[p]] = w;
    }
    // Events bucketed by x-rank position (counting sort): query i is asked at ax and at bx.
    let mut offsets = vec![0usize; n + 2];
    for &((ax, bx), _) in &windows {
        offsets[ax + 1] += 1;
        offsets[bx + 1] += 1;
    }
    for p in 1..offsets.len() {
        offsets[p] += offsets[p - 1];
    }
    let mut fill = offsets.clone();
    let mut events = vec![0u32; 2 * n];
    for (i, &((ax, bx), _)) in windows.iter().enumerate() {
        events[fill[ax]] = i as u32;
        fill[ax] += 1;
        events[fill[bx]] = i as u32;
        fill[bx] += 1;
    }
    // u32 counts keep the Fenwick tree half the size (better cache use); n < 2^32 is checked.
    let mut fenwick = vec![0u32; n + 1];
    let prefix = |f: &[u32], mut r: usize| {
        let mut s = 0u32;
        while r > 0 {
            s += f[r];
            r &= r - 1;
        }
        s
    };
    let mut counts = vec![0i64; n];
    for pos in 0..=n {
        for &i in &events[offsets[pos]..offsets[pos + 1]] {
            let i = i as usize;
            let ((ax, _), (ay, by)) = windows[i];
            let inside = (prefix(&fenwick, by) - prefix(&fenwick, ay)) as i64;
            counts[i] += if pos == ax { -inside } else { inside };
        }
        if pos < n {
            let mut r = rank_y[order_x[pos]] + 1;
            while r <= n {
                fenwick[r] += 1;
                r += r & r.wrapping_neg();
            }
        }
    }
    // Each point lies in its own window (eps > 0); it is not its own neighbour.
    counts.into_iter().map(|c| (c - 1).max(0) as usize).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_distr::{Distribution, StandardNormal};

    fn gaussian_pair(n: usize, rho: f64, dim: usize, seed: u64) -> (Array2<f64>, Array2<f64>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut x = Array2::zeros((n, dim));
        let mut y = Array2::zeros((n, dim));
        for i in 0..n {
            for j in 0..dim {
                let a: f64 = StandardNormal.sample(&mut rng);
                let b: f64 = StandardNormal.sample(&mut rng);
                x[[i, j]] = a;
                y[[i, j]] = rho * a + (1.0 - rho * rho).sqrt() * b;
            }
        }
        (x, y)
    }

    /// O(N^2) reference: the estimator's definition written out directly.
    fn brute_force(x: ArrayView2<f64>, y: ArrayView2<f64>, k: usize) -> f64 {
        let n = x.nrows();
        let dist = |a: ArrayView2<f64>, i: usize, j: usize| {
            a.row(i).iter().zip(a.row(j).iter()).map(|(p, q)| (p - q).abs()).fold(0.0, f64::max)
        };
        let psi = DigammaTable::new(n + 1);
        let mut acc = 0.0;
        for i in 0..n {
            let mut d: Vec<f64> = (0..n).filter(|&j| j != i).map(|j| dist(x, i, j).max(dist(y, i, j))).collect();
            d.sort_by(f64::total_cmp);
            let eps = d[k - 1];
            let nx = (0..n).filter(|&j| j != i && dist(x, i, j) < eps).count();
            let ny = (0..n).filter(|&j| j != i && dist(y, i, j) < eps).count();
            acc += psi.psi(nx + 1) + psi.psi(ny + 1);
        }
        psi.psi(k) + psi.psi(n) - acc / n as f64
    }

    #[test]
    fn equals_brute_force_definition() {
        for (dim, k, seed) in [(1, 1, 1), (1, 5, 2), (2, 3, 3), (3, 7, 4)] {
            let (x, y) = gaussian_pair(300, 0.6, dim, seed);
            let fast = ksg(x.view(), y.view(), k).unwrap();
            let slow = brute_force(x.view(), y.view(), k);
            assert!((fast - slow).abs() < 1e-12, "dim {dim} k {k}: {fast} vs {slow}");
        }
    }

    #[test]
    fn one_dimensional_counts_match_the_tree() {
        let (x, _) = gaussian_pair(2000, 0.0, 1, 9);
        // Rounded values make many exact ties and boundary cases.
        let x = x.mapv(|v| (v * 20.0).round() / 20.0);
        let eps: Vec<f64> = (0..2000).map(|i| 0.05 * (1 + i % 4) as f64).collect();
        let flat = x.column(0).to_vec();
        assert_eq!(counts_sorted(flat.clone(), &eps), KdTree::new(&flat, 1).count_all_within(&eps));
    }

    #[test]
    fn plane_sweep_counts_match_the_tree() {
        let (x, _) = gaussian_pair(3000, 0.0, 2, 10);
        let x = x.mapv(|v| (v * 10.0).round() / 10.0);
        let eps: Vec<f64> = (0..3000).map(|i| 0.1 * (1 + i % 5) as f64).collect();
        let flat: Vec<f64> = x.iter().copied().collect();
        assert_eq!(counts_plane(x.view(), &eps), KdTree::new(&flat, 2).count_all_within(&eps));
    }

    #[test]
    fn approaches_the_analytic_mi_of_correlated_gaussians() {
        let rho: f64 = 0.9;
        let (x, y) = gaussian_pair(20_000, rho, 2, 11);
        let truth = -(1.0 - rho * rho).ln(); // two independent pairs: 2 x (-1/2 ln(1 - rho^2))
        let est = ksg(x.view(), y.view(), 20).unwrap();
        assert!((est - truth).abs() < 0.03, "estimate {est}, truth {truth}");
        let (xi, yi) = gaussian_pair(20_000, 0.0, 2, 12);
        assert!(ksg(xi.view(), yi.view(), 20).unwrap().abs() < 0.01);
    }

    #[test]
    fn coinciding_points_never_give_nan_or_infinity() {
        // 100 copies of each of 5 points: every eps_i is zero without tie-breaking.
        let x = Array2::from_shape_fn((500, 1), |(i, _)| (i % 5) as f64);
        let y = Array2::from_shape_fn((500, 2), |(i, j)| ((i % 5) * (j + 1)) as f64);
        let strict = ksg_with(x.view(), y.view(), &KsgOptions { k: 3, ties: Ties::Error, seed: 0 });
        assert!(matches!(strict, Err(Error::InvalidInput(_))));
        let auto = ksg_with(x.view(), y.view(), &KsgOptions { k: 3, ties: Ties::Auto, seed: 0 }).unwrap();
        assert!(auto.jittered && auto.nats.is_finite());
        // Five equally likely states carry ln 5 nats; jittered KSG sees most of it.
        assert!(auto.nats > 1.0, "{}", auto.nats);
        let seeded = ksg_with(x.view(), y.view(), &KsgOptions { k: 3, ties: Ties::Auto, seed: 0 }).unwrap();
        assert_eq!(auto.nats, seeded.nats, "the seed makes the noise reproducible");
        // A constant column is fine too.
        let c = Array2::from_elem((500, 1), 2.5);
        assert!(ksg(c.view(), y.view(), 3).unwrap().is_finite());
    }

    #[test]
    fn rejects_bad_arguments() {
        let (x, y) = gaussian_pair(10, 0.5, 1, 0);
        assert!(ksg(x.view(), y.view(), 0).is_err());
        assert!(ksg(x.view(), y.view(), 10).is_err());
        assert!(ksg(x.view(), y.slice(ndarray::s![0..9, ..]), 3).is_err());
        let mut bad = x.clone();
        bad[[3, 0]] = f64::NAN;
        assert!(ksg(bad.view(), y.view(), 3).is_err());
    }
}
