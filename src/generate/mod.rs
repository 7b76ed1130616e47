//! Generation (paper Experiment 5, Figure 6): keep a reference's property code Z1, draw new
//! invariant codes Z0 and decode them. Z0 holds nothing about y, so what comes out should
//! keep the reference's property while everything else about x changes: the learned
//! symmetry, used as a generator.
//!
//! - [`sample_codes`]: codes z = [Z0, Z1] with Z1 fixed at the reference's mean code and Z0
//!   drawn from the prior N(0, I) (the paper), from the data's own codes (the aggregate
//!   posterior: STIB weighs its KL term lightly, so its codes need not fill N(0, I)), or from
//!   N(Z0_ref, r^2 I) around the reference.
//! - [`molecules`]: the QM9 form: decode SMILES, keep valid molecules of the reference's
//!   formula, canonicalise, drop duplicates, mark novel ones, predict their properties.
//! - [`spiral`]: the artificial form: decode x and measure how little the true symmetry
//!   coordinate t = 2 x0 + x1 moves.
//! - [`figure6`]: the reference with its two nearest generated molecules, and box plots of
//!   the kept molecules' predicted properties inside the model's error band.

pub mod figure6;
pub mod molecules;
pub mod spiral;

use ndarray::{Array2, ArrayView2};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::ModelKind;

/// Where the new invariant codes Z0 come from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum Z0Sampling {
    /// The prior N(0, I), as in the paper.
    Prior,
    /// The aggregate posterior: the Z0 of a data point drawn at random (its code at the mean).
    Data,
    /// N(Z0_ref, radius^2 I): a ball around the reference's own invariant code.
    Around {
        /// Standard deviation of each coordinate around the reference.
        radius: f64,
    },
}

impl Z0Sampling {
    /// The sampling named `from` (`prior`, `data` or `around`); `around` needs a radius,
    /// which must be finite and >= 0, and the others take none.
    pub fn parse(from: &str, radius: Option<f64>) -> Result<Self> {
        match (from, radius) {
            ("prior", None) => Ok(Z0Sampling::Prior),
            ("data", None) => Ok(Z0Sampling::Data),
            ("around", Some(r)) if r.is_finite() && r >= 0.0 => Ok(Z0Sampling::Around { radius: r }),
            ("around", Some(r)) => Err(Error::invalid(format!("--radius must be a finite number >= 0, not {r}"))),
            ("around", None) => Err(Error::invalid("--z0 around needs --radius R")),
            ("prior" | "data", Some(_)) => {
                Err(Error::invalid(format!("--radius goes with --z0 around, not --z0 {from}")))
            }
            (other, _) => Err(Error::invalid(format!("--z0 must be prior, data or around, not '{other}'"))),
        }
    }

    /// A short description for reports.
    pub fn describe(&self) -> String {
        match self {
            Z0Sampling::Prior => "the prior N(0, I)".into(),
            Z0Sampling::Data => "the data's codes (aggregate posterior)".into(),
            Z0Sampling::Around { radius } => format!("N(Z0_ref, {radius}^2 I)"),
        }
    }
}

/// Generation fixes Z1, so it needs a model whose code is split into Z0 and Z1: STIB or STIB
/// without adversary. The VAE has no split; CVAE and CVIB have no Z1 (they condition on y).
pub fn check_kind(kind: ModelKind) -> Result<()> {
    match kind {
        ModelKind::Stib | ModelKind::StibNoAdversary => Ok(()),
        other => Err(Error::invalid(format!(
            "generation keeps Z1 and samples Z0, which needs a STIB or STIB-without-adversary run; this run is a {}",
            other.label()
        ))),
    }
}

/// The most samples one generation draws: its codes, decoded points or strings and output
/// files are held in memory (a million spiral points decode in seconds into a 60 MB CSV; a
/// million molecules take hours).
pub const MAX_SAMPLES: usize = 1_000_000;

/// The number of samples must be between 1 and [`MAX_SAMPLES`].
pub fn check_count(n: usize) -> Result<()> {
    if (1..=MAX_SAMPLES).contains(&n) {
        Ok(())
    } else {
        Err(Error::invalid(format!("--n must be between 1 and {MAX_SAMPLES}, not {n}")))
    }
}

/// `n` codes `[Z0, Z1]`: Z1 the reference's (`reference[z0_dim..]`), Z0 drawn as `sampling`
/// says (for [`Z0Sampling::Data`], rows of `data_codes`, whose first `z0_dim` columns are
/// Z0), every draw from `rng`.
pub fn sample_codes<R: Rng + ?Sized>(
    reference: &[f64],
    z0_dim: usize,
    n: usize,
    sampling: Z0Sampling,
    data_codes: ArrayView2<f64>,
    rng: &mut R,
) -> Result<Array2<f64>> {
    if sampling == Z0Sampling::Data && (data_codes.nrows() == 0 || data_codes.ncols() < z0_dim) {
        return Err(Error::Internal("no data codes to draw Z0 from".into()));
    }
    let mut z = Array2::zeros((n, reference.len()));
    for mut row in z.rows_mut() {
        let pick = if sampling == Z0Sampling::Data { rng.random_range(0..data_codes.nrows()) } else { 0 };
        for (j, v) in row.iter_mut().enumerate() {
            *v = if j >= z0_dim {
                reference[j]
            } else {
                match sampling {
                    Z0Sampling::Prior => StandardNormal.sample(rng),
                    Z0Sampling::Data => data_codes[[pick, j]],
                    Z0Sampling::Around { radius } => {
                        let e: f64 = StandardNormal.sample(rng);
                        reference[j] + radius * e
                    }
                }
            };
        }
    }
    Ok(z)
}

/// Euclidean distance between two codes.
pub fn distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>().sqrt()
}

/// Summary statistics of a sample: mean, standard deviation and the five numbers of a box
/// plot (quartiles by linear interpolation).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// Number of values.
    pub n: usize,
    /// Mean.
    pub mean: f64,
    /// Standard deviation (n - 1 in the denominator; 0 for one value).
    pub sd: f64,
    /// Smallest value.
    pub min: f64,
    /// First quartile.
    pub q1: f64,
    /// Median.
    pub median: f64,
    /// Third quartile.
    pub q3: f64,
    /// Largest value.
    pub max: f64,
}

impl Spread {
    /// The statistics of `values`, or `None` when there are none.
    pub fn of(values: &[f64]) -> Option<Spread> {
        if values.is_empty() {
            return None;
        }
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n as f64;
        let var = if n > 1 { values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64 } else { 0.0 };
        let mut s = values.to_vec();
        s.sort_by(f64::total_cmp);
        let q = |p: f64| {
            let pos = p * (n - 1) as f64;
            let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
            s[lo] + (s[hi] - s[lo]) * (pos - lo as f64)
        };
        Some(Spread { n, mean, sd: var.sqrt(), min: s[0], q1: q(0.25), median: q(0.5), q3: q(0.75), max: s[n - 1] })
    }

    /// Interquartile range q3 - q1.
    pub fn iqr(&self) -> f64 {
        self.q3 - self.q1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn codes_keep_z1_and_draw_z0() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let reference = [3.0, -3.0, 0.5, 0.25];
        let none = Array2::<f64>::zeros((0, 4));
        let z = sample_codes(&reference, 2, 4000, Z0Sampling::Prior, none.view(), &mut rng).unwrap();
        assert!(z.column(2).iter().all(|&v| v == 0.5) && z.column(3).iter().all(|&v| v == 0.25));
        let s = Spread::of(&z.column(0).to_vec()).unwrap();
        assert!(s.mean.abs() < 0.05 && (s.sd - 1.0).abs() < 0.05, "{s:?}");
        let near =
            sample_codes(&reference, 2, 4000, Z0Sampling::Around { radius: 0.1 }, none.view(), &mut rng).unwrap();
        let s = Spread::of(&near.column(1).to_vec()).unwrap();
        assert!((s.mean + 3.0).abs() < 0.01 && (s.sd - 0.1).abs() < 0.01, "{s:?}");
        let exact = sample_codes(&reference, 2, 3, Z0Sampling::Around { radius: 0.0 }, none.view(), &mut rng).unwrap();
        assert!(exact.rows().into_iter().all(|r| r.to_vec() == reference));
        let pool = ndarray::array![[7.0, 8.0, 0.0, 0.0], [9.0, 10.0, 0.0, 0.0]];
        let drawn = sample_codes(&reference, 2, 200, Z0Sampling::Data, pool.view(), &mut rng).unwrap();
        let firsts: Vec<f64> = drawn.column(0).to_vec();
        assert!(drawn.rows().into_iter().all(|r| (r[0], r[1]) == (7.0, 8.0) || (r[0], r[1]) == (9.0, 10.0)));
        assert!(firsts.contains(&7.0) && firsts.contains(&9.0));
        assert!(drawn.column(3).iter().all(|&v| v == 0.25));
        assert!(sample_codes(&reference, 2, 1, Z0Sampling::Data, none.view(), &mut rng).is_err());
    }

    #[test]
    fn spread_matches_hand_computed_quartiles() {
        let s = Spread::of(&[4.0, 1.0, 3.0, 2.0, 5.0]).unwrap();
        assert_eq!((s.min, s.q1, s.median, s.q3, s.max), (1.0, 2.0, 3.0, 4.0, 5.0));
        assert_eq!(s.mean, 3.0);
        assert!((s.sd - 2.5f64.sqrt()).abs() < 1e-12);
        let s = Spread::of(&[1.0, 2.0]).unwrap();
        assert_eq!((s.q1, s.median, s.q3), (1.25, 1.5, 1.75));
        assert!(Spread::of(&[]).is_none());
    }

    #[test]
    fn only_split_models_generate() {
        assert!(check_kind(ModelKind::Stib).is_ok() && check_kind(ModelKind::StibNoAdversary).is_ok());
        for k in [ModelKind::Vae, ModelKind::Cvae, ModelKind::Cvib] {
            assert!(check_kind(k).unwrap_err().to_string().contains(k.label()));
        }
        assert!(check_count(0).is_err() && check_count(MAX_SAMPLES + 1).is_err());
        assert!(check_count(1).is_ok() && check_count(MAX_SAMPLES).is_ok());
        assert_eq!(Z0Sampling::parse("prior", None).unwrap(), Z0Sampling::Prior);
        assert_eq!(Z0Sampling::parse("data", None).unwrap(), Z0Sampling::Data);
        assert_eq!(Z0Sampling::parse("around", Some(0.5)).unwrap(), Z0Sampling::Around { radius: 0.5 });
        for (from, r) in
            [("around", None), ("around", Some(-1.0)), ("around", Some(f64::NAN)), ("prior", Some(1.0)), ("x", None)]
        {
            assert!(Z0Sampling::parse(from, r).is_err(), "{from} {r:?}");
        }
    }
}
