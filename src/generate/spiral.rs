//! Generation on the artificial data: encode a point x, keep its Z1, draw Z0, decode. The
//! data process knows the truth: y depends on x only through t = 2 x0 + x1, so a learned
//! symmetry moves the generated x along the line 2 x0 + x1 = t_ref and leaves t in place,
//! while a model whose Z0 still holds y (STIB without adversary) lets t drift.

use candle_core::{Device, Tensor};
use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::{Spread, Z0Sampling, check_count, check_kind, sample_codes};
use crate::data::spiral::symmetry_coordinate;
use crate::error::{Error, Result};
use crate::eval::metrics::{to_array, to_tensor};
use crate::model::SpiralModel;
use crate::model::networks::Networks;

/// Fresh draws of the data process whose codes [`Z0Sampling::Data`] picks from.
pub const DATA_CODES: usize = 10_000;

/// What a spiral generation reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpiralSummary {
    /// Model kind label.
    pub model: String,
    /// Number of generated points.
    pub samples: usize,
    /// Where Z0 came from.
    pub sampling: Z0Sampling,
    /// Seed of the draws.
    pub seed: u64,
    /// The reference input.
    pub reference_x: [f64; 2],
    /// Its symmetry coordinate 2 x0 + x1.
    pub reference_t: f64,
    /// The model's prediction of y at the reference.
    pub predicted_y: Option<[f64; 2]>,
    /// t of the generated points.
    pub t: Spread,
    /// Mean |t - t_ref| of the generated points.
    pub mean_abs_t_shift: f64,
    /// Spread of the generated x0 and x1 (how far the points travel).
    pub x0: Spread,
    /// See `x0`.
    pub x1: Spread,
}

/// Generated points and their summary.
#[derive(Debug, Clone)]
pub struct SpiralGeneration {
    /// The codes decoded, n x latent.
    pub codes: Array2<f64>,
    /// Decoded x, n x 2.
    pub x: Array2<f64>,
    /// True symmetry coordinate of each decoded x.
    pub t: Vec<f64>,
    /// The summary.
    pub summary: SpiralSummary,
}

/// Codes decoded at once (a few MB of activations per hidden layer).
const DECODE_CHUNK: usize = 8192;

/// Generates `n` points from the reference `x` with `model` (STIB or STIB without
/// adversary); every draw comes from `seed`.
pub fn generate(
    model: &SpiralModel,
    x: [f64; 2],
    n: usize,
    sampling: Z0Sampling,
    seed: u64,
    device: &Device,
) -> Result<SpiralGeneration> {
    check_kind(model.kind)?;
    check_count(n)?;
    // The networks run in f32: a larger value would enter them as infinity.
    if x.iter().any(|v| !v.is_finite() || v.abs() > f32::MAX as f64) {
        return Err(Error::invalid(format!(
            "--x must be two finite numbers of at most {:e} in size, not {x:?}",
            f32::MAX
        )));
    }
    type Decoded = (Array2<f64>, Array2<f64>, Option<[f64; 2]>);
    let run = || -> candle_core::Result<Decoded> {
        let xt = Tensor::from_vec(vec![x[0] as f32, x[1] as f32], (1, 2), device)?;
        let mu = model.encode(&xt)?.mu;
        let reference = to_array(&mu)?.row(0).to_vec();
        let predicted = model.predict(&mu)?.map(|y| to_array(&y)).transpose()?.map(|y| [y[[0, 0]], y[[0, 1]]]);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let data_codes = if sampling == Z0Sampling::Data {
            let data = crate::data::spiral::sample(&mut rng, DATA_CODES);
            to_array(&model.encode(&to_tensor(&data.x, device)?)?.mu)?
        } else {
            Array2::zeros((0, reference.len()))
        };
        let codes = sample_codes(&reference, model.arch.z0_dim, n, sampling, data_codes.view(), &mut rng)
            .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        // In chunks, so that the hidden layers of a large `n` stay small.
        let mut decoded = Array2::zeros((n, 2));
        for start in (0..n).step_by(DECODE_CHUNK) {
            let rows = ndarray::s![start..(start + DECODE_CHUNK).min(n), ..];
            let x = model.decoder.forward(&to_tensor(&codes.slice(rows).to_owned(), device)?)?;
            decoded.slice_mut(rows).assign(&to_array(&x)?);
        }
        Ok((codes, decoded, predicted))
    };
    let (codes, decoded, predicted_y) = run().map_err(|e| Error::Internal(format!("generation failed: {e}")))?;
    let t: Vec<f64> = decoded.rows().into_iter().map(|r| symmetry_coordinate(r[0], r[1])).collect();
    let reference_t = symmetry_coordinate(x[0], x[1]);
    let spread = |v: &[f64]| Spread::of(v).ok_or_else(|| Error::Internal("no samples".into()));
    let summary = SpiralSummary {
        model: model.kind.label().to_string(),
        samples: n,
        sampling,
        seed,
        reference_x: x,
        reference_t,
        predicted_y,
        t: spread(&t)?,
        mean_abs_t_shift: t.iter().map(|v| (v - reference_t).abs()).sum::<f64>() / n as f64,
        x0: spread(&decoded.column(0).to_vec())?,
        x1: spread(&decoded.column(1).to_vec())?,
    };
    Ok(SpiralGeneration { codes, x: decoded, t, summary })
}

impl SpiralGeneration {
    /// The points as CSV: `x0,x1,t` then the code `z1..zd` (Z0 first).
    pub fn to_csv(&self) -> String {
        let d = self.codes.ncols();
        let mut out = String::from("x0,x1,t");
        for j in 1..=d {
            out.push_str(&format!(",z{j}"));
        }
        out.push('\n');
        for (i, row) in self.x.rows().into_iter().enumerate() {
            out.push_str(&format!("{},{},{}", row[0], row[1], self.t[i]));
            for v in self.codes.row(i) {
                out.push_str(&format!(",{v}"));
            }
            out.push('\n');
        }
        out
    }
}
