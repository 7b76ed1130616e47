//! The artificial ("spiral") data process of the paper's first experiment.
//!
//! x = (x0, x1) with x_i ~ U(-4, 4); t = 2 x0 + x1 + 0.1 N(0, 1) is the symmetry coordinate;
//! y = 0.05 (t + b t) (cos t, sin t) + 0.2 N(0, 1)^2 with b = 10. Every x on a line
//! 2 x0 + x1 = const maps to the same spiral point y, so moving along that line is the
//! symmetry that STIB should find. Training draws fresh batches from [`sample`]; evaluation
//! uses the authors' fixed test set, read by [`read_test_set`].
//!
//! ```
//! use rand::SeedableRng;
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
//! let batch = stib::data::spiral::sample(&mut rng, 60);
//! assert_eq!(batch.x.dim(), (60, 2));
//! ```

use std::path::Path;

use ndarray::{Array1, Array2};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::data::table::{ColumnSpec, read_columns};
use crate::error::Result;

/// The spiral's growth factor b.
pub const B: f64 = 10.0;
/// Standard deviation of the noise on t.
pub const T_NOISE: f64 = 0.1;
/// Standard deviation of the noise on each coordinate of y.
pub const Y_NOISE: f64 = 0.2;

/// Samples of the process: inputs, targets and the symmetry coordinate.
#[derive(Debug, Clone)]
pub struct SpiralSample {
    /// Inputs, n x 2.
    pub x: Array2<f64>,
    /// Targets, n x 2.
    pub y: Array2<f64>,
    /// The coordinate t that generated y, length n.
    pub t: Array1<f64>,
}

impl SpiralSample {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.t.len()
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.t.is_empty()
    }
}

/// The noise-free symmetry coordinate 2 x0 + x1.
pub fn symmetry_coordinate(x0: f64, x1: f64) -> f64 {
    2.0 * x0 + x1
}

/// The noise-free spiral point of coordinate t.
pub fn spiral_point(t: f64) -> [f64; 2] {
    let r = 0.05 * (t + B * t);
    [r * t.cos(), r * t.sin()]
}

/// Draws `n` fresh samples from the data process.
pub fn sample<R: Rng + ?Sized>(rng: &mut R, n: usize) -> SpiralSample {
    let mut x = Array2::zeros((n, 2));
    let mut y = Array2::zeros((n, 2));
    let mut t = Array1::zeros(n);
    for i in 0..n {
        let x0 = 8.0 * rng.random::<f64>() - 4.0;
        let x1 = 8.0 * rng.random::<f64>() - 4.0;
        let noise: f64 = StandardNormal.sample(rng);
        let ti = symmetry_coordinate(x0, x1) + T_NOISE * noise;
        let [y0, y1] = spiral_point(ti);
        let n0: f64 = StandardNormal.sample(rng);
        let n1: f64 = StandardNormal.sample(rng);
        x[[i, 0]] = x0;
        x[[i, 1]] = x1;
        y[[i, 0]] = y0 + Y_NOISE * n0;
        y[[i, 1]] = y1 + Y_NOISE * n1;
        t[i] = ti;
    }
    SpiralSample { x, y, t }
}

/// Reads a test set with columns `x0,x1,y0,y1,t` (the layout of the authors' test set).
pub fn read_test_set(path: &Path) -> Result<SpiralSample> {
    let groups = [ColumnSpec::parse_list("x0,x1"), ColumnSpec::parse_list("y0,y1"), ColumnSpec::parse_list("t")];
    let mut cols = read_columns(path, &groups)?.into_iter();
    let (x, y, t) = (cols.next().unwrap_or_default(), cols.next().unwrap_or_default(), cols.next().unwrap_or_default());
    Ok(SpiralSample { x, y, t: t.column(0).to_owned() })
}

/// Seed of the generated stand-in test set used when the authors' file is not available.
pub const GENERATED_TEST_SEED: u64 = 20_200_202;

/// The authors' test set from `path`, or, when `path` is `None`, from
/// `$STIB_DATA_DIR/spiral_test.csv` if that exists, else 10,000 samples generated with
/// [`GENERATED_TEST_SEED`]. Returns the sample and a description of its source.
pub fn test_set(path: Option<&Path>) -> Result<(SpiralSample, String)> {
    if let Some(p) = path {
        return Ok((read_test_set(p)?, p.display().to_string()));
    }
    let default = crate::data::data_dir().join("spiral_test.csv");
    if default.exists() {
        return Ok((read_test_set(&default)?, default.display().to_string()));
    }
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(GENERATED_TEST_SEED);
    Ok((
        sample(&mut rng, 10_000),
        format!("10,000 generated samples (seed {GENERATED_TEST_SEED}; the authors' file was not found)"),
    ))
}
